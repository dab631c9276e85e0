"""Every editing operation, measured from pixels with the shipped checkpoint.

    python bench/operations.py [--checkpoint DIR] [--n 8] [--long-seconds 60] [--json ...]

Inputs: world clips and stills (scenes drawn from a fixed seed) and real photographs shipped by
scikit-learn / scikit-image. Prints one table; all figures also go to the JSON file.
"""
from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from engine.world import caption, render, sample_scene, upsample  # noqa: E402
from world_metrics import measure  # noqa: E402
from worldbench import photographs, psnr  # noqa: E402

MOTIONS = ("left", "right", "up", "down")
COLOURS = ("red", "orange", "yellow", "green", "blue", "purple", "white", "black")


def on_grid(frames: np.ndarray, like: np.ndarray) -> np.ndarray:
    """The input as the engine conformed it (same crop policy), to compare pixel to pixel."""
    from engine.conform import fit_frames
    return fit_frames(frames, like.shape[2], like.shape[1])[0]


def jumps(frames: np.ndarray) -> np.ndarray:
    """Mean absolute change between neighbouring frames (T-1,), in 0-255 levels."""
    return np.abs(np.diff(frames.astype(np.float32), axis=0)).mean(axis=(1, 2, 3))


def world_clip(rng, seconds=2.0, fps=12.0, size=(256, 144)):
    scene = sample_scene(rng, duration_s=seconds, max_objects=1)
    n = 1 + int(seconds * fps) // 4 * 4
    return render(scene, *size, n, fps), scene


def bench_animate(engine, rng, n):
    rows = []
    stills = [(world_clip(rng, 0.1)[0][0], None) for _ in range(n)] + [(p, "photo") for p in photographs()]
    for i, (image, kind) in enumerate(stills):
        motion = MOTIONS[i % 4]
        colour = COLOURS[i % 8]
        r = engine.animate(image, f"the {colour} ball moves {motion}", seconds=2.0, seed=i)
        ref = on_grid(image[None], r.frames)
        got = measure(r.frames, upsample(r.caption, 0).scene.background)
        rows.append({"kind": kind or "world", "psnr_first": psnr(r.frames[0], ref[0]),
                     "motion_ok": got["motion"] == motion})
    world = [r for r in rows if r["kind"] == "world"]
    return {"first_frame_psnr_db": float(np.mean([r["psnr_first"] for r in rows])),
            "motion_follows_%": 100 * float(np.mean([r["motion_ok"] for r in world])) if world else None,
            "n": len(rows)}


def bench_extend(engine, rng, n, direction):
    ok_unchanged, seam_ratio, colour_ok = [], [], []
    for i in range(n):
        frames, scene = world_clip(rng)
        colour = scene.objects[0].colour
        r = engine.extend(frames, 12.0, caption(scene), direction=direction, seconds=2.0, seed=i)
        frames = on_grid(frames, r.frames)
        orig = r.frames[:len(frames)] if direction == "forward" else r.frames[-len(frames):]
        ok_unchanged.append(np.array_equal(orig, frames))
        inside = np.median(jumps(frames))
        seam = (jumps(r.frames[len(frames) - 1:len(frames) + 1]) if direction == "forward"
                else jumps(r.frames[-len(frames) - 1:-len(frames) + 1]))[0]
        seam_ratio.append(seam / max(inside, 1e-6))
        new = r.frames[len(frames):] if direction == "forward" else r.frames[:-len(frames)]
        colour_ok.append(measure(new, scene.background)["colour"] == colour)
    return {"original_unchanged_%": 100 * float(np.mean(ok_unchanged)),
            "seam_over_median_jump": float(np.median(seam_ratio)),
            "seam_ok_%": 100 * float(np.mean(np.array(seam_ratio) <= 2.0)),
            "colour_kept_%": 100 * float(np.mean(colour_ok)), "n": n}


def bench_loop(engine, rng, n):
    ratios = []
    for i in range(n):
        frames, scene = world_clip(rng)
        r = engine.loop(frames, 12.0, caption(scene), seconds=1.0, seed=i)
        frames = on_grid(frames, r.frames)
        wrap = jumps(np.stack([r.frames[-1], r.frames[0]]))[0]
        ratios.append(wrap / max(np.median(jumps(r.frames)), 1e-6))
    return {"wrap_over_median_jump": float(np.median(ratios)),
            "wrap_ok_%": 100 * float(np.mean(np.array(ratios) <= 2.0)), "n": n}


