"""Renderer of the embedded world: Scene -> uint8 RGB frames (T, H, W, 3), optionally visible masks.

Each clip builds two background layers once, in world coordinates wide enough for the whole camera
path (far: sky, clouds, stars; ground: land below a horizon profile, with an alpha), then per frame
warps each layer by its own parallax transform (scene.layer_transform), blends them, and draws the
objects far to near with cv2 (anti-aliased, sub-pixel via `shift`). Backgrounds are numpy
vectorized; texture is seeded per world cell, so it does not depend on canvas size or duration.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from .scene import (BOX_HALF, COLOUR_RGB, OUTLINE_RGB, Scene, layer_transform, object_track)

SUB = 4  # cv2 fractional bits: coordinates are drawn at 1/16 pixel
ONE = 1 << SUB
HORIZON = {"grass": 0.55, "night": 0.6, "desert": 0.5, "ocean": 0.5, "studio": 0.6}  # frame heights
# (sky top, sky at horizon, ground at horizon, ground at bottom), RGB
PALETTE = {
    "grass": ((84, 146, 228), (186, 216, 246), (118, 168, 72), (58, 112, 42)),
    "night": ((6, 10, 32), (34, 44, 92), (26, 36, 40), (10, 14, 18)),
    "desert": ((196, 212, 228), (242, 232, 206), (232, 196, 132), (198, 146, 82)),
    "ocean": ((78, 148, 226), (182, 212, 240), (44, 122, 176), (10, 56, 116)),
    "studio": ((170, 170, 176), (140, 140, 146), (124, 124, 130), (82, 82, 88)),
}
_UNIT = {  # polygons of radius 1 around the centre; y grows downwards, so -90 degrees points up
    "box": np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], np.float64) * BOX_HALF,
    "triangle": np.array([[math.cos(a), math.sin(a)] for a in np.radians([-90, 30, 150])]),
    "star": np.array([[math.cos(a) * r, math.sin(a) * r]
                      for a, r in zip(np.radians(np.arange(10) * 36 - 90), [1.0, 0.45] * 5)]),
}
_INSET = {"box": 1.0 / BOX_HALF, "triangle": 2.0, "star": 2.6}  # radius lost per pixel of outline


@dataclass(frozen=True)
class _Canvas:
    """A layer's pixel grid: column c is world pixel x0 + c (world pixel = normalized * W - 0.5)."""
    x0: int
    y0: int
    w: int
    h: int
    W: int
    H: int

    @property
    def s(self) -> int:
        return min(self.W, self.H)

    def iso_x(self):  # (w,) world x in units of min(W, H): round things stay round
        return (self.x0 + np.arange(self.w) + 0.5) / self.s

    def norm_y(self):  # (h,) world y in frame heights
        return (self.y0 + np.arange(self.h) + 0.5) / self.H

    def px(self, iso_x, norm_y):  # world -> canvas pixel
        return iso_x * self.s - 0.5 - self.x0, norm_y * self.H - 0.5 - self.y0


def _canvas(shift, zoom, W, H) -> _Canvas:
    """The grid covering every frame's view: screen [0, 1] maps to world 0.5 + (u - 0.5) / zoom + shift."""
    x_lo, x_hi = np.min(0.5 - 0.5 / zoom + shift) * W, np.max(0.5 + 0.5 / zoom + shift) * W
    y_lo, y_hi = np.min(0.5 - 0.5 / zoom) * H, np.max(0.5 + 0.5 / zoom) * H
    x0, y0 = math.floor(x_lo) - 2, math.floor(y_lo) - 2
    return _Canvas(x0, y0, math.ceil(x_hi) + 2 - x0, math.ceil(y_hi) + 2 - y0, W, H)


def _cell_rng(seed, salt, cell):
    return np.random.default_rng([seed, salt, cell + (1 << 20)])


def _cells(cv):  # world cells (1 iso unit wide) overlapping the canvas, with a spare on each side
    xs = cv.iso_x()
    return range(math.floor(xs[0]) - 1, math.floor(xs[-1]) + 2)


