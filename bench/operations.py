"""Every editing operation, measured from pixels with the shipped checkpoint.

    python bench/operations.py [--checkpoint DIR] [--n 8] [--long-seconds 60] [--json ...]
                               [--only interpolate loop ...] [--seed S]
                               [--transition-guide G] [--transition-guidance G] [--even-pace 0|1]
                               [--extend-hold HOLD DECAY] [--backward-hold HOLD DECAY]
                               [--extend-phases P] [--decode-phases P]
                               [--continue-motion 0|1] [--continue-still 0|1]
                               [--continue-hold HOLD DECAY]
                               [--transition-seconds S] [--transition-pace P]
                               [--transition-hold HOLD DECAY]
                               [--restyle-strengths S ...] [--recolour-hold H] [--no-recolour]

Inputs: world clips and stills (scenes drawn from a fixed seed) and real photographs shipped by
scikit-learn / scikit-image. Prints each section's figures as it ends, then one table of the
issue's bars (done_when); all figures also go to the JSON file.

Seams, wraps and transitions are held against the clip's own median frame change, counted as at
least world_metrics.STILL_LEVELS (a still clip has none: half a level of noise would fail it);
the `*_unfloored_%` figures hold them against the bare median.
"""
from __future__ import annotations

import argparse
import resource
import sys
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from engine.conform import fit_frames  # noqa: E402
from engine.world import caption, upsample  # noqa: E402
from card_overrides import add_card_overrides, apply_card_overrides  # noqa: E402
from op_inputs import COLOURS, MOTIONS, on_grid, photo_clip, row, share_row, world_clip  # noqa: E402
from restyle_bench import bench_restyle, restyle_rows  # noqa: E402
from world_metrics import (STILL_LEVELS, camera_motion, jumps, measure, own_change, path_distance,  # noqa: E402
                           readable_colours)
from worldbench import photographs, psnr  # noqa: E402

CARD_FLAGS = ("guidance", "guidance_interval", "decode_phases", "camera_hold", "motion_hold")


def bench_animate(engine, rng, n):
    """World stills are animated with a prompt that names their own object and a motion; the
    photographs, which hold no world object, are scored on the first frame only. Motion is scored
    where the detector can read the object's colour on its background (readable_colours, as in
    worldbench): elsewhere it finds no object to follow."""
    rows = []
    stills = [world_clip(rng, 0.1) for _ in range(n)]
    for i, (frames, scene) in enumerate(stills):
        motion = MOTIONS[i % 4]
        moved = replace(scene, camera="static", duration_s=2.0,
                        objects=(replace(scene.objects[0], motion=motion, speed="normal"),))
        r = engine.animate(frames[0], caption(moved), seconds=2.0, seed=i)
        readable = scene.objects[0].colour in readable_colours(scene.background)
        rows.append({"kind": "world", "psnr_first": psnr(r.frames[0], on_grid(frames[:1], r.frames)[0]),
                     "motion_ok": measure(r.frames, scene.background)["motion"] == motion if readable else None,
                     "first_jump": first_jump(r.frames)})
    for i, photo in enumerate(photographs()):
        r = engine.animate(photo, "the camera pans slowly to the right", seconds=2.0, seed=i)
        rows.append({"kind": "photo", "psnr_first": psnr(r.frames[0], on_grid(photo[None], r.frames)[0]),
                     "first_jump": first_jump(r.frames)})
    world = [r for r in rows if r["kind"] == "world"]
    scored = [r["motion_ok"] for r in world if r["motion_ok"] is not None]
    photos = [r for r in rows if r["kind"] == "photo"]
    return {"first_frame_psnr_db": float(np.mean([r["psnr_first"] for r in rows])),
            "first_frame_psnr_min_db": float(np.min([r["psnr_first"] for r in rows])),
            "photo_first_frame_psnr_db": float(np.mean([r["psnr_first"] for r in photos])) if photos else None,
            "motion_follows_%": 100 * float(np.mean(scored)) if scored else None, "n_motion": len(scored),
            "first_jump_over_median": float(np.median([r["first_jump"] for r in rows])),
            "n_world": len(world), "n_photos": len(photos)}


