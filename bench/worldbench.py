"""worldbench: does the model follow prompts? In the spirit of VBench, on a fixed prompt list
that is not training captions verbatim (canonical wording, and paraphrases with synonyms).

For each generated clip it measures from the pixels (bench/world_metrics.py): the named object's
colour, shape and motion direction, the camera motion, persistence (share of frames where the
object is present), and flicker. The same measurements on the world's own renders of each prompt
are printed as a calibration row: what the detector scores when the answer is known to be right,
and again after the VAE encodes and decodes them: the ceiling the VAE leaves the DiT.
It also reports the VAE's reconstruction PSNR on held-out world clips and on real photographs
shipped by scikit-learn and scikit-image.

    python bench/worldbench.py [--checkpoint assets/default] [--sizes draft full] [--limit N]
        [--vae-only] [--json bench/results/worldbench.json]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from engine.world import render, upsample  # noqa: E402
from card_overrides import add_card_overrides, apply_card_overrides  # noqa: E402
from world_metrics import measure, readable_colours  # noqa: E402

CARD_FLAGS = ("guidance_interval", "grid_shift", "grid_shift_below", "decode_phases", "camera_hold", "motion_hold")

COLOURS = ("red", "orange", "yellow", "green", "blue", "purple", "white", "black")
SYN = {
    "red": "crimson", "orange": "tangerine", "yellow": "golden", "green": "emerald",
    "blue": "azure", "purple": "violet", "white": "ivory", "black": "ebony",
    "ball": "sphere", "box": "cube", "triangle": "pyramid", "star": "starfish",
}
MOTION_CANON = {"left": "moves to the left", "right": "moves to the right", "up": "moves up",
                "down": "moves down"}
MOTION_PARA = {"left": "glides leftward", "right": "rolls rightward", "up": "rises",
               "down": "sinks"}
BG_CANON = {"grass": "on green grass", "night": "under a night sky", "desert": "in the desert",
            "ocean": "over the ocean", "studio": "in a grey studio"}
BG_PARA = {"grass": "across the meadow", "night": "beneath a starry sky", "desert": "over the dunes",
           "ocean": "above the sea", "studio": "against a grey backdrop"}
CAMERA_CANON = {"pan_left": "The camera pans left.", "pan_right": "The camera pans right.",
                "zoom_in": "The camera zooms in.", "zoom_out": "The camera zooms out."}
CAMERA_PARA = {"pan_left": "as the camera pans to the left", "pan_right": "while the camera pans to the right",
               "zoom_in": "as the camera slowly zooms in", "zoom_out": "while the camera zooms out"}


def prompt_list(seed: int = 2026) -> list[dict]:
    """24 motion prompts (static camera) and 8 camera prompts (still object), each in a canonical
    and a paraphrased wording. Fixed by `seed` so every checkpoint meets the same list."""
    rng = np.random.default_rng(seed)
    items = []
    for i in range(24):
        c, s = COLOURS[i % 8], ("ball", "box", "triangle", "star")[rng.integers(4)]
        m, bg = ("left", "right", "up", "down")[i % 4], ("grass", "night", "desert", "ocean", "studio")[rng.integers(5)]
        items.append({"expect": dict(colour=c, shape=s, motion=m, camera="static", background=bg),
                      "canonical": f"a {c} {s} {MOTION_CANON[m]} {BG_CANON[bg]}. The camera is static.",
                      "paraphrase": f"a {SYN[c]} {SYN[s]} {MOTION_PARA[m]} {BG_PARA[bg]}, filmed with a fixed camera"})
    for i, cam in enumerate(("pan_left", "pan_right", "zoom_in", "zoom_out") * 2):
        c = COLOURS[(3 * i + 1) % 8]
        s = ("ball", "box", "triangle", "star")[rng.integers(4)]
        bg = ("grass", "desert", "ocean", "studio")[rng.integers(4)]
        items.append({"expect": dict(colour=c, shape=s, motion="still", camera=cam, background=bg),
                      "canonical": f"a {c} {s} stays still {BG_CANON[bg]}. {CAMERA_CANON[cam]}",
                      "paraphrase": f"a {SYN[c]} {SYN[s]} rests {BG_PARA[bg]} {CAMERA_PARA[cam]}"})
    return items


def score(rows: list[dict]) -> dict:
    """Percentages over rows. The object's figures (colour, shape, motion, persistence) count the
    prompts whose colour the detector can read on their background (n_object; a white box over
    the sea cannot be told from the clouds by colour); motion counts the moving ones among them;
    camera and flicker count every prompt."""
    def pct(key, subset):
        subset = list(subset)
        return 100.0 * np.mean([r["got"][key] == r["expect"][key] for r in subset]) if subset else float("nan")
    objects = [r for r in rows if r["expect"]["colour"] in readable_colours(r["expect"]["background"])]
    motion_rows = [r for r in objects if r["expect"]["motion"] != "still"]
    return {"n": len(rows), "n_object": len(objects), "colour": pct("colour", objects),
            "shape": pct("shape", objects), "motion": pct("motion", motion_rows),
            "camera": pct("camera", rows),
            "persistence": 100.0 * float(np.mean([r["got"]["persistence"] for r in objects])),
            "flicker": float(np.mean([r["got"]["flicker"] for r in rows])),
            **({"seams": float(np.mean([r["got"]["seams"] for r in rows]))}
               if all("seams" in r["got"] for r in rows) else {})}


def run_size(engine, items, draft: bool, seed: int, sampling: dict | None = None) -> dict:
    """Both wordings of each prompt at one seed. Where the prompt upsampler gives both the same
    caption, the model's input is the same and so is its clip: it is generated once and its row
    says `reused`. sampling: overrides of the card's steps, guidance or sampler."""
    rows, made = [], {}
    for i, item in enumerate(items):
        for wording in ("canonical", "paraphrase"):
            caption = upsample(item[wording], seed=seed + i, duration_s=2.0).caption
            reused = (caption, seed + i) in made
            if not reused:
                [res] = engine.generate(item[wording], seconds=2.0, aspect="16:9", draft=draft,
                                        seed=seed + i, **(sampling or {}))
                if res.caption != caption:
                    raise RuntimeError(f"the engine upsampled {item[wording]!r} differently: "
                                       f"{res.caption!r} vs {caption!r}")
                made[caption, seed + i] = (res, measure(res.frames, item["expect"]["background"],
                                                        cell=engine.grid_multiple()))
            res, got = made[caption, seed + i]
            rows.append({"wording": wording, "prompt": item[wording], "expect": item["expect"],
                         "got": got, "caption": res.caption, "reused": reused,
                         "seconds": res.timings["total_s"]})
            print(f"  [{'draft' if draft else 'full'}] {wording[:5]} {item[wording][:60]:60} -> "
                  f"{got['colour']}/{got['shape']}/{got['motion']}/{got['camera']}", file=sys.stderr)
    return {"all": score(rows), "canonical": score([r for r in rows if r["wording"] == "canonical"]),
            "paraphrase": score([r for r in rows if r["wording"] == "paraphrase"]), "rows": rows}


