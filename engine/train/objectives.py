"""Losses and batches, shared by training and the overfit tests: the VAE's reconstruction loss,
the conditioning plans the DiT trains on, and packed flow-matching batches."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from engine.dit import DiT
from engine.patches import pack, patchify
from engine.sampler import shift_for_tokens, shift_time
from engine.train.config import PLAN_SHARES
from engine.text import TextBatch
from engine.vae import VideoVAE, kl_divergence, preview_target


def vae_loss(vae: VideoVAE, video: torch.Tensor, kl_weight: float, generator=None,
             weight: torch.Tensor | None = None, latent_noise: float = 0.0,
             temporal_weight: float = 0.0) -> dict:
    """video (B, 3, T, H, W) -> reconstruction (L1 + a gradient term for sharp edges), KL, preview.

    weight (B, 1, T, H, W), optional: per-pixel weights of the reconstruction terms (a weighted
    mean, so the loss keeps its scale); `l1` is logged unweighted.
    latent_noise: each clip's latents also get Gaussian noise of a standard deviation drawn
    uniformly from [0, latent_noise], in the normalised space the DiT samples in, and are still
    asked to decode to the clean clip (for a decoder trained on a frozen encoder only).
    temporal_weight: weight of the edge term along time, which asks each frame-to-frame change of
    the reconstruction to match the clip's: flicker costs loss (logged as `temporal`)."""
    mean, logvar = vae.encode_moments(video)
    noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
    z = mean + (0.5 * logvar).exp() * noise
    if latent_noise > 0:
        sigma = latent_noise * torch.rand(len(z), generator=generator, device=z.device, dtype=z.dtype)
        eps = torch.randn(z.shape, generator=generator, device=z.device, dtype=z.dtype)
        z = z + sigma.view(-1, 1, 1, 1, 1) * vae.latent_std.to(z.dtype) * eps  # std: raw per normalised unit
    recon = vae.decode_raw(z)
    err = (recon - video).abs()
    w = torch.ones_like(video[:, :1]) if weight is None else weight.to(video)
    rec = (err * w).mean() / w.mean()
    def edge(d):  # differences of neighbours along dim d, weighted by the larger weight of the pair
        pair_w = torch.maximum(w.narrow(d, 0, w.shape[d] - 1), w.narrow(d, 1, w.shape[d] - 1))
        return ((torch.diff(recon, dim=d) - torch.diff(video, dim=d)).abs() * pair_w).mean() / w.mean()
    grad = edge(-1) + edge(-2)
    temporal = edge(-3) if video.shape[2] > 1 else torch.zeros((), device=video.device)
    kl = kl_divergence(mean, logvar)
    preview = F.mse_loss(vae.preview(mean.detach()), preview_target(video, vae.cfg))
    total = rec + 0.5 * grad + kl_weight * kl + preview
    if temporal_weight:  # else logged only: no backward pass through it
        total = total + temporal_weight * temporal
    return {"loss": total, "l1": err.mean().detach(), "kl": kl.detach(), "preview": preview.detach(),
            "temporal": temporal.detach()}


PLANS = ("generate", "animate", "forward", "backward", "ends", "restyle")


def train_mask(rng: np.random.Generator, t: int, shares: tuple[float, ...] = PLAN_SHARES) -> np.ndarray:
    """A conditioning plan's mask over t latent frames, drawn like the operations use them, each
    plan (PLANS) with its share of the draws (normalised)."""
    if len(shares) != len(PLANS) or min(shares) < 0 or sum(shares) <= 0:
        raise ValueError(f"plan shares must be {len(PLANS)} non-negative numbers ({', '.join(PLANS)}), "
                         f"got {shares}")
    mask = np.zeros(t, dtype=np.float32)
    if t == 1:
        return mask
    edges = np.cumsum(shares) / sum(shares)
    u = rng.random()
    if u < edges[0]:
        pass                                                   # generate
    elif u < edges[1]:
        mask[0] = 1                                            # animate an image
    elif u < edges[2]:
        mask[:rng.integers(1, t)] = 1                          # extend forward
    elif u < edges[3]:
        mask[t - rng.integers(1, t):] = 1                      # extend backward
    elif u < edges[4]:
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
    text_segment: torch.Tensor; valid: torch.Tensor; foreground: torch.Tensor
    clips: torch.Tensor  # (K, 6) long: each clip's (row, start, length, Tp, hp, wp)


