"""Training: the VAE first, then the DiT on its latents, both on the embedded world.

    python -m engine.train --recipe default                 # both stages, resumable
    python -m engine.train --recipe default --stage dit --minutes 60

Each stage keeps EMA weights, writes a resumable state (safetensors + JSON, never pickle) to
--work every few minutes, logs losses to <work>/log.jsonl and shows a progress bar. The DiT sees
the same conditioning plans the operations use (first frame known, a run of frames known at either
end, both ends known, uniform partial noise), so every operation is trained. Clips of different
sizes, aspects and durations are packed into one sequence batch (NaViT's Patch n' Pack).
"""
from __future__ import annotations

import argparse
import copy
import json
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from engine import checkpoint as ckpt
from engine.dit import DiT
from engine.io import atomic_path, write_json_atomic
from engine.patches import pack, patchify
from engine.sampler import shift_for_tokens, shift_time
from engine.sizes import size_for_aspect
from engine.text import TextBatch, TextEncoder
from engine.vae import VideoVAE, kl_divergence, preview_target
from engine.world import caption, object_track, render, sample_scene


@dataclass(frozen=True)
class TrainConfig:
    vae_steps: int = 9300
    vae_batch: int = 8
    vae_lr: float = 5e-4
    kl_weight: float = 1e-6
    vae_long_sides: tuple[int, ...] = (128, 256)  # clips render at inference sizes ...
    vae_crop: int = 64                          # ... and train on random crops (convs are local)
    vae_frames: tuple[int, ...] = (1, 5, 9, 13)
    vae_object_crops: float = 0.7               # share of crops centred on an object
    dit_steps: int = 1750
    # On a 2-core CPU more, smaller steps beat fewer large ones: 16 clips a step gave 811 steps
    # an hour and a model that had learned backgrounds but no objects (issue 3, first run).
    dit_clips: int = 8             # clips per step, packed into rows of max_tokens
    max_tokens: int = 1024
    replay_size: int = 1024        # encoded clips kept for reuse under fresh noise and plans
    fresh_per_step: int = 1        # new clips rendered and encoded per step (encoding is costly)
    dit_lr: float = 5e-4
    long_sides: tuple[int, ...] = (128, 256)   # draft and full sizes
    seconds: tuple[float, ...] = (0.0, 1.0, 2.0, 3.0)  # 0.0 draws a still image
    fps: tuple[float, ...] = (8.0, 12.0, 16.0)
    aspects: tuple[str, ...] = ("16:9", "9:16", "1:1", "4:3", "3:4")
    caption_dropout: float = 0.1   # the null caption, for classifier-free guidance
    # EMA horizons fit to CPU-length runs: at 0.999 (a 1,000-step horizon) the VAE's EMA after
    # 1,800 steps lagged its raw weights by 4-6 dB PSNR, still averaging early weights.
    vae_ema_decay: float = 0.99
    dit_ema_decay: float = 0.998
    warmup_steps: int = 100
    final_lr_frac: float = 0.05    # cosine decay to this fraction of the peak over the last
    decay_frac: float = 0.4        # decay_frac of the planned steps (a constant LR plateaus early)
    save_every_s: float = 300.0
    log_every: int = 25


TRAIN_RECIPES = {
    "default": TrainConfig(),
    "tiny": TrainConfig(vae_steps=20, vae_batch=2, vae_long_sides=(32,), vae_crop=16, vae_frames=(1, 5),
                        dit_steps=20, dit_clips=4, max_tokens=1024, long_sides=(16, 32),
                        seconds=(0.0, 0.5), fps=(8.0,), replay_size=8, fresh_per_step=2,
                        save_every_s=1e9, log_every=5),
}