def _lerp(a, b, t):  # colours a, b (3,), t (...,) -> (..., 3)
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    return a + (b - a) * np.asarray(t, np.float32)[..., None]


def _soft_blobs(cv, seed, salt, per_cell, y_range, size, sigma):
    """Float mask (h, w) of soft ellipse clusters (clouds, glows), seeded per cell."""
    mask = np.zeros((cv.h, cv.w), np.uint8)
    for cell in _cells(cv):
        rng = _cell_rng(seed, salt, cell)
        for _ in range(per_cell):
            cx, cy = cell + rng.random(), rng.uniform(*y_range)
            for _ in range(int(rng.integers(2, 5))):
                px, py = cv.px(cx + rng.uniform(-0.6, 0.6) * size, cy + rng.uniform(-0.25, 0.25) * size * cv.s / cv.H)
                axes = (rng.uniform(0.5, 1.0) * size * cv.s, rng.uniform(0.25, 0.45) * size * cv.s)
                cv2.ellipse(mask, (round(px * ONE), round(py * ONE)), (round(axes[0] * ONE), round(axes[1] * ONE)),
                            0, 0, 360, 255, -1, cv2.LINE_AA, SUB)
    blur = max(0.6, sigma * cv.s)
    return cv2.GaussianBlur(mask, (0, 0), blur).astype(np.float32) / 255.0


def _far_layer(background, cv, seed):
    """Sky (or studio wall) layer, (h, w, 3) uint8."""
    top, low = PALETTE[background][:2]
    horizon = HORIZON[background]
    y = cv.norm_y()
    img = np.broadcast_to(_lerp(top, low, np.clip(y / horizon, 0, 1))[:, None], (cv.h, cv.w, 3)).copy()  # (h, w, 3)
    if background in ("grass", "ocean", "desert"):
        per_cell, strength = (1, 0.6) if background == "desert" else (2, 0.9)
        clouds = _soft_blobs(cv, seed, 1, per_cell, (0.06, horizon - 0.16), 0.16, 0.012)
        img += (255.0 - img) * (strength * clouds)[..., None]
    if background == "desert":  # a hazy sun in some cells
        sun = np.zeros((cv.h, cv.w), np.uint8)
        for cell in _cells(cv):
            rng = _cell_rng(seed, 2, cell)
            if rng.random() < 0.5:
                sx, sy = cv.px(cell + rng.uniform(0.2, 0.8), rng.uniform(0.1, 0.25))
                cv2.circle(sun, (round(sx * ONE), round(sy * ONE)), round(0.045 * cv.s * ONE), 255, -1, cv2.LINE_AA, SUB)
        sun = cv2.GaussianBlur(sun, (0, 0), max(0.6, 0.006 * cv.s)).astype(np.float32) / 255.0
        img += (np.array([255, 250, 222], np.float32) - img) * sun[..., None]
    if background == "night":
        for cell in _cells(cv):
            rng = _cell_rng(seed, 3, cell)
            n = 60
            px, py = cv.px(cell + rng.random(n), rng.uniform(0.0, horizon, n))
            col, row = np.floor(px + 0.5).astype(int), np.floor(py + 0.5).astype(int)
            keep = (col >= 0) & (col < cv.w) & (row >= 0) & (row < cv.h)
            img[row[keep], col[keep]] = rng.uniform(120, 255, n)[keep, None]
            if rng.random() < 0.35:  # a moon in some cells
                mx, my = cv.px(cell + rng.uniform(0.2, 0.8), rng.uniform(0.1, 0.3))
                r = 0.05 * cv.s
                cv2.circle(img, (round(mx * ONE), round(my * ONE)), round(r * ONE), (250, 244, 214), -1, cv2.LINE_AA, SUB)
    if background == "studio":  # wall panels and a soft spotlight, so a pan shows on the wall too
        x = cv.iso_x()
        seam = (np.mod(x, 0.4) < 1.5 / cv.s).astype(np.float32)  # (w,)
        img *= (1.0 - 0.12 * seam)[None, :, None]
        spot = _soft_blobs(cv, seed, 4, 1, (0.2, 0.35), 0.3, 0.05)
        img += 40.0 * spot[..., None]
    return np.clip(img, 0, 255).astype(np.uint8)


