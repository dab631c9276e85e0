"""How many operations one DiT training step runs, by phase and by clips a step.

On a lent GPU a step of 48 clips took ~0.36 s, of which rendering, encoding and packing took
~0.11 s; the forward and backward pass of a 7M-parameter DiT is a few milliseconds of arithmetic
there, so the rest is the cost of launching thousands of small kernels (issue 3). This counts
the operations that do work (views and allocations left out) with torch.profiler on this CPU,
for a packed batch of real world clips' shapes, so a change to the step's launch count can be
measured without a GPU, and it shows how the count grows with the clips a step holds.

    python bench/dit_step_ops.py [--clips 24 48 96] [--checkpoint assets/default]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# Ops that only make views or allocate: no kernel of their own on a GPU.
NO_KERNEL = {"aten::" + n for n in (
    "as_strided", "view", "select", "slice", "unsqueeze", "expand", "transpose", "reshape", "t",
    "permute", "detach", "alias", "lift_fresh", "resolve_conj", "_unsafe_view", "split", "chunk",
    "unbind", "squeeze", "flatten", "narrow", "empty", "empty_strided", "empty_like", "to",
    "split_with_sizes", "_reshape_alias", "view_as", "expand_as", "contiguous")}


def count_ops(fn) -> tuple[object, int]:
    """(fn(), the number of aten operations that do work while it runs)."""
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        result = fn()
    return result, sum(e.count for e in prof.key_averages()
                       if e.key.startswith("aten::") and e.key not in NO_KERNEL)


def world_batch(vae, dit, text, clips: int, seed: int = 0):
    """A training step's inputs for `clips` world clips: real shapes, captions, plans and object
    masks; the latents are random numbers of the encoder's shape (encoding adds nothing here)."""
    from engine.train import TRAIN_RECIPES
    from engine.train.data import dit_group
    from engine.train.objectives import train_mask
    cfg = TRAIN_RECIPES["default"]
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    f, s = vae.cfg.temporal_factor, vae.cfg.spatial_factor
    latents, captions, fps, masks, fgs = [], [], [], [], []
    while len(latents) < clips:
        videos, caps, rate, groups = dit_group(rng, cfg, s * max(dit.cfg.patch_h, dit.cfg.patch_w), f,
                                               dit.cfg.patch_t, clips=8)       # (k, 3, T, H, W)
        T, H, W = videos.shape[2:]
        for cap, fg in zip(caps, groups):
            z = torch.randn(vae.cfg.latent_channels, (T - 1) // f + 1, H // s, W // s, generator=gen)
            latents.append(z); captions.append(cap); fps.append(rate); fgs.append(fg)
            masks.append(train_mask(rng, z.shape[1], cfg.plan_shares))
    n = clips
    return (latents[:n], text.encode_each(captions[:n]), fps[:n], masks[:n], fgs[:n]), cfg, gen


def step_ops(vae, dit, text, clips: int) -> dict:
    """Operation counts of one step's phases: packing, forward, backward. (The optimizer and the
    EMA run as fused multi-tensor kernels on CUDA, but op by op on the CPU: not counted.)"""
    from engine.train.objectives import dit_loss, make_dit_batch
    (latents, texts, fps, masks, fgs), cfg, gen = world_batch(vae, dit, text, clips)
    batch, n_batch = count_ops(lambda: make_dit_batch(
        latents, texts, fps, masks, dit.cfg.patch, cfg.max_tokens, dit.cfg.base_tokens, gen, fgs,
        cfg.object_weight, cfg.object_max_t, cfg.object_max_t_given))
    losses, n_fwd = count_ops(lambda: dit_loss(dit, batch))
    _, n_bwd = count_ops(lambda: losses["loss"].backward())
    dit.zero_grad(set_to_none=True)
    return {"clips": clips, "rows": int(batch.tokens.shape[0]), "pack": n_batch, "forward": n_fwd,
            "backward": n_bwd}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--checkpoint", default="assets/default")
    p.add_argument("--clips", type=int, nargs="+", default=[24, 48, 96])
    args = p.parse_args(argv)
    from engine import checkpoint as ckpt
    from engine.text import TextEncoder
    torch.set_num_threads(1)
    vae, dit, _ = ckpt.load(args.checkpoint)
    dit.float().train()
    text = TextEncoder(layers=dit.cfg.text_layers)
    print(f"{'clips':>6}{'rows':>6}{'pack':>8}{'forward':>9}{'backward':>10}{'model/clip':>12}")
    for clips in args.clips:
        r = step_ops(vae, dit, text, clips)
        per_clip = (r["forward"] + r["backward"]) / clips
        print(f"{r['clips']:>6}{r['rows']:>6}{r['pack']:>8}{r['forward']:>9}{r['backward']:>10}"
              f"{per_clip:>12.1f}")
    print("operations that do work (aten ops less views and allocations), counted on the CPU; "
          "pack counts the CPU-side bookkeeping too, which a GPU does not launch")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
