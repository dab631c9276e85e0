"""Scenes of the embedded world: vocabulary, dataclasses, motion, camera and placement (no drawing).

Coordinates are resolution independent: x is in frame widths, y in frame heights, (0, 0) is the
top-left corner, and an object's `size` is its radius as a fraction of min(width, height). Any
aspect then renders the same scene natively: a ball stays round and keeps its normalized place.

Placement is conservative: it keeps x - r >= margin using r itself (not r * min(W, H) / W, which is
never larger), so a scene that fits one aspect fits every aspect. `object_position` is the single
source of truth for motion; the renderer and any benchmark read ground truth from it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Mapping, Sequence

import numpy as np

BACKGROUNDS = ("grass", "night", "desert", "ocean", "studio")
SHAPES = ("ball", "box", "triangle", "star")
COLOURS = ("red", "orange", "yellow", "green", "blue", "purple", "white", "black")
MOTIONS = ("left", "right", "up", "down", "bounce", "still", "grow", "shrink")
SPEEDS = ("slowly", "normal", "quickly")
CAMERAS = ("static", "pan_left", "pan_right", "zoom_in", "zoom_out")
SIZES = ("small", "large")  # words a prompt may name; an unnamed size draws from DEFAULT_SIZE_RANGE

# Saturated object colours, far from every background palette in render.py; the outline separates
# the near misses (green on grass, blue on the sea, black at night).
COLOUR_RGB = {
    "red": (228, 30, 36), "orange": (255, 138, 0), "yellow": (255, 226, 24), "green": (30, 222, 80),
    "blue": (28, 78, 240), "purple": (152, 48, 214), "white": (250, 250, 250), "black": (14, 14, 14),
}
OUTLINE_RGB = {c: ((236, 236, 236) if c in ("blue", "purple", "black") else (24, 24, 24)) for c in COLOURS}

SPEED_RATE = {"slowly": 0.12, "normal": 0.25, "quickly": 0.45}  # frame widths (or heights) per second
BOUNCE_HZ = {"slowly": 0.75, "normal": 1.25, "quickly": 2.0}  # bounces per second
BOUNCE_HEIGHT = 0.22  # frame heights from resting point to apex
GROW_SCALE, SHRINK_SCALE = 1.7, 0.55  # radius factor over the clip at normal speed
DEFAULT_SIZE_RANGE = (0.08, 0.18)
SIZE_RANGES = {"small": (0.06, 0.095), "large": (0.165, 0.22)}
MARGIN = 0.03  # frame fraction kept free at every edge
MAX_RADIUS = 0.5 - MARGIN - 0.01  # a growing object stops growing here
PREFERRED_Y = (0.4, 0.9)  # objects rest near or below the horizon when their path allows it

PAN_PER_SECOND, MAX_PAN = 0.125, 0.35  # frame widths; ~0.25 per 2 s, capped for long clips
ZOOM_MAX = 1.35
# How strongly each layer follows the camera: far sky barely moves, objects move fully (parallax).
LAYER_PARALLAX = {"far": 0.15, "ground": 0.5, "objects": 1.0}

# Occlusion scenes: a small mover passes fully behind a still, larger, nearer ball or box.
OCCLUDER_SIZE_RANGE, MOVER_SIZE_RANGE, OCCLUSION_GAP = (0.15, 0.2), (0.055, 0.075), 0.02
MIN_OCCLUSION_S = 1.0  # shorter clips cannot fit a full pass at the fastest speed
BOX_HALF = 0.8  # a box's half-side as a fraction of its radius (render.py draws it so)


@dataclass(frozen=True)
class ObjectSpec:
    shape: str
    colour: str
    motion: str
    speed: str
    x: float  # start centre, frame widths, camera at rest
    y: float  # start centre, frame heights
    size: float  # start radius, fraction of min(width, height)
    depth: float  # larger = further away = drawn first


@dataclass(frozen=True)
class Scene:
    background: str
    objects: tuple[ObjectSpec, ...]
    camera: str
    duration_s: float
    seed: int  # background texture: clouds, stars, dunes


class OcclusionInfeasible(ValueError):
    """No speed lets the mover pass fully behind the occluder within the clip and the frame."""


def _check(value, vocab, what):
    if value not in vocab:
        raise ValueError(f"unknown {what} {value!r}; expected one of {vocab}")


def motion_offset(motion: str, speed: str, t, duration_s: float):
    """(dx, dy, scale) at time(s) t: displacement from the start and the radius factor."""
    _check(motion, MOTIONS, "motion")
    _check(speed, SPEEDS, "speed")
    t = np.asarray(t, dtype=np.float64)
    zero = np.zeros_like(t)
    rate = SPEED_RATE[speed]
    if motion in ("left", "right"):
        return (rate * t if motion == "right" else -rate * t), zero, zero + 1.0
    if motion in ("up", "down"):
        return zero, (rate * t if motion == "down" else -rate * t), zero + 1.0
    if motion == "bounce":  # |sin| arcs off a ground line at the start y
        return zero, -BOUNCE_HEIGHT * np.abs(np.sin(math.pi * BOUNCE_HZ[speed] * t)), zero + 1.0
    if motion in ("grow", "shrink"):
        factor = GROW_SCALE if motion == "grow" else SHRINK_SCALE
        return zero, zero, factor ** (rate / SPEED_RATE["normal"] * t / duration_s)
    return zero, zero, zero + 1.0  # still


def camera_at(camera: str, t, duration_s: float):
    """(pan, zoom) of the camera at time(s) t; pan in frame widths, positive = panned right.

    The camera holds its final state after duration_s, like an object stopping at the edge.
    """
    _check(camera, CAMERAS, "camera")
    u = np.clip(np.asarray(t, dtype=np.float64) / duration_s, 0.0, 1.0)
    pan_total = min(PAN_PER_SECOND * duration_s, MAX_PAN)
    pan = {"pan_right": pan_total * u, "pan_left": -pan_total * u}.get(camera, u * 0.0)
    zoom = {"zoom_in": ZOOM_MAX ** u, "zoom_out": ZOOM_MAX ** -u}.get(camera, u * 0.0 + 1.0)
    return pan, zoom


def layer_transform(camera: str, t, duration_s: float, layer: str):
    """(shift, zoom) of a layer: screen = 0.5 + (world - shift - 0.5) * zoom, per axis (no shift in y).

    A camera panning right moves content left on screen; far layers shift and scale less.
    """
    factor = LAYER_PARALLAX[layer]
    pan, zoom = camera_at(camera, t, duration_s)
    return pan * factor, zoom ** factor


def object_track(obj: ObjectSpec, times, scene: Scene):
    """On-screen (x, y, radius) arrays of `obj` at `times` (seconds), normalized units, camera applied.

    Past the path the scene was placed for (rendering longer than duration_s), the object is
    clamped inside the frame: it stops at the edge instead of leaving.
    """
    times = np.asarray(times, dtype=np.float64)
    dx, dy, scale = motion_offset(obj.motion, obj.speed, times, scene.duration_s)
    shift, zoom = layer_transform(scene.camera, times, scene.duration_s, "objects")
    r = np.minimum(obj.size * scale, MAX_RADIUS / zoom) * zoom
    x = 0.5 + (obj.x + dx - shift - 0.5) * zoom
    y = 0.5 + (obj.y + dy - 0.5) * zoom
    lo, hi = MARGIN + r, 1.0 - MARGIN - r
    return np.clip(x, lo, hi), np.clip(y, lo, hi), r


def object_position(obj: ObjectSpec, t_seconds: float, scene: Scene) -> tuple[float, float, float]:
    """On-screen (x, y, radius) of `obj` at t_seconds: one time of `object_track`."""
    x, y, r = object_track(obj, [t_seconds], scene)
    return float(x[0]), float(y[0]), float(r[0])


def _path(motion, speed, size, camera, duration_s, samples=65):
    t = np.linspace(0.0, duration_s, samples)
    dx, dy, scale = motion_offset(motion, speed, t, duration_s)
    shift, zoom = layer_transform(camera, t, duration_s, "objects")
    return dx, dy, np.minimum(size * scale, MAX_RADIUS / zoom), shift, zoom


def feasible_starts(motion, speed, size, camera, duration_s, samples=65) -> tuple[float, float, float, float]:
    """(lo_x, hi_x, lo_y, hi_y): starts whose whole on-screen path stays inside the margins.

    Screen x = 0.5 + (x0 + dx - shift - 0.5) * zoom must lie in [m + r z, 1 - m - r z] at every
    sampled time, which is linear in x0: intersect the per-time intervals. lo > hi: nothing fits.
    """
    dx, dy, r, shift, zoom = _path(motion, speed, size, camera, duration_s, samples)
    lo_base = 0.5 + (MARGIN - 0.5) / zoom + r
    hi_base = 0.5 + (0.5 - MARGIN) / zoom - r
    return (float(np.max(lo_base - dx + shift)), float(np.min(hi_base - dx + shift)),
            float(np.max(lo_base - dy)), float(np.min(hi_base - dy)))


OPPOSITE = {"left": "right", "right": "left", "up": "down", "down": "up"}


def blind_starts(motion, speed, size, camera, duration_s) -> tuple[float, float, float, float]:
    """Like feasible_starts, but only starts from which the opposite direction would fit too, so
    where a mover starts says nothing about which way it goes.

    With every path kept in frame, the start gives the direction away: a mover that crosses half
    the frame must start on the side it leaves. Over sample_scene's movers a rule as plain as
    "left half: it moves right" guesses 84% of directions (93-97% in 3-second clips), so a model
    given the first frame has little use for the motion word (docs/model-notes.md)."""
    lo_x, hi_x, lo_y, hi_y = feasible_starts(motion, speed, size, camera, duration_s)
    if motion in OPPOSITE:
        olo_x, ohi_x, olo_y, ohi_y = feasible_starts(OPPOSITE[motion], speed, size, camera, duration_s)
        lo_x, hi_x, lo_y, hi_y = max(lo_x, olo_x), min(hi_x, ohi_x), max(lo_y, olo_y), min(hi_y, ohi_y)
    return lo_x, hi_x, lo_y, hi_y


def _uniform_y(rng, lo, hi):
    plo, phi = max(lo, PREFERRED_Y[0]), min(hi, PREFERRED_Y[1])
    return float(rng.uniform(plo, phi)) if plo <= phi else float(rng.uniform(lo, hi))


def _clearance(path_a, path_b):
    """min over time of centre distance minus 0.8 * the larger radius (< 0: one may hide the other).

    Normalized distance is a lower bound on the distance in min(W, H) units at every aspect.
    """
    (xa, ya, ra), (xb, yb, rb) = path_a, path_b
    return float(np.min(np.hypot(xa - xb, ya - yb) - 0.8 * np.maximum(ra, rb)))


def place(rng, motion, speed, size, camera, duration_s, others=(), tries=16, blind=False):
    """Start (x, y) keeping the whole path in frame and, if possible, clear of `others` paths.

    Returns (x, y, path, fits); fits is False when the path cannot fit at all: the start is then the
    best effort and object_position's clamp stops the object at the frame edge. blind: start only
    where the opposite direction would fit too (blind_starts), where that leaves room.
    """
    lo_x, hi_x, lo_y, hi_y = feasible_starts(motion, speed, size, camera, duration_s)
    if blind:
        b = blind_starts(motion, speed, size, camera, duration_s)
        if b[0] <= b[1] and b[2] <= b[3]:
            lo_x, hi_x, lo_y, hi_y = b
    fits = lo_x <= hi_x and lo_y <= hi_y
    dx, dy, r, shift, zoom = _path(motion, speed, size, camera, duration_s)
    if not fits:  # start where t=0 allows, as near the middle of the (empty) interval as possible
        lo0x, hi0x, lo0y, hi0y = feasible_starts(motion, speed, size, camera, duration_s, samples=1)
        x = float(np.clip((lo_x + hi_x) / 2, lo0x, hi0x))
        y = float(np.clip((lo_y + hi_y) / 2, lo0y, hi0y))
        return x, y, (x + dx - shift, y + dy, r), False
    best = None
    for _ in range(tries):
        x, y = float(rng.uniform(lo_x, hi_x)), _uniform_y(rng, lo_y, hi_y)
        path = (x + dx - shift, y + dy, r)  # zoom is common to all objects, so it is left out
        score = min((_clearance(path, o) for o in others), default=1.0)
        if best is None or score > best[0]:
            best = (score, x, y, path)
        if score > 0:
            break
    _, x, y, path = best
    return x, y, path, True


def _choice(rng, options):
    return options[int(rng.integers(len(options)))]


def _draw_size(rng, size_word):
    if size_word is not None:
        _check(size_word, SIZES, "size")
    lo, hi = SIZE_RANGES.get(size_word, DEFAULT_SIZE_RANGE)
    return float(rng.uniform(lo, hi))


def _fill_object(rng, req, colour, camera, duration_s, others, blind=False):
    """One object: keep every named attribute, draw the rest until its path fits the frame (blind:
    from a start that does not give its direction away, when some draw allows one)."""
    starts = blind_starts if blind else feasible_starts
    for _ in range(12):
        shape = req.get("shape") or _choice(rng, SHAPES)
        motion = req.get("motion") or _choice(rng, MOTIONS)
        speed = req.get("speed") or _choice(rng, SPEEDS)
        size = _draw_size(rng, req.get("size"))
        rate = SPEED_RATE[speed] / SPEED_RATE["normal"]
        if motion == "grow":  # so the final radius still fits the frame
            size = min(size, 0.3 / GROW_SCALE ** rate)
        if motion == "shrink":  # so the final radius is still visible at 64 x 64
            size = max(size, 0.045 / SHRINK_SCALE ** rate)
        lo_x, hi_x, lo_y, hi_y = starts(motion, speed, size, camera, duration_s)
        if lo_x <= hi_x and lo_y <= hi_y:
            break
    x, y, path, _ = place(rng, motion, speed, size, camera, duration_s, others, blind=blind)
    return ObjectSpec(shape, colour, motion, speed, x, y, size, 0.0), path


def _fill_occlusion(rng, mover_req, occluder_req, colours, camera, duration_s):
    """A mover passing left or right fully behind a still, larger, nearer ball or box."""
    direction = mover_req.get("motion") or _choice(rng, ("left", "right"))
    if direction not in ("left", "right"):
        raise ValueError(f"an object passing behind another moves left or right, not {direction!r}")
    if occluder_req.get("motion") not in (None, "still"):
        raise ValueError("the object in front of an occlusion stays still")
    occ_shape = occluder_req.get("shape") or _choice(rng, ("ball", "box"))
    mover_shape = mover_req.get("shape") or _choice(rng, SHAPES)
    speeds = [mover_req["speed"]] if mover_req.get("speed") else [SPEEDS[i] for i in rng.permutation(3)]
    sign = 1.0 if direction == "right" else -1.0
    for speed in speeds:
        travel = SPEED_RATE[speed] * duration_s
        r_mover = float(rng.uniform(*MOVER_SIZE_RANGE))
        r_occ = min(float(rng.uniform(*OCCLUDER_SIZE_RANGE)), travel / 2 - r_mover - OCCLUSION_GAP)
        if r_occ < max(0.12, r_mover / BOX_HALF + 0.01):  # too short a pass, or too small to hide it
            continue
        occ = feasible_starts("still", speed, r_occ, camera, duration_s)
        mov = feasible_starts(direction, speed, r_mover, camera, duration_s)
        # The mover starts half a pass before the occluder and ends half a pass after it.
        lo_x = max(occ[0], mov[0] + sign * travel / 2)
        hi_x = min(occ[1], mov[1] + sign * travel / 2)
        lo_y, hi_y = max(occ[2], mov[2]), min(occ[3], mov[3])
        if lo_x > hi_x or lo_y > hi_y:
            continue
        x, y = float(rng.uniform(lo_x, hi_x)), _uniform_y(rng, lo_y, hi_y)
        mover = ObjectSpec(mover_shape, colours[0], direction, speed, x - sign * travel / 2, y, r_mover, 0.9)
        occluder = ObjectSpec(occ_shape, colours[1], "still", speed, x, y, r_occ, 0.1)
        return mover, occluder
    raise OcclusionInfeasible(f"no speed lets an object pass fully behind another in {duration_s} s")


def _fill_colours(rng, named):
    """Keep named colours; give each unnamed object a colour no other object has, while any is left."""
    used = [c for c in named if c is not None]
    out = []
    for c in named:
        if c is None:
            free = [k for k in COLOURS if k not in used] or list(COLOURS)
            c = _choice(rng, free)
            used.append(c)
        out.append(c)
    return out


def _path_of(spec, scene_like):
    dx, dy, r, shift, _ = _path(spec.motion, spec.speed, spec.size, *scene_like)
    return spec.x + dx - shift, spec.y + dy, r


def fill_scene(rng: np.random.Generator, duration_s: float, *, background: str | None = None,
               camera: str | None = None, objects: Sequence[Mapping] = ({},),
               occlusion: tuple[int, int] | None = None, static_share: float = 0.5,
               blind: bool = False) -> Scene:
    """A scene keeping every named attribute and drawing the rest from `rng`.

    objects: one mapping per object with optional keys colour, shape, motion, speed, size (None or
    missing = draw it). occlusion: (mover index, occluder index) to build a passing-behind scene;
    the pair's sizes are then chosen so the mover hides fully (named sizes do not apply to it);
    raises OcclusionInfeasible when the clip is too short for it. static_share: the chance that
    an unnamed camera is static (the others are drawn evenly). blind: movers left, right, up and
    down start where the opposite direction would fit too (blind_starts), drawing unnamed speeds
    and sizes until one does; without such a start, as usual.
    """
    if not duration_s > 0:
        raise ValueError(f"duration_s must be positive, got {duration_s}")
    if not objects:
        raise ValueError("a scene needs at least one object")
    keys = {"colour", "shape", "motion", "speed", "size"}
    for req in objects:
        if set(req) - keys:
            raise ValueError(f"unknown object attributes {sorted(set(req) - keys)}; expected {sorted(keys)}")
        for key, vocab in (("colour", COLOURS), ("shape", SHAPES), ("motion", MOTIONS), ("speed", SPEEDS)):
            if req.get(key) is not None:
                _check(req[key], vocab, key)
    background = background or _choice(rng, BACKGROUNDS)
    if not 0.0 <= static_share <= 1.0:
        raise ValueError(f"static_share must be in [0, 1], got {static_share}")
    camera = camera or (_choice(rng, CAMERAS[1:]) if rng.random() < 1.0 - static_share else "static")
    _check(background, BACKGROUNDS, "background")
    _check(camera, CAMERAS, "camera")
    colours = _fill_colours(rng, [req.get("colour") for req in objects])
    specs: list[ObjectSpec | None] = [None] * len(objects)
    others = []
    if occlusion is not None:
        i, j = occlusion
        if i == j or not (0 <= i < len(objects) and 0 <= j < len(objects)):
            raise ValueError(f"occlusion {occlusion} must name two different objects of {len(objects)}")
        specs[i], specs[j] = _fill_occlusion(rng, objects[i], objects[j], (colours[i], colours[j]),
                                             camera, duration_s)
        others = [_path_of(specs[k], (camera, duration_s)) for k in (i, j)]
    for k, req in enumerate(objects):
        if specs[k] is None:
            specs[k], path = _fill_object(rng, req, colours[k], camera, duration_s, others, blind)
            others.append(path)
    # Depths: the occlusion pair keeps its order (0.9 behind 0.1); the others lie in between.
    specs = [s if occlusion is not None and k in occlusion else
             replace(s, depth=float(rng.uniform(0.2, 0.8))) for k, s in enumerate(specs)]
    return Scene(background, tuple(specs), camera, float(duration_s), int(rng.integers(2**31 - 1)))


def draw_object_count(rng: np.random.Generator, max_objects: int) -> int:
    """1..max_objects, each count half as likely as the one before (one object most often)."""
    if max_objects < 1:
        raise ValueError(f"max_objects must be >= 1, got {max_objects}")
    weights = 0.5 ** np.arange(max_objects)
    return int(rng.choice(max_objects, p=weights / weights.sum())) + 1


def sample_scene(rng: np.random.Generator, duration_s: float, max_objects: int = 3,
                 static_share: float = 0.5, motions: Sequence[str] = (), blind_share: float = 0.0) -> Scene:
    """A random scene: 1..max_objects objects (1 most often), a static camera with probability
    static_share, and ~15% of multi-object scenes built so one object passes behind another
    (object permanence). motions: the motions objects draw from (empty: all of MOTIONS); a
    narrower world is a curriculum (engine/train/config.py, `world_motions`). blind_share: the
    chance that the scene's movers start where their direction is not given away (fill_scene's
    blind); 0 draws exactly the scenes of before."""
    for m in motions:
        _check(m, MOTIONS, "motion")
    if not 0.0 <= blind_share <= 1.0:
        raise ValueError(f"blind_share must be in [0, 1], got {blind_share}")
    blind = blind_share > 0 and rng.random() < blind_share
    n = draw_object_count(rng, max_objects)
    requests = [{"motion": _choice(rng, tuple(motions))} if motions else {} for _ in range(n)]
    if n >= 2 and duration_s >= MIN_OCCLUSION_S and rng.random() < 0.15:
        try:
            return fill_scene(rng, duration_s, objects=requests, occlusion=(0, 1), static_share=static_share,
                              blind=blind)
        except OcclusionInfeasible:
            pass  # e.g. a pan leaves no room for the pass: this draw becomes an ordinary scene
    return fill_scene(rng, duration_s, objects=requests, static_share=static_share, blind=blind)


def occlusions(scene: Scene) -> tuple[tuple[int, int], ...]:
    """(behind, front) pairs where a moving object passes behind a nearer one during the clip.

    "Behind" means its centre enters the inner 70% of the front object's radius after starting
    outside it; distances are normalized (as at 1:1), which is what a caption needs.
    """
    times = np.linspace(0.0, scene.duration_s, 33)
    tracks = [object_track(o, times, scene) for o in scene.objects]
    pairs = []
    for i, a in enumerate(scene.objects):
        for j, b in enumerate(scene.objects):
            if i == j or a.motion == "still" or not b.depth < a.depth:
                continue
            (xa, ya, _), (xb, yb, rb) = tracks[i], tracks[j]
            d = np.hypot(xa - xb, ya - yb) - 0.7 * rb
            if d[0] > 0 and d.min() < 0:
                pairs.append((i, j))
    return tuple(pairs)