def first_jump(frames: np.ndarray) -> float:
    """The input image -> first generated frame change, over the clip's median frame change: the
    image is put back exactly, so this is where a poor continuation would show."""
    j = jumps(frames)
    return float(j[0] / own_change(j[1:]))


PAN_PROMPT = "the camera pans slowly to the right"   # the photographs' clips pan right (photo_clip)


def extend_seam(out: np.ndarray, clip: np.ndarray, direction: str) -> tuple[bool, float, float]:
    """(the clip's frames unchanged in the result, the seam's change over the clip's own median
    frame change (own_change), the same over the bare median) for an extension's result `out`
    of a clip conformed to it."""
    orig = out[:len(clip)] if direction == "forward" else out[-len(clip):]
    seam = (jumps(out[len(clip) - 1:len(clip) + 1]) if direction == "forward"
            else jumps(out[-len(clip) - 1:-len(clip) + 1]))[0]
    inside = jumps(clip)
    return (np.array_equal(orig, clip), float(seam / own_change(inside)),
            float(seam / max(np.median(inside), 1e-9)))


def loop_wrap(out: np.ndarray) -> tuple[float, float]:
    """A loop's wrap (last frame -> first) over its own median frame change: floored, bare."""
    wrap, inside = jumps(np.stack([out[-1], out[0]]))[0], jumps(out)
    return float(wrap / own_change(inside)), float(wrap / max(np.median(inside), 1e-9))


def transition_jump(out: np.ndarray, a: np.ndarray, b: np.ndarray) -> dict:
    """An interpolation's result against its conformed inputs: A and B unchanged, the largest
    frame change from A's last frame to B's first over the clips' own median change (floored and
    bare), and the same for a plain crossfade over as many frames (the floor it is read against:
    between two different scenes no transition of that length can jump less)."""
    inside = np.concatenate([jumps(a), jumps(b)])
    largest = jumps(out[len(a) - 1:len(out) - len(b) + 1]).max()
    gaps = len(out) - len(a) - len(b) + 1                          # frame changes from A to B
    own = own_change(inside)
    return {"unchanged": np.array_equal(out[:len(a)], a) and np.array_equal(out[-len(b):], b),
            "ratio": float(largest / own), "bare": float(largest / max(np.median(inside), 1e-9)),
            "floor": float(jumps(np.stack([a[-1], b[0]]))[0] / gaps / own)}


