"""`python -m engine`: the engine's command line.

    python -m engine generate --prompt TEXT [--seconds S | --frames N] [--fps F]
        [--aspect 16:9 | --width W --height H] [--draft] [--seed N] [--steps N] [--guidance G]
        [--camera-hold M] --out OUT.mp4 [--json]
    python -m engine image --prompt TEXT [--aspect A | --width W --height H] [--seed N] --out OUT.png
    python -m engine animate --image IMG --prompt TEXT [--seconds S] [--camera-hold M] --out OUT.mp4
    (and extend, loop, interpolate, restyle, render: `python -m engine COMMAND --help`)
    python -m engine info

With --json, stdout carries exactly one JSON object (the result record, or {"error": ...});
everything else goes to stderr.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

from engine.sizes import RENDER_STRENGTH

VIDEO_SUFFIXES = (".mp4",)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


class UsageError(Exception):
    """A command line argparse refuses (it would otherwise exit before --json could answer)."""


class _Parser(argparse.ArgumentParser):
    """Refusals raise UsageError; no abbreviated options (so "--json" is always spelled out)."""
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **{"allow_abbrev": False, **kwargs})

    def error(self, message):
        raise UsageError(f"{self.prog}: {message}")


def _number(text: str) -> float:
    """A finite number: "inf" and "nan" are refused here, not minutes later as a traceback."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def _common(p: argparse.ArgumentParser, sized: bool = True) -> None:
    p.add_argument("--prompt", required=True, help="what the clip should show")
    if sized:
        p.add_argument("--aspect", help="aspect ratio such as 16:9, 9:16, 1:1, 4:3, 3:4 (default 16:9)")
        p.add_argument("--width", type=int, help="width in pixels (a multiple of the model's grid)")
        p.add_argument("--height", type=int, help="height in pixels (a multiple of the model's grid)")
    else:
        p.add_argument("--fps", type=_number, help="frames per second (default: the model's)")
    p.add_argument("--draft", action="store_true", help="a fast low-resolution draft")
    p.add_argument("--seed", type=int, help="random seed (default: a fresh one, reported)")
    p.add_argument("--steps", type=int, help="sampler steps (default from the model card)")
    p.add_argument("--guidance", type=_number, help="classifier-free guidance scale")
    p.add_argument("--sampler", default="euler", choices=("euler", "heun"),
                   help="euler (default) or heun (second order, twice the model calls per step)")
    p.add_argument("--out", required=True, help="output file")
    p.add_argument("--json", action="store_true", help="print one JSON record on stdout")
    p.add_argument("--checkpoint", help="checkpoint folder (default: assets/default)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default)")


def _camera_hold(p: argparse.ArgumentParser) -> None:
    p.add_argument("--camera-hold", type=_number, metavar="M",
                   help="a pan or zoom the prompt names is laid over a still and refined by the model "
                        "from flow time 1 - M (default: the card's; 0 leaves the move to the DiT)")


