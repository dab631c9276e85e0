"""How well engine/continuation.py reads a clip's motion, against the world's ground truth.

    python bench/continuation.py [--n 16] [--seed 2026] [--json bench/results/continuation.json]

No model runs: world clips (drawn as bench/operations.py draws them, at full size) are rendered
with their objects' masks, and the reader's camera and movers are checked against the scene:
- an object that moves along a line or bounces is `found` when one mover overlaps its mask in the
  clip's last frame; `iou` is that overlap, `speed_error` the difference from the world's own
  displacement over the last frame (pixels a frame);
- a mover that overlaps no object is `false`; one that overlaps the object (whatever its motion)
  by an IoU under FRAGMENT is a `fragment` (a piece of an object that grows or shrinks, read as
  sliding);
- clips whose motion was not read (more of the frame changing than explained) are counted.
The photographs' panning clips (bench/operations.py photo_clip) give the pan read against the
window's own pace, and `photo_mover` crosses each still photograph with flat squares (footage's
textured ground, which the world lacks): found, with the speed right, and extra movers counted.
Prints one line per clip and a summary; writes the JSON.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from engine import continuation  # noqa: E402
from engine.world import render_with_masks, sample_scene  # noqa: E402

LINE_MOTIONS = ("left", "right", "up", "down", "bounce")
FRAGMENT = 0.3   # a mover on the object that overlaps it less than this (IoU): a piece of it, misread


def world_case(rng, size=(256, 144), seconds=2.0, fps=12.0) -> dict:
    scene = sample_scene(rng, duration_s=seconds, max_objects=1)
    n = 1 + int(seconds * fps) // 4 * 4
    frames, masks = render_with_masks(scene, *size, n, fps)
    obj, truth = scene.objects[0], masks[:, 0]                          # (T, H, W) bool
    motion = continuation.estimate(frames)
    row = {"camera": scene.camera, "motion": obj.motion, "speed": obj.speed,
           "background": scene.background, "read": motion.moves, "unexplained": round(motion.unexplained, 4),
           "pan": [round(v, 2) for v in motion.shift], "zoom": round(motion.zoom, 4), "movers": len(motion.movers)}

    def centre(m):
        ys, xs = np.nonzero(m)
        return np.array([xs.mean(), ys.mean()]) if len(xs) else None
    ious = [float((m.mask & truth[-1]).sum() / max((m.mask | truth[-1]).sum(), 1)) for m in motion.movers]
    row["false"] = sum(i == 0 for i in ious)
    row["fragments"] = sum(0 < i < FRAGMENT for i in ious)
    if obj.motion in LINE_MOTIONS:
        row["found"] = any(i > 0 for i in ious)
        if row["found"]:
            best = motion.movers[int(np.argmax(ious))]
            a, b = centre(truth[-1]), centre(truth[-2])
            row["iou"] = round(max(ious), 2)
            if a is not None and b is not None:
                row["speed_error"] = round(float(np.hypot(*(np.array(best.velocity) - (a - b)))), 2)
    return row


def photo_mover(photo: np.ndarray, velocity: tuple[float, float], side: int, colour, frames: int = 25,
                size=(256, 144)) -> np.ndarray:
    """A still photograph with a flat square of `colour` crossing its middle at `velocity` (x, y)
    pixels a frame, drawn with sub-pixel edges -> (frames, H, W, 3) uint8."""
    W, H = size
    pic = cv2.resize(photo, size, interpolation=cv2.INTER_AREA).astype(np.float32)
    v = np.asarray(velocity, np.float32)
    start = np.array([W / 2, H / 2]) - v * (frames - 1) / 2 - side / 2
    out = np.empty((frames, H, W, 3), np.uint8)
    for k in range(frames):
        big = np.zeros((H * 4, W * 4), np.uint8)
        x, y = (start + v * k) * 4
        cv2.rectangle(big, (int(x), int(y)), (int(x + side * 4), int(y + side * 4)), 255, -1)
        alpha = cv2.resize(big, size, interpolation=cv2.INTER_AREA)[..., None] / 255.0
        out[k] = np.clip(pic * (1 - alpha) + np.asarray(colour, np.float32) * alpha + 0.5, 0, 255)
    return out


def photo_movers(photos, rng) -> dict:
    """Flat squares crossing each photograph at 1, 2 and 3 pixels a frame, four ways."""
    found = right = extra = total = 0
    for photo in photos:
        for speed in (1.0, 2.0, 3.0):
            for angle in (0, 90, 180, 270):
                v = (speed * round(np.cos(np.radians(angle))), speed * round(np.sin(np.radians(angle))))
                clip = photo_mover(photo, v, int(rng.integers(14, 30)), rng.integers(0, 256, 3))
                movers = continuation.estimate(clip).movers
                total += 1
                if movers:
                    found += 1
                    right += min(np.hypot(m.velocity[0] - v[0], m.velocity[1] - v[1]) for m in movers) < 0.5
                    extra += len(movers) - 1
    return {"found": f"{found} of {total}", "speed_within_half_a_pixel": int(right), "extra_movers": int(extra)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=16, help="world clips")
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--json", default="bench/results/continuation.json")
    args = p.parse_args(argv)
    from op_inputs import PAN_PER_SECOND, PAN_WINDOW, photo_clip
    from worldbench import photographs
    from engine.io import write_json_atomic
    rng = np.random.default_rng(args.seed)
    rows = []
    for i in range(args.n):
        rows.append(world_case(rng))
        print(i, rows[-1], flush=True)
    photos = []
    for photo in photographs():
        clip = photo_clip(photo)
        clip = np.stack([cv2.resize(f, (256, 144), interpolation=cv2.INTER_AREA) for f in clip])
        H, W = photo.shape[:2]
        w = min(round(W * PAN_WINDOW), round(H * 16 / 9))                # photo_clip's window
        travel = min(W - w, PAN_PER_SECOND * W * 2.0)                     # over its 2 s
        pace = -travel / (len(clip) - 1) * 256 / w                        # content moves left, pixels a frame
        read = continuation.estimate(clip)
        photos.append({"pan": [round(v, 2) for v in read.shift], "truth": round(pace, 2),
                       "movers": len(read.movers)})
    squares = photo_movers(photographs(), rng)
    lines = [r for r in rows if r["motion"] in LINE_MOTIONS]
    found = [r for r in lines if r.get("found")]
    report = {
        "seed": args.seed, "n": args.n,
        "movers_found": f"{len(found)} of {len(lines)}",
        "iou_range": [min(r["iou"] for r in found), max(r["iou"] for r in found)] if found else None,
        "speed_error_median": float(np.median([r["speed_error"] for r in found if "speed_error" in r])) if found else None,
        "false_movers": int(sum(r["false"] for r in rows)),
        "fragment_movers": int(sum(r["fragments"] for r in rows)),
        "not_read": int(sum(r["unexplained"] > continuation.UNEXPLAINED for r in rows)),
        "photographs_pan_error_max": max(abs(ph["pan"][0] - ph["truth"]) + abs(ph["pan"][1]) for ph in photos)
        if photos else None, "photograph_movers": squares, "clips": rows, "photographs": photos}
    print({k: v for k, v in report.items() if k not in ("clips", "photographs")})
    write_json_atomic(report, args.json)
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