def bench_extend(engine, rng, n, direction):
    """Also whether the new frames move the object the way the clip did (where the clip's own
    motion reads as a direction): a continuation, not only a clean seam. Colour is scored where
    the detector can read the object's colour on its background (readable_colours) and finds it
    in the clip's edge frame, the one the extension continues, held still for as long as the new
    frames: an object that has shrunk out of reading by then cannot be seen to keep its colour
    even by a perfect hold (`colour_kept_all_%` also counts those).
    The photographs' panning clips are extended too (`photographs`: unchanged and seam only)."""
    ok_unchanged, seam_ratio, colour_ok, motion_ok, strict, moved = [], [], [], [], [], []
    colour_all, colours = [], []
    for i in range(n):
        frames, scene = world_clip(rng)
        colour = scene.objects[0].colour
        r = engine.extend(frames, 12.0, caption(scene), direction=direction, seconds=2.0, seed=i)
        frames = on_grid(frames, r.frames)
        same, seam, bare = extend_seam(r.frames, frames, direction)
        ok_unchanged.append(same)
        seam_ratio.append(seam)
        strict.append(bare <= 2.0)
        new = r.frames[len(frames):] if direction == "forward" else r.frames[:-len(frames)]
        got, was = measure(new, scene.background), measure(frames, scene.background)
        if colour in readable_colours(scene.background):
            edge = frames[-1:] if direction == "forward" else frames[:1]
            shown = measure(np.repeat(edge, len(new), axis=0), scene.background)["colour"]
            colour_all.append(got["colour"] == colour)
            colours.append([colour, shown, got["colour"]])
            if shown == colour:
                colour_ok.append(got["colour"] == colour)
        if was["motion"] in MOTIONS:
            motion_ok.append(got["motion"] == was["motion"])
            moved.append([was["motion"], got["motion"]])
    photos, pans = [], []
    for i, photo in enumerate(photographs()):
        clip = photo_clip(photo)
        r = engine.extend(clip, 12.0, PAN_PROMPT, direction=direction, seconds=2.0, seed=i)
        clip = on_grid(clip, r.frames)
        photos.append(extend_seam(r.frames, clip, direction))
        new = r.frames[len(clip):] if direction == "forward" else r.frames[:-len(clip)]
        pans.append(camera_motion(new) == camera_motion(clip))
    return {"original_unchanged_%": 100 * float(np.mean(ok_unchanged)),
            "seam_over_median_jump": float(np.median(seam_ratio)),
            "seam_ok_%": 100 * float(np.mean(np.array(seam_ratio) <= 2.0)),
            "seam_ok_unfloored_%": 100 * float(np.mean(strict)),
            "colour_kept_%": 100 * float(np.mean(colour_ok)) if colour_ok else None,
            "n_colour": len(colour_ok),
            "colour_kept_all_%": 100 * float(np.mean(colour_all)) if colour_all else None,
            "n_colour_all": len(colour_all),
            "colour_each": colours,             # per readable clip: its colour, read at the edge, in the new frames
            "motion_continued_%": 100 * float(np.mean(motion_ok)) if motion_ok else None,
            "n_moving": len(motion_ok), "motion_each": moved, "n": n, "seam_over_median_each": [round(float(x), 2) for x in seam_ratio],
            "photographs": {"original_unchanged_%": 100 * float(np.mean([p[0] for p in photos])),
                            "seam_over_median_jump": float(np.median([p[1] for p in photos])),
                            "seam_ok_%": 100 * float(np.mean([p[1] <= 2.0 for p in photos])),
                            "seam_over_median_each": [round(p[1], 2) for p in photos],
                            "pan_continued_%": 100 * float(np.mean(pans)) if pans else None, "n": len(photos)}}


def bench_loop(engine, rng, n):
    """World clips, then the photographs' panning clips (`photographs`)."""
    ratios, strict = [], []
    for i in range(n):
        frames, scene = world_clip(rng)
        r = engine.loop(frames, 12.0, caption(scene), seconds=1.0, seed=i)
        ratio, bare = loop_wrap(r.frames)
        ratios.append(ratio)
        strict.append(bare <= 2.0)
    photos = [loop_wrap(engine.loop(photo_clip(p), 12.0, PAN_PROMPT, seconds=1.0, seed=i).frames)[0]
              for i, p in enumerate(photographs())]
    return {"wrap_over_median_jump": float(np.median(ratios)),
            "wrap_ok_%": 100 * float(np.mean(np.array(ratios) <= 2.0)), "n": n,
            "wrap_ok_unfloored_%": 100 * float(np.mean(strict)),
            "wrap_over_median_each": [round(float(x), 2) for x in ratios],
            "photographs": {"wrap_over_median_jump": float(np.median(photos)),
                            "wrap_ok_%": 100 * float(np.mean(np.array(photos) <= 2.0)),
                            "wrap_over_median_each": [round(x, 2) for x in photos], "n": len(photos)}}


