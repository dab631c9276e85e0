"""Bringing input media onto the model's grid (numpy and OpenCV, no torch).

Inputs arrive at any size and frame rate. They are resized to the nearest size on the grid (same
aspect as closely as the grid allows) by cropping the overflow (default) or padding it, and
resampled in time by taking, for each output frame time, the input frame shown at that moment.
Every change is reported in a note, so the result can say what was done to its inputs.
"""
from __future__ import annotations

import cv2
import numpy as np

from engine.sizes import size_for_aspect


def grid_size_for(height: int, width: int, long_side: int, multiple: int) -> tuple[int, int]:
    """The (width, height) on the grid nearest the input's aspect, at `long_side`."""
    ratio = min(5.0, max(0.2, width / height))
    return size_for_aspect(f"{ratio:.6f}", long_side, multiple)


def fit_frames(frames: np.ndarray, width: int, height: int, mode: str = "crop") -> tuple[np.ndarray, dict]:
    """(T, H, W, 3) uint8 -> (T, height, width, 3): scale to cover and centre-crop ('crop'), or
    scale to fit and pad with black ('pad')."""
    if mode not in ("crop", "pad"):
        raise ValueError(f"fit mode must be 'crop' or 'pad', got {mode!r}")
    T, H, W, _ = frames.shape
    note = {"from_size": [int(W), int(H)], "to_size": [width, height], "fit": mode}
    if (H, W) == (height, width):
        return frames, {**note, "fit": "none"}
    scale = max(width / W, height / H) if mode == "crop" else min(width / W, height / H)
    sw, sh = max(1, round(W * scale)), max(1, round(H * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    out = np.zeros((T, height, width, 3), np.uint8)
    for i, frame in enumerate(frames):
        r = cv2.resize(frame, (sw, sh), interpolation=interp)
        if mode == "crop":
            y, x = (sh - height) // 2, (sw - width) // 2
            out[i] = r[y:y + height, x:x + width]
        else:
            y, x = (height - sh) // 2, (width - sw) // 2
            out[i, y:y + sh, x:x + sw] = r
    return out, note


def resample_frames(frames: np.ndarray, fps_in: float, fps_out: float, temporal_factor: int,
                    max_frames: int | None = None, keep: str = "start") -> tuple[np.ndarray, dict]:
    """Resample to fps_out and cut to a valid count (1 + k * factor) no longer than the input.

    keep='start' keeps the beginning when a cut is needed, 'end' keeps the end (the context for
    extending forward is the end of a clip)."""
    if fps_in <= 0 or fps_out <= 0:
        raise ValueError("frame rates must be positive")
    T = len(frames)
    duration = T / fps_in
    n = max(1, int(np.floor(duration * fps_out + 1e-6)))
    n = 1 + (n - 1) // temporal_factor * temporal_factor
    if max_frames is not None and n > max_frames:
        n = 1 + (max_frames - 1) // temporal_factor * temporal_factor
    start = 0.0 if keep == "start" else max(0.0, duration - n / fps_out)
    idx = np.minimum(T - 1, np.floor((start + np.arange(n) / fps_out) * fps_in + 1e-6).astype(int))
    if T == 1:              # a still: no rate to resample from and nothing to drop
        return frames[idx], {"from_frames": 1, "to_frames": int(n), "to_fps": float(fps_out)}
    note = {"from_frames": T, "from_fps": round(float(fps_in), 4), "to_frames": int(n),
            "to_fps": float(fps_out), "dropped_s": round(max(0.0, duration - n / fps_out), 4)}
    if n == T and np.array_equal(idx, np.arange(T)):
        # already on the grid's rate and count: no copy (an extension of a long clip copied it
        # whole here each time, a cost that grows with its length; it is still joined to the new
        # frames once, as the result is the whole clip); read-only, so no edit can write through
        # it into the caller's frames
        same = frames.view()
        same.flags.writeable = False
        return same, note
    return frames[idx], note
