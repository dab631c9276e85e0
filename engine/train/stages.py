"""Training: the VAE first, then the DiT on its latents, both on the embedded world.

The two stages and the command line (`python -m engine.train`; usage in engine/train/__init__.py).
"""
from __future__ import annotations

import argparse
import copy
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from engine import checkpoint as ckpt
from engine.dit import DiT
from engine.text import TextEncoder
from engine.train.config import TRAIN_RECIPES, TrainConfig
from engine.train.data import draw_clip, draw_scene_clip, token_foreground, vae_batch
from engine.train.loop import on_cuda, run_loop
from engine.train.objectives import PackedBatch, dit_loss, make_dit_batch, train_mask, vae_loss
from engine.vae import VideoVAE
from engine.world import caption


@torch.no_grad()
def latent_stats(vae: VideoVAE, cfg: TrainConfig, rng, multiple: int, n: int = 32):
    means = []
    for _ in range(n):
        video, _, _ = draw_clip(rng, cfg.vae_long_sides, (1.0,), (12.0,), cfg.aspects, multiple,
                                vae.cfg.temporal_factor)
        means.append(vae.encode_moments(video[None])[0])
    z = torch.cat([m.flatten(2) for m in means], dim=2)[0]                      # (z, cells)
    return tuple(z.mean(1).tolist()), tuple(z.std(1).clamp(min=1e-3).tolist())


def train_vae(vae: VideoVAE, cfg: TrainConfig, work: Path, minutes=None, seed=0):
    """Returns (the EMA model once all steps are done, else None; wall seconds so far)."""
    ema = copy.deepcopy(vae).requires_grad_(False)
    opt = torch.optim.AdamW(vae.parameters(), lr=cfg.vae_lr, weight_decay=0.0)
    def step_fn(rng, gen):
        device = next(vae.parameters()).device
        video, weight = vae_batch(rng, cfg, vae.cfg)
        return vae_loss(vae, video.to(device), cfg.kl_weight, None if on_cuda(vae) else gen,
                        weight.to(device))

    step, wall = run_loop("vae", vae, ema, opt, work, cfg.vae_steps, minutes, seed, step_fn, cfg,
                       cfg.vae_ema_decay)
    return (ema, wall) if step >= cfg.vae_steps else (None, wall)


def train_dit(dit: DiT, vae: VideoVAE, text: TextEncoder, cfg: TrainConfig, work: Path,
              minutes=None, seed=1):
    """Returns (the EMA model, a partial one if the time budget ended the run; steps; wall seconds)."""
    device = next(dit.parameters()).device
    ema = copy.deepcopy(dit).requires_grad_(False)
    opt = torch.optim.AdamW(dit.parameters(), lr=cfg.dit_lr, weight_decay=0.0)
    mult = vae.cfg.spatial_factor * max(dit.cfg.patch_h, dit.cfg.patch_w)
    tf = vae.cfg.temporal_factor

    # Encoding costs more than a DiT step on a CPU, so encoded clips go to a replay buffer and
    # each is reused a few times, always under fresh noise, flow time and plan.
    replay: list[tuple[torch.Tensor, str, float]] = []

    def fresh(rng):
        video, scene, f, obj = draw_scene_clip(rng, cfg.long_sides, cfg.seconds, cfg.fps, cfg.aspects,
                                               mult, tf, max_tokens=cfg.max_tokens, with_masks=True)
        z = vae.encode(video[None].to(device), chunk_frames=None)[0].float().cpu()  # (C, t, h, w)
        return z, caption(scene, rng), f, token_foreground(obj, mult, tf, dit.cfg.patch_t)

    def step_fn(rng, gen):
        if not replay:
            replay.extend(fresh(rng) for _ in range(cfg.dit_clips))
        for _ in range(cfg.fresh_per_step):
            item = fresh(rng)
            if len(replay) < cfg.replay_size:
                replay.append(item)
            else:
                replay[rng.integers(len(replay))] = item
        latents, texts, fps, masks, fgs = [], [], [], [], []
        for j in rng.choice(len(replay), size=min(cfg.dit_clips, len(replay)), replace=False):
            z, cap, f, fg = replay[j]
            if rng.random() < cfg.caption_dropout:
                cap = ""
            latents.append(z); texts.append(text.encode([cap])); fps.append(f); fgs.append(fg)
            masks.append(train_mask(rng, z.shape[1]))
        batch = make_dit_batch(latents, texts, fps, masks, dit.cfg.patch, cfg.max_tokens,
                               dit.cfg.base_tokens, gen, fgs, cfg.object_weight,
                               cfg.object_max_t)
        batch = PackedBatch(**{k: v.to(device) for k, v in vars(batch).items()})
        return dit_loss(dit, batch)

    step, wall = run_loop("dit", dit, ema, opt, work, cfg.dit_steps, minutes, seed, step_fn, cfg,
                       cfg.dit_ema_decay)
    return ema, step, wall