def bench_interpolate(engine, rng, n, seconds=None):
    """Pairs of world clips of two different scenes, then pairs of the photographs' panning clips
    (`photographs`: the first with the second, the third with the fourth, ...)."""
    rows, lengths, windows = [], [], []
    for i in range(n):
        a, _ = world_clip(rng, 1.0)
        b, scene_b = world_clip(rng, 1.0)
        r = engine.interpolate(a, 12.0, b, 12.0, caption(scene_b), seconds=seconds, seed=i)
        rows.append(transition_jump(r.frames, on_grid(a, r.frames), on_grid(b, r.frames)))
        lengths.append(r.notes["seconds"])
        windows.append(len(r.notes.get("windows", [None])))   # generations the transition took
    photos, photo_lengths = [], []
    shots = [photo_clip(p, 1.0) for p in photographs()]
    for i, (a, b) in enumerate(zip(shots[0::2], shots[1::2])):
        r = engine.interpolate(a, 12.0, b, 12.0, PAN_PROMPT, seconds=seconds, seed=i)
        photos.append(transition_jump(r.frames, on_grid(a, r.frames), on_grid(b, r.frames)))
        photo_lengths.append(r.notes["seconds"])
    ratios = np.array([x["ratio"] for x in rows])
    return {"inputs_unchanged_%": 100 * float(np.mean([x["unchanged"] for x in rows])),
            "transition_s": float(np.median(lengths)), "transition_s_each": lengths,
            "windows_each": windows,
            "max_transition_jump_over_median": float(np.median(ratios)),
            "crossfade_jump_over_median": float(np.median([x["floor"] for x in rows])),
            "transition_ok_%": 100 * float(np.mean(ratios <= 2.5)), "n": n,
            "transition_ok_unfloored_%": 100 * float(np.mean([x["bare"] <= 2.5 for x in rows])),
            "jump_over_median_each": [round(x["ratio"], 2) for x in rows],
            "crossfade_over_median_each": [round(x["floor"], 2) for x in rows],
            "photographs": {"inputs_unchanged_%": 100 * float(np.mean([x["unchanged"] for x in photos])),
                            "transition_s_each": photo_lengths,
                            "max_transition_jump_over_median": float(np.median([x["ratio"] for x in photos])),
                            "transition_ok_%": 100 * float(np.mean([x["ratio"] <= 2.5 for x in photos])),
                            "jump_over_median_each": [round(x["ratio"], 2) for x in photos],
                            "crossfade_over_median_each": [round(x["floor"], 2) for x in photos],
                            "n": len(photos)}}


PLACES = {"grass": "on green grass", "ocean": "over the ocean", "desert": "on desert sand dunes",
          "night": "at night", "studio": "in a studio"}


def render_prompts(n: int) -> list[tuple[str, str]]:
    """(prompt, background) pairs: colours, motions and places in turn, each colour on a place
    where the detector can read it (readable_colours: not white on grass or over the sea)."""
    out, places = [], list(PLACES)
    for i in range(n):
        colour, motion = COLOURS[i % 8], MOTIONS[i % 4]
        turn = [places[(i + k) % len(places)] for k in range(len(places))]
        place = next(p for p in turn if colour in readable_colours(p))
        out.append((f"a {colour} ball moves {motion} {PLACES[place]}", place))
    return out


def bench_render(engine, n):
    """Draft, then render it; the render scaled down to the draft's height against the draft
    (cropped to the render's aspect, as the render crops it).
    Agreement is scored where the draft shows something to keep: colour where a colour reads in
    the draft, the class of motion where one reads, and the object's path (its centre in each
    frame) where it is tracked in at least half the frames of both; the counts are reported."""
    colour, motion, path, distances = [], [], [], []
    for i, (prompt, background) in enumerate(render_prompts(n)):
        if upsample(prompt, i).scene.background != background:
            raise RuntimeError(f"the world reads {prompt!r} somewhere other than {background}")
        [draft] = engine.generate(prompt, seconds=2.0, draft=True, seed=i)
        full = engine.render(draft.frames, draft.record(), seed=i)
        # a 16:9 draft is 2:1 and its render 16:9: compare on the draft cropped as the render was
        h = draft.frames.shape[1]
        w = round(full.frames.shape[2] * h / full.frames.shape[1])
        seen = fit_frames(draft.frames, w, h)[0]
        small = np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in full.frames])
        d, f = measure(seen, background, track=True), measure(small, background, track=True)
        if d["colour"] is not None:
            colour.append(d["colour"] == f["colour"])
        if d["motion"] is not None:
            motion.append(d["motion"] == f["motion"])
        if d["track"] is not None and f["track"] is not None:
            gap = path_distance(d["track"], f["track"])
            if gap is not None:
                distances.append(gap)
                path.append(gap <= 0.05)
    pct = lambda v: 100 * float(np.mean(v)) if v else None  # noqa: E731
    return {"colour_kept_%": pct(colour), "n_colour": len(colour),
            "motion_kept_%": pct(motion), "n_motion": len(motion),
            "path_kept_%": pct(path), "n_path": len(path),
            "path_distance_median": float(np.median(distances)) if distances else None, "n": n}