# -- data: the embedded world --------------------------------------------------------------------
def draw_scene_clip(rng: np.random.Generator, long_sides, seconds_choices, fps_choices, aspects,
                    multiple: int, temporal_factor: int, max_frames: int = 10**9,
                    max_tokens: int | None = None):
    """One world clip at a random native aspect, size and duration.

    `multiple` is the pixel size of one token's cell; with max_tokens, long clips at large sizes
    are cut to the duration that fits the token budget.
    Returns frames (3, T, H, W) float in [-1, 1], the scene, fps."""
    aspect = aspects[rng.integers(len(aspects))]
    w, h = size_for_aspect(aspect, int(long_sides[rng.integers(len(long_sides))]), multiple)
    fps = float(fps_choices[rng.integers(len(fps_choices))])
    seconds = float(seconds_choices[rng.integers(len(seconds_choices))])
    k = max(0, round((seconds * fps - 1) / temporal_factor))
    num_frames = min(1 + k * temporal_factor, max_frames)
    if max_tokens is not None:
        per_latent_frame = (w // multiple) * (h // multiple)
        num_frames = min(num_frames, 1 + (max_tokens // per_latent_frame - 1) * temporal_factor)
    scene = sample_scene(rng, duration_s=max(num_frames / fps, 0.5))
    frames = render(scene, w, h, num_frames, fps)                          # (T, H, W, 3) uint8
    video = torch.from_numpy(frames).permute(3, 0, 1, 2).float() / 127.5 - 1.0
    return video, scene, fps


def draw_clip(rng: np.random.Generator, *args, **kwargs):
    """draw_scene_clip, captioned: frames (3, T, H, W) in [-1, 1], caption, fps."""
    video, scene, fps = draw_scene_clip(rng, *args, **kwargs)
    return video, caption(scene, rng), fps


# -- losses (shared by training and the overfit tests) -------------------------------------------
def vae_loss(vae: VideoVAE, video: torch.Tensor, kl_weight: float, generator=None) -> dict:
    """video (B, 3, T, H, W) -> reconstruction (L1 + a gradient term for sharp edges), KL, preview."""
    mean, logvar = vae.encode_moments(video)
    noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
    z = mean + (0.5 * logvar).exp() * noise
    recon = vae.decode_raw(z)
    l1 = (recon - video).abs().mean()
    grad = sum((torch.diff(recon, dim=d) - torch.diff(video, dim=d)).abs().mean() for d in (-1, -2))
    kl = kl_divergence(mean, logvar)
    preview = F.mse_loss(vae.preview(mean.detach()), preview_target(video, vae.cfg))
    total = l1 + 0.5 * grad + kl_weight * kl + preview
    return {"loss": total, "l1": l1.detach(), "kl": kl.detach(), "preview": preview.detach()}


def train_mask(rng: np.random.Generator, t: int) -> np.ndarray:
    """A conditioning plan's mask over t latent frames, drawn like the operations use them."""
    mask = np.zeros(t, dtype=np.float32)
    if t == 1:
        return mask
    u = rng.random()
    if u < 0.45:
        pass                                                   # generate
    elif u < 0.60:
        mask[0] = 1                                            # animate an image
    elif u < 0.70:
        mask[:rng.integers(1, t)] = 1                          # extend forward
    elif u < 0.78:
        mask[t - rng.integers(1, t):] = 1                      # extend backward
    elif u < 0.88:
        k = max(1, (t - 1) // 3)                               # interpolate / loop: both ends
        mask[:rng.integers(1, k + 1)] = 1
        mask[t - rng.integers(1, k + 1):] = 1
    else:
        mask[:] = 1 - rng.uniform(0.2, 1.0)                    # restyle (SDEdit)
    return mask


@dataclass
class PackedBatch:
    tokens: torch.Tensor; target: torch.Tensor; weight: torch.Tensor; pos: torch.Tensor
    row_t: torch.Tensor; row_fps: torch.Tensor; row_pooled: torch.Tensor; token_row: torch.Tensor
    text: torch.Tensor; text_valid: torch.Tensor; token_segment: torch.Tensor
    text_segment: torch.Tensor; valid: torch.Tensor


def make_dit_batch(latents: list[torch.Tensor], texts: list[TextBatch], fps: list[float],
                   masks: list[np.ndarray], patch, max_tokens: int, base_tokens: int,
                   generator: torch.Generator) -> PackedBatch:
    """Noise each clip under its plan and pack all clips into rows of max_tokens tokens.

    latents: list of (C, t, h, w) normalised latents. Loss weight is 1 on tokens that are noisy
    (frame time > 0) and 0 on known frames and padding."""
    seqs, grids, meta = [], [], []
    for z, mask in zip(latents, masks):
        C, t, h, w = z.shape
        grid = (t // patch.t, h // patch.h, w // patch.w)
        n_tok = grid[0] * grid[1] * grid[2]
        u = torch.sigmoid(torch.randn((), generator=generator))               # logit-normal (SD3)
        u = shift_time(u, shift_for_tokens(n_tok, base_tokens))
        frame_t = torch.minimum(u.expand(t), 1 - torch.from_numpy(mask))       # (t,)
        noise = torch.randn(z.shape, generator=generator)
        ft = frame_t[None, :, None, None]
        x_t = (1 - ft) * z + ft * noise
        v = noise - z
        tok_in = patchify(x_t[None], patch)[0]                                 # (N, Din)
        tok_v = patchify(v[None], patch)[0]
        row_t = frame_t.reshape(grid[0], patch.t).amax(-1)                     # (Tp,)
        seqs.append(torch.cat([tok_in, tok_v], dim=-1))
        grids.append(grid)
        meta.append((row_t, grid))
    packed = pack(seqs, grids, max_tokens)
    D = seqs[0].shape[1] // 2
    B, N = packed.valid.shape
    F_max = max(sum(meta[i][1][0] for i, *_ in row) for row in packed.layout)
    M_max = max(sum(texts[i].states.shape[1] for i, *_ in row) for row in packed.layout)
    row_t = torch.zeros(B, F_max); row_fps = torch.zeros(B, F_max)
    row_pooled = torch.zeros(B, F_max, texts[0].pooled.shape[-1])
    token_row = torch.zeros(B, N, dtype=torch.long)
    text = torch.zeros(B, M_max, texts[0].states.shape[-1])
    text_valid = torch.zeros(B, M_max, dtype=torch.bool)
    text_segment = torch.full((B, M_max), -1, dtype=torch.long)
    weight = torch.zeros(B, N)
    for r, row in enumerate(packed.layout):
        f0 = m0 = 0
        for i, start, n, seg in row:
            rt, (Tp, hp, wp) = meta[i]
            row_t[r, f0:f0 + Tp] = rt
            row_fps[r, f0:f0 + Tp] = fps[i]
            row_pooled[r, f0:f0 + Tp] = texts[i].pooled[0]
            token_row[r, start:start + n] = f0 + torch.arange(Tp).repeat_interleave(hp * wp)
            weight[r, start:start + n] = (rt > 0).float().repeat_interleave(hp * wp)
            m = texts[i].states.shape[1]
            text[r, m0:m0 + m] = texts[i].states[0]
            text_valid[r, m0:m0 + m] = texts[i].valid[0]
            text_segment[r, m0:m0 + m] = seg
            f0 += Tp
            m0 += m
    return PackedBatch(packed.tokens[..., :D], packed.tokens[..., D:], weight, packed.positions,
                       row_t, row_fps, row_pooled, token_row, text, text_valid, packed.segment,
                       text_segment, packed.valid)


def dit_loss(dit: DiT, b: PackedBatch) -> torch.Tensor:
    """Velocity MSE over noisy tokens (known frames and padding carry no loss)."""
    pred = dit.forward_tokens(b.tokens, b.pos, b.row_t, b.row_fps, b.row_pooled, b.token_row,
                              b.text, b.text_valid, b.token_segment, b.text_segment, b.valid)
    err = (pred.float() - b.target).pow(2).mean(-1)                            # (B, N)
    return (err * b.weight).sum() / b.weight.sum().clamp(min=1.0)


# -- resumable state (safetensors + JSON only) -----------------------------------------------------
def save_state(path: Path, model, ema, opt, step: int, rng: np.random.Generator,
               gen: torch.Generator, extra: dict) -> None:
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tensors.update({f"ema.{k}": v.detach().cpu().contiguous() for k, v in ema.state_dict().items()})
    opt_state = opt.state_dict()
    for pid, st in opt_state["state"].items():
        for k, v in st.items():
            tensors[f"opt.{pid}.{k}"] = torch.as_tensor(v).detach().cpu().contiguous()
    tensors["torch_generator"] = gen.get_state()
    with atomic_path(path.with_suffix(".safetensors")) as tmp:
        save_file(tensors, str(tmp))
    write_json_atomic({"step": step, "param_groups": opt_state["param_groups"],
                       "numpy_rng": rng.bit_generator.state, **extra}, path.with_suffix(".json"))


def load_state(path: Path, model, ema, opt, rng: np.random.Generator, gen: torch.Generator) -> dict:
    meta = json.loads(path.with_suffix(".json").read_text())
    tensors = load_file(str(path.with_suffix(".safetensors")))
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    ema.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("ema.")})
    state: dict = {}
    for k, v in tensors.items():
        if k.startswith("opt."):
            _, pid, name = k.split(".", 2)
            state.setdefault(int(pid), {})[name] = v
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    rng.bit_generator.state = meta["numpy_rng"]
    gen.set_state(tensors["torch_generator"])
    return meta


@torch.no_grad()
def ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    for e, p in zip(ema.parameters(), model.parameters()):
        e.lerp_(p.detach(), 1 - decay)


def _loop(name, model, ema, opt, work: Path, steps: int, minutes: float | None, seed: int,
          step_fn, cfg: TrainConfig, ema_decay: float, extra_state=None):
    """The shared loop: resume, step, EMA, log, save on time and at the end."""
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    state_path = work / f"{name}_state"
    step, wall_before = 0, 0.0
    if state_path.with_suffix(".json").is_file():
        meta = load_state(state_path, model, ema, opt, rng, gen)
        step, wall_before = meta["step"], meta.get("wall_s", 0.0)
        print(f"[{name}] resumed at step {step} after {wall_before / 60:.1f} min")
    deadline = time.time() + minutes * 60 if minutes else None
    last_save = time.time()
    log = (work / "log.jsonl").open("a")
    bar = tqdm(total=steps, initial=step, desc=name, dynamic_ncols=True)
    t_start = time.time()
    def state():
        return {**(extra_state or {}), "wall_s": wall_before + time.time() - t_start}

    for g in opt.param_groups:  # 'initial_lr' travels in the saved param_groups across resumes
        g.setdefault("initial_lr", g["lr"])
    while step < steps:
        for g in opt.param_groups:  # derived from the step, so a resumed run follows the same curve
            g["lr"] = g["initial_lr"] * lr_factor(step, steps, cfg)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=_on_cuda(model)):
            losses = step_fn(rng, gen)
        opt.zero_grad(set_to_none=True)
        losses["loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        ema_update(ema, model, ema_decay if step > 100 else 0.0)
        step += 1
        bar.update(1)
        if step % cfg.log_every == 0 or step == steps:
            entry = {"stage": name, "step": step, "time": round(time.time() - t_start, 1),
                     **{k: round(float(v.detach()), 5) for k, v in losses.items()}}
            log.write(json.dumps(entry) + "\n")
            log.flush()
            bar.set_postfix(loss=f"{losses['loss'].item():.4f}")
        if time.time() - last_save > cfg.save_every_s or step == steps:
            save_state(state_path, model, ema, opt, step, rng, gen, state())
            last_save = time.time()
        if deadline and time.time() > deadline:
            save_state(state_path, model, ema, opt, step, rng, gen, state())
            print(f"[{name}] time budget reached at step {step}; run again to resume")
            break
    bar.close()
    log.close()
    return step, state()["wall_s"]


def lr_factor(step: int, total: int, cfg: TrainConfig) -> float:
    """Linear warm-up, a plateau, then a cosine decay to final_lr_frac over the last decay_frac."""
    warm = min(1.0, (step + 1) / cfg.warmup_steps)
    start = total * (1 - cfg.decay_frac)
    if step < start:
        return warm
    progress = min(1.0, (step - start) / max(1.0, total - start))
    return warm * (cfg.final_lr_frac + (1 - cfg.final_lr_frac) * 0.5 * (1 + float(np.cos(np.pi * progress))))


def _on_cuda(model: torch.nn.Module) -> bool:
    return next(model.parameters()).device.type == "cuda"


@torch.no_grad()
def latent_stats(vae: VideoVAE, cfg: TrainConfig, rng, multiple: int, n: int = 32):
    means = []
    for _ in range(n):
        video, _, _ = draw_clip(rng, cfg.vae_long_sides, (1.0,), (12.0,), cfg.aspects, multiple,
                                vae.cfg.temporal_factor)
        means.append(vae.encode_moments(video[None])[0])
    z = torch.cat([m.flatten(2) for m in means], dim=2)[0]                      # (z, cells)
    return tuple(z.mean(1).tolist()), tuple(z.std(1).clamp(min=1e-3).tolist())


def vae_batch(rng: np.random.Generator, cfg: TrainConfig, vae_cfg) -> torch.Tensor:
    """(B, 3, T, crop, crop) world clips for the VAE: rendered at inference sizes so objects
    and edges have their real pixel scale, then cropped. Objects cover a few percent of a frame,
    so a share of crops is centred on one (jittered) at a random frame: with uniform crops the
    VAE reproduced backgrounds and lost moving objects (issue 3)."""
    long_side = cfg.vae_long_sides[rng.integers(len(cfg.vae_long_sides))]
    n_frames = cfg.vae_frames[rng.integers(len(cfg.vae_frames))]
    aspect = cfg.aspects[rng.integers(len(cfg.aspects))]
    clips = []
    for _ in range(cfg.vae_batch):
        fps = float(cfg.fps[rng.integers(len(cfg.fps))])  # motion per frame as the DiT sees it
        video, scene, fps = draw_scene_clip(rng, (long_side,), (n_frames / fps,), (fps,), (aspect,),
                                            vae_cfg.spatial_factor, vae_cfg.temporal_factor,
                                            max_frames=n_frames)
        T, H, W = video.shape[-3:]
        c = min(cfg.vae_crop, H, W) // vae_cfg.spatial_factor * vae_cfg.spatial_factor
        y, x = crop_origin(rng, scene, (T, H, W), fps, c, cfg.vae_object_crops)
        clips.append(video[..., y:y + c, x:x + c])
    return torch.stack(clips)


def crop_origin(rng: np.random.Generator, scene, size: tuple[int, int, int], fps: float, c: int,
                object_share: float) -> tuple[int, int]:
    """Top-left (y, x) of a c x c crop of a (T, H, W) render: uniform, or with probability
    object_share centred (within c/4) on one object at one frame."""
    T, H, W = size
    if scene.objects and rng.random() < object_share:
        obj = scene.objects[rng.integers(len(scene.objects))]
        ox, oy, _ = object_track(obj, [rng.integers(T) / fps], scene)
        jitter = rng.uniform(-c / 4, c / 4, size=2)
        return (int(np.clip(round(oy[0] * H - c / 2 + jitter[1]), 0, H - c)),
                int(np.clip(round(ox[0] * W - c / 2 + jitter[0]), 0, W - c)))
    return int(rng.integers(H - c + 1)), int(rng.integers(W - c + 1))


def train_vae(vae: VideoVAE, cfg: TrainConfig, work: Path, minutes=None, seed=0):
    """Returns (the EMA model once all steps are done, else None; wall seconds so far)."""
    ema = copy.deepcopy(vae).requires_grad_(False)
    opt = torch.optim.AdamW(vae.parameters(), lr=cfg.vae_lr, weight_decay=0.0)
    def step_fn(rng, gen):
        video = vae_batch(rng, cfg, vae.cfg).to(next(vae.parameters()).device)
        return vae_loss(vae, video, cfg.kl_weight, None if _on_cuda(vae) else gen)

    step, wall = _loop("vae", vae, ema, opt, work, cfg.vae_steps, minutes, seed, step_fn, cfg,
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
        video, cap, f = draw_clip(rng, cfg.long_sides, cfg.seconds, cfg.fps, cfg.aspects, mult, tf,
                                  max_tokens=cfg.max_tokens)
        z = vae.encode(video[None].to(device), chunk_frames=None)[0].float().cpu()  # (C, t, h, w)
        return z, cap, f

    def step_fn(rng, gen):
        if not replay:
            replay.extend(fresh(rng) for _ in range(cfg.dit_clips))
        for _ in range(cfg.fresh_per_step):
            item = fresh(rng)
            if len(replay) < cfg.replay_size:
                replay.append(item)
            else:
                replay[rng.integers(len(replay))] = item
        latents, texts, fps, masks = [], [], [], []
        for j in rng.choice(len(replay), size=min(cfg.dit_clips, len(replay)), replace=False):
            z, cap, f = replay[j]
            if rng.random() < cfg.caption_dropout:
                cap = ""
            latents.append(z); texts.append(text.encode([cap])); fps.append(f)
            masks.append(train_mask(rng, z.shape[1]))
        batch = make_dit_batch(latents, texts, fps, masks, dit.cfg.patch, cfg.max_tokens,
                               dit.cfg.base_tokens, gen)
        batch = PackedBatch(**{k: v.to(device) for k, v in vars(batch).items()})
        return {"loss": dit_loss(dit, batch)}

    step, wall = _loop("dit", dit, ema, opt, work, cfg.dit_steps, minutes, seed, step_fn, cfg,
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