def main(argv=None) -> int:
    from engine.recipes import build
    p = argparse.ArgumentParser(prog="python -m engine.train", description=__doc__.split("\n")[0])
    p.add_argument("--recipe", default="default", choices=sorted(TRAIN_RECIPES))
    p.add_argument("--stage", default="all", choices=("vae", "dit", "all"))
    p.add_argument("--work", help="folder for resumable state and logs (default runs/<recipe>)")
    p.add_argument("--out", help="checkpoint folder to write (default assets/default for the "
                                 "default recipe, runs/<recipe>/checkpoint otherwise)")
    p.add_argument("--minutes", type=float, help="stop (resumably) after this many minutes per stage")
    p.add_argument("--vae-steps", type=int)
    p.add_argument("--dit-steps", type=int)
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (bf16 autocast on CUDA)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = TRAIN_RECIPES[args.recipe]
    cfg = replace(cfg, **{k: v for k, v in (("vae_steps", args.vae_steps),
                                             ("dit_steps", args.dit_steps)) if v is not None})
    work = Path(args.work or f"runs/{args.recipe}")
    work.mkdir(parents=True, exist_ok=True)
    out = Path(args.out or (ckpt.DEFAULT_CHECKPOINT if args.recipe == "default" else work / "checkpoint"))
    from engine.runtime import pick_device
    device = pick_device(args.device)
    hardware = (torch.cuda.get_device_name(device) if device.type == "cuda"
                else f"CPU, {torch.get_num_threads()} threads")
    vae, dit, card = build(args.recipe, seed=0)
    vae_done = work / "vae_final"
    if args.stage in ("vae", "all"):
        trained, vae_wall = train_vae(vae.to(device), cfg, work, args.minutes)
        if trained is None:
            return 0
        trained = trained.cpu()
        mean, std = latent_stats(trained, cfg, np.random.default_rng(123), vae.cfg.spatial_factor)
        vae = VideoVAE(replace(trained.cfg, latent_mean=mean, latent_std=std))
        vae.load_state_dict(trained.state_dict())
        ckpt.save(vae_done, vae, dit, replace(card, notes=f"VAE {vae_wall / 60:.0f} min"))
    if args.stage in ("dit", "all"):
        if not (vae_done / "config.json").is_file():
            raise SystemExit(f"train the VAE first: no {vae_done}")
        vae, _, vae_card = ckpt.load(vae_done, device=device)
        vae.requires_grad_(False)
        ema, dit_step, dit_wall = train_dit(dit.to(device), vae, TextEncoder(device), cfg, work, args.minutes)
        card = replace(card, trained_on=f"{hardware}: {vae_card.notes} + DiT {dit_wall / 60:.0f} min "
                                        f"({cfg.vae_steps} VAE steps; DiT {dit_step} of {cfg.dit_steps} steps)")
        shipped = out.resolve().is_relative_to(ckpt.DEFAULT_CHECKPOINT.parent.resolve())
        ckpt.save(out, vae.cpu(), ema.cpu(), card, half=shipped)  # fp16 in assets/: half the git weight
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