def bench_long(engine, seconds_total: float, step_seconds: float = 2.0):
    """Grow one clip by repeated forward extension; memory and cost per generated second.

    The cost at each mark is the mean over the extensions that grew the clip over the 10 seconds
    before it (a single step's time swings with whatever else the machine does)."""
    rng = np.random.default_rng(5)
    frames, scene = world_clip(rng)
    prompt = caption(scene)
    marks, t0, steps = {}, time.time(), []          # steps: (length after, seconds it took)
    continued = 0                                    # extensions that carried a motion on
    checkpoints = [s for s in (10, 30, 60) if s <= seconds_total] or [seconds_total]
    i = 0
    while len(frames) / 12.0 < seconds_total:
        t = time.time()
        r = engine.extend(frames, 12.0, prompt, seconds=step_seconds, seed=i)
        frames, i = r.frames, i + 1
        continued += bool((r.notes.get("continuation") or {}).get("moves"))
        length = len(frames) / 12.0
        steps.append((length, time.time() - t))
        for c in checkpoints:
            if c not in marks and length >= c:
                window = [s for end, s in steps if end > length - 10.0]
                marks[c] = {"length_s": round(length, 2),
                            "s_per_generated_s": round(float(np.mean(window)) / step_seconds, 3),
                            "steps_averaged": len(window),
                            "rss_mb": round(rss_mb(), 1),
                            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                            "clip_pixels_mb": round(frames.nbytes / 2**20, 1)}
    return {"final_length_s": len(frames) / 12.0, "wall_s": time.time() - t0, "marks": marks,
            "extensions": i, "continued": continued}