def calibration(items, width: int, height: int, fps: float, seed: int, vae=None, cell: int | None = None) -> dict:
    """The detector on the world's own renders of each prompt (the right answer is on screen).
    With `vae`, on their reconstructions instead: the most the model can score through its VAE."""
    rows = []
    for i, item in enumerate(items):
        up = upsample(item["canonical"], seed=seed + i, duration_s=2.0)
        frames = render(up.scene, width, height, 25, fps)
        if vae is not None:
            frames = roundtrip(vae, frames)
        rows.append({"wording": "canonical", "expect": item["expect"],
                     "got": measure(frames, item["expect"]["background"], cell=cell)})
    return score(rows)


@torch.no_grad()
def roundtrip(vae, frames: np.ndarray) -> np.ndarray:
    """(T, H, W, 3) uint8 -> the same through the VAE's encoder and decoder."""
    p = next(vae.parameters())
    x = torch.from_numpy(frames).permute(3, 0, 1, 2)[None].to(p.device, p.dtype) / 127.5 - 1
    y = vae.decode(vae.encode(x))[0].float().cpu()
    return ((y.permute(1, 2, 3, 0) + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy()


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0 ** 2 / max(mse, 1e-10)))


def photographs() -> list[np.ndarray]:
    """Real photographs that installed packages ship (no downloads)."""
    images = []
    try:
        from sklearn.datasets import load_sample_images
        images += list(load_sample_images().images)
    except Exception as e:  # reported, not hidden
        print(f"scikit-learn sample images unavailable: {e}", file=sys.stderr)
    try:
        from skimage import data
        for name in ("astronaut", "coffee", "chelsea", "rocket"):
            images.append(getattr(data, name)())
    except Exception as e:
        print(f"scikit-image sample images unavailable: {e}", file=sys.stderr)
    return images


