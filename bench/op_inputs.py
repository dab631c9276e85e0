"""The operations bench's inputs (world clips, photographs' panning clips) and its table's rows.

Shared by bench/operations.py and bench/restyle_bench.py (and the scripts that reuse their clips).
"""
from __future__ import annotations

import numpy as np

from engine.conform import fit_frames
from engine.world import render, sample_scene

MOTIONS = ("left", "right", "up", "down")
COLOURS = ("red", "orange", "yellow", "green", "blue", "purple", "white", "black")


def on_grid(frames: np.ndarray, like: np.ndarray) -> np.ndarray:
    """The input as the engine conformed it (same crop policy), to compare pixel to pixel."""
    return fit_frames(frames, like.shape[2], like.shape[1])[0]


def world_clip(rng, seconds=2.0, fps=12.0, size=(256, 144)):
    """A world scene of one object drawn from rng, rendered (1 + 4k, H, W, 3) uint8 at size and
    fps (on the default model's grid), and the scene."""
    scene = sample_scene(rng, duration_s=seconds, max_objects=1)
    n = 1 + int(seconds * fps) // 4 * 4
    return render(scene, *size, n, fps), scene


PAN_WINDOW = 0.8        # photo_clip's window: this share of the photograph's width (at most its height)
PAN_PER_SECOND = 0.05   # and it moves this share of the width a second


def photo_clip(photo: np.ndarray, seconds: float = 2.0, fps: float = 12.0) -> np.ndarray:
    """Real footage of a kind: a 16:9 window panning slowly right across a photograph (T, H, W, 3).
    (Before, the window took the photograph's whole width and had nowhere to move: the clips
    were still.)"""
    H, W = photo.shape[:2]
    w = min(round(W * PAN_WINDOW), round(H * 16 / 9))
    h = round(w * 9 / 16)
    n = 1 + int(seconds * fps)
    xs = np.linspace(0, min(W - w, PAN_PER_SECOND * W * seconds), n).round().astype(int)
    return np.stack([photo[(H - h) // 2:(H - h) // 2 + h, x:x + w] for x in xs])


def row(rows, what, figure, bar, met):
    """Append one row of the issue's table: (row, figure, bar, "yes" or "NO")."""
    rows.append((what, figure, bar, "yes" if met else "NO"))


def share_row(rows, what, pct, n, least, extra=""):
    """A row of a share in percent against its least; a share with nothing to score (None:
    no clip where it could be read) is not met."""
    if pct is None:
        row(rows, what, f"n/a: none of {n} could be scored", f">= {least}%", False)
    else:
        row(rows, what, f"{pct:.0f}% of {n}{extra}", f">= {least}%", pct >= least)
