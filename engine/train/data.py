"""Training data from the embedded world: clips at native aspects and sizes, object masks, VAE crops."""
from __future__ import annotations

import numpy as np
import torch

from engine.sizes import size_for_aspect
from engine.train.config import TrainConfig
from engine.world import caption, object_track, render, render_with_masks, sample_scene


def draw_scene_clip(rng: np.random.Generator, long_sides, seconds_choices, fps_choices, aspects,
                    multiple: int, temporal_factor: int, max_frames: int = 10**9,
                    max_tokens: int | None = None, with_masks: bool = False, world: dict | None = None):
    """One world clip at a random native aspect, size and duration.

    `multiple` is the pixel size of one token's cell; with max_tokens, long clips at large sizes
    are cut to the duration that fits the token budget; world: sample_scene's options
    (TrainConfig.world; None: the whole world).
    Returns frames (3, T, H, W) float in [-1, 1], the scene, fps, and with_masks the objects'
    visible pixels (T, N, H, W) bool (else None)."""
    aspect = aspects[rng.integers(len(aspects))]
    w, h = size_for_aspect(aspect, int(long_sides[rng.integers(len(long_sides))]), multiple)
    fps = float(fps_choices[rng.integers(len(fps_choices))])
    seconds = float(seconds_choices[rng.integers(len(seconds_choices))])
    k = max(0, round((seconds * fps - 1) / temporal_factor))
    num_frames = min(1 + k * temporal_factor, max_frames)
    if max_tokens is not None:
        per_latent_frame = (w // multiple) * (h // multiple)
        num_frames = min(num_frames, 1 + (max_tokens // per_latent_frame - 1) * temporal_factor)
    scene = sample_scene(rng, duration_s=max(num_frames / fps, 0.5), **(world or {}))
    if with_masks:
        frames, masks = render_with_masks(scene, w, h, num_frames, fps)    # (T, H, W, 3), (T, N, H, W)
    else:
        frames, masks = render(scene, w, h, num_frames, fps), None
    video = torch.from_numpy(frames).permute(3, 0, 1, 2).float() / 127.5 - 1.0
    return video, scene, fps, masks


def draw_clip(rng: np.random.Generator, *args, **kwargs):
    """draw_scene_clip, captioned: frames (3, T, H, W) in [-1, 1], caption, fps."""
    video, scene, fps, _ = draw_scene_clip(rng, *args, **kwargs)
    return video, caption(scene, rng), fps


def token_foreground(masks: np.ndarray, cell: int, temporal_factor: int, patch_t: int = 1) -> torch.Tensor:
    """Object masks (T, N, H, W) bool -> (t // patch_t, H // cell, W // cell) float: 1 for the
    tokens whose spacetime cell holds any object pixel. Latent frame 0 covers pixel frame 0 and
    latent frame k the pixel frames 1 + (k - 1) * f .. k * f, as the causal VAE groups them."""
    T, N, H, W = masks.shape
    if H % cell or W % cell or (T - 1) % temporal_factor:
        raise ValueError(f"masks {T}x{H}x{W} do not tile into {cell}-pixel cells and 1 + k*{temporal_factor} frames")
    anywhere = masks.any(1).reshape(T, H // cell, cell, W // cell, cell).any((2, 4))   # (T, h, w)
    groups = [anywhere[:1]] + [anywhere[s:s + temporal_factor] for s in range(1, T, temporal_factor)]
    latent = np.stack([g.any(0) for g in groups])                                     # (t, h, w)
    t, h, w = latent.shape
    if t % patch_t:
        raise ValueError(f"{t} latent frames do not split into time patches of {patch_t}")
    return torch.from_numpy(latent.reshape(t // patch_t, patch_t, h, w).any(1)).float()


def vae_batch(rng: np.random.Generator, cfg: TrainConfig, vae_cfg) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, 3, T, crop, crop) world clips for the VAE and (B, 1, T, crop, crop) pixel weights.

    Clips render at inference sizes so objects and edges have their real pixel scale, then are
    cropped. Objects cover a few percent of a frame, so a share of crops is centred on one
    (jittered) at a random frame: with uniform crops the VAE reproduced backgrounds and lost moving
    objects (issue 3). Pixels within 2 of an object (its outline included) weigh
    1 + cfg.vae_object_weight in the reconstruction loss."""
    long_side = cfg.vae_long_sides[rng.integers(len(cfg.vae_long_sides))]
    n_frames = cfg.vae_frames[rng.integers(len(cfg.vae_frames))]
    aspect = cfg.aspects[rng.integers(len(cfg.aspects))]
    clips, weights = [], []
    for _ in range(cfg.vae_batch):
        fps = float(cfg.fps[rng.integers(len(cfg.fps))])  # motion per frame as the DiT sees it
        video, scene, fps, masks = draw_scene_clip(rng, (long_side,), (n_frames / fps,), (fps,), (aspect,),
                                                   vae_cfg.spatial_factor, vae_cfg.temporal_factor,
                                                   max_frames=n_frames, with_masks=True,
                                                   world=cfg.world())
        T, H, W = video.shape[-3:]
        c = min(cfg.vae_crop, H, W) // vae_cfg.spatial_factor * vae_cfg.spatial_factor
        y, x = crop_origin(rng, scene, (T, H, W), fps, c, cfg.vae_object_crops)
        clips.append(video[..., y:y + c, x:x + c])
        weights.append(1.0 + cfg.vae_object_weight * object_pixels(masks, 2)[None, :, y:y + c, x:x + c])
    return torch.stack(clips), torch.stack(weights)


def object_pixels(masks: np.ndarray, grow: int) -> torch.Tensor:
    """Object masks (T, N, H, W) bool -> (T, H, W) float: 1 within `grow` pixels of any object."""
    any_obj = torch.from_numpy(masks.any(1)).float()[:, None]                     # (T, 1, H, W)
    if grow > 0:
        any_obj = torch.nn.functional.max_pool2d(any_obj, 2 * grow + 1, stride=1, padding=grow)
    return any_obj[:, 0]


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


def dit_group(rng: np.random.Generator, cfg: TrainConfig, multiple: int, temporal_factor: int,
              patch_t: int, clips: int):
    """`clips` captioned world clips for the DiT, all of one aspect, size, fps and duration (so
    the VAE encodes them as one batch), each a different scene.

    Returns frames (clips, 3, T, H, W) in [-1, 1], captions, fps, and per clip its token
    foreground (token_foreground). One clip draws its shape exactly as draw_scene_clip does."""
    if clips == 1:
        choices = (cfg.long_sides, cfg.seconds, cfg.fps, cfg.aspects)
    else:
        choices = ((cfg.long_sides[rng.integers(len(cfg.long_sides))],),
                   (cfg.seconds[rng.integers(len(cfg.seconds))],),
                   (cfg.fps[rng.integers(len(cfg.fps))],), (cfg.aspects[rng.integers(len(cfg.aspects))],))
    videos, captions, foregrounds = [], [], []
    for _ in range(clips):
        video, scene, fps, obj = draw_scene_clip(rng, *choices, multiple, temporal_factor,
                                                 max_tokens=cfg.max_tokens, with_masks=True,
                                                 world=cfg.world())
        videos.append(video)
        captions.append(caption(scene, rng))
        foregrounds.append(token_foreground(obj, multiple, temporal_factor, patch_t))
    return torch.stack(videos), captions, fps, foregrounds