@torch.no_grad()
def vae_psnr(engine, n_clips: int = 8, seed: int = 777_000) -> dict:
    import cv2
    from engine.train import draw_clip
    vae = engine.vae
    f, tf = vae.cfg.spatial_factor, vae.cfg.temporal_factor
    rng = np.random.default_rng(seed)  # scenes drawn from a stream training never used
    world = []
    for _ in range(n_clips):
        video, _, _ = draw_clip(rng, (256,), (2.0,), (12.0,), ("16:9", "9:16", "1:1"), f, tf)
        frames = ((video.permute(1, 2, 3, 0) + 1) * 127.5).round().to(torch.uint8).numpy()  # (T, H, W, 3)
        world.append(psnr(frames, roundtrip(vae, frames)))
    photos = []
    for img in photographs():
        h, w = img.shape[:2]
        scale = 256 / max(h, w)
        img = cv2.resize(img, (max(f, round(w * scale / f) * f), max(f, round(h * scale / f) * f)),
                         interpolation=cv2.INTER_AREA)
        photos.append(psnr(img, roundtrip(vae, img[None])[0]))  # an image is a one-frame video
    return {"world_clips_db": float(np.mean(world)), "world_n": len(world),
            "photos_db": float(np.mean(photos)) if photos else None, "photos_n": len(photos)}