def _motion_hold(p: argparse.ArgumentParser) -> None:
    p.add_argument("--motion-hold", type=_number, metavar="M",
                   help="the caption's moving objects are found in the clearest frame of the model's clip, "
                        "moved along their paths and the scene around them refined by the model from flow time "
                        "1 - M, the objects kept as drawn (default: the card's; 0 leaves motion to the DiT)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m engine", description="Tessera engine")
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate", help="text to video")
    _common(g)
    length = g.add_mutually_exclusive_group()
    length.add_argument("--seconds", type=_number, help="duration in seconds (default 2)")
    length.add_argument("--frames", type=int, help="exact frame count (1 + 4k)")
    g.add_argument("--fps", type=_number, help="frames per second (default: the model's)")
    _camera_hold(g)
    _motion_hold(g)
    i = sub.add_parser("image", help="text to image")
    _common(i)
    a = sub.add_parser("animate", help="animate a still image (it becomes the first frame)")
    _common(a, sized=False)
    a.add_argument("--image", required=True, help="PNG, JPEG or WebP (any size)")
    a.add_argument("--seconds", type=_number, default=2.0)
    a.add_argument("--fit", default="crop", choices=("crop", "pad"), help="how the image meets the grid")
    _camera_hold(a)
    _motion_hold(a)
    e = sub.add_parser("extend", help="extend a clip forward or backward in time")
    _common(e, sized=False)
    e.add_argument("--video", required=True, help="MP4, MOV, WebM or GIF (any size and fps)")
    e.add_argument("--direction", default="forward", choices=("forward", "backward"))
    e.add_argument("--seconds", type=_number, default=2.0, help="seconds of new material")
    e.add_argument("--no-continue", action="store_true",
                   help="do not carry the clip's motion (a pan, a zoom, a moving object) on: the new "
                        "frames start from the clip's edge and the model alone moves them")
    lp = sub.add_parser("loop", help="make a clip loop seamlessly")
    _common(lp, sized=False)
    lp.add_argument("--video", required=True)
    lp.add_argument("--seconds", type=_number, default=1.0, help="length of the transition back to the start")
    it = sub.add_parser("interpolate", help="blend two clips with a generated transition")
    _common(it, sized=False)
    it.add_argument("--first", required=True)
    it.add_argument("--second", required=True)
    it.add_argument("--seconds", type=_number,
                    help="length of the transition, up to 60 s; one longer than a generation is "
                         "made in windows (default: as long as the change from the first clip to "
                         "the second needs, 2-12 s; engine/edits.py _transition_latents)")
    r = sub.add_parser("restyle", help="SDEdit a clip toward a new prompt")
    _common(r, sized=False)
    r.add_argument("--video", required=True)
    r.add_argument("--strength", type=_number, required=True,
                   help="the fraction of the sampling schedule run again: 0 keeps the input, "
                        "1 ignores it")
    r.add_argument("--no-recolour", action="store_true",
                   help="leave a colour the prompt names for an object to the model, instead of "
                        "painting it on first (engine/recolour.py)")
    rd = sub.add_parser("render", help="turn a chosen draft into the full-size clip")
    rd.add_argument("--draft-json", required=True, help="the --json record printed with the draft")
    rd.add_argument("--strength", type=_number, default=RENDER_STRENGTH,
                    help="how much the full render may depart from the draft (0-1, as restyle's; "
                         "default %(default)s)")
    rd.add_argument("--steps", type=int)
    rd.add_argument("--sampler", default="euler", choices=("euler", "heun"))
    rd.add_argument("--out", required=True)
    rd.add_argument("--json", action="store_true")
    rd.add_argument("--checkpoint")
    rd.add_argument("--device", default="auto")
    info = sub.add_parser("info", help="describe the checkpoint")
    info.add_argument("--checkpoint")
    info.add_argument("--device", default="auto")
    return parser


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _progress_printer(enabled: bool):
    if not enabled:
        return None

    def show(p):
        eta = p.elapsed_s / p.step * (p.total - p.step) if p.step else 0.0
        end = "\n" if p.step == p.total else ""
        print(f"\rsampling step {p.step}/{p.total}  {p.elapsed_s:5.1f}s  ~{eta:4.1f}s left",
              end=end, file=sys.stderr, flush=True)
    return show


def _load_engine(args):
    from engine.runtime import Engine
    engine = Engine.load(args.checkpoint, device=args.device, random_if_missing=True)
    if engine.directory is None:
        _log(f"WARNING: {engine.label}")
    return engine


def _run(args) -> dict:
    from engine import io
    out = Path(args.out)
    if args.command == "info":
        from dataclasses import asdict
        engine = _load_engine(args)
        return {"checkpoint": engine.label, "card": asdict(engine.card),
                "vae": engine.vae.cfg.to_dict(), "dit": engine.dit.cfg.to_dict(),
                "grid_multiple": engine.grid_multiple()}
    suffixes = IMAGE_SUFFIXES if args.command == "image" else VIDEO_SUFFIXES
    if out.suffix.lower() not in suffixes:
        raise ValueError(f"--out {out} must end in {' or '.join(suffixes)}")
    if not out.parent.exists():
        raise ValueError(f"the folder of --out does not exist: {out.parent}")
    if out.is_dir():
        raise ValueError(f"--out {out} is a folder; give a file name")
    if not os.access(out.parent, os.W_OK | os.X_OK):  # refuse now, not after minutes of sampling
        raise ValueError(f"cannot write into the folder of --out: {out.parent}")
    inputs = [getattr(args, name, None) for name in ("video", "image", "first", "second", "draft_json")]
    record = _read_record(args.draft_json) if args.command == "render" else None
    draft_clip = _draft_clip(record, args.draft_json) if record is not None else None
    if draft_clip is not None:
        inputs.append(draft_clip)  # the draft clip render reads
    for given in inputs:
        if given and Path(given).exists() and Path(given).resolve() == out.resolve():
            raise ValueError(f"--out {out} is the input file; write the result elsewhere so the "
                             "input is kept")
    engine = _load_engine(args)
    show = _progress_printer(sys.stderr.isatty())
    tracks = []                                  # the inputs' sound, laid where their frames are
    if args.command == "render":
        # one generation at most (render refuses more): never decode a long clip to refuse it
        most = engine.card.max_frames
        frames, _ = io.read_video(draft_clip, max_frames=most + 1, long_side=io.EDIT_LONG_SIDE)
        if len(frames) > most:
            raise ValueError(f"the draft has more than {most} frames; a render makes at most {most} "
                             "(cut it, or restyle it, which works in windows)")
        result = engine.render(frames, record, strength=args.strength, steps=args.steps,
                               sampler=args.sampler, progress=show)
    else:
        settings = dict(draft=args.draft, seed=args.seed, steps=args.steps,
                        guidance=args.guidance, sampler=args.sampler)
        if args.command in EDITS:
            result, tracks = _edit(engine, args, settings, show)
        elif args.command == "generate":
            [result] = engine.generate(args.prompt, seconds=args.seconds, frames=args.frames,
                                       fps=args.fps, aspect=args.aspect, width=args.width,
                                       height=args.height, camera_hold=args.camera_hold,
                                       motion_hold=args.motion_hold,
                                       progress=show, **settings)
        else:
            result = engine.image(args.prompt, aspect=args.aspect, width=args.width,
                                  height=args.height, progress=show, **settings)
    t = time.perf_counter()
    if args.command == "image":
        io.write_image(result.frames[0], out)
    elif args.command in EDITS and len(result.frames) < 2:
        raise ValueError("the edit produced a single frame; nothing to write as video")
    else:
        io.write_video(result.frames, out, fps=result.request.fps, audio=tracks)
    result.timings["write_s"] = time.perf_counter() - t
    return result.record(str(out.resolve()))   # absolute: a record is read from anywhere


