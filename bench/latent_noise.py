"""How much a VAE's decoder suffers from error in its latents: PSNR of held-out world clips decoded
from their own latents plus Gaussian noise (in the normalised latent space the DiT samples in),
and the flicker that noise turns into.

A DiT never lands exactly on the encoder's latents. If a small latent error costs a VAE much more
PSNR than another, its latent space is harder to generate in, whatever its clean reconstruction.
Flicker is the decoded clip's median frame-to-frame change over the clip's own, and the mean
change at each position in the 4-frame latent group (a decoder that turns latent error into
flicker does it in step with the groups). Last, a straight latent path between two clips is
decoded with no DiT in the loop: how smoothly the decoder renders a smooth latent change; and a
pixel dissolve between two clips is encoded and decoded, with one decode phase and with all f
(VideoVAE.decode): how much of a dissolve's smoothness survives the VAE.

    python bench/latent_noise.py [--checkpoint DIR ...] [--sigmas 0 0.1 0.2 0.4] [--clips 4]
                                 [--dissolves 3]
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
from world_metrics import jumps  # noqa: E402


def frame_changes(video: torch.Tensor) -> np.ndarray:
    """(1, 3, T, H, W) in [-1, 1] -> (T-1,) frame-to-frame changes in 0-255 levels (world_metrics)."""
    return jumps(((video[0].float().clamp(-1, 1) + 1) * 127.5).permute(1, 2, 3, 0).numpy())


@torch.no_grad()
def noise_figures(vae, sigmas: list[float], clips: int, seed: int = 777_000) -> dict[float, dict]:
    """Per latent noise sigma, over `clips` world clips (2 s, 256 px long side): mean PSNR (dB),
    flicker (median frame change, decoded over original) and the mean frame change at each
    position in a latent group (change k -> k+1 sits at position k mod f; frame 0 is alone)."""
    from engine.train import draw_clip
    rng = np.random.default_rng(seed)                     # a stream training never drew from
    gen = torch.Generator().manual_seed(seed)
    f = vae.cfg.temporal_factor
    rows: dict[float, list] = {s: [] for s in sigmas}
    for _ in range(clips):
        video, _, _ = draw_clip(rng, (256,), (2.0,), (12.0,), ("16:9",), vae.cfg.spatial_factor,
                                f)                                       # (3, T, H, W) in [-1, 1]
        z = vae.encode(video[None])                                      # (1, C, t, h, w) normalised
        own = max(float(np.median(frame_changes(video[None]))), 1e-3)
        for s in sigmas:
            out = vae.decode(z + s * torch.randn(z.shape, generator=gen))
            ch = frame_changes(out)
            rows[s].append((psnr(out, video[None]), float(np.median(ch)) / own,
                            [float(ch[p::f].mean()) for p in range(f)]))
    return {s: {"psnr_db": float(np.mean([r[0] for r in v])), "flicker": float(np.mean([r[1] for r in v])),
                "change_by_group_position": np.mean([r[2] for r in v], axis=0).round(3).tolist()}
            for s, v in rows.items()}


def world_pair(rng: np.random.Generator, vae) -> list[torch.Tensor]:
    """Two 1-second world clips (3, T, H, W) in [-1, 1], 256 px on the long side, at 12 fps."""
    from engine.train import draw_clip
    f, s = vae.cfg.temporal_factor, vae.cfg.spatial_factor
    return [draw_clip(rng, (256,), (1.0,), (12.0,), ("16:9",), s, f)[0] for _ in range(2)]


@torch.no_grad()
def crossfade_figures(vae, clips: int, steps: int = 3, seed: int = 778_000) -> dict:
    """Decode a straight latent path between two world clips (A's latents, `steps` linear blends
    of A's last and B's second latent frame, B's latents 1..): no DiT anywhere. Each blended
    latent frame covers f decoded frames. A decoder that renders a smooth latent path smoothly
    spreads each step's change over its f frames; one that steps puts it on the first ones.
    Returns the largest frame change in the blend over the clips' own median, and the blend's
    mean change at each position in the latent group, in 0-255 levels."""
    rng = np.random.default_rng(seed)
    f = vae.cfg.temporal_factor
    largest, by_position = [], []
    for _ in range(clips):
        pair = world_pair(rng, vae)                                      # (3, T, H, W) each
        za, zb = (vae.encode(v[None])[0] for v in pair)                  # (C, t, h, w)
        blend = [(1 - s) * za[:, -1] + s * zb[:, 1] for s in np.arange(1, steps + 1) / (steps + 1)]
        z = torch.cat([za, torch.stack(blend, 1), zb[:, 1:]], 1)[None]
        ch = frame_changes(vae.decode(z))
        own = max(float(np.median(np.concatenate([frame_changes(v[None]) for v in pair]))), 1e-3)
        start = f * (za.shape[1] - 1)                                    # change into the blend
        span = ch[start:start + f * (steps + 1)]
        largest.append(float(span.max()) / own)
        by_position.append([float(span[p::f].mean()) for p in range(f)])
    return {"largest_over_median": float(np.mean(largest)),
            "change_by_group_position": np.mean(by_position, axis=0).round(3).tolist()}


@torch.no_grad()
def dissolve_figures(vae, pairs: int, seconds: float = 2.0, seed: int = 779_000) -> dict:
    """A pixel dissolve from A's last frame to B's first over `seconds` (what interpolate's
    transition should at best look like), between clips A and B, encoded and decoded with one
    phase and with all f. Per pair, the round trip's largest frame change in the dissolve over the
    dissolve's own largest change (1 = as smooth as the dissolve), and the mean over pairs."""
    rng = np.random.default_rng(seed)
    f = vae.cfg.temporal_factor
    rows = {1: [], f: []}
    for _ in range(pairs):
        a, b = world_pair(rng, vae)                                      # (3, T, H, W) each
        n = f * max(1, round(seconds * 12.0 / f))                      # frame changes A -> B
        s = torch.arange(1, n).float().view(1, -1, 1, 1) / n
        fade = (1 - s) * a[:, -1:] + s * b[:, :1]                      # (3, n - 1, H, W)
        video = torch.cat([a, fade, b], 1)[None]                       # (1, 3, T, H, W)
        span = slice(a.shape[1] - 1, a.shape[1] - 1 + n)                # the n changes A -> B
        own = float(frame_changes(video)[span].max())
        z = vae.encode(video)
        for phases in rows:
            rows[phases].append(float(frame_changes(vae.decode(z, phases=phases))[span].max()) / own)
    return {f"phases_{p}": {"largest_over_dissolve": float(np.mean(v)), "per_pair": np.round(v, 2).tolist()}
            for p, v in rows.items()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--checkpoint", nargs="+", default=["assets/default"])
    p.add_argument("--sigmas", type=float, nargs="+", default=[0.0, 0.1, 0.2, 0.4])
    p.add_argument("--clips", type=int, default=4)
    p.add_argument("--dissolves", type=int, default=3, help="pairs for the dissolve round trip")
    p.add_argument("--json", help="also write the table here")
    args = p.parse_args(argv)
    from engine import checkpoint as ckpt
    from engine.io import write_json_atomic
    report = {}
    print(f"{'checkpoint':40}{'z':>4}" + "".join(f"{'sigma ' + str(s):>22}" for s in args.sigmas))
    for directory in args.checkpoint:
        vae, _, _ = ckpt.load(directory)
        row = noise_figures(vae, args.sigmas, args.clips)
        report[directory] = {"latent_channels": vae.cfg.latent_channels, "by_sigma": row}
        print(f"{directory:40}{vae.cfg.latent_channels:>4}"
              + "".join(f"{v['psnr_db']:>9.2f} dB {v['flicker']:>5.2f}x" for v in row.values()))
        for s, v in row.items():
            print(f"  sigma {s}: frame change by position in the latent group "
                  + " ".join(f"{c:.2f}" for c in v["change_by_group_position"]))
        fade = crossfade_figures(vae, args.clips)
        report[directory]["crossfade"] = fade
        print(f"  latent crossfade A -> B: largest change {fade['largest_over_median']:.2f}x the "
              "clips' median; by position in the latent group "
              + " ".join(f"{c:.2f}" for c in fade["change_by_group_position"]))
        if args.dissolves:
            dissolve = dissolve_figures(vae, args.dissolves)
            report[directory]["dissolve"] = dissolve
            print("  pixel dissolve A -> B through the VAE: largest change over the dissolve's own, "
                  + ", ".join(f"{k.replace('_', ' ')} {v['largest_over_dissolve']:.2f}x {v['per_pair']}"
                              for k, v in dissolve.items()))
    if args.json:
        write_json_atomic(report, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
