// loci player: keys held -> step messages over /ws (at most one in flight), frames -> the page.
// Exposes its counters on window.loci (tests read window.loci.framesReceived).
"use strict";
(() => {
  const KEYS = "WSADQERF";
  const $ = (id) => document.getElementById(id);
  const el = {
    status: $("status"), reconnect: $("reconnect"), view: $("view"), rgb: $("rgb"), overlay: $("overlay"),
    badge: $("frame-badge"), depth: $("depth"), map: $("map"), message: $("message"),
    text: $("text"), textForm: $("text-form"), reset: $("reset"), saveName: $("save-name"),
    save: $("save"), loadName: $("load-name"), load: $("load"), pixelated: $("pixelated"),
    fps: $("r-fps"), latency: $("r-latency"), step: $("r-step"), server: $("r-server"),
    memory: $("r-memory"), coverage: $("r-coverage"), pose: $("r-pose"), yaw: $("r-yaw"),
    index: $("r-index"),
  };
  const STALL_MS = 5000; // give up waiting for a step's frame after this long
  const ERROR_PAUSE_MS = 300; // after an error, wait this long before stepping again

  const loci = {
    framesReceived: 0, fps: 0, latencyMs: null, stepMs: null, serverMs: null,
    pose: null, yawDeg: null, memoryPoints: 0, index: 0, errors: 0, lastError: null, connected: false,
  };
  window.loci = loci;

  let ws = null;
  let seq = 0;
  let inFlight = null; // {seq, t} of the step awaiting its frame
  let pauseUntil = 0; // no steps before this time (after an error)
  const held = new Set();
  const arrivals = []; // frame arrival times (ms) within the last second

  // ---- connection -------------------------------------------------------------------------
  function setStatus(state, text) {
    el.status.className = "status " + state;
    el.status.textContent = text;
    document.body.dataset.state = state;
    el.reconnect.hidden = state !== "closed";
  }

  function connect() {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    ws = new WebSocket(`${proto}//${location.host}/ws`);
    setStatus("connecting", "connecting…");
    el.overlay.hidden = false;
    el.overlay.textContent = "loading the world…";
    ws.onopen = () => { setStatus("open", "starting world…"); send({ type: "list" }); };
    ws.onclose = () => {
      loci.connected = false; inFlight = null;
      setStatus("closed", "disconnected");
      el.overlay.hidden = false;
      el.overlay.textContent = "disconnected — press reconnect to start a new world";
    };
    ws.onmessage = (ev) => {
      let msg;
      try { msg = JSON.parse(ev.data); } catch { return; }
      onMessage(msg);
    };
  }

  function send(msg) {
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(JSON.stringify(msg));
    return true;
  }

  // ---- steps: keys held -> one step in flight at a time -----------------------------------------
  function heldKeys() { return [...KEYS].filter((k) => held.has(k)).join(""); }

  function pump() {
    const now = performance.now();
    if (inFlight && now - inFlight.t > STALL_MS) inFlight = null; // lost frame: do not stall forever
    if (inFlight || held.size === 0 || !loci.connected || now < pauseUntil) return;
    const keys = heldKeys();
    seq += 1;
    if (send({ type: "step", keys, t: now, seq })) inFlight = { seq, t: now };
  }

  function typing(target) {
    return target instanceof HTMLElement && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  }

  function keyOf(ev) {
    if (ev.code && /^Key[A-Z]$/.test(ev.code)) return ev.code.slice(3);
    return (ev.key || "").toUpperCase();
  }

  function showHeld() {
    for (const kbd of document.querySelectorAll("kbd[data-key]")) kbd.classList.toggle("held", held.has(kbd.dataset.key));
  }

  function releaseAll() { held.clear(); showHeld(); }

  window.addEventListener("keydown", (ev) => {
    if (typing(ev.target) || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const k = keyOf(ev);
    if (!KEYS.includes(k)) return;
    ev.preventDefault();
    if (ev.repeat || held.has(k)) return;
    held.add(k); showHeld(); pump();
  });
  window.addEventListener("keyup", (ev) => {
    const k = keyOf(ev);
    if (held.delete(k)) showHeld();
  });
  window.addEventListener("blur", releaseAll);
  document.addEventListener("visibilitychange", () => { if (document.hidden) releaseAll(); });

  // ---- server messages ---------------------------------------------------------------------------
  function say(text, kind = "") {
    el.message.textContent = text;
    el.message.className = "message " + kind;
  }

  function fmt(x, digits = 1) { return x == null || !isFinite(x) ? "–" : Number(x).toFixed(digits); }

  function onFrame(msg) {
    const now = performance.now();
    loci.framesReceived += 1;
    document.body.dataset.frames = String(loci.framesReceived);
    arrivals.push(now);
    while (arrivals.length && now - arrivals[0] > 1000) arrivals.shift();
    loci.fps = arrivals.length;
    if (msg.seq != null && inFlight && msg.seq === inFlight.seq) inFlight = null;
    if (msg.seq != null && typeof msg.t === "number") {
      const lat = now - msg.t;
      loci.latencyMs = loci.latencyMs == null ? lat : 0.8 * loci.latencyMs + 0.2 * lat;
    }
    el.rgb.src = "data:image/jpeg;base64," + msg.rgb;
    el.depth.src = "data:image/jpeg;base64," + msg.depth;
    el.map.src = "data:image/png;base64," + msg.map;
    if (msg.width && msg.height) el.view.style.aspectRatio = `${msg.width} / ${msg.height}`;
    el.overlay.hidden = true;

    const p = msg.pose;
    const x = p[0][3], y = p[1][3], z = p[2][3];
    // camera frame is OpenCV (y down): forward = third column; yaw about "up" (-y), left turns positive
    const yaw = Math.atan2(-p[0][2], p[2][2]) * 180 / Math.PI;
    const t = msg.timings || {};
    Object.assign(loci, {
      pose: p, yawDeg: yaw, memoryPoints: msg.memory_points, index: msg.index,
      stepMs: t.total_ms ?? null, serverMs: t.server_ms ?? null,
    });
    el.badge.textContent = `frame ${msg.index}${msg.action ? " · " + msg.action : ""}`;
    el.fps.textContent = String(loci.fps);
    el.latency.textContent = loci.latencyMs == null ? "–" : `${fmt(loci.latencyMs, 0)} ms`;
    el.step.textContent = loci.stepMs == null ? "–" : `${fmt(loci.stepMs, 0)} ms`;
    el.server.textContent = loci.serverMs == null ? "–" : `${fmt(loci.serverMs, 0)} ms`;
    el.memory.textContent = Number(msg.memory_points).toLocaleString("en-US");
    el.coverage.textContent = `${fmt(100 * msg.coverage, 0)} %`;
    el.pose.textContent = `${fmt(x, 2)}, ${fmt(y, 2)}, ${fmt(z, 2)} m`;
    el.yaw.textContent = `${fmt(yaw, 1)}°`;
    el.index.textContent = String(msg.index);
    el.pose.dataset.pose = [x, y, z, yaw].map((v) => v.toFixed(4)).join(",");
    if (!loci.connected) { loci.connected = true; setStatus("open", "connected"); }
    pump();
  }

  let lastSaved = "";
  function setSaves(names) {
    const keep = lastSaved || el.loadName.value;
    lastSaved = "";
    el.loadName.replaceChildren(new Option(names.length ? "— saved —" : "— none saved —", ""));
    for (const n of names) el.loadName.add(new Option(n, n));
    if (names.includes(keep)) el.loadName.value = keep;
  }

  function onMessage(msg) {
    switch (msg.type) {
      case "frame": onFrame(msg); break;
      case "saves": setSaves(msg.names || []); break;
      case "saved": say(`saved "${msg.name}" (frame ${msg.index})`, "ok"); lastSaved = msg.name; break;
      case "loaded": say(`loaded "${msg.name}" (frame ${msg.index})`, "ok"); break;
      case "reset": say("new world", "ok"); break;
      case "error":
        loci.errors += 1; loci.lastError = msg.message;
        if (inFlight && (msg.seq == null || msg.seq === inFlight.seq)) inFlight = null;
        say(msg.message, "error");
        if (!loci.connected) el.overlay.textContent = msg.message;
        pauseUntil = performance.now() + ERROR_PAUSE_MS;
        break;
      default: break;
    }
  }

  // ---- controls ----------------------------------------------------------------------------------
  el.textForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const text = el.text.value.trim();
    if (!text) return;
    seq += 1;
    send({ type: "text", text, t: performance.now(), seq });
  });
  el.reset.addEventListener("click", () => { send({ type: "reset" }); el.reset.blur(); });
  el.save.addEventListener("click", () => {
    const name = el.saveName.value.trim();
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(name)) { say("save names use 1-64 letters, digits, _ or -", "error"); return; }
    send({ type: "save", name }); el.save.blur();
  });
  el.load.addEventListener("click", () => {
    const name = el.loadName.value;
    if (!name) { say("pick a saved world first", "error"); return; }
    send({ type: "load", name }); el.load.blur();
  });
  el.loadName.addEventListener("focus", () => send({ type: "list" }));
  el.pixelated.addEventListener("change", () => { document.body.classList.toggle("pixelated", el.pixelated.checked); el.pixelated.blur(); });
  document.body.classList.toggle("pixelated", el.pixelated.checked);
  el.reconnect.addEventListener("click", () => { el.reconnect.hidden = true; connect(); });
  setInterval(() => { // FPS decays to 0 when idle
    const now = performance.now();
    while (arrivals.length && now - arrivals[0] > 1000) arrivals.shift();
    loci.fps = arrivals.length;
    el.fps.textContent = String(loci.fps);
    pump();
  }, 250);

  connect();
})();
