"""Restyle's new colours as a plan: an object the new prompt gives another colour is painted in
it before the model redraws the clip.

SDEdit cannot recolour an object with the shipped DiT: given a caption that names another colour
for it, the model paints the object out and keeps the background, at every strength tried, with
higher guidance, with the source caption steered away from, and with a FlowEdit-style edit
(docs/model-notes.md). It keeps what the prompt agrees with: with the clip's own caption the
object's place and motion came back in 8 and 7 of 8 clips at strength 0.6. So where the prompt
and the clip disagree on an object's colour only, the clip is first made to agree, and the
sampler refines it as usual (operations.restyle_edit); the motion plan does the same for paths
(engine/motion.py).

1. `shows_background`: the prompt names a world background and most of the clip is near its
   colours (background_palette); otherwise nothing is recoloured: the colours of footage that is
   not the world's say nothing of its objects;
2. `objects_shown`: the world colours of the objects the clip shows (motion.find_object on a few
   of its frames), and `pair_colours` pairs each colour the prompt names that the clip does not
   show with a shown colour the prompt does not name, the largest first;
3. `paint`: in every frame, that colour's regions take the new colour, each pixel in proportion
   to how much of the object it holds (an edge pixel is part background), its shading kept.

Pure numpy and OpenCV; no torch.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from engine.motion import MAX_AREA, STRAY_MIN_AREA, _grown, _nearest_distance, _regions, find_object
from engine.world.render import background_palette
from engine.world.scene import COLOUR_RGB, COLOURS

# A clip shows a world background when BACKGROUND_SHARE of its pixels lie within BACKGROUND_DISTANCE
# of that background's palette. Shares measured on five sampled frames: the world's renders 0.94
# or more; the shipped model's clips of each background 0.77 to 0.99 (six prompts, drafts and full
# size); the bench's six photographs (bench/worldbench.py photographs) 0.53 or less for every
# background, but for a photograph of a night sky, which does show the night (0.87).
# docs/model-notes.md has the first setting and why it changed.
BACKGROUND_DISTANCE = 25.0
BACKGROUND_SHARE = 0.7
SAMPLES = 5                  # frames of the clip looked at for its objects
MIN_SEEN = 2                 # an object's colour is shown when found in this many of them (fewer frames: all)


@dataclass(frozen=True)
class Recolour:
    """One object's colour change: world colour names (engine/world/scene.py COLOURS)."""
    old: str
    new: str


def _check_frames(frames: np.ndarray) -> None:
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or len(frames) < 1:
        raise ValueError(f"expected frames (T, H, W, 3) uint8, got {frames.dtype} {frames.shape}")


def _samples(frames: np.ndarray) -> np.ndarray:
    """Up to SAMPLES frames spread over the clip (k, H, W, 3)."""
    return frames[np.unique(np.linspace(0, len(frames) - 1, SAMPLES).round().astype(int))]


def shows_background(frames: np.ndarray, background: str) -> bool:
    """Whether at least BACKGROUND_SHARE of the sampled frames' pixels lie within
    BACKGROUND_DISTANCE of the world background's palette."""
    _check_frames(frames)
    palette = background_palette(background)
    near = [float((_nearest_distance(f.astype(np.float32), palette) < BACKGROUND_DISTANCE).mean())
            for f in _samples(frames)]
    return float(np.mean(near)) >= BACKGROUND_SHARE


def _nearest_colours(frame: np.ndarray) -> np.ndarray:
    """(H, W) int: the index in COLOURS of the world colour nearest each pixel of `frame`,
    smoothed as motion._regions smooths it."""
    smooth = cv2.GaussianBlur(frame, (3, 3), 0).reshape(-1, 3).astype(np.float32)  # (HW, 3)
    rgb = np.asarray([COLOUR_RGB[c] for c in COLOURS], np.float32)                  # (8, 3)
    # |x - p|^2 less |x|^2, the same for every p: the argmin without an (HW, 8, 3) difference
    return ((rgb * rgb).sum(1) - 2.0 * smooth @ rgb.T).argmin(1).reshape(frame.shape[:2])


def _elsewhere(frame: np.ndarray, colour: str) -> np.ndarray:
    """(H, W) bool: pixels nearer another world colour than `colour` (the shaded side of a
    yellow box reads as orange within FIND_DISTANCE, but it is nearer yellow)."""
    return _nearest_colours(frame) != COLOURS.index(colour)


def objects_shown(frames: np.ndarray, background: str) -> dict[str, float]:
    """World colour -> mean share of the frame its object covers, for each colour whose object
    (motion.find_object, told from the background, each pixel given to its nearest world colour)
    is found in MIN_SEEN of the sampled frames."""
    _check_frames(frames)
    samples = _samples(frames)
    nearest = [_nearest_colours(f) for f in samples]
    need = min(MIN_SEEN, len(samples))
    shown = {}
    for k, colour in enumerate(COLOURS):
        shares = [float(m.mean()) for f, near in zip(samples, nearest)
                  if (m := find_object(f, colour, near != k, background)) is not None]
        if len(shares) >= need:
            shown[colour] = float(np.mean(shares))
    return shown


