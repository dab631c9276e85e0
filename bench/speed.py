"""Speed of the shipped model on this machine: a 2-second draft and a 2-second full render,
each split into text encoding, sampling and decoding (median of --repeats runs after a warm-up);
(its prompts move objects, so the plain cases run the object motion plan, engine/motion.py);
also both with a camera move the prompt names (engine/camera.py: a still, outpainted where the
move reveals more, then refined; their sampling includes the still's, `camera_s` the move's
warp and encode).

    python bench/speed.py [--checkpoint DIR] [--repeats 3] [--json bench/results/speed.json]

Targets (issue 3, on the 2-core CPU): draft <= 3 s, full render (>= 256 px long side) <= 30 s.
Run nothing else that uses torch while timing.
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TARGETS = {"draft": 3.0, "full": 30.0}
PROMPTS = ("a red ball moves right over green grass", "a blue cube sinks in the desert",
           "a yellow star bounces in a grey studio", "a white triangle rises over the sea",
           "a purple sphere moves left at night", "an orange box grows on the meadow")
CAMERA_PROMPTS = ("a red ball on green grass as the camera pans to the right",
                  "a blue box in the desert, the camera zooms out",
                  "a yellow star over the sea while the camera pans left",
                  "a green ball at night, the camera zooms in")
CASES = {"draft": (PROMPTS, True), "full": (PROMPTS, False),
         "draft_camera": (CAMERA_PROMPTS, True), "full_camera": (CAMERA_PROMPTS, False)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--checkpoint")
    p.add_argument("--device", default="cpu")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", default="bench/results/speed.json")
    args = p.parse_args(argv)
    from engine.runtime import Engine
    engine = Engine.load(args.checkpoint, device=args.device)
    engine.generate("warm up", seconds=0.5, draft=True, seed=0, steps=1)  # loads weights and text model
    report = {"checkpoint": engine.label, "threads": torch.get_num_threads(), "device": str(engine.device)}
    for size, (words, draft) in CASES.items():
        prompts = iter(words * args.repeats)
        runs = []
        for i in range(args.repeats):
            [r] = engine.generate(next(prompts), seconds=2.0, aspect="16:9", draft=draft, seed=i)
            runs.append(r.timings | {"width": r.request.width, "height": r.request.height,
                                     "frames": r.request.num_frames, "steps": r.request.steps})
        med = {k: statistics.median(run[k] for run in runs) for k in ("text_s", "sample_s", "decode_s", "total_s")}
        report[size] = {**med, "width": runs[0]["width"], "height": runs[0]["height"],
                        "frames": runs[0]["frames"], "steps": runs[0]["steps"],
                        "target_s": TARGETS[size.split("_")[0]],
                        "ratio_to_target": med["total_s"] / TARGETS[size.split("_")[0]],
                        "runs": runs}
    print(f"{'size':13}{'WxH':>9}{'frames':>7}{'steps':>6}{'text s':>8}{'sample s':>9}{'decode s':>9}"
          f"{'total s':>9}{'target':>8}{'ratio':>7}")
    for size in CASES:
        r = report[size]
        print(f"{size:13}{r['width']:>5}x{r['height']:<3}{r['frames']:>7}{r['steps']:>6}{r['text_s']:>8.2f}"
              f"{r['sample_s']:>9.2f}{r['decode_s']:>9.2f}{r['total_s']:>9.2f}{r['target_s']:>8.0f}"
              f"{r['ratio_to_target']:>7.2f}")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    from engine.io import write_json_atomic
    write_json_atomic(report, args.json)
    print(f"wrote {args.json}  ({report['threads']} torch threads, {report['device']}, {engine.label})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