def rss_mb() -> float:
    """This process's resident memory now (Linux), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# Each section, in the order they run (they share one random stream):
# (engine, rng, args) -> its figures.
SECTIONS = {
    "animate": lambda engine, rng, args: bench_animate(engine, rng, args.n),
    "extend_forward": lambda engine, rng, args: bench_extend(engine, rng, args.n, "forward"),
    "extend_backward": lambda engine, rng, args: bench_extend(engine, rng, args.n, "backward"),
    "loop": lambda engine, rng, args: bench_loop(engine, rng, args.n),
    "interpolate": lambda engine, rng, args: bench_interpolate(engine, rng, args.n, args.transition_seconds),
    "restyle": lambda engine, rng, args: bench_restyle(engine, rng, args.n, not args.no_recolour,
                                                       args.restyle_strengths),
    "draft_to_render": lambda engine, rng, args: bench_render(engine, args.n),
    "long_video": lambda engine, rng, args: bench_long(engine, args.long_seconds),
}


def done_when(report: dict) -> list[tuple[str, str, str, str]]:
    """The issue's bars, one row each, for the sections in `report`: (row, figure, bar, met)."""
    rows = []
    if "animate" in report:
        a = report["animate"]
        row(rows, "animate: first frame PSNR (lowest)", f"{a['first_frame_psnr_min_db']:.1f} dB", ">= 30 dB",
             a["first_frame_psnr_min_db"] >= 30)
        if a.get("photo_first_frame_psnr_db") is not None:
            row(rows, "animate, photographs: first frame PSNR", f"{a['photo_first_frame_psnr_db']:.1f} dB",
                 ">= 30 dB", a["photo_first_frame_psnr_db"] >= 30)
        share_row(rows, "animate: motion follows the prompt", a["motion_follows_%"], a["n_motion"], 80)
    for name in ("extend_forward", "extend_backward"):
        if name in report:
            e, what = report[name], name.replace("_", " ")
            row(rows, f"{what}: original frames unchanged", f"{e['original_unchanged_%']:.0f}%", "100%",
                 e["original_unchanged_%"] == 100)
            row(rows, f"{what}: seam within 2x the clip's median change",
                 f"{e['seam_ok_%']:.0f}% of {e['n']} (median {e['seam_over_median_jump']:.2f}x; "
                 f"bare median: {e['seam_ok_unfloored_%']:.0f}%)", "100%",
                 e["seam_ok_%"] == 100)
            every = (f"; every readable clip: {e['colour_kept_all_%']:.0f}% of {e['n_colour_all']}"
                     if e.get("colour_kept_all_%") is not None else "")
            share_row(rows, f"{what}: object keeps its colour", e["colour_kept_%"], e["n_colour"], 90, every)
            if e.get("photographs"):
                ph = e["photographs"]
                row(rows, f"{what}, photographs: unchanged; seam within 2x",
                     f"{ph['original_unchanged_%']:.0f}%; {ph['seam_ok_%']:.0f}% of {ph['n']}", "100%; 100%",
                     ph["original_unchanged_%"] == 100 and ph["seam_ok_%"] == 100)
    if "loop" in report:
        lp = report["loop"]
        row(rows, "loop: wrap within 2x the median change",
             f"{lp['wrap_ok_%']:.0f}% of {lp['n']} (median {lp['wrap_over_median_jump']:.2f}x; "
             f"bare median: {lp['wrap_ok_unfloored_%']:.0f}%)", "100%",
             lp["wrap_ok_%"] == 100)
        if lp.get("photographs"):
            ph = lp["photographs"]
            row(rows, "loop, photographs: wrap within 2x", f"{ph['wrap_ok_%']:.0f}% of {ph['n']}", "100%",
                 ph["wrap_ok_%"] == 100)
    if "interpolate" in report:
        it = report["interpolate"]
        row(rows, "interpolate: A and B unchanged", f"{it['inputs_unchanged_%']:.0f}%", "100%",
             it["inputs_unchanged_%"] == 100)
        row(rows, "interpolate: largest transition jump within 2.5x",
             f"{it['transition_ok_%']:.0f}% of {it['n']} (worst {max(it['jump_over_median_each']):.2f}x)",
             "100%", it["transition_ok_%"] == 100)
        if it.get("photographs"):
            ph = it["photographs"]
            row(rows, "interpolate, photographs: unchanged; jump within 2.5x",
                 f"{ph['inputs_unchanged_%']:.0f}%; {ph['transition_ok_%']:.0f}% of {ph['n']}", "100%; 100%",
                 ph["inputs_unchanged_%"] == 100 and ph["transition_ok_%"] == 100)
    if "restyle" in report:
        rows += restyle_rows(report["restyle"])
    if "draft_to_render" in report:
        d = report["draft_to_render"]
        share_row(rows, "draft to render: colour kept", d["colour_kept_%"], d["n_colour"], 90)
        share_row(rows, "draft to render: motion direction kept", d["motion_kept_%"], d["n_motion"], 90)
    if "long_video" in report:
        lv = report["long_video"]
        marks = lv["marks"]
        row(rows, "long video: length made by extension", f"{lv['final_length_s']:.1f} s", ">= 60 s",
             lv["final_length_s"] >= 60)
        if len(marks) < 2:
            row(rows, "long video: cost and memory against length", "n/a: fewer than two marks",
                 "two marks or more", False)
        else:
            first, last = marks[min(marks, key=float)], marks[max(marks, key=float)]
            row(rows, "long video: s per generated s at " + " / ".join(f"{k} s" for k in marks),
                 " / ".join(f"{m['s_per_generated_s']:.2f}" for m in marks.values()), "does not grow",
                 last["s_per_generated_s"] <= 1.2 * first["s_per_generated_s"])
            # resident memory at each mark; it may grow by the clip's own pixels (the clip is held
            # whole), and by a tenth for the allocator's slack, not with what each extension samples
            grown = last["rss_mb"] - first["rss_mb"]
            held = last["clip_pixels_mb"] - first["clip_pixels_mb"]
            row(rows, "long video: resident MB at " + " / ".join(f"{k} s" for k in marks)
                 + " (the clip's pixels)",
                 " / ".join(f"{m['rss_mb']:.0f} ({m['clip_pixels_mb']:.0f})" for m in marks.values())
                 + f"; process peak {last['peak_rss_mb']:.0f}", "flat but for the clip",
                 grown <= held + 0.1 * first["rss_mb"])
    return rows


