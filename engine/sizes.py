"""Sizes and durations on the model's grid (pure functions, no torch).

A generation's size is its grid of noise patches: width and height must be multiples of
`multiple` (the VAE's spatial factor times the patch size) and a clip has 1 + k * temporal_factor
frames. Requests that miss the grid are refused with the nearest valid values, never silently
changed; durations in seconds are rounded to the nearest valid frame count and reported.
"""
from __future__ import annotations

import math

ASPECTS = ("16:9", "9:16", "1:1", "4:3", "3:4")
# Draft -> full render: the fraction of the full grid's schedule run again over the upscaled
# draft (strength, as in operations.restyle_edit). 0.35 re-noises a 2-second 256x144 grid
# (1,008 tokens, time shift 2) to t = 0.52 and a 256x256 one (shift 2.65) to t = 0.59; at 0.52 a
# render kept its draft's colour in 4 of 4 clips and motion in 2 of 4 (bench/operations.py).
RENDER_STRENGTH = 0.35
# Interpolation's transition length when none is asked for: as long as the change from A to B
# needs (operations.transition_gaps), within these bounds. Between two different world scenes a
# pixel crossfade over 1 s changes each frame 3.7x to 5.2x as much as the clips' own median frame
# change (two sets of eight pairs), over 3 s 1.2x, and the scenes furthest apart need 5 s or more
# (bench/operations.py --only interpolate). A transition that leaves the clips fewer than four
# latent frames of context in one generation (over 7 s in 97 frames at 12 fps) is made in windows
# (Engine.interpolate): the pair furthest apart of sixteen needs 10.7 s; cut to 6 s its largest
# step was 3.9x the clips' median, in two windows 2.08x (docs/model-notes.md).
TRANSITION_MIN_SECONDS = 2.0
TRANSITION_MAX_SECONDS = 12.0
# The longest transition made when one is asked for (windows of one generation each).
TRANSITION_LONGEST_SECONDS = 60.0


def parse_aspect(aspect: str) -> float:
    """'16:9' -> 16/9; also accepts '1.5'."""
    try:
        if ":" in aspect:
            a, b = aspect.split(":")
            value = float(a) / float(b)
        else:
            value = float(aspect)
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"aspect {aspect!r} is not a ratio like 16:9") from None
    if not (0.2 <= value <= 5.0) or not math.isfinite(value):
        raise ValueError(f"aspect {aspect!r} is outside the supported range 1:5 .. 5:1")
    return value


def size_for_aspect(aspect: str, long_side: int, multiple: int) -> tuple[int, int]:
    """(width, height) on the grid whose long side is `long_side` (rounded down to the grid)
    and whose ratio is the closest the grid allows."""
    ratio = parse_aspect(aspect)
    long_cells = max(1, long_side // multiple)
    short_cells = max(1, round(long_cells / max(ratio, 1 / ratio)))
    if ratio >= 1:
        return long_cells * multiple, short_cells * multiple
    return short_cells * multiple, long_cells * multiple


def check_size(width: int, height: int, multiple: int, max_long_side: int) -> None:
    for name, v in (("width", width), ("height", height)):
        if v < multiple or v % multiple:
            lo = max(multiple, v // multiple * multiple)
            raise ValueError(f"{name} {v} is not on the model's grid: it must be a multiple of "
                             f"{multiple} (nearest: {lo} or {lo + multiple})")
    if max(width, height) > max_long_side:
        raise ValueError(f"{width}x{height} is larger than this model's largest size "
                         f"({max_long_side} pixels on the long side)")


def frames_for_seconds(seconds: float, fps: float, temporal_factor: int) -> int:
    """The valid frame count (1 + k * factor) closest to seconds * fps, at least 1."""
    if not (seconds >= 0 and math.isfinite(seconds)):
        raise ValueError(f"seconds must be a non-negative number, got {seconds}")
    k = round((seconds * fps - 1) / temporal_factor)
    return 1 + max(0, k) * temporal_factor


def check_frames(num_frames: int, temporal_factor: int, max_frames: int) -> None:
    if num_frames < 1 or (num_frames - 1) % temporal_factor:
        k = max(0, (num_frames - 1) // temporal_factor)
        raise ValueError(f"{num_frames} frames is not on the model's grid: use 1 + k*{temporal_factor} "
                         f"frames (nearest: {1 + k * temporal_factor} or {1 + (k + 1) * temporal_factor})")
    if num_frames > max_frames:
        raise ValueError(f"{num_frames} frames is more than one generation makes ({max_frames}); "
                         "make longer clips by extending")


def window_sizes(total: int, first: int, middle: int, last: int) -> list[int]:
    """New latent frames per window for `total` made in two or more windows that hold at most
    first, middle (each between) and last: the fewest windows, their sizes as even as they allow."""
    if total < 2 or min(first, middle, last) < 1:
        raise ValueError(f"cannot make {total} latent frames in two or more windows of "
                         f"{first}, {middle}, {last}")
    n = 2
    while first + middle * (n - 2) + last < total:
        n += 1
    caps = [first] + [middle] * (n - 2) + [last]
    sizes = [total // n + (i < total % n) for i in range(n)]
    for i in range(n):                 # what a window cannot hold goes to those with room
        while sizes[i] > caps[i]:
            j = max(range(n), key=lambda k: caps[k] - sizes[k])
            sizes[i], sizes[j] = sizes[i] - 1, sizes[j] + 1
    return sizes
