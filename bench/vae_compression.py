"""How much spatial compression can the VAE afford? Trains each candidate VAE for the same wall
time on the embedded world and prints reconstruction PSNR on held-out clips, the compression
ratio and the decode time of a 2-second 256x144 clip.

    python bench/vae_compression.py --minutes 8 --presets f8 f16 [--json out.json]
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

from engine.train import TrainConfig, draw_clip, vae_batch, vae_loss  # noqa: E402
from engine.vae import VideoVAE, vae_config  # noqa: E402


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB of videos in [-1, 1]."""
    mse = ((a.clamp(-1, 1) - b) / 2).pow(2).mean().item()
    return 10 * np.log10(1.0 / max(mse, 1e-12))


def held_out(vae: VideoVAE, n: int = 12, seed: int = 10_000) -> float:
    rng = np.random.default_rng(seed)
    cfg = TrainConfig()
    scores = []
    with torch.no_grad():
        for _ in range(n):
            video, _, _ = draw_clip(rng, (128, 256), (1.0,), (12.0,), cfg.aspects,
                                    vae.cfg.spatial_factor, vae.cfg.temporal_factor)
            mean, _ = vae.encode_moments(video[None])
            scores.append(psnr(vae.decode_raw(mean), video[None]))
    return float(np.mean(scores))


def train_for(preset: str, minutes: float, batch: int, seed: int = 0) -> tuple[VideoVAE, int]:
    """The training recipe's own batches (random crops of world clips), for a fixed wall time."""
    torch.manual_seed(seed)
    vae = VideoVAE(vae_config(preset))
    opt = torch.optim.AdamW(vae.parameters(), lr=3e-4)
    rng = np.random.default_rng(seed)
    g = torch.Generator().manual_seed(seed)
    cfg = TrainConfig(vae_batch=batch)
    deadline, steps = time.time() + minutes * 60, 0
    while time.time() < deadline:
        video, weight = vae_batch(rng, cfg, vae.cfg)
        loss = vae_loss(vae, video, cfg.kl_weight, g, weight)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        steps += 1
    return vae.eval(), steps


def decode_seconds(vae: VideoVAE) -> float:
    f, tf = vae.cfg.spatial_factor, vae.cfg.temporal_factor
    z = torch.randn(1, vae.cfg.latent_channels, 1 + 24 // tf, 144 // f, 256 // f)
    with torch.no_grad():
        vae.decode(z)
        t = time.perf_counter()
        vae.decode(z)
    return time.perf_counter() - t


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--presets", nargs="+", default=["f8", "f16"])
    p.add_argument("--minutes", type=float, default=8.0)
    p.add_argument("--batch", type=int, default=TrainConfig().vae_batch)
    p.add_argument("--json")
    args = p.parse_args(argv)
    rows = []
    for preset in args.presets:
        vae, steps = train_for(preset, args.minutes, args.batch)
        cfg = vae.cfg
        ratio = (cfg.spatial_factor ** 2 * cfg.temporal_factor * 3) / cfg.latent_channels
        rows.append({"preset": preset, "spatial": cfg.spatial_factor, "temporal": cfg.temporal_factor,
                     "latent_channels": cfg.latent_channels, "compression": ratio,
                     "params_m": sum(q.numel() for q in vae.parameters()) / 1e6,
                     "train_steps": steps, "minutes": args.minutes,
                     "psnr_db": held_out(vae), "decode_2s_256x144_s": decode_seconds(vae)})
        print(json.dumps(rows[-1]), flush=True)
    print(f"\n{'preset':8}{'factor':>10}{'z':>4}{'ratio':>7}{'params':>8}{'steps':>7}{'PSNR dB':>9}{'decode s':>10}")
    for r in rows:
        print(f"{r['preset']:8}{r['spatial']:>4}x{r['temporal']}{'':>4}{r['latent_channels']:>4}"
              f"{r['compression']:>7.0f}{r['params_m']:>7.1f}M{r['train_steps']:>7}"
              f"{r['psnr_db']:>9.2f}{r['decode_2s_256x144_s']:>10.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
