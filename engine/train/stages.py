"""Training: the VAE first, then the DiT on its latents, both on the embedded world.

The two stages and the command line (`python -m engine.train`; usage in engine/train/__init__.py).
"""
from __future__ import annotations

import argparse
import copy
import hashlib
import json
import math
import time
from dataclasses import fields, replace
from functools import partial
from pathlib import Path

import numpy as np
import torch

from engine import checkpoint as ckpt
from engine.dit import DiT, widen_text_inputs
from engine.sampler import min_shift_checked
from engine.text import TextEncoder
from engine.train.config import TRAIN_RECIPES, TrainConfig
from engine.train.data import dit_group, draw_clip, vae_batch
from engine.train.loop import on_cuda, run_loop
from engine.train.objectives import PackedBatch, dit_loss, make_dit_batch, train_mask, vae_loss
from engine.train.workers import stream
from engine.vae import VideoVAE, grow_lookahead
from engine.world import sample_scene


@torch.no_grad()
def latent_stats(vae: VideoVAE, cfg: TrainConfig, rng, multiple: int, n: int = 32):
    means = []
    for _ in range(n):
        video, _, _ = draw_clip(rng, cfg.vae_long_sides, (1.0,), (12.0,), cfg.aspects, multiple,
                                vae.cfg.temporal_factor)
        means.append(vae.encode_moments(video[None])[0])
    z = torch.cat([m.flatten(2) for m in means], dim=2)[0]                      # (z, cells)
    return tuple(z.mean(1).tolist()), tuple(z.std(1).clamp(min=1e-3).tolist())


def _source(make, workers: int):
    """make(rng), drawn in-process (workers=0) or from worker processes (engine/train/workers.py)
    whose seed comes from the loop's generator at the first draw."""
    pulled = None
    def draw(rng):
        nonlocal pulled
        if workers == 0:
            return make(rng)
        if pulled is None:
            pulled = stream(make, workers, int(rng.integers(2**62)))
        return next(pulled)
    return draw