def pair_colours(named: list[str], shown: dict[str, float]) -> list[Recolour]:
    """Each named colour the clip does not show, in the prompt's order, paired with a shown colour
    the prompt does not name, the largest object first; unpaired colours are left alone."""
    wanted = [c for c in dict.fromkeys(named) if c not in shown]
    spare = sorted((c for c in shown if c not in named), key=lambda c: -shown[c])
    return [Recolour(old, new) for new, old in zip(wanted, spare)]


def plan_recolour(frames: np.ndarray, named: dict) -> tuple[list[Recolour], str]:
    """(the colour changes, why) for a clip and the attributes its new prompt names
    (engine.world.parse): no change where the prompt names no background or colour, where the
    clip does not show that background, or where it shows every colour named."""
    colours = [o["colour"] for o in named["objects"] if o["colour"] is not None]
    background = named["background"]
    if not colours:
        return [], "the prompt names no object's colour"
    if background is None:
        return [], "the prompt names no background to tell objects from"
    if not shows_background(frames, background):
        return [], f"the clip does not show the {background}"
    pairs = pair_colours(colours, objects_shown(frames, background))
    return pairs, "recoloured" if pairs else "the clip shows every colour named, or no other object"


def paint(frames: np.ndarray, old: str, new: str, background: str) -> tuple[np.ndarray, np.ndarray]:
    """frames (T, H, W, 3) uint8 with the regions of world colour `old` (STRAY_MIN_AREA to
    MAX_AREA of the frame each, told from `background` and nearer `old` than any other world
    colour, grown by their outline) in colour `new`, and where they lie (T, H, W) bool.
    A pixel p takes p + a (new - old), where a in [0, 1] is how far p lies from its nearest
    background colour b toward `old` (the projection of p - b on old - b): the object's inside
    moves by the whole difference, shading kept, an anti-aliased edge by its share."""
    _check_frames(frames)
    for c in (old, new):
        if c not in COLOUR_RGB:
            raise ValueError(f"unknown colour {c!r}; expected one of {', '.join(COLOURS)}")
    o, n = (np.asarray(COLOUR_RGB[c], np.float32) for c in (old, new))
    palette = np.asarray(background_palette(background), np.float32)               # (k, 3)
    out = frames.copy()
    cover = np.zeros(frames.shape[:3], bool)
    for i, frame in enumerate(frames):
        labels, shares = _regions(frame, old, _elsewhere(frame, old), background)
        sized = np.flatnonzero((shares >= STRAY_MIN_AREA) & (shares <= MAX_AREA))
        if not len(sized):
            continue
        mask = _grown(np.isin(labels, sized + 1))                                  # (H, W)
        p = frame[mask].astype(np.float32)                                         # (m, 3)
        d2 = ((p[:, None, :] - palette[None]) ** 2).sum(-1)                        # (m, k)
        b = palette[d2.argmin(1)]                                                  # (m, 3)
        a = np.clip(((p - b) * (o - b)).sum(1) / np.maximum(((o - b) ** 2).sum(1), 1.0), 0.0, 1.0)
        out[i][mask] = np.clip(p + a[:, None] * (n - o) + 0.5, 0, 255).astype(np.uint8)
        cover[i] = mask
    return out, cover


def recolour_clip(frames: np.ndarray, prompt: str) -> tuple[np.ndarray, np.ndarray, dict]:
    """The clip (T, H, W, 3) uint8 with each object the prompt gives another colour painted in it,
    where the painted objects lie (T, H, W) bool, and a note
    {"recoloured": [[old, new], ...], "why": ...} for the record."""
    from engine.world import parse
    named, _ = parse(prompt)
    pairs, why = plan_recolour(frames, named)
    cover = np.zeros(frames.shape[:3], bool)
    for r in pairs:
        frames, painted = paint(frames, r.old, r.new, named["background"])
        cover |= painted
    return frames, cover, {"recoloured": [[r.old, r.new] for r in pairs], "why": why}


def main(argv=None) -> int:
    """Recolour a video file as restyle would before the model redraws it (a preview)."""
    import argparse
    from engine import io
    p = argparse.ArgumentParser(description=main.__doc__)
    p.add_argument("--video", required=True)
    p.add_argument("--prompt", required=True)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    frames, fps = io.read_video(args.video, long_side=io.EDIT_LONG_SIDE)
    painted, _, note = recolour_clip(frames, args.prompt)
    io.write_video(painted, args.out, fps)
    print(note)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
