#!/usr/bin/env bash
# System packages loci needs on a fresh Debian machine. Idempotent; a no-op when all are present.
set -euo pipefail
# EGL + Mesa: headless OpenGL for MiniWorld (pyglet) on machines without a display or GPU.
packages=(libegl1 libgl1 libegl-mesa0 libgl1-mesa-dri libgbm1 libglu1-mesa libfreetype6
  chromium)  # Debian's Chromium: the real browser the player's Playwright test drives
if ((${#packages[@]})); then
  missing=()
  for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if ((${#missing[@]})); then
    sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
fi