def bench_interpolate(engine, rng, n):
    unchanged, ratios = [], []
    for i in range(n):
        a, _ = world_clip(rng, 1.0)
        b, scene_b = world_clip(rng, 1.0)
        r = engine.interpolate(a, 12.0, b, 12.0, caption(scene_b), seconds=1.0, seed=i)
        a, b = on_grid(a, r.frames), on_grid(b, r.frames)
        unchanged.append(np.array_equal(r.frames[:len(a)], a) and np.array_equal(r.frames[-len(b):], b))
        inside = np.median(np.concatenate([jumps(a), jumps(b)]))
        ratios.append(jumps(r.frames[len(a) - 1:len(r.frames) - len(b) + 1]).max() / max(inside, 1e-6))
    return {"inputs_unchanged_%": 100 * float(np.mean(unchanged)),
            "max_transition_jump_over_median": float(np.median(ratios)),
            "transition_ok_%": 100 * float(np.mean(np.array(ratios) <= 2.5)), "n": n}


def bench_restyle(engine, rng, n):
    out = {}
    for strength in (0.0, 0.3, 0.6, 0.9):
        sims, colour_ok, kept_motion = [], [], []
        for i in range(n):
            frames, scene = world_clip(rng if strength == 0.0 else np.random.default_rng(100 + i))
            obj = scene.objects[0]
            new_colour = COLOURS[(COLOURS.index(obj.colour) + 3) % 8]
            prompt = caption(scene).replace(obj.colour, new_colour, 1)
            r = engine.restyle(frames, 12.0, prompt, strength=strength, seed=i)
            sims.append(psnr(r.frames, on_grid(frames, r.frames)))
            got = measure(r.frames, scene.background)
            colour_ok.append(got["colour"] == new_colour)
            kept_motion.append(got["motion"] == measure(frames, scene.background)["motion"])
        out[str(strength)] = {"psnr_to_input_db": float(np.mean(sims)),
                              "new_colour_%": 100 * float(np.mean(colour_ok)),
                              "motion_kept_%": 100 * float(np.mean(kept_motion))}
    return out


def bench_render(engine, n):
    keep_colour, keep_motion = [], []
    for i in range(n):
        prompt = f"a {COLOURS[i % 8]} ball moves {MOTIONS[i % 4]} on green grass"
        [draft] = engine.generate(prompt, seconds=2.0, draft=True, seed=i)
        full = engine.render(draft.frames, draft.record(), seed=i)
        bg = upsample(prompt, i).scene.background
        d, f = measure(draft.frames, bg), measure(full.frames, bg)
        keep_colour.append(d["colour"] is not None and d["colour"] == f["colour"])
        keep_motion.append(d["motion"] is not None and d["motion"] == f["motion"])
    return {"colour_kept_%": 100 * float(np.mean(keep_colour)),
            "motion_kept_%": 100 * float(np.mean(keep_motion)), "n": n}


def bench_long(engine, seconds_total: float, step_seconds: float = 2.0):
    """Grow one clip by repeated forward extension; memory and cost per generated second."""
    rng = np.random.default_rng(5)
    frames, scene = world_clip(rng)
    prompt = caption(scene)
    marks, t0, made = {}, time.time(), 0.0
    checkpoints = [s for s in (10, 30, 60) if s <= seconds_total] or [seconds_total]
    i = 0
    while len(frames) / 12.0 < seconds_total:
        t = time.time()
        r = engine.extend(frames, 12.0, prompt, seconds=step_seconds, seed=i)
        frames, i = r.frames, i + 1
        made_now = step_seconds
        made += made_now
        length = len(frames) / 12.0
        for c in checkpoints:
            if c not in marks and length >= c:
                marks[c] = {"length_s": round(length, 2),
                            "s_per_generated_s": round((time.time() - t) / made_now, 3),
                            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    return {"final_length_s": len(frames) / 12.0, "wall_s": time.time() - t0, "marks": marks}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--checkpoint")
    p.add_argument("--device", default="cpu")
    p.add_argument("--n", type=int, default=8, help="clips per operation")
    p.add_argument("--long-seconds", type=float, default=60.0)
    p.add_argument("--json", default="bench/results/operations.json")
    args = p.parse_args(argv)
    from engine.io import write_json_atomic
    from engine.runtime import Engine
    engine = Engine.load(args.checkpoint, device=args.device)
    rng = np.random.default_rng(2026)
    report = {"checkpoint": engine.label}
    for name, fn in (("animate", lambda: bench_animate(engine, rng, args.n)),
                     ("extend_forward", lambda: bench_extend(engine, rng, args.n, "forward")),
                     ("extend_backward", lambda: bench_extend(engine, rng, args.n, "backward")),
                     ("loop", lambda: bench_loop(engine, rng, args.n)),
                     ("interpolate", lambda: bench_interpolate(engine, rng, args.n)),
                     ("restyle", lambda: bench_restyle(engine, rng, args.n)),
                     ("draft_to_render", lambda: bench_render(engine, args.n)),
                     ("long_video", lambda: bench_long(engine, args.long_seconds))):
        t = time.time()
        report[name] = fn()
        print(f"{name:16} {report[name]}  ({time.time() - t:.0f} s)", flush=True)
    write_json_atomic(report, args.json)
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
