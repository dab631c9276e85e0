"""Object motion as a plan: the model draws the scene, the caption's movers are found in it and
moved along the paths the caption gives them, and the model refines the result.

The shipped DiT reads the colour and shape words but not the motion word: worldbench's movers
came out in place (motion 4% at full size; docs/model-notes.md). The prompt upsampler already
turns a prompt into a scene with a motion and a speed for every object (engine/world), a layout
as LLM-grounded video diffusion (Lian et al. 2023) draws one; this module makes it a plan for the
one sampler, as cut-and-drag animation is refined by a video model (Go-with-the-Flow, Burgert et
al. 2025) and as engine/camera.py makes a camera move:

1. the sampler draws the clip, and its `clearest_frame` is the still the objects move from (for
   animate, the image is; under a camera move, the camera's still is: Engine._objects_in);
2. `find_movers` grounds each moving object of the scene in the still: the largest connected
   region near the world's colour of that object (COLOUR_RGB), of plausible size; an object
   that is not found is left where it is; `find_strays` finds the still's duplicates of it;
3. `motion_frames` cuts each found object out, fills the hole it leaves and its duplicates'
   (OpenCV inpainting; the model redraws it), and lays it over that plate at every frame along
   its path (`object_path`: the world's motion_offset at the caption's speed, its start kept or
   fitted into the frame);
4. the frames are encoded and known at mask `hold`, so the model refines every frame from flow
   time 1 - hold under the prompt (operations.motion_edit).

Pure numpy and OpenCV; no torch.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from engine.world.render import background_palette
from engine.world.scene import COLOUR_RGB, MARGIN, Scene, motion_offset

FIND_DISTANCE = 80.0         # RGB distance (0-441) from the object's colour that counts as the object
MIN_AREA, MAX_AREA = 0.001, 0.25   # an object's share of the frame; outside it is not an object
STRAY_MIN_AREA = MIN_AREA / 4      # a duplicate's share of the frame from which it is erased
STRAY_MAX_TOTAL = 0.05             # more of a colour than this is the background's (a blue sea): kept
OUTLINE_PX = 2               # the mask grows by this much to take the object's outline along
# The hole an object leaves is filled this far (share of the frame's short side) past its outline:
# a model's object has a soft halo, and a fill that took in its colour was redrawn by the refining
# model as a second, still object (a ghost). 7 pixels at full size, 4 at a draft's.
HOLE_MARGIN = 0.05
FEATHER_PX = 1.0             # the cut-out's edge is softened over about this many pixels


@dataclass(frozen=True)
class Mover:
    """One object to move: its pixels in the still and the path the caption gives it."""
    mask: np.ndarray   # (H, W) bool, the object and its outline in the still
    motion: str        # engine/world/scene.py MOTIONS
    speed: str         # engine/world/scene.py SPEEDS


def _check_still(still: np.ndarray) -> None:
    if still.ndim != 3 or still.shape[-1] != 3 or still.dtype != np.uint8:
        raise ValueError(f"expected a still (H, W, 3) uint8, got {still.dtype} {still.shape}")


def _regions(still: np.ndarray, colour: str, taken: np.ndarray | None, background: str | None):
    """Connected regions of `still` (H, W, 3) uint8 near the world colour `colour`, outside
    `taken` (H, W) bool: labels (H, W) int32 (0: none) and each label's share of the frame (n,),
    label k + 1 at index k. With a world `background`, a pixel nearer one of its colours
    (background_palette) than the object's is background: the sea's deep blue lies 79 levels
    from the world's blue, and the largest "blue" region over the sea was a piece of it."""
    _check_still(still)
    if colour not in COLOUR_RGB:
        raise ValueError(f"unknown colour {colour!r}; expected one of {', '.join(COLOUR_RGB)}")
    H, W = still.shape[:2]
    smooth = cv2.GaussianBlur(still, (3, 3), 0).astype(np.float32)
    dist = np.linalg.norm(smooth - np.asarray(COLOUR_RGB[colour], np.float32), axis=-1)    # (H, W)
    near = dist < FIND_DISTANCE
    if background is not None:
        near &= dist < _nearest_distance(smooth, background_palette(background))
    if taken is not None:
        near &= ~taken
    _, labels, stats, _ = cv2.connectedComponentsWithStats(near.astype(np.uint8), connectivity=8)
    return labels, stats[1:, cv2.CC_STAT_AREA] / float(H * W)


