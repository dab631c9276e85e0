"""Measurements of world clips from their pixels alone: the named object's colour, shape, motion
and persistence, the camera motion, and flicker. Used by worldbench.py on generated clips and,
as a calibration, on the world's own renders (where the answers are known).
"""
from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from engine.operations import frame_changes
from engine.world import COLOUR_RGB
from engine.world.render import background_palette

SHAPE_NAMES = ("ball", "box", "triangle", "star")


# An object colour is read on a background only when it lies farther than this (0-255 levels,
# RGB distance) from every colour the background itself shows. Black at night lies 6 levels from
# the dark hills, white 11 from the clouds over grass and the sea: a few levels of decoding error
# turn background into "object" there. Through the shipped VAE an empty night scene read as a
# black object, and every night prompt's colour came out black (issue 3).
SEPARABLE_LEVELS = 15.0


@lru_cache(maxsize=None)
def readable_colours(background: str) -> tuple[str, ...]:
    """The object colours that can be told from `background` by colour alone."""
    palette = background_palette(background)
    return tuple(c for c, rgb in COLOUR_RGB.items()
                 if np.linalg.norm(palette - np.array(rgb, np.float32), axis=-1).min() > SEPARABLE_LEVELS)


def colour_maps(frames: np.ndarray, background: str, threshold: float = 70.0) -> np.ndarray:
    """Per pixel, which object colour it is (index into COLOUR_RGB order) or -1 for background.

    A pixel counts as object colour c when c is its nearest object colour, closer than
    `threshold`, closer than every colour the background itself shows, and c is readable on
    this background (readable_colours)."""
    names = list(COLOUR_RGB)
    palette = np.array([COLOUR_RGB[c] for c in names], np.float32)                # (8, 3)
    px = frames.reshape(-1, 3).astype(np.float32)
    d_obj = np.linalg.norm(px[:, None] - palette[None], axis=-1)                   # (P, 8)
    d_bg = np.linalg.norm(px[:, None] - background_palette(background)[None], axis=-1).min(1)
    best = d_obj.argmin(1)
    readable = np.array([c in readable_colours(background) for c in names])
    ok = (d_obj.min(1) < threshold) & (d_obj.min(1) < d_bg) & readable[best]
    return np.where(ok, best, -1).reshape(frames.shape[:-1])                      # (T, H, W)


def _largest_component(mask: np.ndarray) -> np.ndarray:
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), 8)
    if n <= 1:
        return np.zeros_like(mask, dtype=bool)
    return labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))


def classify_shape(mask: np.ndarray) -> str | None:
    """ball / box / triangle / star from a binary mask, by solidity and fill of the min-area box."""
    mask = _largest_component(mask)
    if mask.sum() < 12:
        return None
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    c = max(contours, key=cv2.contourArea)
    area = float(cv2.contourArea(c)) + 0.5 * len(c)  # filled outline: highlights leave no holes
    hull = cv2.contourArea(cv2.convexHull(c)) + 1e-6
    (_, _), (w, h), _ = cv2.minAreaRect(c)
    fill = area / max(w * h, 1e-6)
    solidity = min(1.0, area / hull)
    if solidity < 0.8:
        return "star"
    if fill > 0.88:
        return "box"
    if fill > 0.66:
        return "ball"
    return "triangle"


