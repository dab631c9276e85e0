"""Motion continuation: an extension carries its clip's own motion on, as a plan.

The shipped DiT copies a scene forward but has not learned to carry objects or the camera through
time (docs/model-notes.md): extended from its last frames alone, a rolling ball stopped and a
pan settled. So, as engine/camera.py and engine/motion.py do for moves a prompt names, the
motion an extension continues is laid out in pixels and the model refines it. Here the motion
is read from the clip itself (no caption needed, so it works on footage), in the spirit of
training-free motion guidance from flow (Go-with-the-Flow, Burgert et al. 2025; MotionClone's
motion read from a reference video, Ling et al. 2024):

1. `estimate` reads the camera from the clip's last frame and one a few frames (SPAN_FRAMES)
   before it, by direct alignment (ECC): a pan (a shift) and a zoom (a scale about the frame's
   centre). It counts only if it predicts the last frame clearly better than a still camera
   (CAMERA_GAIN): a flat sky or studio wall tells nothing either way. Dense optical flow
   (Farneback) then shows where pixels move against that camera (MOVER_SPEED). In each such
   region the object is the pixels that differ from what lies behind it (`background`: the
   median of the clip's frames, moved onto the last by the camera), and its velocity is where
   those pixels match best a few frames before (`_match`; flow lags inside a flat object). Its
   move must explain most of the change around it, where it is and where it was (`_own_error`):
   an object that only grows or shrinks under a zoom is read as a fragment of itself sliding.
   Where the camera and the movers leave more of the frame changing than UNEXPLAINED (a zoom
   over flat ground read as still, an object that grows), the motion is not read at all and
   the extension holds the edge still (operations.CONTINUE_STILL): a wrong continuation is
   worse than none.
2. `continue_frames` lays the motion on: the clip's edge frame with its movers cut out and
   what lay behind them put in (`_clear_view`: a frame far enough back that each had left its
   place) is the plate the camera moves over (`camera_map`: constant
   speed; where it reveals more, the frame's edge mirrored: a pan keeps its horizon, and no
   streaks run in from the edge), and each mover is pasted along its own path at its own
   speed, kept inside the frame (the world's objects never leave it; a mover that reaches an
   edge stops there).
3. Engine.extend encodes clip and guide together and knows the guide's frames at mask
   CONTINUE_HOLD (operations.continue_edit) and the movers' cells at OBJECT_HOLD, so the model
   refines the new frames from flow time 1 - hold under the prompt; the clip's own frames come
   back unchanged.

A backward extension reads the clip reversed: what it continues is the clip's past.
Pure numpy and OpenCV; no torch.
"""
from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, field

import cv2
import numpy as np

SPAN_FRAMES = 3          # flow is measured from the edge frame this many frames into the clip
# A camera slower than this (pixels a frame, at the frame's edge for a zoom) counts as still.
CAMERA_SPEED = 0.15
# A pixel moves against the camera when its flow differs from the camera's by this share of the
# frame's short side a frame (0.9 pixels at 144). The world's slowest mover crosses 0.12 frame
# heights a second: 0.01 a frame at 12 fps. Below it, flow misread on flat ground made movers.
MOVER_SPEED = 0.006
UNEXPLAINED = 0.01   # more of the frame changing than the camera and movers explain: motion unread
MAX_MOVERS = 2       # more movers than this that the camera does not explain: the camera is misread
MIN_MOVER, MAX_MOVER = 0.002, 0.35   # a mover's share of the frame; outside it, not an object
HOLE_GROW = 0.04         # a mover's hole is filled this far (share of the short side) past its pixels
FEATHER = 1.0            # a pasted mover's edge is softened over about this many pixels
# The camera read by alignment must predict the last frame from the earlier one with at most
# this share of a still camera's error (over the TRUSTED share of pixels it predicts best): it
# must explain at least half the change. A pan over a photograph leaves 0 to 0.07 of it; the
# world's layered pans and zooms (its far layer moves at 0.15 of the camera's pace, its ground at
# 0.5: engine/world/scene.py LAYER_PARALLAX) 0.2 to
# 3.5, and continued as one plane, a zoom at 0.61 jumped 2.04x the clip's pace at the seam.
CAMERA_GAIN, TRUSTED = 0.5, 0.85
# A mover's pixels, matched where they lay a few frames before (within MATCH_REACH of the short
# side: the world's fastest mover travels 0.11 of it in 3 frames), must be predicted there with at
# most MOVER_GAIN of the error that the camera alone leaves, and that error must reach
# MOVER_LEVELS (0-255 grey, RMS): otherwise the camera explains it. The flow only finds where to
# look: inside a flat object it lags the object's edges (half the speed, on a flat square). The
# same gain bounds the error its move leaves over its place and the place it left (`_own_error`).
MOVER_GAIN, MOVER_LEVELS = 0.6, 12.0
MATCH_REACH = 0.2
BACKGROUND_FRAMES = 25   # frames whose median shows what lies behind a mover
RING_LEVELS = 6.0        # ... and meets the frame around a mover within this many levels (mean, 0-255)
OBJECT_LEVELS = 24       # a mover's pixels differ from that background by this much (0-255)


