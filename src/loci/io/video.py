"""MP4 (H.264) writing with PyAV; the file appears only when it is complete."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

import av
import numpy as np

from .atomic import atomic_path


class Mp4Writer:
    """Stream ``(H, W, 3)`` uint8 RGB frames into an MP4 at ``path``, atomically.

    Use as a context manager; the file is moved into place on a clean exit and discarded on error.
    Odd sizes are padded to even (H.264 with yuv420p needs even sides).
    """

    def __init__(self, path: str | os.PathLike, fps: float = 15.0, crf: int = 18):
        self.path = Path(path)
        self.fps, self.crf = fps, crf
        self._ctx = atomic_path(self.path)
        self._container = None
        self._stream = None
        self.frames = 0

    def __enter__(self) -> Mp4Writer:
        tmp = self._ctx.__enter__()
        self._container = av.open(str(tmp), mode="w", format="mp4")
        return self

    def write(self, frame: np.ndarray) -> None:
        """Append one ``(H, W, 3)`` uint8 RGB frame; every frame must have the first frame's size."""
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"frames must be (H, W, 3) uint8, got {frame.shape} {frame.dtype}")
        h, w = frame.shape[:2]
        frame = np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
        if self._stream is None:
            self._stream = self._container.add_stream("libx264", rate=round(self.fps))
            self._stream.width, self._stream.height = frame.shape[1], frame.shape[0]
            self._stream.pix_fmt = "yuv420p"
            self._stream.options = {"crf": str(self.crf), "preset": "veryfast"}
        elif (frame.shape[1], frame.shape[0]) != (self._stream.width, self._stream.height):
            raise ValueError("all frames of a video must have the same size")
        for packet in self._stream.encode(
            av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        ):
            self._container.mux(packet)
        self.frames += 1

    def __exit__(self, et: type | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        try:
            if et is None:
                if self.frames == 0:
                    raise ValueError(f"no frames were written to {self.path}")
                for packet in self._stream.encode():
                    self._container.mux(packet)
            self._container.close()
        except BaseException as err:
            self._ctx.__exit__(type(err), err, err.__traceback__)
            raise
        self._ctx.__exit__(et, ev, tb)


def write_mp4(path: str | os.PathLike, frames: Iterable[np.ndarray], fps: float = 15.0) -> int:
    """Write all ``frames`` (each ``(H, W, 3)`` uint8) to ``path``; returns the number written."""
    with Mp4Writer(path, fps) as writer:
        for frame in frames:
            writer.write(frame)
    return writer.frames