def camera_motion(frames: np.ndarray, object_mask: np.ndarray | None = None) -> str:
    """static / pan_left / pan_right / zoom_in / zoom_out from dense optical flow between the
    first and last frame, over background pixels."""
    grey = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]
    H, W = grey[0].shape
    ys, xs = np.mgrid[0:H, 0:W]
    rx, ry = (xs - W / 2) / W, (ys - H / 2) / W
    pan = zoom = 0.0
    for i in range(len(grey) - 1):  # small steps between neighbours, summed over the clip
        flow = cv2.calcOpticalFlowFarneback(grey[i], grey[i + 1], None, 0.5, 3, 15, 3, 5, 1.2, 0)
        keep = np.ones((H, W), bool)
        if object_mask is not None:
            near = (object_mask[i] | object_mask[i + 1]).astype(np.uint8)
            keep &= ~cv2.dilate(near, np.ones((7, 7), np.uint8)).astype(bool)
        fx, fy = flow[..., 0][keep] / W, flow[..., 1][keep] / W
        pan += float(np.median(fx))
        r2 = (rx[keep] ** 2 + ry[keep] ** 2).sum() + 1e-9
        zoom += float((fx * rx[keep] + fy * ry[keep]).sum() / r2)  # least-squares radial scale change
    if abs(zoom) > 0.04 and abs(zoom) > 2 * abs(pan):
        return "zoom_in" if zoom > 0 else "zoom_out"
    if abs(pan) > 0.012:
        return "pan_right" if pan < 0 else "pan_left"  # a camera panning right moves content left
    return "static"


def motion_numbers(mask: np.ndarray) -> dict | None:
    """What object_motion reads from the mask track (T, H, W) of one object, from its first to its
    last present frame: dx, dy (centre, frame units), growth (linear size ratio), y_range (extent
    of the centre's height over the clip) and swings (turns of its height); None if it is present
    in fewer than two frames."""
    T, H, W = mask.shape
    areas = mask.reshape(T, -1).sum(1).astype(float)
    present = areas >= max(8.0, 0.2 * np.median(areas))
    if present.sum() < 2:
        return None
    ys, xs = np.mgrid[0:H, 0:W]
    cx = np.array([(xs * m).sum() / max(m.sum(), 1) for m in mask]) / W
    cy = np.array([(ys * m).sum() / max(m.sum(), 1) for m in mask]) / H
    idx = np.flatnonzero(present)
    first, last = idx[0], idx[-1]
    y_path = cy[idx]
    swings = int(np.abs(np.diff(np.sign(np.diff(y_path))) != 0).sum()) if len(idx) > 3 else 0
    return {"dx": float(cx[last] - cx[first]), "dy": float(cy[last] - cy[first]),
            "growth": float(np.sqrt(areas[last] / max(areas[first], 1.0))),
            "y_range": float(y_path.max() - y_path.min()), "swings": swings}


def bounces(m: dict) -> bool:
    """A bounce, from motion_numbers: the height swings over more than 0.08 of the frame and
    turns, while the object ends about where it started."""
    return m["y_range"] > 0.08 and m["swings"] >= 1 and abs(m["dx"]) < 0.08 and abs(m["dy"]) < 0.06


def object_motion(mask: np.ndarray) -> str | None:
    """left/right/up/down/grow/shrink/bounce/still from the mask track (T, H, W) of one object."""
    return motion_class(motion_numbers(mask))


def motion_class(m: dict | None) -> str | None:
    """object_motion's class from motion_numbers (None stays None)."""
    if m is None:
        return None
    dx, dy, growth = m["dx"], m["dy"], m["growth"]
    if bounces(m):
        return "bounce"
    if max(abs(dx), abs(dy)) > 0.05 and max(abs(dx), abs(dy)) > abs(growth - 1):
        if abs(dx) >= abs(dy):
            return "right" if dx > 0 else "left"
        return "down" if dy > 0 else "up"
    if growth > 1.2:
        return "grow"
    if growth < 0.83:
        return "shrink"
    return "still"


def motions_agree(a: dict | None, b: dict | None, move: float = 0.05, grow: float = 1.2) -> bool:
    """Two clips' motion_numbers within the smallest difference object_motion tells apart: the
    centre's travel (dx, dy) within `move` of the frame (the least travel it calls a move), the
    size ratio within a factor `grow` (the least it calls growing), and both bouncing or neither
    (a bounce is told by the path's shape, not by its travel). Unlike comparing classes, an
    object whose motion sits on a class threshold is not counted as changed for crossing it by a
    pixel; a motion changed by as much as one class step is."""
    if a is None or b is None:
        return False
    return (abs(a["dx"] - b["dx"]) <= move and abs(a["dy"] - b["dy"]) <= move
            and bounces(a) == bounces(b)
            and abs(np.log(max(a["growth"], 1e-6) / max(b["growth"], 1e-6))) <= np.log(grow))