def _ground_profile(background, x, seed):
    """Horizon height (frame heights) per world column x (iso units): hills, dunes or a flat line."""
    rng = np.random.default_rng([seed, 5])
    p1, p2 = rng.uniform(0, 2 * math.pi, 2)
    h = HORIZON[background]
    if background == "night":
        return h - 0.05 - 0.04 * np.sin(2 * math.pi * 0.7 * x + p1) - 0.02 * np.sin(2 * math.pi * 1.9 * x + p2)
    if background == "desert":
        return h - 0.015 - 0.015 * np.sin(2 * math.pi * 0.5 * x + p1)
    return np.full_like(x, h)


def _ground_layer(background, cv, seed):
    """Ground layer with alpha, (h, w, 4) uint8: alpha is 255 below the horizon profile."""
    near, bottom = PALETTE[background][2:]
    x, y = cv.iso_x(), cv.norm_y()
    profile = _ground_profile(background, x, seed)  # (w,)
    rows = (cv.y0 + np.arange(cv.h))[:, None].astype(np.float32)  # (h, 1) world pixel rows
    below = rows - (profile * cv.H - 0.5)[None, :]  # (h, w) pixels below the horizon
    depth = np.clip((y[:, None] - profile[None, :]) / (1.0 - HORIZON[background] + 0.05), 0, 1)  # (h, w)
    img = _lerp(near, bottom, depth)  # (h, w, 3)
    d_iso = np.maximum(below, 0) / cv.s  # (h, w) distance below the horizon, iso units
    X = x[None, :]
    rng = np.random.default_rng([seed, 6])
    if background == "grass":  # mowing stripes plus a few darker tufts
        img *= (1.0 + 0.07 * np.tanh(3 * np.sin(2 * math.pi * (2.2 * X + 0.8 * d_iso))))[..., None]
    elif background == "night":  # faint moonlit folds on the hills
        img *= (1.0 + 0.25 * np.sin(2 * math.pi * (3 * X + 5 * d_iso)) * np.exp(-6 * d_iso))[..., None]
    elif background == "desert":  # dune ridges: a lit band under each crest, a shadow above it
        for k, base in enumerate((0.07, 0.16, 0.28, 0.42)):
            f, ph = rng.uniform(0.4, 1.2), rng.uniform(0, 2 * math.pi)
            crest = base + 0.04 * np.sin(2 * math.pi * f * X + ph)  # (1, w) iso units below the horizon
            dist = d_iso - crest
            img += (22.0 * ((dist > 0) & (dist < 0.02)) - 28.0 * np.clip(1 + dist / 0.06, 0, 1) * (dist <= 0))[..., None]
    elif background == "ocean":  # wave crests, denser towards the horizon, broken into dashes
        ph1, ph2 = rng.uniform(0, 2 * math.pi, 2)
        wave = np.sin(2 * math.pi * (9 * np.sqrt(d_iso + 0.01)) + 1.5 * np.sin(2 * math.pi * 0.9 * X + ph1))
        crest = np.clip((wave - 0.7) / 0.3, 0, 1) * (0.5 + 0.5 * np.sin(2 * math.pi * (2.3 * X - d_iso) + ph2))
        img += (255.0 - img) * (0.45 * crest)[..., None]
    elif background == "studio":  # floor boards and seams
        boards = np.abs(np.sin(2 * math.pi * 5 * np.sqrt(d_iso))) < 0.08
        seams = np.mod(X + 0.3 * d_iso, 0.3) < 1.2 / cv.s
        img *= (1.0 - 0.18 * (boards | seams))[..., None]
    line = (below >= 0) & (below < max(1.0, 0.006 * cv.H))  # the horizon line itself
    img *= (1.0 - 0.18 * line)[..., None]
    img = np.clip(img, 0, 255).astype(np.uint8)
    if background == "grass":
        for cell in _cells(cv):
            crng = _cell_rng(seed, 7, cell)
            for _ in range(30):
                tx, ty = crng.random() + cell, crng.uniform(HORIZON["grass"] + 0.03, 1.0)
                px, py = cv.px(tx, ty)
                tip = (round((px + crng.uniform(-0.3, 0.3) * 0.02 * cv.s) * ONE), round((py - 0.025 * cv.s) * ONE))
                cv2.line(img, (round(px * ONE), round(py * ONE)), tip, (44, 92, 30), 1, cv2.LINE_AA, SUB)
    alpha = (np.clip(below + 0.5, 0, 1) * 255).astype(np.uint8)
    return np.dstack([img, alpha])  # (h, w, 4)


