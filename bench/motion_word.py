"""How fast does a DiT learn to read a motion word? The cleanest case, trained on alone.

Four world clips that differ only in the motion word (one object from the frame's centre, to
the left, right, up and down; one background; a still camera) are encoded once. A copy of the
checkpoint's DiT trains on them alone, first frame given (the animate plan), and every --every
steps the script prints the velocity error on the object's tokens under each clip's own caption
and under the caption with the opposite direction, at four flow times, on fixed noise. The
rise (+%) is how much the model reads the word. Where the two captions score alike, the model
predicts the motion from the noisy frames and not from the text.

It measures how strong a training setting's signal for the word is, in minutes on this CPU
(about 2 s a step): it is memorisation of four clips, not prompt adherence (bench/worldbench.py)
nor the probe on held-out clips (bench/flow_loss.py --swap motion --known 1).

    python bench/motion_word.py [--checkpoint DIR] [--steps 300] [--every 100] [--shift-floor 1]
                                [--text-layers 6,0]

--text-layers grows the DiT to read more of the text encoder's hidden states first (its new
inputs start at zero, so step 0 prints the checkpoint's own figures).
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from engine.world.scene import OPPOSITE  # noqa: E402  (the four directions and their opposites)

TIMES = (0.9, 0.7, 0.5, 0.3)
W, H, FRAMES, FPS = 128, 64, 13, 12.0   # a draft-size 1-second clip: 4 latent frames of 4x8 tokens


def clips(vae, multiple: int, temporal_factor: int, patch_t: int, seed: int = 0):
    """[(latent (C, t, h, w), caption, caption with the opposite direction, token foreground)]."""
    from engine.train.data import token_foreground
    from engine.world import caption, fill_scene, render_with_masks
    base = fill_scene(np.random.default_rng(seed), FRAMES / FPS, background="grass", camera="static",
                      objects=[{"colour": "red", "shape": "ball", "motion": "right", "speed": "normal"}])
    out = []
    for motion, opposite in OPPOSITE.items():
        obj = replace(base.objects[0], motion=motion, x=0.5, y=0.55, size=0.15)
        scene = replace(base, objects=(obj,))
        frames, masks = render_with_masks(scene, W, H, FRAMES, FPS)           # (T, H, W, 3), (T, N, H, W)
        video = torch.from_numpy(frames).permute(3, 0, 1, 2).float()[None] / 127.5 - 1.0
        z = vae.encode(video, chunk_frames=None).float()[0]                    # (C, t, h, w)
        wrong = replace(scene, objects=(replace(obj, motion=opposite),))
        out.append((z, caption(scene), caption(wrong),
                    token_foreground(masks, multiple, temporal_factor, patch_t)))
    return out


@torch.no_grad()
def word_use(dit, text, items, draws: int = 4, seed: int = 1) -> dict:
    """{t: (object error under the true caption, under the opposite one)}, first frame given."""
    from flow_loss import given_frames, token_errors
    was_training = dit.training
    dit.eval()
    gen = torch.Generator().manual_seed(seed)
    prepared = []                     # per clip: its latent, captions encoded, given frames, object tokens
    for z, cap, wrong_cap, fg in items:
        given, free = given_frames(z.shape[1], 1, tuple(fg.shape), dit.cfg.patch)
        prepared.append((z[None], text.encode([cap]), text.encode([wrong_cap]), given,
                         fg.reshape(-1).bool() & free))
    out = {}
    for t in TIMES:
        true = wrong = n = 0.0
        for z, own, opposite, given, sel in prepared:
            for _ in range(draws):
                noise = torch.randn(z.shape, generator=gen)
                true += float(token_errors(dit, z, noise, t, given, own, FPS)[sel].sum())
                wrong += float(token_errors(dit, z, noise, t, given, opposite, FPS)[sel].sum())
                n += int(sel.sum())
        out[t] = (true / n, wrong / n)
    dit.train(was_training)
    return out


def line(tag: str, use: dict) -> str:
    return f"{tag:>10}  " + "  ".join(f"t={t}: {a:.3f} -> {b:.3f} {100 * (b / a - 1):+4.0f}%"
                                      for t, (a, b) in use.items())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--checkpoint", default="assets/default")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--every", type=int, default=100)
    p.add_argument("--shift-floor", type=float, default=1.0,
                   help="the training time shift's floor (TrainConfig.time_shift_min)")
    p.add_argument("--text-layers", type=lambda v: tuple(int(k) for k in v.split(",")),
                   help="the text encoder's hidden states to read, e.g. 6,0 (default: the checkpoint's)")
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--threads", type=int)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    from engine import checkpoint as ckpt
    from engine.text import TextEncoder
    from engine.train.objectives import dit_loss, make_dit_batch
    torch.manual_seed(0)
    vae, dit, _ = ckpt.load(args.checkpoint)
    if args.text_layers and args.text_layers != dit.cfg.text_layers:
        from engine.dit import DiT, widen_text_inputs
        grown = DiT(replace(dit.cfg, text_layers=args.text_layers))
        grown.load_state_dict(widen_text_inputs(dit.state_dict(), dit.cfg, grown.cfg))
        dit = grown
    vae.float().eval(), dit.float().train()
    text = TextEncoder(layers=dit.cfg.text_layers)
    items = clips(vae, vae.cfg.spatial_factor * max(dit.cfg.patch_h, dit.cfg.patch_w),
                  vae.cfg.temporal_factor, dit.cfg.patch_t)
    print(f"{items[0][1]!r} against {items[0][2]!r}, ... (4 clips); shift floor {args.shift_floor:g}; "
          f"text layers {','.join(map(str, dit.cfg.text_layers))}")
    print("object velocity error, own caption -> opposite direction (+% the rise)")
    print(line("step 0", word_use(dit, text, items)), flush=True)
    opt = torch.optim.AdamW(dit.parameters(), lr=args.lr, weight_decay=0.0)
    gen = torch.Generator().manual_seed(2)
    latents, fgs = [it[0] for it in items], [it[3] for it in items]
    texts = text.encode_each([it[1] for it in items])
    masks = [np.eye(1, z.shape[1], dtype=np.float32)[0] for z in latents]      # the first frame given
    t0 = time.perf_counter()
    for step in range(1, args.steps + 1):
        batch = make_dit_batch(latents, texts, [FPS] * len(items), masks, dit.cfg.patch, 1024,
                               dit.cfg.base_tokens, gen, fgs, object_weight=4.0, object_max_t=1.01,
                               min_shift=args.shift_floor)
        loss = dit_loss(dit, batch)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % args.every == 0:
            print(line(f"step {step}", word_use(dit, text, items))
                  + f"  ({time.perf_counter() - t0:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