# A clip that hardly moves has no frame change of its own to hold a seam against: a still one's
# median change is 0, so a "within 2x" bar fails every continuation that is not bit for bit the
# same, even by half a level, which an 8-bit frame shows as noise. Its own change counts as at
# least this (mean absolute change in 0-255 levels: half of the pixels moving by one level).
STILL_LEVELS = 0.5


def own_change(changes: np.ndarray) -> float:
    """The median of a clip's frame changes (jumps), at least STILL_LEVELS."""
    return max(float(np.median(changes)) if len(changes) else 0.0, STILL_LEVELS)


def jumps(frames: np.ndarray) -> np.ndarray:
    """Mean absolute change between neighbouring frames (T-1,) of (T, H, W, 3) frames in 0-255
    levels (uint8, or float on the same scale): the engine's own measure, which interpolation's
    length and retiming aim at (operations.frame_changes)."""
    return frame_changes(frames)


def flicker(frames: np.ndarray) -> float:
    """Mean absolute change between consecutive frames, in 0-255 levels (VBench's flicker idea)."""
    if len(frames) < 2:
        return 0.0
    return float(np.abs(np.diff(frames.astype(np.float32), axis=0)).mean())


def seams(frames: np.ndarray, cell: int) -> float:
    """How much a (T, H, W, 3) clip changes across the lines of a grid of `cell` pixels against
    between other neighbouring pixels: mean absolute difference of the pixel pairs that straddle
    a grid line over that of all other pairs, rows and columns averaged. About 1 for content that
    knows no grid (worldbench, the world's renders at full size: 1.01); a transformer's token seams
    raise it (the shipped DiT at 16 pixels: 1.79). So do long straight edges that lie on a grid
    line: at 128x64 a horizon may, and the world's renders score 1.63 there."""
    f = frames.astype(np.float32)
    ratios = []
    for axis in (1, 2):
        d = np.abs(np.diff(f, axis=axis)).mean(axis=tuple(a for a in range(4) if a != axis))  # (L-1,)
        on = np.zeros(len(d), bool)
        on[cell - 1::cell] = True
        if on.any() and (~on).any():
            ratios.append(d[on].mean() / max(d[~on].mean(), 1e-6))
    return float(np.mean(ratios)) if ratios else 1.0


AT_GROW = 3   # measure(at=...): the place read from another clip, grown by this many pixels (after a small clip's upscaling)


def _resized(masks: np.ndarray, width: int, height: int) -> np.ndarray:
    """Masks (T, h, w) bool at another size (T, height, width), nearest neighbour."""
    return np.stack([cv2.resize(m.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST)
                     for m in masks]).astype(bool)


def _near_place(mask: np.ndarray, at: np.ndarray) -> np.ndarray:
    """In each frame, the connected part of `mask` (T, H, W) that overlaps `at` most (none where
    none does)."""
    out = np.zeros_like(mask, dtype=bool)
    for t in range(len(mask)):
        n, labels = cv2.connectedComponents(mask[t].astype(np.uint8), connectivity=8)
        hits = np.bincount(labels[at[t]].ravel(), minlength=n)[1:]
        if n > 1 and hits.max() > 0:
            out[t] = labels == 1 + int(np.argmax(hits))
    return out