def print_done_when(rows) -> None:
    if not rows:
        return
    widths = [max(len(r[i]) for r in rows + [("row", "figure", "bar", "met")]) for i in range(4)]
    for r in [("row", "figure", "bar", "met")] + rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))


# flag (argparse dest) -> (its key in the report, the engine/operations.py constants it replaces)
OPERATION_KNOBS = {
    "transition_guide": ("transition_guide", ("TRANSITION_GUIDE",)),
    "transition_guidance": ("transition_guidance", ("TRANSITION_GUIDANCE",)),
    "window_guide": ("window_guide", ("WINDOW_GUIDE",)),
    "even_pace": ("even_pace", ("EVEN_PACE",)),
    "transition_pace": ("transition_pace", ("TRANSITION_PACE",)),
    "extend_hold": ("extend_hold", ("EXTEND_HOLD", "EXTEND_HOLD_DECAY")),
    "backward_hold": ("backward_hold", ("BACKWARD_HOLD", "BACKWARD_HOLD_DECAY")),
    "extend_phases": ("extend_decode_phases", ("EXTEND_DECODE_PHASES",)),
    "loop_hold": ("loop_hold", ("LOOP_HOLD", "LOOP_HOLD_DECAY")),
    "transition_hold": ("transition_hold", ("TRANSITION_HOLD", "TRANSITION_HOLD_DECAY")),
    "restyle_detail": ("restyle_detail", ("RESTYLE_DETAIL",)),
    "object_hold": ("object_hold", ("OBJECT_HOLD",)),
    "motion_detail": ("motion_detail", ("MOTION_DETAIL",)),
    "recolour_hold": ("recolour_hold", ("RECOLOUR_HOLD",)),
    "continue_motion": ("continue_motion", ("CONTINUE_MOTION",)),
    "continue_still": ("continue_still", ("CONTINUE_STILL",)),
    "continue_hold": ("continue_hold", ("CONTINUE_HOLD", "CONTINUE_HOLD_DECAY")),
}


def set_operation_knobs(args) -> None:
    """Replace the engine's operation constants with the flags given."""
    from engine import operations
    for flag, (_, names) in OPERATION_KNOBS.items():
        value = getattr(args, flag)
        if value is not None:
            for name, v in zip(names, value if len(names) > 1 else [value]):
                setattr(operations, name, v)


