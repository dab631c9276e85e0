"""A camera move and a moving object in one prompt: does the clip show both?

Each prompt names a camera move and an object motion across it: pans with an object moving up
or down, zooms with one moving left or right. From the pixels of each clip (bench/world_metrics.py):
the camera's class from the background's flow, and whether the object's centre travels more than
FOLLOW of the frame the named way along the motion's axis over the frames where it is found
(a pan moves content along the other axis; a zoom moves an off-centre object outwards or inwards,
which the no-motion row shows). Each prompt is run with the card's motion_hold and with 0 (the
camera plan alone), the same seed.

    python bench/camera_objects.py [--n 8] [--json bench/results/camera_objects.json]
                                   [--object-hold H --motion-detail D]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from world_metrics import measure, readable_colours  # noqa: E402

FOLLOW = 0.05                  # frame heights (up/down) or widths (left/right) the object must travel
CAMERA = {"pan_left": "the camera pans left", "pan_right": "the camera pans right",
          "zoom_in": "the camera zooms in", "zoom_out": "the camera zooms out"}
ACROSS = {"pan_left": ("up", "down"), "pan_right": ("down", "up"),
          "zoom_in": ("left", "right"), "zoom_out": ("right", "left")}
COLOURS = ("red", "orange", "yellow", "green", "blue", "purple", "white", "black")
PLACES = {"grass": "on green grass", "desert": "in the desert", "studio": "in a grey studio",
          "night": "under a night sky"}


def prompts(n: int) -> list[dict]:
    """n prompts: the camera moves in turn, each with the motions across it in turn, colours in
    turn, each on the first place (in turn) where the detector can read it."""
    out, moves, places = [], list(CAMERA), list(PLACES)
    for i in range(n):
        move = moves[i % len(moves)]
        motion = ACROSS[move][(i // len(moves)) % 2]
        colour = COLOURS[i % len(COLOURS)]
        place = next(p for p in places[i % len(places):] + places[:i % len(places)]
                     if colour in readable_colours(p))
        article = "an" if colour[0] in "aeiou" else "a"
        out.append({"prompt": f"{article} {colour} ball moves {motion} {PLACES[place]}, {CAMERA[move]}",
                    "camera": move, "motion": motion, "colour": colour, "background": place})
    return out


def follows(track: np.ndarray | None, motion: str) -> bool:
    """Whether an object track (T, 2) travels more than FOLLOW the way `motion` says."""
    if track is None:
        return False
    present = track[~np.isnan(track[:, 0])]
    if len(present) < 2:
        return False
    axis, sign = {"left": (0, -1), "right": (0, 1), "up": (1, -1), "down": (1, 1)}[motion]
    return sign * float(present[-1, axis] - present[0, axis]) > FOLLOW


def run(engine, items, motion_hold: float | None, seed: int) -> dict:
    rows = []
    for i, item in enumerate(items):
        [res] = engine.generate(item["prompt"], seconds=2.0, aspect="16:9", seed=seed + i, motion_hold=motion_hold)
        got = measure(res.frames, item["background"], track=True)
        rows.append({"prompt": item["prompt"], "camera": got["camera"], "colour": got["colour"],
                     "follows": follows(got["track"], item["motion"]),
                     "moved": (res.notes.get("motion") or {}).get("moved", 0),
                     "seconds": res.timings["total_s"]})
        print(f"  [{'card' if motion_hold is None else motion_hold}] {item['prompt'][:64]:64} -> "
              f"camera {got['camera']}, follows {rows[-1]['follows']}", file=sys.stderr)
    pct = lambda key, want: 100.0 * float(np.mean([want(r, it) for r, it in zip(rows, items)]))  # noqa: E731
    return {"camera_%": pct("camera", lambda r, it: r["camera"] == it["camera"]),
            "colour_%": pct("colour", lambda r, it: r["colour"] == it["colour"]),
            "object_follows_%": pct("follows", lambda r, it: r["follows"]),
            "moved_%": pct("moved", lambda r, it: r["moved"] > 0),
            "seconds_mean": float(np.mean([r["seconds"] for r in rows])), "rows": rows}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="a camera move and a moving object in one prompt")
    p.add_argument("--checkpoint", help="checkpoint folder (default: assets/default)")
    p.add_argument("--n", type=int, default=8, help="prompts (the four moves, each with two motions)")
    p.add_argument("--seed", type=int, default=1000)
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", default="bench/results/camera_objects.json")
    p.add_argument("--object-hold", type=float, help="the moved objects' cells held at this instead of the engine's")
    p.add_argument("--motion-detail", type=float, help="the VAE's lost detail put back at this instead of the engine's")
    args = p.parse_args(argv)
    from engine import operations
    from engine.io import write_json_atomic
    from engine.runtime import Engine
    engine = Engine.load(args.checkpoint, device=args.device)
    if args.object_hold is not None:
        operations.OBJECT_HOLD = args.object_hold
    if args.motion_detail is not None:
        operations.MOTION_DETAIL = args.motion_detail
    items = prompts(args.n)
    report = {"checkpoint": engine.label, "camera_hold": engine.card.camera_hold,
              "motion_hold": engine.card.motion_hold, "object_hold": operations.OBJECT_HOLD,
              "motion_detail": operations.MOTION_DETAIL, "n": len(items)}
    for name, hold in (("with_motion", None), ("camera_only", 0.0)):
        t = time.time()
        report[name] = run(engine, items, hold, args.seed)
        report[name]["wall_s"] = time.time() - t
        r = report[name]
        print(f"{name:12} camera {r['camera_%']:.1f}%  colour {r['colour_%']:.1f}%  object follows "
              f"{r['object_follows_%']:.1f}%  moved {r['moved_%']:.1f}%  ({r['seconds_mean']:.1f} s a clip)")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(report, args.json)
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
