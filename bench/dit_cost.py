"""What a DiT shape would cost to sample on this machine, before anyone trains it.

Times one guided model call (batch 2: prompt and null caption) of randomly initialised DiTs on
the default VAE's latent grid of a 2-second clip, at the draft and the full size, and prints the
sampling time at the model card's step counts. Add the text and decode times of bench/speed.py to
get a render's total. The speed bars (issue 3: draft <= 3 s, full <= 30 s on the 2-core CPU) bound
how wide a DiT and how fine a token grid the shipped model may have.

    python bench/dit_cost.py [--shape 192x6/4 256x8/4 192x6/2 ...] [--json FILE]

A shape is WIDTHxDEPTH/PATCH (heads = width / 64; spatial patch PATCH x PATCH). Run nothing else
that uses torch while timing.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DEFAULT_SHAPES = ("192x6/4", "256x8/4", "320x8/4", "384x12/4", "192x6/2", "256x8/2")


def parse_shape(text: str) -> dict:
    try:
        size, patch = text.split("/")
        dim, depth = (int(v) for v in size.split("x"))
        patch = int(patch)
    except ValueError:
        raise SystemExit(f"--shape {text!r}: expected WIDTHxDEPTH/PATCH, e.g. 256x8/4") from None
    if dim % 64 or dim < 64 or depth < 1 or patch < 1:
        raise SystemExit(f"--shape {text!r}: width must be a multiple of 64, depth and patch >= 1")
    return dict(dim=dim, depth=depth, heads=dim // 64, patch_h=patch, patch_w=patch)


@torch.no_grad()
def call_seconds(dit, latent_shape: tuple[int, ...], repeats: int = 3) -> float:
    """Median wall time of one guided call: the latent (C, t, h, w) twice (prompt and null)."""
    x = torch.randn(2, *latent_shape)
    t = torch.full((2, latent_shape[1]), 0.5)
    text = torch.randn(2, 20, dit.cfg.text_width)
    valid = torch.ones(2, 20, dtype=torch.bool)
    pooled, fps = text.mean(1), torch.full((2,), 12.0)
    dit(x, t, text, valid, pooled, fps)                                   # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        dit(x, t, text, valid, pooled, fps)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--shape", nargs="+", default=list(DEFAULT_SHAPES))
    p.add_argument("--json", help="also write the table here")
    args = p.parse_args(argv)
    from engine.dit import DiT, dit_config
    from engine.io import write_json_atomic
    from engine.recipes import build
    from engine.vae import num_latent_frames
    from engine import sizes
    vae, _, card = build("default")                 # the default recipe's VAE grid and card
    f, tf = vae.cfg.spatial_factor, vae.cfg.temporal_factor
    frames = sizes.frames_for_seconds(2.0, card.fps, tf)
    t_lat = num_latent_frames(frames, tf)
    report = {"threads": torch.get_num_threads(), "frames": frames, "fps": card.fps, "shapes": {}}
    print(f"{'shape':10}{'params':>9}{'size':>10}{'tokens':>8}{'call ms':>9}{'steps':>6}{'sample s':>10}")
    for text in args.shape:
        overrides = parse_shape(text)
        dit = DiT(dit_config("cpu", in_channels=vae.cfg.latent_channels, **overrides)).eval()
        params = sum(p.numel() for p in dit.parameters())
        mult = f * overrides["patch_h"]
        row = {"params": params}
        for size, long_side, steps in (("draft", card.draft_long_side, card.draft_steps),
                                       ("full", card.full_long_side, card.steps)):
            w, h = sizes.size_for_aspect("16:9", long_side, mult)
            shape = (vae.cfg.latent_channels, t_lat, h // f, w // f)
            tokens = t_lat * (h // mult) * (w // mult)
            call = call_seconds(dit, shape)
            row[size] = {"width": w, "height": h, "tokens": tokens, "call_s": call,
                         "steps": steps, "sample_s": call * steps}
            print(f"{text:10}{params / 1e6:>8.1f}M{w:>6}x{h:<3}{tokens:>8}{call * 1000:>9.0f}"
                  f"{steps:>6}{call * steps:>10.2f}")
        report["shapes"][text] = row
    if args.json:
        write_json_atomic(report, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