def operation_knobs() -> dict:
    """The operation constants in force, by report key (a pair as a list, one value as itself)."""
    from engine import operations
    out = {}
    for key, names in OPERATION_KNOBS.values():
        values = [getattr(operations, name) for name in names]
        out[key] = values if len(values) > 1 else values[0]
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--checkpoint")
    p.add_argument("--device", default="cpu")
    p.add_argument("--n", type=int, default=8, help="clips per operation")
    p.add_argument("--long-seconds", type=float, default=60.0)
    p.add_argument("--json", default="bench/results/operations.json")
    p.add_argument("--only", nargs="+", choices=SECTIONS, help="run these sections only")
    p.add_argument("--seed", type=int, default=2026,
                   help="draws the world clips and stills (another seed: another set of inputs)")
    p.add_argument("--transition-guide", type=float,
                   help="interpolate and loop: the crossfade guide instead of the engine's")
    p.add_argument("--window-guide", type=float,
                   help="interpolate, a transition made in windows: their crossfade guide instead of the engine's")
    p.add_argument("--transition-seconds", type=float,
                   help="interpolate: the generated transition's length instead of the engine's")
    p.add_argument("--transition-pace", type=float,
                   help="interpolate, its length not given: the crossfade's frame change over the "
                        "clips' median that the chosen length aims at, instead of the engine's")
    p.add_argument("--transition-guidance", type=float,
                   help="interpolate: the guidance scale of its transition instead of the engine's")
    p.add_argument("--even-pace", type=int, choices=(0, 1),
                   help="interpolate: retime the transition to an even pace (1) or not (0) instead of the engine's")
    p.add_argument("--transition-hold", type=float, nargs=2, metavar=("HOLD", "DECAY"),
                   help="interpolate's hold on its crossfade's ends instead of the engine's")
    p.add_argument("--extend-hold", type=float, nargs=2, metavar=("HOLD", "DECAY"),
                   help="forward extension's hold on the last latent frame instead of the engine's")
    p.add_argument("--loop-hold", type=float, nargs=2, metavar=("HOLD", "DECAY"),
                   help="loop's hold on its crossfade's ends instead of the engine's")
    p.add_argument("--extend-phases", type=int,
                   help="forward extension's decode phases instead of the engine's")
    p.add_argument("--backward-hold", type=float, nargs=2, metavar=("HOLD", "DECAY"),
                   help="backward extension's hold on the clip's first latent group instead of the engine's")
    p.add_argument("--continue-still", type=int, choices=(0, 1),
                   help="extend: hold a still edge as a still guide (1) or by the plain hold (0) instead of the engine's")
    p.add_argument("--continue-motion", type=int, choices=(0, 1),
                   help="extend: carry the clip's motion on (1) or hold its edge (0) instead of the engine's")
    p.add_argument("--continue-hold", type=float, nargs=2, metavar=("HOLD", "DECAY"),
                   help="extend, where the clip moves: the hold on the motion laid on instead of the engine's")
    p.add_argument("--restyle-detail", type=float,
                   help="restyle: the input's lost detail put back at this times (1 - strength) "
                        "instead of the engine's (0: none)")
    p.add_argument("--recolour-hold", type=float,
                   help="restyle: a recoloured object's cells held at this times (1 - strength) instead of the engine's")
    p.add_argument("--restyle-strengths", type=float, nargs="+", default=[0.0, 0.3, 0.6, 0.9],
                   help="restyle: the strengths to run")
    p.add_argument("--no-recolour", action="store_true",
                   help="restyle: leave a new colour to the model (engine/recolour.py paints it on first)")
    p.add_argument("--object-hold", type=float,
                   help="animate, object motion: the moved objects' cells held at this instead of the engine's")
    p.add_argument("--motion-detail", type=float,
                   help="animate, object motion: the VAE's lost detail put back at this instead of the engine's "
                        "(held objects' cells still get --object-hold's share of it)")
    add_card_overrides(p, CARD_FLAGS, {"decode_phases": "interpolate always decodes with every phase",
                                       "guidance": "interpolate's transition takes its own"})
    args = p.parse_args(argv)
    from engine.io import write_json_atomic
    from engine.runtime import Engine
    engine = Engine.load(args.checkpoint, device=args.device)
    set_operation_knobs(args)
    apply_card_overrides(engine, args, CARD_FLAGS)
    rng = np.random.default_rng(args.seed)
    report = {"checkpoint": engine.label, "seed": args.seed, "still_levels": STILL_LEVELS,
              **operation_knobs(), "recolour": not args.no_recolour,
              "guidance": engine.card.guidance, "guidance_interval": list(engine.card.guidance_interval),
              "decode_phases": engine.card.decode_phases}
    for name, fn in SECTIONS.items():
        if args.only and name not in args.only:
            continue
        t = time.time()
        report[name] = fn(engine, rng, args)
        print(f"{name:16} {report[name]}  ({time.time() - t:.0f} s)", flush=True)
    write_json_atomic(report, args.json)
    print(f"wrote {args.json}\n")
    print_done_when(done_when(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