@dataclass(frozen=True)
class Mover:
    """One object that moves against the camera: its pixels in the edge frame, its velocity."""
    mask: np.ndarray          # (H, W) bool
    velocity: tuple[float, float]   # (vx, vy) pixels a frame, on screen (the camera's part included)


@dataclass(frozen=True)
class Motion:
    """What a clip's edge is doing: the camera's pan and zoom, and the objects moving across it."""
    shift: tuple[float, float] = (0.0, 0.0)   # (ux, uy) pixels a frame the picture moves on screen
    zoom: float = 0.0                        # scale change a frame about the centre (0.01: 1% bigger)
    movers: tuple[Mover, ...] = field(default_factory=tuple)
    behind: np.ndarray | None = None         # (H, W, 3) uint8: what lies behind the movers (background)
    unexplained: float = 0.0                 # share of the frame that changes with nothing read to move it
                                             # (1.0: more movers than MAX_MOVERS, the camera misread)

    @property
    def camera_moves(self) -> bool:
        return bool(self.shift != (0.0, 0.0) or self.zoom != 0.0)

    @property
    def moves(self) -> bool:
        return self.camera_moves or bool(self.movers)

    def note(self, width: int, height: int, fps: float, backward: bool = False) -> dict:
        """The record's summary: speeds in frame widths (x) and heights (y) a second, as the
        clip plays (a backward extension reads its clip reversed: backward turns them round)."""
        k = -fps if backward else fps
        return {"camera": {"pan": [round(self.shift[0] * k / width, 4), round(self.shift[1] * k / height, 4)],
                           "zoom": round(self.zoom * k, 4)},
                "movers": [{"velocity": [round(m.velocity[0] * k / width, 4), round(m.velocity[1] * k / height, 4)],
                            "area": round(float(m.mask.mean()), 4)} for m in self.movers],
                "unexplained": round(self.unexplained, 4)}


def _check_frames(frames: np.ndarray) -> None:
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"expected frames (T, H, W, 3) uint8, got {frames.dtype} {frames.shape}")


def _centred(H: int, W: int) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float32)
    return xs - (W - 1) / 2, ys - (H - 1) / 2


def _residual(flow: np.ndarray, params) -> np.ndarray:
    """Each pixel's flow against the camera's (H, W), pixels a frame."""
    rx, ry = _centred(*flow.shape[:2])
    ux, uy, z = params
    return np.hypot(flow[..., 0] - ux - z * rx, flow[..., 1] - uy - z * ry)


def _camera_error(a: np.ndarray, b: np.ndarray, motion: "Motion", d: int) -> float:
    """How badly the camera alone predicts grey frame a from b, d frames before it: the mean
    absolute error over the best TRUSTED share of pixels (movers and revealed edges drop out)."""
    H, W = a.shape
    predicted = cv2.warpAffine(b, camera_map(motion, d, W, H), (W, H), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REPLICATE)
    err = np.sort(np.abs(a.astype(np.float32) - predicted.astype(np.float32)).ravel())
    return float(err[:int(TRUSTED * len(err))].mean())


