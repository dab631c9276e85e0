"""An extension whose edge reads as still: the still guide against the plain hold.

    python bench/still_guide.py [--seeds 7 11] [--json bench/results/still_guide.json]

The clips are bench/operations.py's forward-extension sets (eight world clips a seed); those
whose edge the reader reads as still (or cannot read: engine/continuation.py) are extended
forward by 2 s both ways: the plain hold (the clip's last latent frame known at 0.7 * 0.7^i, so
the later frames are drawn freely) and the still guide (operations.CONTINUE_STILL: the edge frame
held still at CONTINUE_HOLD, with the VAE's lost detail put back where the result kept it). Per
clip and on average, the new frames' token seams (world_metrics.seams at 16 pixels: the DiT's own
texture raises it; the clip's own is given), flicker, the object's persistence and its colour.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from engine.world import caption  # noqa: E402
from op_inputs import world_clip  # noqa: E402
from world_metrics import flicker, measure, seams  # noqa: E402

MODES = {"plain": False, "still": True}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[7, 11])
    p.add_argument("--n", type=int, default=8, help="clips drawn a seed")
    p.add_argument("--json", default="bench/results/still_guide.json")
    args = p.parse_args(argv)
    from engine import continuation, operations
    from engine.io import write_json_atomic
    from engine.runtime import Engine
    engine = Engine.load(None, device="cpu")
    rows = []
    for seed in args.seeds:
        rng = np.random.default_rng(seed)
        for i in range(args.n):
            frames, scene = world_clip(rng)
            if continuation.estimate(frames).moves:
                continue
            row = {"seed": seed, "clip": i, "clip_seams": round(seams(frames, 16), 3),
                   "clip_flicker": round(flicker(frames), 2)}
            for name, still in MODES.items():
                operations.CONTINUE_STILL = still
                r = engine.extend(frames, 12.0, caption(scene), direction="forward", seconds=2.0, seed=i)
                new = r.frames[len(frames):]
                m = measure(new, scene.background)
                row[name] = {"seams": round(seams(new, 16), 3), "flicker": round(flicker(new), 2),
                             "persistence": round(m["persistence"], 2),
                             "colour_kept": m["colour"] == scene.objects[0].colour}
            rows.append(row)
            print(row, flush=True)
    summary = {name: {k: round(float(np.mean([r[name][k] for r in rows])), 3)
                      for k in ("seams", "flicker", "persistence", "colour_kept")} for name in MODES}
    summary["clip"] = {"seams": round(float(np.mean([r["clip_seams"] for r in rows])), 3),
                       "flicker": round(float(np.mean([r["clip_flicker"] for r in rows])), 2)}
    summary["seams_lower_with_still"] = f"{sum(r['still']['seams'] < r['plain']['seams'] for r in rows)} of {len(rows)}"
    print(summary)
    write_json_atomic({"seeds": args.seeds, "n": args.n, "summary": summary, "clips": rows}, args.json)
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