def _nearest_distance(image: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """RGB distance from each pixel of `image` (H, W, 3) to the nearest colour of `palette`
    (k, 3) -> (H, W). As |x|^2 - 2 x.p + |p|^2 in float64: a quarter of the time of the
    broadcast difference (H, W, k, 3), which every frame of a clip pays (clearest_frame)."""
    px = image.reshape(-1, 3).astype(np.float64)                                    # (HW, 3)
    p = np.asarray(palette, np.float64)
    d2 = (px * px).sum(1, keepdims=True) - 2.0 * px @ p.T + (p * p).sum(1)          # (HW, k)
    return np.sqrt(np.maximum(d2.min(1), 0.0)).reshape(image.shape[:2])


def _grown(mask: np.ndarray) -> np.ndarray:
    """A mask (H, W) bool grown by the outline an object carries."""
    return cv2.dilate(mask.astype(np.uint8), np.ones((2 * OUTLINE_PX + 1,) * 2, np.uint8)).astype(bool)


def find_object(still: np.ndarray, colour: str, taken: np.ndarray | None = None,
                background: str | None = None) -> np.ndarray | None:
    """The largest connected region of `still` (H, W, 3) uint8 near the world colour `colour`
    (and nearer it than the world `background`'s colours) that covers MIN_AREA to MAX_AREA of the
    frame, outside `taken` (H, W) bool, grown by its outline: (H, W) bool, or None where there is
    none. A larger region (a white sky for a white object) is background and is passed over."""
    labels, shares = _regions(still, colour, taken, background)
    sized = np.flatnonzero((shares >= MIN_AREA) & (shares <= MAX_AREA))
    if not len(sized):
        return None
    k = 1 + int(sized[np.argmax(shares[sized])])
    return _grown(labels == k)


def find_movers(still: np.ndarray, scene: Scene) -> list[Mover]:
    """The scene's moving objects found in the still, each in its own pixels (two objects of
    one colour take the two largest regions); objects not found are left out."""
    taken = np.zeros(still.shape[:2], bool)
    movers = []
    for obj in scene.objects:
        if obj.motion == "still":
            continue
        mask = find_object(still, obj.colour, taken, scene.background)
        if mask is not None:
            taken |= mask
            movers.append(Mover(mask, obj.motion, obj.speed))
    return movers


def clearest_frame(frames: np.ndarray, scene: Scene) -> int:
    """The index of the frame of `frames` (T, H, W, 3) uint8 whose moving objects, found as
    find_movers finds them, cover the most of it (the first of equals; 0 where none is found).
    A DiT's small clip forms its objects over the first frames: at draft size they covered
    under 1% of frame 0 and several times that a few frames on."""
    covered = [sum(float(m.mask.mean()) for m in find_movers(f, scene)) for f in frames]
    return int(np.argmax(covered))


def find_strays(still: np.ndarray, scene: Scene, movers: list[Mover]) -> np.ndarray:
    """(H, W) bool: the regions of `still` in a moving object's colour that no mover took, from
    STRAY_MIN_AREA to MAX_AREA of the frame, grown by their outline: the duplicates a model's
    still drew of an object the scene has once. Left in place they stay still while the object
    moves away. A colour a still object of the scene has is left alone, and so is one whose
    regions together cover more than STRAY_MAX_TOTAL of the frame: the background has it."""
    taken = np.zeros(still.shape[:2], bool)
    for m in movers:
        taken |= m.mask
    kept = {o.colour for o in scene.objects if o.motion == "still"}
    strays = np.zeros_like(taken)
    for colour in sorted({o.colour for o in scene.objects if o.motion != "still"} - kept):
        labels, shares = _regions(still, colour, taken, scene.background)
        sized = np.flatnonzero((shares >= STRAY_MIN_AREA) & (shares <= MAX_AREA))
        if shares[sized].sum() <= STRAY_MAX_TOTAL:
            strays |= np.isin(labels, sized + 1)
    return _grown(strays)


def object_path(motion: str, speed: str, times: np.ndarray, duration_s: float, centre: tuple[float, float],
                half: tuple[float, float], size: tuple[int, int], fit_start: bool,
                frame: tuple[int, int] | None = None):
    """(x, y, scale) arrays over `times` (seconds): the centre in pixels and the size factor of an
    object whose centre starts at `centre` (x, y) with half extents `half`, in a still `size`
    (W, H). The world's path (motion_offset) at `speed`, in widths and heights of `frame` (W, H;
    None: the still's; a camera's still is larger than its frame); fit_start moves the start so
    the whole path stays inside the still's margins where it fits (generate draws its own
    start), else the object stops at the still's edge, as the world's objects do (animate keeps
    the image's start)."""
    W, H = size
    fw, fh = size if frame is None else frame
    dx, dy, scale = motion_offset(motion, speed, np.asarray(times, np.float64), duration_s)
    dx, dy = dx * fw, dy * fh                                 # frame widths and heights -> pixels
    axes = []
    for c, d, h, extent in ((centre[0], dx, half[0], W), (centre[1], dy, half[1], H)):
        r = h * float(scale.max())
        lo, hi = MARGIN * extent + r, extent - MARGIN * extent - r
        if fit_start:   # the start that keeps the path inside, nearest the drawn one
            start_lo, start_hi = lo - float(d.min()), hi - float(d.max())
            c = float(np.clip(c, start_lo, start_hi)) if start_lo <= start_hi else (start_lo + start_hi) / 2
        # stop at the margins; a start outside them (an image's) is kept, never jumped from
        axes.append(np.clip(c + d, min(lo, c), max(hi, c)))
    return axes[0], axes[1], scale


def motion_frames(still: np.ndarray, movers: list[Mover], num_frames: int, fps: float, duration_s: float,
                  *, fit_start: bool = True, erase: np.ndarray | None = None,
                  frame: tuple[int, int] | None = None, with_cover: bool = False):
    """The movers cut from `still` (H, W, 3) uint8 and laid along their paths over the still with
    their holes filled -> (num_frames, H, W, 3) uint8; with_cover, also where the moved objects
    lie in each frame, (num_frames, H, W) float32 in [0, 1]. Frame i is at time i / fps; frame 0 is
    the still itself where no mover's start was moved (always without fit_start) and nothing
    is erased. erase (H, W) bool: more pixels filled in every frame (find_strays). frame (W, H):
    the size of the frame the speeds are measured in, where the still is a camera's larger one."""
    _check_still(still)
    if num_frames < 2:
        raise ValueError(f"object motion needs at least 2 frames, got {num_frames}")
    if not fps > 0 or not duration_s > 0:
        raise ValueError(f"fps and duration must be positive, got {fps} and {duration_s}")
    if not movers:
        raise ValueError("no object to move")
    H, W = still.shape[:2]
    hole = np.zeros((H, W), np.uint8)
    for m in movers:
        if m.mask.shape != (H, W):
            raise ValueError(f"a mover's mask {m.mask.shape} does not match the still {H}x{W}")
        hole |= m.mask.astype(np.uint8)
    if erase is not None:
        if erase.shape != (H, W):
            raise ValueError(f"the erase mask {erase.shape} does not match the still {H}x{W}")
        hole |= erase.astype(np.uint8)
    grow = max(OUTLINE_PX, round(HOLE_MARGIN * min(frame or (W, H))))   # the frame's, not a camera still's
    hole = cv2.dilate(hole, np.ones((2 * grow + 1,) * 2, np.uint8))
    plate = cv2.inpaint(still, hole, 2 * OUTLINE_PX + 3, cv2.INPAINT_TELEA)
    frames = np.repeat(plate[None].astype(np.float32), num_frames, axis=0)   # (T, H, W, 3)
    cover = np.zeros(frames.shape[:3], np.float32)                           # (T, H, W)
    times = np.arange(num_frames) / fps
    starts_moved = False
    for m in movers:
        ys, xs = np.nonzero(m.mask)
        cx, cy = float(xs.mean()), float(ys.mean())
        half = ((xs.max() - xs.min() + 1) / 2.0, (ys.max() - ys.min() + 1) / 2.0)
        px, py, scale = object_path(m.motion, m.speed, times, duration_s, (cx, cy), half, (W, H), fit_start,
                                    frame)
        starts_moved |= abs(px[0] - cx) > 1e-6 or abs(py[0] - cy) > 1e-6
        alpha = cv2.GaussianBlur(m.mask.astype(np.float32), (0, 0), FEATHER_PX)
        cut = np.dstack([still.astype(np.float32), alpha])                    # (H, W, 4)
        for i in range(num_frames):
            s = float(scale[i])   # scale about the object's centre, then move it along its path
            A = np.array([[s, 0.0, px[i] - s * cx], [0.0, s, py[i] - s * cy]], np.float32)
            moved = cv2.warpAffine(cut, A, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
            a = moved[..., 3:4]
            frames[i] = frames[i] * (1.0 - a) + moved[..., :3] * a
            cover[i] = np.maximum(cover[i], a[..., 0])
    out = np.clip(frames + 0.5, 0, 255).astype(np.uint8)
    if not starts_moved and (erase is None or not erase.any()):
        out[0] = still      # every mover starts where it is: frame 0 is the still, pixel for pixel
    return (out, cover) if with_cover else out