def _draft_clip(record: dict, record_path: str) -> str:
    """The draft video a record names. Records store absolute paths; a relative one (older
    records) is read from beside the record first, and a moved folder of clip and record is
    found beside the record by the clip's name."""
    clip = Path(record["path"])
    beside = Path(record_path).resolve().parent / (clip.name if clip.is_absolute() else clip)
    if clip.is_absolute():
        return str(clip if clip.exists() or not beside.exists() else beside)
    return str(beside if beside.exists() else clip)


def _read_record(path: str) -> dict:
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"cannot read the draft record {path}: {e}") from None
    if not isinstance(record, dict) or "path" not in record:
        raise ValueError(f"{path} is not a draft record (no 'path' of the draft video)")
    return record


EDITS = ("animate", "extend", "loop", "interpolate", "restyle")


def _edit(engine, args, settings, show):
    """Read the inputs (any common format and size) and run one editing operation: its result,
    and the inputs' audio tracks placed in it."""
    from engine import io
    from engine.sources import note_source
    common = dict(progress=show, fps=args.fps, **settings)
    if args.command == "animate":
        return engine.animate(io.read_image(args.image), args.prompt, seconds=args.seconds,
                              fit=args.fit, camera_hold=args.camera_hold,
                              motion_hold=args.motion_hold, **common), []
    if args.command == "interpolate":
        a, fa = io.read_video(args.first, long_side=io.EDIT_LONG_SIDE)
        b, fb = io.read_video(args.second, long_side=io.EDIT_LONG_SIDE)
        info_a, info_b = io.source_info(args.first), io.source_info(args.second)   # before sampling
        result = engine.interpolate(a, fa, b, fb, args.prompt, seconds=args.seconds, **common)
        tracks = [note_source(result, "first", args.first, info_a, a, at_end=False),
                  note_source(result, "second", args.second, info_b, b, at_end=True)]
        return result, [t for t in tracks if t]
    frames, fps = io.read_video(args.video, long_side=io.EDIT_LONG_SIDE)
    info = io.source_info(args.video)
    result = _run_video_edit(engine, args, frames, fps, common)
    track = note_source(result, "video", args.video, info, frames,
                        at_end=args.command == "extend" and args.direction == "backward")
    return result, [track] if track else []


def _run_video_edit(engine, args, frames, fps, common):
    if args.command == "restyle" and len(frames) < 2:
        raise ValueError(f"{args.video} is a single image: restyle writes a video, so give it a "
                         "clip (to start a clip from an image, use animate)")
    if args.command == "extend":
        return engine.extend(frames, fps, args.prompt, direction=args.direction,
                             seconds=args.seconds, continue_motion=not args.no_continue, **common)
    if args.command == "loop":
        return engine.loop(frames, fps, args.prompt, seconds=args.seconds, **common)
    return engine.restyle(frames, fps, args.prompt, strength=args.strength, recolour=not args.no_recolour,
                          **common)


def main(argv=None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as e:           # with --json, a refused argument is one {"error"} object too
        if "--json" in (sys.argv[1:] if argv is None else argv):
            print(json.dumps({"error": str(e)}))
        _log(f"error: {e} (see --help)")
        return 2
    if args.command == "info":
        args.out = "."
    try:
        record = _run(args)
    except (ValueError, OSError, RuntimeError, MemoryError) as e:  # --json: one object per failure
        if getattr(args, "json", False):
            print(json.dumps({"error": str(e)}))
        _log(f"error: {e}")
        return 2
    if getattr(args, "json", False) or args.command == "info":
        print(json.dumps(record))
    else:
        _log(f"wrote {record['path']}  ({record['width']}x{record['height']}, {record['frames']} frames "
             f"@ {record['fps']} fps, seed {record['seed']})  checkpoint: {record['checkpoint']}")
        if record["unknown_words"]:
            _log(f"words the model does not know: {', '.join(record['unknown_words'])}")
    return 0