def _shifted_error(a: np.ndarray, b: np.ndarray, region: np.ndarray, offset: tuple[float, float]) -> float:
    """Mean absolute error over `region` of grey frame a predicted by b moved by offset (pixels)."""
    H, W = a.shape
    moved = cv2.warpAffine(b, np.array([[1, 0, offset[0]], [0, 1, offset[1]]], np.float32), (W, H),
                           flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return float(np.abs(a.astype(np.float32) - moved.astype(np.float32))[region].mean())


def _match(a: np.ndarray, b: np.ndarray, own: np.ndarray, camera: tuple[float, float],
           reach: int) -> tuple[tuple[float, float], float, float] | None:
    """Where an object's pixels `own` in grey frame a lay in grey frame b: the offset (dx, dy)
    within `reach` pixels at which b matches them best (masked template matching, refined to a
    fraction of a pixel), the RMS error there, and the RMS error at the camera's own offset.
    None where the object is too near the frame's edge to search around."""
    H, W = a.shape
    # the object and a rim of what is around it: a flat object matches anywhere inside itself,
    # its outline only where it is
    rim = cv2.dilate(own.astype(np.uint8), np.ones((5, 5), np.uint8))
    ys, xs = np.nonzero(rim)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    sy0, sy1, sx0, sx1 = max(0, y0 - reach), min(H, y1 + reach), max(0, x0 - reach), min(W, x1 + reach)
    templ = a[y0:y1, x0:x1].astype(np.float32)
    weight = rim[y0:y1, x0:x1].astype(np.float32)
    area = float(weight.sum())
    if area < 1 or sy1 - sy0 <= y1 - y0 or sx1 - sx0 <= x1 - x0:
        return None
    cost = cv2.matchTemplate(b[sy0:sy1, sx0:sx1].astype(np.float32), templ, cv2.TM_SQDIFF, mask=weight)
    cost = np.maximum(cost, 0) / area                                        # mean squared error
    j, i = np.unravel_index(int(np.argmin(cost)), cost.shape)

    def refine(c_minus, c0, c_plus):   # the parabola through three costs: its lowest point
        den = c_minus - 2 * c0 + c_plus
        return 0.0 if den <= 0 else float(np.clip(0.5 * (c_minus - c_plus) / den, -0.5, 0.5))
    fx = refine(cost[j, i - 1], cost[j, i], cost[j, i + 1]) if 0 < i < cost.shape[1] - 1 else 0.0
    fy = refine(cost[j - 1, i], cost[j, i], cost[j + 1, i]) if 0 < j < cost.shape[0] - 1 else 0.0
    offset = (sx0 + i + fx - x0, sy0 + j + fy - y0)
    ci = int(round(x0 + camera[0] - sx0))
    cj = int(round(y0 + camera[1] - sy0))
    if 0 <= cj < cost.shape[0] and 0 <= ci < cost.shape[1]:
        left = float(cost[cj, ci])
    else:
        left = _shifted_error(a, b, own, (-camera[0], -camera[1])) ** 2
    return offset, float(np.sqrt(cost[j, i])), float(np.sqrt(left))


def _align(a: np.ndarray, b: np.ndarray, d: int) -> Motion:
    """The camera from grey frame b to a, d frames on, by direct alignment (ECC, Evangelidis and
    Psarakis 2008; a flat region weighs nothing, a small object little): a shift and a scale
    about the centre, found at half size first, then refined -> per frame."""
    H, W = a.shape
    warp = np.eye(2, 3, dtype=np.float32)   # a's pixel x lies at warp @ (x, 1) in b
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 60, 1e-5)
    for scale in (0.5, 1.0):
        size = (max(8, round(W * scale)), max(8, round(H * scale)))
        sa, sb = cv2.resize(a, size, interpolation=cv2.INTER_AREA), cv2.resize(b, size, interpolation=cv2.INTER_AREA)
        w = warp.copy()
        w[:, 2] *= scale
        try:
            _, w = cv2.findTransformECC(sa, sb, w, cv2.MOTION_AFFINE, criteria, None, 5)
        except cv2.error:          # no texture to align on, or it did not converge: no camera read
            return Motion()
        warp = w.copy()
        warp[:, 2] /= scale
    s = float(np.sqrt(abs(np.linalg.det(warp[:, :2]))))   # b's scale over a's; the zoom's inverse
    if not (0.5 < s < 2.0):
        return Motion()
    c = np.array([(W - 1) / 2, (H - 1) / 2])
    t = warp[:, :2] @ c + warp[:, 2] - c                   # where a's centre lies in b, relative
    zoom = (1.0 / s) ** (1.0 / d) - 1.0
    return Motion((float(-t[0] / d), float(-t[1] / d)), float(zoom))