def print_table(name: str, result: dict) -> None:
    print(f"\n== {name} ==")
    print(f"{'wording':12}{'n':>4}{'n_obj':>6}{'colour':>8}{'shape':>8}{'motion':>8}{'camera':>8}{'persist':>9}"
          f"{'flicker':>9}{'seams':>7}")
    for key in ("canonical", "paraphrase", "all"):
        s = result[key]
        print(f"{key:12}{s['n']:>4}{s['n_object']:>6}{s['colour']:>7.1f}%{s['shape']:>7.1f}%{s['motion']:>7.1f}%"
              f"{s['camera']:>7.1f}%{s['persistence']:>8.1f}%{s['flicker']:>9.2f}{s.get('seams', float('nan')):>7.2f}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="worldbench: prompt adherence from pixels")
    p.add_argument("--checkpoint", help="checkpoint folder (default: assets/default)")
    p.add_argument("--sizes", nargs="+", default=["draft", "full"], choices=["draft", "full"])
    p.add_argument("--vae-only", action="store_true",
                   help="only the VAE's figures: the detector through the VAE, and PSNR (no sampling)")
    p.add_argument("--skip-vae", action="store_true",
                   help="leave out the VAE's figures (for sampler sweeps on one checkpoint)")
    p.add_argument("--limit", type=int, help="only the first N prompts (quick looks)")
    p.add_argument("--seed", type=int, default=1000)
    p.add_argument("--device", default="cpu")
    p.add_argument("--steps", type=int, help="sampler steps instead of the card's (both sizes)")
    p.add_argument("--guidance", type=float, help="guidance scale instead of the card's")
    p.add_argument("--sampler", choices=("euler", "heun"), help="instead of euler")
    add_card_overrides(p, CARD_FLAGS)
    p.add_argument("--json", default="bench/results/worldbench.json")
    args = p.parse_args(argv)
    if args.skip_vae and args.vae_only:
        raise SystemExit("--skip-vae and --vae-only leave nothing to measure")
    sampling = {k: v for k, v in (("steps", args.steps), ("guidance", args.guidance),
                                  ("sampler", args.sampler)) if v is not None}
    from engine.runtime import Engine
    engine = Engine.load(args.checkpoint, device=args.device)
    apply_card_overrides(engine, args, CARD_FLAGS)
    items = prompt_list()
    if args.limit:
        items = items[:args.limit // 2] + items[24:24 + (args.limit + 1) // 2]
    report = {"checkpoint": engine.label, "card": engine.card.__dict__, "prompts": len(items) * 2,
              "sampling": sampling, "guidance_interval": list(engine.card.guidance_interval)}
    card = engine.card
    # Calibration at full size, and at draft size too where drafts are scored: a draft's objects
    # are a few pixels wide, so its row says how much of a draft's gap the detector itself makes.
    cell = engine.grid_multiple()   # a token's size in pixels, for the seams figure
    for size in ["full"] + (["draft"] if "draft" in args.sizes else []):
        suffix, wh = ("" if size == "full" else "_draft"), _size(engine, draft=size == "draft")
        report["calibration" + suffix] = calibration(items, *wh, card.fps, args.seed, cell=cell)
        print(f"calibration at {size} size (world renders, detector only): "
              f"{json.dumps(report['calibration' + suffix])}")
        if not args.skip_vae:
            report["calibration_vae" + suffix] = calibration(items, *wh, card.fps, args.seed, vae=engine.vae, cell=cell)
            print(f"through the VAE at {size} size (world renders encoded and decoded, the model's "
                  f"ceiling): {json.dumps(report['calibration_vae' + suffix])}")
    sizes = [] if args.vae_only else args.sizes
    for size in sizes:
        t = time.time()
        report[size] = run_size(engine, items, size == "draft", args.seed, sampling)
        report[size]["wall_s"] = time.time() - t
        steps = sampling.get("steps", card.draft_steps if size == "draft" else card.steps)
        print_table(f"{size} ({'x'.join(map(str, _size(engine, size == 'draft')))}, {steps} steps, "
                    f"guidance {sampling.get('guidance', card.guidance)} at t in {card.guidance_interval}, "
                    f"{sampling.get('sampler', 'euler')})", report[size])
    if not args.skip_vae:
        report["vae_psnr"] = v = vae_psnr(engine)
        print(f"\nVAE reconstruction PSNR: held-out world clips {v['world_clips_db']:.2f} dB "
              f"(n={v['world_n']}), real photographs "
              f"{v['photos_db'] if v['photos_db'] is None else round(v['photos_db'], 2)} dB (n={v['photos_n']})")
    if "draft" in report and "full" in report:
        gaps = {k: report["full"]["all"][k] - report["draft"]["all"][k] for k in ("colour", "shape", "motion", "camera")}
        print("full minus draft (points): " + ", ".join(f"{k} {v:+.1f}" for k, v in gaps.items()))
    for size in sizes:
        gaps = {k: report[size]["canonical"][k] - report[size]["paraphrase"][k] for k in ("colour", "shape", "motion", "camera")}
        print(f"{size}: canonical minus paraphrase (points): " + ", ".join(f"{k} {v:+.1f}" for k, v in gaps.items()))
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    from engine.io import write_json_atomic
    write_json_atomic(report, args.json)
    print(f"wrote {args.json}")
    return 0


def _size(engine, draft: bool) -> tuple[int, int]:
    from engine.sizes import size_for_aspect
    card = engine.card
    return size_for_aspect("16:9", card.draft_long_side if draft else card.full_long_side, engine.grid_multiple())


if __name__ == "__main__":
    raise SystemExit(main())