def measure(frames: np.ndarray, background: str, min_short_side: int = 144,
            cell: int | None = None, track: bool = False, at: np.ndarray | None = None) -> dict:
    """Everything worldbench scores, from the pixels of one clip (T, H, W, 3) uint8; with `cell`
    (the model's token size in pixels) also how much its token grid shows (`seams`); with
    `track` also the object's centre in each frame (`track`, see object_track; None if no object)
    and its pixels (`mask`, (T, H, W) bool at the frames' size).

    at (T, H, W) bool: where the object is to be read, frame by frame (another clip's `mask`:
    restyle's input). Its colour is then the most common one there (grown by AT_GROW pixels), by
    the same least count, and in each frame the object is the part of that colour that overlaps
    the place most, not the largest anywhere: a background redrawn with blotches of the object's
    colour (a pale sky whiter than the palette) is not taken for it.

    Small clips (drafts) are upscaled first, so that shape outlines have enough pixels."""
    grid = {"seams": seams(frames, cell)} if cell else {}
    T, H, W, _ = frames.shape
    if at is not None and at.shape != (T, H, W):
        raise ValueError(f"the place to read {at.shape} does not match the frames {(T, H, W)}")
    if min(H, W) < min_short_side:
        s = min_short_side / min(H, W)
        frames = np.stack([cv2.resize(f, (round(W * s), round(H * s)), interpolation=cv2.INTER_CUBIC)
                           for f in frames])
        if at is not None:
            at = _resized(at, round(W * s), round(H * s))
    cmap = colour_maps(frames, background)
    names = list(COLOUR_RGB)
    read = cmap >= 0
    if at is not None:
        kernel = np.ones((2 * AT_GROW + 1,) * 2, np.uint8)
        at = np.stack([cv2.dilate(m.astype(np.uint8), kernel) for m in at]).astype(bool)
        read &= at
    counts = np.bincount(cmap[read].ravel(), minlength=len(COLOUR_RGB))
    colour = names[int(counts.argmax())] if counts.max() > 0.002 * cmap.size else None
    out = {"colour": colour, "shape": None, "motion": None, "motion_numbers": None, "persistence": 0.0,
           "camera": None, "flicker": flicker(frames), "centre": None, **grid}
    if track:
        out["track"] = out["mask"] = None
    if colour is None:
        out["camera"] = camera_motion(frames)
        return out
    if at is None:
        mask = np.stack([_largest_component(m) for m in cmap == names.index(colour)])   # (T, H, W)
    else:
        mask = _near_place(cmap == names.index(colour), at)
    areas = mask.reshape(len(mask), -1).sum(1)
    out["persistence"] = float((areas >= max(6.0, 0.25 * np.median(areas))).mean())
    out["shape"] = classify_shape(mask[len(mask) // 2]) if areas[len(mask) // 2] else classify_shape(mask[np.argmax(areas)])
    out["motion_numbers"] = motion_numbers(mask)
    out["motion"] = motion_class(out["motion_numbers"])
    out["camera"] = camera_motion(frames, mask)
    centres = object_track(mask)
    out["centre"] = object_centre(centres)
    if track:
        out["track"] = centres
        out["mask"] = mask if mask.shape[1:] == (H, W) else _resized(mask, W, H)
    return out


def object_track(mask: np.ndarray) -> np.ndarray:
    """(T, 2) centre (x, y) of one object's mask track (T, H, W) in frame units, NaN in the
    frames where it is absent: the same numbers at any frame size."""
    T, H, W = mask.shape
    ys, xs = np.mgrid[0:H, 0:W]
    area = mask.reshape(T, -1).sum(1).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        cx = (mask * xs).reshape(T, -1).sum(1) / area / W
        cy = (mask * ys).reshape(T, -1).sum(1) / area / H
    return np.stack([cx, cy], 1)


def object_centre(track: np.ndarray) -> tuple[float, float] | None:
    """(x, y) of an object_track averaged over the frames where it is present (None if never)."""
    present = track[~np.isnan(track[:, 0])]
    if not len(present):
        return None
    return float(present[:, 0].mean()), float(present[:, 1].mean())


def path_distance(a: np.ndarray, b: np.ndarray, min_shared: float = 0.5) -> float | None:
    """Mean distance (frame units, per axis the larger) between two object tracks of one clip
    length over the frames where both are present; None if that is under `min_shared` of them."""
    both = ~np.isnan(a[:, 0]) & ~np.isnan(b[:, 0])
    if both.sum() < max(1, min_shared * len(a)):
        return None
    return float(np.abs(a[both] - b[both]).max(1).mean())