def estimate(frames: np.ndarray, span: int = SPAN_FRAMES) -> Motion:
    """The motion at the end of `frames` (T, H, W, 3) uint8 (reverse them for the start): the
    camera and the movers, per frame, read from its last frame and the one `span` frames before
    (the module's docstring, step 1). Motion() where nothing moves; Motion(unexplained=share)
    where the frame changes more than the camera and the movers read explain."""
    _check_frames(frames)
    if len(frames) < 2:
        return Motion()
    d = min(span, len(frames) - 1)
    H, W = frames.shape[1:3]
    a = cv2.cvtColor(frames[-1], cv2.COLOR_RGB2GRAY)
    b = cv2.cvtColor(frames[-1 - d], cv2.COLOR_RGB2GRAY)
    win = max(9, (min(H, W) // 10) | 1)
    back = cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 4, win, 3, 5, 1.2, 0)   # (H, W, 2): where a's pixels were
    flow = -back / d                                                       # pixels a frame, forward in time
    camera = _align(a, b, d)
    still = Motion()
    if (np.hypot(*camera.shift) < CAMERA_SPEED and abs(camera.zoom) * max(W, H) / 2 < CAMERA_SPEED) or \
            _camera_error(a, b, camera, d) > CAMERA_GAIN * _camera_error(a, b, still, d):
        camera = still
    ux, uy, z = camera.shift[0], camera.shift[1], camera.zoom
    speed = MOVER_SPEED * min(H, W)
    moving = (_residual(flow, (ux, uy, z)) > speed).astype(np.uint8)
    moving = cv2.morphologyEx(moving, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(moving, connectivity=8)
    rx, ry = _centred(H, W)
    predicted = cv2.warpAffine(b, camera_map(camera, d, W, H), (W, H), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REPLICATE)              # a, as the camera makes it
    behind = background(frames, camera)
    movers, fills, near = [], [], np.zeros((H, W), np.uint8)
    for i in range(1, count):
        if not MIN_MOVER <= stats[i, cv2.CC_STAT_AREA] / (H * W) <= MAX_MOVER:
            continue
        grown = _hole(labels == i)      # the flow's region misses an object's edges
        own = _object_in(frames[-1], behind, grown)
        if own.sum() < MIN_MOVER * H * W / 2 or not _fits(frames[-1], behind, own):
            continue                  # no object differs from what lies behind it there
        # where the camera alone takes the object's pixels from, d frames back (a's pixel x was
        # at x - d (u + z (x - c))), and where they best match there
        cam = (float(np.median(-d * (ux + z * rx[own]))), float(np.median(-d * (uy + z * ry[own]))))
        found = _match(a, b, own, cam, max(4, round(MATCH_REACH * min(H, W))))
        if found is None:
            continue
        offset, moved, left = found
        if left < MOVER_LEVELS or moved > MOVER_GAIN * left:
            continue                  # the camera explains it
        velocity = (-offset[0] / d, -offset[1] / d)
        own, fill = _clear_view(frames, own | grown, own, velocity, camera)
        was = cv2.warpAffine(own.astype(np.uint8), np.array([[1, 0, offset[0]], [0, 1, offset[1]]], np.float32),
                             (W, H), flags=cv2.INTER_NEAREST).astype(bool)      # where its pixels lay in b
        if _own_error(a, b, predicted, own, was, fill, offset) > MOVER_GAIN:
            continue                  # its move explains too little of the change around it
        movers.append(Mover(own, velocity))
        fills.append(fill)
        near |= (own | was).astype(np.uint8)
    if len(movers) > MAX_MOVERS:   # many "objects" that move alike: a camera the alignment did not read
        return Motion(unexplained=1.0)
    # what the camera and the movers leave unexplained: the share of the frame that changes by
    # MOVER_LEVELS away from the movers, where they are and were (a zoom read as still leaves its
    # whole background)
    near = _hole(near)
    seen = cv2.warpAffine(np.ones((H, W), np.uint8), camera_map(camera, d, W, H), (W, H),
                          flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT) > 0   # not revealed by the camera
    left_over = float((changes(a, predicted) & ~near & seen).mean())
    if left_over > UNEXPLAINED:
        return Motion(unexplained=left_over)
    behind = frames[-1].copy()          # the edge frame, with what lies behind each mover put in
    for m, fill in zip(movers, fills):
        hole = _hole(m.mask)
        behind[hole] = fill[hole]
    return Motion(camera.shift, camera.zoom, tuple(movers), behind if movers else None, left_over)


def _own_error(a: np.ndarray, b: np.ndarray, predicted: np.ndarray, own: np.ndarray, was: np.ndarray,
               fill: np.ndarray, offset: tuple[float, float]) -> float:
    """How much of the change around a mover its move explains: the mean absolute error of grey
    frame a, over the mover's place `own` and the place it left `was` (its pixels' place in b;
    both grown by HOLE_GROW), when its pixels are taken from b at `offset` and the place it left
    shows what lies behind it (`fill`, RGB), over that of the camera alone (`predicted`). A translated object leaves almost none (0.01 to
    0.42 on the world's movers); an object that only grows or shrinks in place under a zoom,
    read as a fragment of itself sliding, leaves 0.65 to 0.8 (bench/continuation.py)."""
    H, W = a.shape
    region = _hole(own | was)
    moved = cv2.warpAffine(b, np.array([[1, 0, -offset[0]], [0, 1, -offset[1]]], np.float32), (W, H),
                           flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)   # moved(x) = b(x + offset)
    guess = predicted.astype(np.float32)
    guess[was] = cv2.cvtColor(fill, cv2.COLOR_RGB2GRAY)[was]
    guess[own] = moved[own]
    a = a.astype(np.float32)
    camera = float(np.abs(a - predicted.astype(np.float32))[region].mean())
    return float(np.abs(a - guess)[region].mean()) / max(camera, 1e-6)


def _grow(H: int, W: int) -> int:
    """HOLE_GROW of a frame's short side, in pixels (at least 2)."""
    return max(2, round(HOLE_GROW * min(H, W)))


def _hole(mask: np.ndarray) -> np.ndarray:
    """A mover's pixels grown by HOLE_GROW: what is cut out and filled (H, W) bool."""
    grow = _grow(*mask.shape)
    return cv2.dilate(mask.astype(np.uint8), np.ones((2 * grow + 1,) * 2, np.uint8)).astype(bool)


def _clear_view(frames: np.ndarray, near: np.ndarray, own: np.ndarray, velocity: tuple[float, float],
                camera: "Motion") -> tuple[np.ndarray, np.ndarray]:
    """A mover's pixels in the last frame and what lies behind them ((H, W) bool, (H, W, 3) uint8).

    The median background (`background`) still shows a slow mover where it stayed over half the
    clip: its trailing part is then missed, left in the plate and redrawn as a ghost. So the
    view behind it is the frame far enough back that the mover had wholly left its place
    (moved onto the last frame by the camera), and its pixels are those that differ from that
    view near where it was found. A clip too short for that: its place is inpainted instead
    (OpenCV's Telea; the model redraws it)."""
    T, H, W = frames.shape[:3]
    ys, xs = np.nonzero(own)
    extent = max(ys.max() - ys.min(), xs.max() - xs.min()) + 1 + 2 * _grow(H, W)
    speed = float(np.hypot(*velocity))
    k = math.ceil(extent / speed) if speed > 0 else T
    if k <= T - 1:
        view = cv2.warpAffine(frames[-1 - k], camera_map(camera, k, W, H), (W, H), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)
        grown = cv2.dilate(near.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
        differs = _object_in(frames[-1], view, grown)   # the mover now, and where it was in the view
        count, labels = cv2.connectedComponents(differs.astype(np.uint8))
        touching = np.unique(labels[own & differs])
        whole = np.isin(labels, touching[touching > 0])
        return (whole if whole.sum() >= own.sum() else own), view
    return own, cv2.inpaint(frames[-1], _hole(own).astype(np.uint8), 5, cv2.INPAINT_TELEA)


def changes(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Where grey frames a and b differ by more than MOVER_LEVELS, small specks dropped: (H, W) bool.
    Both are softened first: a warp's resampling blurs a sharp edge by a pixel, and that is not motion."""
    a, b = (cv2.GaussianBlur(x.astype(np.float32), (0, 0), 1.0) for x in (a, b))
    diff = (np.abs(a - b) > MOVER_LEVELS).astype(np.uint8)
    return cv2.morphologyEx(diff, cv2.MORPH_OPEN, np.ones((2, 2), np.uint8)).astype(bool)


def background(frames: np.ndarray, motion: "Motion", most: int = BACKGROUND_FRAMES) -> np.ndarray:
    """The last frame's background (H, W, 3) uint8: the median of up to `most` of the clip's
    frames, spread over it, each moved by the camera onto the last. Where a mover passed, it
    shows what lay behind it, unless the mover covered that place in half the clip or more."""
    T, H, W = frames.shape[:3]
    picks = np.unique(np.linspace(0, T - 1, min(most, T)).round().astype(int))
    seen = [cv2.warpAffine(frames[i], camera_map(motion, T - 1 - i, W, H), (W, H), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE) for i in picks]
    return np.median(np.stack(seen), axis=0).astype(np.uint8)


def _fits(frame: np.ndarray, behind: np.ndarray, own: np.ndarray) -> bool:
    """Whether the background read behind a mover meets the frame around it (within RING_LEVELS
    on a ring just outside it): where it does not, the clip's motion was misread (a zoom taken
    for a still camera) and the mover would leave a patch of the wrong background."""
    inner = _hole(own)
    ring = _hole(inner) & ~inner
    if not ring.any():
        return False
    return float(np.abs(frame.astype(np.float32) - behind.astype(np.float32))[ring].mean()) <= RING_LEVELS


def _object_in(frame: np.ndarray, behind: np.ndarray, near: np.ndarray) -> np.ndarray:
    """A mover's own pixels in `frame` (H, W, 3): near its flow region (which bleeds into the
    background around it), where the frame differs from the background behind it by
    OBJECT_LEVELS, holes closed -> (H, W) bool."""
    diff = np.abs(frame.astype(np.int16) - behind.astype(np.int16)).max(axis=2) > OBJECT_LEVELS
    return cv2.morphologyEx((diff & near).astype(np.uint8), cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8)).astype(bool)


def camera_map(motion: Motion, k: float, width: int, height: int) -> np.ndarray:
    """The (2, 3) affine map from the edge frame to the frame k frames on: its zoom about the
    centre, then its shift."""
    s = (1.0 + motion.zoom) ** k
    cx, cy = (width - 1) / 2, (height - 1) / 2
    return np.array([[s, 0.0, (1 - s) * cx + k * motion.shift[0]],
                     [0.0, s, (1 - s) * cy + k * motion.shift[1]]], np.float32)


def _path(mover: Mover, motion: Motion, k: int, width: int, height: int) -> tuple[float, float]:
    """The mover's offset after k frames, stopped where it would leave the frame."""
    ys, xs = np.nonzero(mover.mask)
    dx, dy = k * mover.velocity[0], k * mover.velocity[1]
    dx = float(np.clip(dx, -xs.min(), width - 1 - xs.max()))
    dy = float(np.clip(dy, -ys.min(), height - 1 - ys.max()))
    return dx, dy


def continue_frames(frame: np.ndarray, motion: Motion, num_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """The motion laid on from `frame` (H, W, 3) uint8, the clip's edge -> (the next num_frames
    frames (N, H, W, 3) uint8, where the movers lie in each (N, H, W) float32 in [0, 1])."""
    if frame.ndim != 3 or frame.shape[-1] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"expected a frame (H, W, 3) uint8, got {frame.dtype} {frame.shape}")
    if num_frames < 1:
        raise ValueError(f"need at least one frame to continue, got {num_frames}")
    H, W = frame.shape[:2]
    plate = frame
    if motion.movers:
        hole = np.zeros((H, W), np.uint8)
        for m in motion.movers:
            if m.mask.shape != (H, W):
                raise ValueError(f"a mover's mask {m.mask.shape} does not match the frame {H}x{W}")
            hole |= _hole(m.mask).astype(np.uint8)
        if motion.behind is not None:       # what lay behind the movers (estimate)
            plate = np.where(hole[..., None] > 0, motion.behind, frame)
        else:
            plate = cv2.inpaint(frame, hole, 5, cv2.INPAINT_TELEA)
    out = np.empty((num_frames, H, W, 3), np.uint8)
    cover = np.zeros((num_frames, H, W), np.float32)
    cuts = [(m, np.dstack([frame.astype(np.float32), cv2.GaussianBlur(m.mask.astype(np.float32), (0, 0), FEATHER)]))
            for m in motion.movers]
    for k in range(1, num_frames + 1):
        picture = cv2.warpAffine(plate, camera_map(motion, k, W, H), (W, H), flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_REFLECT_101).astype(np.float32)
        for m, cut in cuts:
            dx, dy = _path(m, motion, k, W, H)
            moved = cv2.warpAffine(cut, np.array([[1, 0, dx], [0, 1, dy]], np.float32), (W, H),
                                   flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
            alpha = moved[..., 3:4]
            picture = picture * (1 - alpha) + moved[..., :3] * alpha
            cover[k - 1] = np.maximum(cover[k - 1], alpha[..., 0])
        out[k - 1] = np.clip(picture + 0.5, 0, 255).astype(np.uint8)
    return out, cover


def continue_clip(clip: np.ndarray, num_frames: int, direction: str = "forward") -> tuple[np.ndarray, np.ndarray, Motion]:
    """The guide for an extension of `clip` (T, H, W, 3) uint8 by num_frames: forward, the frames
    after its last; backward, the frames before its first, in playing order. -> (frames
    (N, H, W, 3), cover (N, H, W), the motion read)."""
    _check_frames(clip)
    if direction not in ("forward", "backward"):
        raise ValueError(f"direction must be 'forward' or 'backward', got {direction!r}")
    seen = clip if direction == "forward" else clip[::-1]
    motion = estimate(seen)
    frames, cover = continue_frames(seen[-1], motion, num_frames)
    if direction == "backward":
        frames, cover = frames[::-1].copy(), cover[::-1].copy()
    return frames, cover, motion


def main(argv=None) -> int:
    """Read a clip's motion at its end and write the guide an extension would refine."""
    p = argparse.ArgumentParser(description=main.__doc__)
    p.add_argument("--video", required=True)
    p.add_argument("--frames", type=int, default=24, help="frames to continue")
    p.add_argument("--direction", choices=("forward", "backward"), default="forward")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    from engine import io
    clip, fps = io.read_video(args.video)
    guide, _, motion = continue_clip(clip, args.frames, args.direction)
    print(motion.note(clip.shape[2], clip.shape[1], fps))
    io.write_video(guide, args.out, fps=fps)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
