"""How much a VAE's decoder suffers from error in its latents: PSNR of held-out world clips decoded
from their own latents plus Gaussian noise (in the normalised latent space the DiT samples in).

A DiT never lands exactly on the encoder's latents. If a small latent error costs a VAE much more
PSNR than another, its latent space is harder to generate in, whatever its clean reconstruction.

    python bench/latent_noise.py [--checkpoint DIR ...] [--sigmas 0 0.1 0.2 0.4] [--clips 4]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from vae_compression import psnr  # noqa: E402  (videos in [-1, 1])


@torch.no_grad()
def noise_psnr(vae, sigmas: list[float], clips: int, seed: int = 777_000) -> dict[float, float]:
    """Mean PSNR (dB) over `clips` world clips (2 s, 256 px long side) per latent noise sigma."""
    from engine.train import draw_clip
    rng = np.random.default_rng(seed)                     # a stream training never drew from
    gen = torch.Generator().manual_seed(seed)
    scores: dict[float, list[float]] = {s: [] for s in sigmas}
    for _ in range(clips):
        video, _, _ = draw_clip(rng, (256,), (2.0,), (12.0,), ("16:9",), vae.cfg.spatial_factor,
                                vae.cfg.temporal_factor)                 # (3, T, H, W) in [-1, 1]
        z = vae.encode(video[None])                                      # (1, C, t, h, w) normalised
        for s in sigmas:
            scores[s].append(psnr(vae.decode(z + s * torch.randn(z.shape, generator=gen)), video[None]))
    return {s: float(np.mean(v)) for s, v in scores.items()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--checkpoint", nargs="+", default=["assets/default"])
    p.add_argument("--sigmas", type=float, nargs="+", default=[0.0, 0.1, 0.2, 0.4])
    p.add_argument("--clips", type=int, default=4)
    p.add_argument("--json", help="also write the table here")
    args = p.parse_args(argv)
    from engine import checkpoint as ckpt
    from engine.io import write_json_atomic
    report = {}
    print(f"{'checkpoint':40}{'z':>4}" + "".join(f"{'sigma ' + str(s):>12}" for s in args.sigmas))
    for directory in args.checkpoint:
        vae, _, _ = ckpt.load(directory)
        row = noise_psnr(vae, args.sigmas, args.clips)
        report[directory] = {"latent_channels": vae.cfg.latent_channels, "psnr_db": row}
        print(f"{directory:40}{vae.cfg.latent_channels:>4}" + "".join(f"{v:>9.2f} dB" for v in row.values()))
    if args.json:
        write_json_atomic(report, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