def make_dit_batch(latents: list[torch.Tensor], texts: list[TextBatch], fps: list[float],
                   masks: list[np.ndarray], patch, max_tokens: int, base_tokens: int,
                   generator: torch.Generator, foreground: list[torch.Tensor] | None = None,
                   object_weight: float = 0.0, object_max_t: float = 1.0,
                   object_max_t_given: float | None = None, min_shift: float = 1.0) -> PackedBatch:
    """Noise each clip under its plan and pack all clips into rows of max_tokens tokens.

    latents: list of (C, t, h, w) normalised latents, on one device (the packed tokens and
    targets come back there; the rest of the batch is on the CPU); foreground: per clip, its
    token grid (Tp, hp, wp) with 1 where an object is (token_foreground). Loss weight is 0 on
    known frames and padding, and on noisy tokens (frame time > 0) 1, or 1 + object_weight on
    objects while their frame time is below object_max_t, or below object_max_t_given (default:
    object_max_t) in a clip with a given (clean) latent frame: there the given frame and the
    caption's motion say where objects go, so a weight from the target's mask biases little.
    min_shift: the floor of each clip's time shift (shift_for_tokens), as the card's min_shift
    floors the sampler's."""
    if object_max_t_given is None:
        object_max_t_given = object_max_t
    device = latents[0].device
    us = torch.sigmoid(torch.randn(len(latents), generator=generator))        # logit-normal (SD3)
    # All clips' noise in one draw, on the latents' device. Drawn and reshaped clip by clip on
    # the CPU, 48 clips took about 100 ms (one thread, this CPU): likely much of the 379 ms an
    # H100 step took (issue 3). A device generator is seeded from `generator`, so a resumed run
    # draws the same noise.
    noise_gen = generator if generator.device == device else torch.Generator(device).manual_seed(
        int(torch.randint(2**62, (), generator=generator)))
    numels = [z.numel() for z in latents]
    noises = torch.randn(sum(numels), generator=noise_gen, device=device).split(numels)
    grids, frame_ts = [], []                  # each clip's token grid, flow time per latent frame (t,)
    for z, mask, u in zip(latents, masks, us):
        C, t, h, w = z.shape
        grids.append((t // patch.t, h // patch.h, w // patch.w))
        u = shift_time(u, shift_for_tokens(grids[-1][0] * grids[-1][1] * grids[-1][2], base_tokens,
                                           min_shift=min_shift))
        frame_ts.append(torch.minimum(u.expand(t), 1 - torch.from_numpy(mask)))
    # one copy to the device for all clips (a copy per clip was a launch and a wait each)
    device_ts = torch.cat(frame_ts).to(device).split([len(f) for f in frame_ts])
    seqs, meta = [], []
    for z, grid, frame_t, ft, noise in zip(latents, grids, frame_ts, device_ts, noises):
        noise = noise.view(z.shape)
        ft = ft[None, :, None, None]
        x_t = (1 - ft) * z + ft * noise
        v = noise - z
        tok_in = patchify(x_t[None], patch)[0]                                 # (N, Din)
        tok_v = patchify(v[None], patch)[0]
        row_t = frame_t.reshape(grid[0], patch.t).amax(-1)                     # (Tp,)
        seqs.append(torch.cat([tok_in, tok_v], dim=-1))
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
    fg_tokens = torch.zeros(B, N)
    clips = torch.tensor([(r, start, n, *meta[i][1]) for r, row in enumerate(packed.layout)
                          for i, start, n, _ in row], dtype=torch.long)
    for r, row in enumerate(packed.layout):
        f0 = m0 = 0
        for i, start, n, seg in row:
            rt, (Tp, hp, wp) = meta[i]
            row_t[r, f0:f0 + Tp] = rt
            row_fps[r, f0:f0 + Tp] = fps[i]
            row_pooled[r, f0:f0 + Tp] = texts[i].pooled[0]
            token_row[r, start:start + n] = f0 + torch.arange(Tp).repeat_interleave(hp * wp)
            token_t = rt.repeat_interleave(hp * wp)                                # (n,) frame time
            weight[r, start:start + n] = (token_t > 0).float()
            if foreground is not None:
                fg = foreground[i].reshape(-1)                                     # (n,) token order
                if fg.numel() != n:
                    raise ValueError(f"clip {i}: foreground has {fg.numel()} tokens, latents {n}")
                fg_tokens[r, start:start + n] = fg
                max_t = object_max_t_given if bool((masks[i] >= 1).any()) else object_max_t
                weight[r, start:start + n] *= 1 + object_weight * fg * (token_t < max_t).float()
            m = texts[i].states.shape[1]
            text[r, m0:m0 + m] = texts[i].states[0]
            text_valid[r, m0:m0 + m] = texts[i].valid[0]
            text_segment[r, m0:m0 + m] = seg
            f0 += Tp
            m0 += m
    return PackedBatch(packed.tokens[..., :D], packed.tokens[..., D:], weight, packed.positions,
                       row_t, row_fps, row_pooled, token_row, text, text_valid, packed.segment,
                       text_segment, packed.valid, fg_tokens, clips)


def dit_loss(dit: DiT, b: PackedBatch, temporal_weight: float = 0.0) -> dict:
    """Weighted velocity MSE over noisy tokens (known frames and padding carry no loss), plus
    the plain MSE on object and on background tokens, for the log.

    temporal_weight: weight of the MSE of the error's change from one latent frame to the next
    at the same place (logged as `temporal`). Its optimum is the same prediction; it weighs
    errors that differ frame to frame, which decode as flicker, above errors shared by
    neighbouring frames."""
    pred = dit.forward_tokens(b.tokens, b.pos, b.row_t, b.row_fps, b.row_pooled, b.token_row,
                              b.text, b.text_valid, b.token_segment, b.text_segment, b.valid,
                              b.clips)
    diff = pred.float() - b.target                                             # (B, N, Din)
    err = diff.pow(2).mean(-1)                                                 # (B, N)
    noisy = (b.weight > 0).float()
    fg, bg = noisy * b.foreground, noisy * (1 - b.foreground)
    loss = (err * b.weight).sum() / b.weight.sum().clamp(min=1.0)
    temporal = temporal_error(diff, noisy, b.clips)
    if temporal_weight:  # else logged only
        loss = loss + temporal_weight * temporal
    return {"loss": loss,
            "object": ((err * fg).sum() / fg.sum().clamp(min=1.0)).detach(),
            "background": ((err * bg).sum() / bg.sum().clamp(min=1.0)).detach(),
            "temporal": temporal.detach()}


def temporal_error(diff: torch.Tensor, noisy: torch.Tensor, clips) -> torch.Tensor:
    """Mean squared change of the prediction error between consecutive latent frames at one
    place, over pairs of noisy tokens. diff (B, N, Din); noisy (B, N); clips (K, 6) rows of
    (row, start, length, Tp, hp, wp): a clip's tokens are frame-major, so frame k + 1 of a
    place is hp * wp tokens on. Time patches span a frame each here (patch_t 1) or several."""
    total = diff.new_zeros(())
    pairs = diff.new_zeros(())
    for r, s, n, Tp, hp, wp in (clips.tolist() if torch.is_tensor(clips) else clips):
        if Tp < 2:
            continue
        e = diff[r, s:s + n].view(Tp, hp * wp, -1)
        m = noisy[r, s:s + n].view(Tp, hp * wp)
        both = m[1:] * m[:-1]                                                  # (Tp - 1, hp * wp)
        total = total + ((e[1:] - e[:-1]).pow(2).mean(-1) * both).sum()
        pairs = pairs + both.sum()
    return total / pairs.clamp(min=1.0)