def _warp(layer, cv, shift, zoom):
    """Screen view (H, W, C) of a layer: screen_px = W/2 - 1/2 + zoom * (world_px + 1/2 - shift W - W/2)."""
    W, H = cv.W, cv.H
    bx = 0.5 * W - 0.5 + zoom * (cv.x0 + 0.5 - shift * W - 0.5 * W)
    by = 0.5 * H - 0.5 + zoom * (cv.y0 + 0.5 - 0.5 * H)
    if zoom == 1.0 and bx == round(bx):  # integer crop: exact and cheap (static camera)
        c, r = -int(round(bx)), -int(round(by))
        return layer[r:r + H, c:c + W]
    m = np.array([[zoom, 0.0, bx], [0.0, zoom, by]])
    return cv2.warpAffine(layer, m, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _blend(far, ground):
    """far (H, W, 3) and ground (H, W, 4) uint8 -> (H, W, 3) uint8, ground over far by its alpha."""
    a = ground[..., 3:4].astype(np.uint16)
    return ((far * (255 - a) + ground[..., :3] * a + 127) // 255).astype(np.uint8)


def _draw(img, shape, cx, cy, r, colour, outline, line=cv2.LINE_AA):
    """One object at pixel centre (cx, cy), radius r pixels; outline drawn inside the radius."""
    def pt(x, y):
        return round(x * ONE), round(y * ONE)

    def disc(x, y, rad, col):
        cv2.circle(img, pt(x, y), max(0, round(rad * ONE)), col, -1, line, SUB)

    def poly(rad, col):
        pts = np.round((np.array([cx, cy]) + _UNIT[shape] * rad) * ONE).astype(np.int32)
        cv2.fillPoly(img, [pts], col, line, SUB)

    if outline is None:  # mask: the full silhouette only
        if shape == "ball":
            disc(cx, cy, r, colour)
        else:
            poly(r, colour)
        return
    t = max(1.0, 0.08 * r)
    shade = tuple(int(0.72 * c) for c in colour)
    if shape == "ball":  # outline, shadowed body, lit body offset up-left, highlight: reads as a sphere
        disc(cx, cy, r, outline)
        disc(cx, cy, r - t, shade)
        disc(cx - 0.1 * r, cy - 0.1 * r, 0.82 * (r - t), colour)
        disc(cx - 0.35 * r, cy - 0.35 * r, 0.26 * r, tuple(int(c + 0.55 * (255 - c)) for c in colour))
        return
    poly(r, outline)
    inner = r - _INSET[shape] * t
    if shape == "box":  # a darker bevel along the edge
        poly(inner, shade)
        inner -= 0.12 * r
    poly(max(inner, 0.0), colour)


def _check_args(width, height, num_frames, fps):
    for name, v in (("width", width), ("height", height), ("num_frames", num_frames)):
        if int(v) != v or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps!r}")


def _render(scene: Scene, width: int, height: int, num_frames: int, fps: float, want_masks: bool):
    _check_args(width, height, num_frames, fps)
    W, H, T = int(width), int(height), int(num_frames)
    times = np.arange(T) / float(fps)  # frame i is at i / fps seconds
    layers = []
    for name, build in (("far", _far_layer), ("ground", _ground_layer)):
        shift, zoom = layer_transform(scene.camera, times, scene.duration_s, name)  # (T,), (T,)
        cv = _canvas(shift, zoom, W, H)
        layers.append((build(scene.background, cv, scene.seed), cv, shift, zoom))
    static = scene.camera == "static"
    frames = np.empty((T, H, W, 3), np.uint8)
    for i in range(1 if static else T):
        views = [_warp(layer, cv, float(shift[i]), float(zoom[i])) for layer, cv, shift, zoom in layers]
        frames[i] = _blend(*views)
    if static:
        frames[1:] = frames[0]

    s = min(W, H)
    order = sorted(range(len(scene.objects)), key=lambda k: (-scene.objects[k].depth, k))  # far to near
    tracks = [object_track(o, times, scene) for o in scene.objects]  # each (x, y, r) of (T,)
    masks = np.zeros((T, len(scene.objects), H, W), bool) if want_masks else None
    buf = np.zeros((H, W), np.uint8)
    for i in range(T):
        covered = np.zeros((H, W), bool) if want_masks else None
        for k in order:
            o, (x, y, r) = scene.objects[k], tracks[k]
            cx, cy, rad = x[i] * W - 0.5, y[i] * H - 0.5, r[i] * s
            _draw(frames[i], o.shape, cx, cy, rad, COLOUR_RGB[o.colour], OUTLINE_RGB[o.colour])
            if want_masks:
                buf[:] = 0
                _draw(buf, o.shape, cx, cy, rad, 1, None, cv2.LINE_8)
                masks[i, k] = buf.astype(bool)
        if want_masks:  # visible = own silhouette minus everything drawn after it (nearer)
            for k in reversed(order):
                full = masks[i, k].copy()
                masks[i, k] &= ~covered
                covered |= full
    return frames, masks


def render(scene: Scene, width: int, height: int, num_frames: int, fps: float) -> np.ndarray:
    """Frames (T, H, W, 3) uint8 RGB; frame i shows the scene at i / fps seconds. Deterministic."""
    return _render(scene, width, height, num_frames, fps, want_masks=False)[0]


def render_with_masks(scene: Scene, width: int, height: int, num_frames: int, fps: float):
    """(frames (T, H, W, 3) uint8, masks (T, N, H, W) bool): each object's visible pixels after
    occlusion, in scene.objects order; the masks use the objects' hard silhouettes."""
    return _render(scene, width, height, num_frames, fps, want_masks=True)


@lru_cache(maxsize=None)
def background_palette(background: str, k: int = 24) -> np.ndarray:
    """Colours of a background with no objects, under every camera (k-means centres, (k, 3)):
    what tells an object from the background it stands on (engine/motion.py, bench/world_metrics.py)."""
    if background not in PALETTE:
        raise ValueError(f"unknown background {background!r}")
    pixels = []
    for seed, camera in enumerate(("static", "pan_left", "pan_right", "zoom_in", "zoom_out")):
        scene = Scene(background=background, objects=(), camera=camera, duration_s=2.0, seed=seed)
        frames = render(scene, 128, 72, 9, 4.0)
        pixels.append(frames.reshape(-1, 3))
    data = np.concatenate(pixels).astype(np.float32)
    data = data[np.random.default_rng(0).choice(len(data), 20000, replace=False)]
    # k-means++ draws from OpenCV's global generator: seeded here, a palette is the same whatever
    # ran before it (it was not: the sea's came out up to 29 levels apart, so a clip's movers
    # could be found differently in the CLI and in the studio)
    cv2.setRNGSeed(0)
    _, _, centres = cv2.kmeans(data, k, None, (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 30, 0.5),
                               2, cv2.KMEANS_PP_CENTERS)
    centres.setflags(write=False)          # shared by every caller through the cache
    return centres