def weights_digest(module: torch.nn.Module) -> str:
    """A short fingerprint of a module's config and weights: what a resumed stage must be built on."""
    h = hashlib.sha256(json.dumps(module.cfg.to_dict(), sort_keys=True).encode())
    for k, v in sorted(module.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def train_vae(vae: VideoVAE, cfg: TrainConfig, work: Path, minutes=None, seed=0, workers=0, fit=False,
              decoder_only=False, source: dict | None = None):
    """Returns (the EMA model once all steps are done, else None; steps done; wall seconds so far).

    decoder_only: train the decoder alone on a frozen encoder (its state is `decoder_state`). The
    latents stay exactly as they were, so a DiT trained on them stays valid: the pixels it makes
    and the VAE's reconstructions improve without retraining it."""
    if cfg.latent_noise > 0 and not decoder_only:
        raise ValueError("latent_noise trains a decoder on a frozen encoder (--stage decoder); with "
                         "the encoder training too it would just learn larger latents")
    if decoder_only:
        vae.encoder.requires_grad_(False)
        vae.preview.requires_grad_(False)
    ema = copy.deepcopy(vae).requires_grad_(False)
    trained = vae.decoder if decoder_only else vae
    opt = torch.optim.AdamW(trained.parameters(), lr=cfg.vae_lr, weight_decay=0.0)
    draw = _source(partial(vae_batch, cfg=cfg, vae_cfg=vae.cfg), workers)
    def step_fn(rng, gen):
        device = next(vae.parameters()).device
        video, weight = draw(rng)
        return vae_loss(vae, video.to(device), cfg.kl_weight, None if on_cuda(vae) else gen,
                        weight.to(device), cfg.latent_noise, cfg.vae_temporal_weight)

    step, wall, planned = run_loop("decoder" if decoder_only else "vae", vae, ema, opt, work,
                                   cfg.vae_steps, minutes, seed, step_fn, cfg, cfg.vae_ema_decay,
                                   extra_state=source, fit=fit)
    return (ema if step >= planned else None), step, wall


def train_dit(dit: DiT, vae: VideoVAE, text: TextEncoder, cfg: TrainConfig, work: Path,
              minutes=None, seed=1, workers=0, fit=False):
    """Returns (the EMA model, a partial one if the time budget ended the run; steps done;
    steps planned; wall seconds)."""
    device = next(dit.parameters()).device
    ema = copy.deepcopy(dit).requires_grad_(False)
    opt = torch.optim.AdamW(dit.parameters(), lr=cfg.dit_lr, weight_decay=0.0)
    mult = vae.cfg.spatial_factor * max(dit.cfg.patch_h, dit.cfg.patch_w)
    tf = vae.cfg.temporal_factor

    # Encoding costs more than a DiT step on a CPU, so encoded clips go to a replay buffer and
    # each is reused a few times, always under fresh noise, flow time and plan. The buffer lives
    # on the training device: batches are noised and packed there, with no copy back and forth.
    replay: list[tuple[torch.Tensor, str, float]] = []

    draw = _source(partial(dit_group, cfg=cfg, multiple=mult, temporal_factor=tf,
                           patch_t=dit.cfg.patch_t, clips=cfg.group_clips), workers)

    # Where a step's time goes, logged beside the losses: waiting for rendered clips, encoding
    # them, captions and packing (the rest is the DiT's forward and backward pass). An H100 step
    # of the small DiT took 460 ms, and rendering is ~0.03 s a clip on one core: these say which
    # part sets the pace. On CUDA each part is synchronised before it is timed.
    spent = dict.fromkeys(("wait_s", "encode_s", "pack_s"), 0.0)

    def timed(part, t0):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        spent[part] += time.perf_counter() - t0

    def fresh(rng):
        """One rendered group, encoded as one batch: [(latent (C, t, h, w), caption, fps, fg)]."""
        t0 = time.perf_counter()
        videos, captions, f, fgs = draw(rng)                                   # (k, 3, T, H, W)
        timed("wait_s", t0)
        t0 = time.perf_counter()
        z = vae.encode(videos.to(device), chunk_frames=None).float()           # (k, C, t, h, w)
        timed("encode_s", t0)
        return [(z[i], captions[i], f, fgs[i]) for i in range(len(captions))]

    def step_fn(rng, gen):
        spent.update(dict.fromkeys(spent, 0.0))
        while len(replay) < cfg.dit_clips:
            replay.extend(fresh(rng))
        added = 0
        while added < cfg.fresh_per_step:
            for item in fresh(rng):
                if len(replay) < cfg.replay_size:
                    replay.append(item)
                else:
                    replay[rng.integers(len(replay))] = item
                added += 1
        latents, caps, fps, masks, fgs = [], [], [], [], []
        for j in rng.choice(len(replay), size=min(cfg.dit_clips, len(replay)), replace=False):
            z, cap, f, fg = replay[j]
            if rng.random() < cfg.caption_dropout:
                cap = ""
            latents.append(z); caps.append(cap); fps.append(f); fgs.append(fg)
            masks.append(train_mask(rng, z.shape[1], cfg.plan_shares))
        t0 = time.perf_counter()
        texts = text.encode_each(caps)  # the uncached captions run as one batch
        batch = make_dit_batch(latents, texts, fps, masks, dit.cfg.patch, cfg.max_tokens,
                               dit.cfg.base_tokens, gen, fgs, cfg.object_weight,
                               cfg.object_max_t, cfg.object_max_t_given, cfg.time_shift_min)
        batch = PackedBatch(**{k: v if k == "clips" else v.to(device) for k, v in vars(batch).items()})
        timed("pack_s", t0)
        return {**dit_loss(dit, batch, cfg.dit_temporal_weight),
                **{k: torch.tensor(v) for k, v in spent.items()}}

    # the VAE the latents come from: a DiT state is refused on any other (vae_final trained on)
    step, wall, planned = run_loop("dit", dit, ema, opt, work, cfg.dit_steps, minutes, seed, step_fn,
                                   cfg, cfg.dit_ema_decay, extra_state={"vae": weights_digest(vae)}, fit=fit)
    return ema, step, planned, wall


def main(argv=None) -> int:
    from engine.recipes import build
    p = argparse.ArgumentParser(prog="python -m engine.train", description=__doc__.split("\n")[0])
    p.add_argument("--recipe", default="default", choices=sorted(TRAIN_RECIPES))
    p.add_argument("--stage", default="all", choices=("vae", "dit", "all", "decoder"),
                   help="decoder: fine-tune the decoder of --from's VAE on its frozen encoder, keeping "
                        "its latents and so its DiT")
    p.add_argument("--work", help="folder for resumable state and logs (default runs/<recipe>)")
    p.add_argument("--out", help="checkpoint folder to write (default assets/default for the "
                                 "default recipe, runs/<recipe>/checkpoint otherwise)")
    p.add_argument("--minutes", type=float, help="stop (resumably) after this many minutes per stage")
    p.add_argument("--vae-steps", type=int)
    p.add_argument("--dit-steps", type=int)
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (bf16 autocast on CUDA)")
    p.add_argument("--workers", type=int, default=0,
                   help="render training clips in this many processes (for a GPU; 0: in-process)")
    p.add_argument("--fit", action="store_true",
                   help="plan each stage's step count (and LR decay) to fill --minutes")
    p.add_argument("--init-dit", metavar="CHECKPOINT",
                   help="start the DiT stage from this checkpoint's DiT (same recipe and VAE), e.g. to "
                        "go on on a CPU from weights trained on a lent GPU")
    p.add_argument("--from", dest="source", metavar="CHECKPOINT",
                   help="the checkpoint whose decoder --stage decoder fine-tunes")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="override one TrainConfig field, e.g. --set dit_clips=48 (repeatable)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = TRAIN_RECIPES[args.recipe]
    cfg = replace(cfg, **{k: v for k, v in (("vae_steps", args.vae_steps),
                                             ("dit_steps", args.dit_steps)) if v is not None})
    cfg = override(cfg, args.set)
    # every refusal comes before anything is written
    if args.minutes is not None and not (args.minutes > 0 and math.isfinite(args.minutes)):
        p.error(f"--minutes must be more than 0, got {args.minutes:g} (leave it out for no time limit)")
    if args.fit and args.minutes is None:
        p.error("--fit plans the steps to fill --minutes: give --minutes too")
    if cfg.vae_steps < 1 or cfg.dit_steps < 1:
        p.error(f"step counts must be at least 1 (vae_steps {cfg.vae_steps}, dit_steps {cfg.dit_steps})")
    if args.workers < 0:
        p.error(f"--workers must be 0 (render in this process) or more, got {args.workers}")
    try:
        min_shift_checked(cfg.time_shift_min)
    except ValueError as e:
        p.error(f"--set time_shift_min: {e}")
    try:  # the world options, drawn once, so a bad one is said here and not by a render worker
        sample_scene(np.random.default_rng(0), 2.0, **cfg.world())
    except ValueError as e:
        p.error(f"--set world_*: {e}")
    from engine.runtime import pick_device
    try:
        device = pick_device(args.device)
    except RuntimeError as e:
        p.error(str(e))
    work = Path(args.work or f"runs/{args.recipe}")
    out = Path(args.out or (ckpt.DEFAULT_CHECKPOINT if args.recipe == "default" else work / "checkpoint"))
    hardware = (torch.cuda.get_device_name(device) if device.type == "cuda"
                else f"CPU, {torch.get_num_threads()} threads")
    if args.stage == "decoder":
        if not args.source:
            raise SystemExit("--stage decoder needs --from CHECKPOINT (the model whose decoder to tune)")
        if not args.out:
            raise SystemExit("--stage decoder needs --out: it writes a new checkpoint, never over --from")
        return finetune_decoder(Path(args.source), cfg, work, out, args.minutes, args.workers,
                                args.fit, device, hardware)
    if args.init_dit:
        load_checkpoint(Path(args.init_dit), "--init-dit")  # a missing or broken one, before any training
    work.mkdir(parents=True, exist_ok=True)
    vae, dit, card = build(args.recipe, seed=0)
    vae_done = work / "vae_final"
    if args.stage in ("vae", "all"):
        trained, vae_steps, vae_wall = train_vae(vae.to(device), cfg, work, args.minutes,
                                                 workers=args.workers, fit=args.fit)
        if trained is None:
            return 0
        trained = trained.cpu()
        mean, std = latent_stats(trained, cfg, np.random.default_rng(123), vae.cfg.spatial_factor)
        vae = VideoVAE(replace(trained.cfg, latent_mean=mean, latent_std=std))
        vae.load_state_dict(trained.state_dict())
        ckpt.save(vae_done, vae, dit, replace(card, notes=f"VAE {vae_steps} steps, {vae_wall / 60:.0f} min"))
    if args.stage in ("dit", "all"):
        if not (vae_done / "config.json").is_file():
            raise SystemExit(f"train the VAE first: no {vae_done}")
        vae, _, vae_card = ckpt.load(vae_done, device=device)
        vae.requires_grad_(False)
        history = f"{hardware}: {vae_card.notes} + "
        if args.init_dit:
            dit, history = init_dit(dit, vae, Path(args.init_dit), hardware)
        text = TextEncoder(device, layers=dit.cfg.text_layers)
        ema, dit_step, dit_planned, dit_wall = train_dit(dit.to(device), vae, text, cfg, work, args.minutes,
                                                         workers=args.workers, fit=args.fit)
        card = replace(card, trained_on=f"{history}DiT {dit_step} of {dit_planned} steps, "
                                        f"{dit_wall / 60:.0f} min")
        write_model(out, vae, ema, card)
    return 0


def finetune_decoder(source: Path, cfg: TrainConfig, work: Path, out: Path, minutes, workers, fit,
                     device, hardware: str) -> int:
    """Fine-tune source's VAE decoder on its frozen encoder; write it with source's DiT to out."""
    if not (source / "config.json").is_file():
        raise SystemExit(f"--from {source}: no checkpoint there (no config.json)")
    if out.resolve() == source.resolve():
        raise SystemExit(f"--out {out} is --from: write the tuned model elsewhere and compare first")
    vae, dit, card = load_checkpoint(source, "--from")
    origin = {"from": weights_digest(vae)}  # a decoder state is refused under another --from
    work.mkdir(parents=True, exist_ok=True)
    if cfg.decoder_lookahead != vae.cfg.decoder_lookahead:
        vae = grow_lookahead(vae, cfg.decoder_lookahead)
    trained, steps, wall = train_vae(vae.to(device), cfg, work, minutes, workers=workers, fit=fit,
                                     decoder_only=True, source=origin)
    if trained is None:
        return 0
    before = f"{card.trained_on}; then " if card.trained_on else ""
    ahead = f" (reading {cfg.decoder_lookahead} latent ahead)" if cfg.decoder_lookahead else ""
    card = replace(card, trained_on=f"{before}{hardware}: decoder{ahead} {steps} steps, {wall / 60:.0f} min")
    write_model(out, trained, dit, card)
    return 0


def write_model(out: Path, vae: VideoVAE, dit: DiT, card) -> None:
    """A stage's finished checkpoint; fp16 under assets/ (half the git weight), else fp32."""
    shipped = out.resolve().is_relative_to(ckpt.DEFAULT_CHECKPOINT.parent.resolve())
    ckpt.save(out, vae.cpu(), dit.cpu(), card, half=shipped)
    print(f"wrote {out}")


# DiT config flags that add zero-initialised parts: --init-dit grows them onto a DiT that lacks
# them, which starts unchanged
GROWABLE = {"abs_pos": "pos_embed.", "refine": "refine."}
GROWN_AS = {"abs_pos": "fractional positions", "refine": "a convolutional head"}


def init_dit(dit: DiT, vae: VideoVAE, source: Path, hardware: str) -> tuple[DiT, str]:
    """dit with the weights of source's DiT, and the training history to put before this run's.
    The source must share the recipe's DiT config and the stage's VAE: a DiT is only as good as
    the latents it was trained on."""
    src_vae, src_dit, src_card = load_checkpoint(source, "--init-dit")
    # growing: parts the source lacks that start at zero, so the DiT starts as the source's
    # (fractional positions, the convolutional head, more of the text encoder's layers)
    added = {name: prefix for name, prefix in GROWABLE.items()
             if getattr(dit.cfg, name) and not getattr(src_dit.cfg, name)}
    new_layers = [k for k in dit.cfg.text_layers if k not in src_dit.cfg.text_layers]
    if src_dit.cfg != replace(dit.cfg, text_layers=src_dit.cfg.text_layers,
                              **{name: getattr(src_dit.cfg, name) for name in added}):
        raise SystemExit(f"--init-dit {source}: its DiT config differs from the recipe's")
    state = src_dit.state_dict()
    if dit.cfg.text_layers != src_dit.cfg.text_layers:
        try:
            state = widen_text_inputs(state, src_dit.cfg, dit.cfg)
        except ValueError as e:
            raise SystemExit(f"--init-dit {source}: {e}") from None
    same_vae = src_vae.cfg == vae.cfg and all(
        torch.equal(a, b.cpu()) for a, b in zip(src_vae.state_dict().values(), vae.state_dict().values()))
    if not same_vae:
        raise SystemExit(f"--init-dit {source}: its VAE is not this run's vae_final")
    missing, unexpected = dit.load_state_dict(state, strict=not added)
    if unexpected or any(not k.startswith(tuple(added.values())) for k in missing):
        raise SystemExit(f"--init-dit {source}: weights do not fit ({missing}, {unexpected})")
    given = [GROWN_AS[name] for name in added]
    if new_layers:
        given.append(f"text layers {', '.join(map(str, new_layers))}")
    grown = f" (given {' and '.join(given)})" if given else ""
    return dit, f"{src_card.trained_on}; then {hardware}{grown}: "


def load_checkpoint(path: Path, flag: str):
    """ckpt.load, its refusals (no config, no weights, a broken file) said as the flag's error."""
    try:
        return ckpt.load(path)
    except (OSError, ValueError, RuntimeError, KeyError) as e:
        raise SystemExit(f"{flag} {path}: {e}") from None


def override(cfg: TrainConfig, assignments: list[str]) -> TrainConfig:
    """Apply FIELD=VALUE strings to a TrainConfig, parsing each value as its field's type."""
    kinds = {f.name: f.type for f in fields(TrainConfig)}
    changes = {}
    for a in assignments:
        name, sep, value = a.partition("=")
        if not sep or name not in kinds:
            raise SystemExit(f"--set {a!r}: expected FIELD=VALUE with FIELD one of {sorted(kinds)}")
        kind = kinds[name]
        try:
            if kind.startswith("tuple"):
                item = float if "float" in kind else int if "int" in kind else str
                changes[name] = tuple(item(v) for v in value.split(","))
            else:
                changes[name] = {"int": int, "float": float}[kind](value)
        except (ValueError, KeyError):
            raise SystemExit(f"--set {a!r}: {value!r} is not a {kind}") from None
        values = changes[name] if isinstance(changes[name], tuple) else (changes[name],)
        if any(isinstance(v, float) and not math.isfinite(v) for v in values):
            raise SystemExit(f"--set {a!r}: not a finite number")  # saved in every state, as JSON
    return replace(cfg, **changes)


if __name__ == "__main__":
    raise SystemExit(main())
