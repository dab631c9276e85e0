"""The video compression network: a causal 3D convolutional VAE.

The only place that converts pixel frames <-> latent frames. Time is compressed by 2^temporal_down
and space by 2^spatial_down. Every convolution is causal in time (padded on the past side with
copies of the first frame) and every normalisation is per frame, so the first frame is encoded on
its own: an image is a one-frame video, and a video of 1 + 4k frames has 1 + k latent frames
(the layout of CV-VAE, MAGVIT-v2 and LTX-Video's VAE).

Causality also gives chunked coding for free: each causal conv keeps the last frames it saw in a
cache, so a long video is encoded or decoded a few frames at a time with flat memory, and the
result equals the one-shot result.

Symbols: B batch, C channels, T pixel frames, t latent frames, H W pixels, h w latent cells.
Pixels are floats in [-1, 1].
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.configs import check_keys


@dataclass(frozen=True)
class VAEConfig:
    in_channels: int = 3
    latent_channels: int = 16
    channels: tuple[int, ...] = (32, 64, 128, 128)  # one per level; len - 1 spatial 2x downsamples
    encoder_channels: tuple[int, ...] = ()  # the encoder's own widths (empty: same as channels);
    # text-to-video never encodes, so a lighter encoder speeds training and editing inputs only
    temporal_down: int = 2         # how many of the deepest downsamples also halve time (4x)
    res_blocks: int = 1
    time_kernel_from_level: int = 1  # levels below this use 1x3x3 convs (cheap at full resolution)
    # Latent frames the decoder reads ahead (its first conv spans t-2 .. t+L). The encoder stays
    # causal, so latents (and every plan built on them) are unchanged; only pixels of latent group
    # t may depend on latent t+1. A causal decoder cannot start a change before the latent that
    # holds it: on a straight latent path it put the change on each group's first two frames
    # (bench/latent_noise.py; issue 4's seams). Measured at 1 (docs/model-notes.md): world clips
    # 27.5 -> 28.2 dB, but latent noise, which generated latents carry, came out as more flicker,
    # so 0 ships.
    decoder_lookahead: int = 0
    latent_mean: tuple[float, ...] = ()  # per-channel statistics that normalise latents for the DiT
    latent_std: tuple[float, ...] = ()

    def __post_init__(self):
        if self.encoder_channels and len(self.encoder_channels) != len(self.channels):
            raise ValueError("encoder_channels needs one width per level, like channels")
        if self.temporal_down > self.spatial_down:
            raise ValueError("temporal_down cannot exceed the number of spatial downsamples")
        for name in ("latent_mean", "latent_std"):
            v = getattr(self, name)
            if v and len(v) != self.latent_channels:
                raise ValueError(f"{name} needs {self.latent_channels} values, got {len(v)}")

    @property
    def spatial_down(self) -> int:
        return len(self.channels) - 1

    @property
    def spatial_factor(self) -> int:
        return 2 ** self.spatial_down

    @property
    def temporal_factor(self) -> int:
        return 2 ** self.temporal_down

    @classmethod
    def from_dict(cls, d: dict) -> "VAEConfig":
        check_keys(cls, d, "VAE config")
        d = dict(d)
        for k in ("channels", "encoder_channels", "latent_mean", "latent_std"):
            if k in d:
                d[k] = tuple(d[k])
        return cls(**d)

    def to_dict(self) -> dict:
        return asdict(self)


# Sized for CPU training: full-resolution levels are narrow and purely spatial (1x3x3), time is
# mixed and compressed only at the coarse levels where it is cheap.
VAE_PRESETS: dict[str, dict] = {
    "tiny": dict(latent_channels=4, channels=(8, 16), temporal_down=1),
    # f4: 4x in space and time, z=8 (24x fewer values than pixels). Easier to learn on a CPU
    # budget than f8; with 4x4 DiT patches the token grid is the same as f8 with 2x2. z=16 (from
    # scratch, object-weighted) reconstructed better (world clips 28.6 vs 27.5 dB; shape through
    # the VAE 72% vs 50%) but the 9M DiT on it, after the same 3,000 steps, scored far worse
    # (full size: colour 25% vs 50%, camera 16% vs 75%; samples were covered in latent noise):
    # 256 values a token are more than this DiT learns on a CPU budget. So z stays 8 (issue 3).
    "f4": dict(latent_channels=8, channels=(16, 48, 96), time_kernel_from_level=2),
    "f8": dict(latent_channels=16, channels=(16, 32, 64, 96), time_kernel_from_level=2),
    "f16": dict(latent_channels=32, channels=(16, 32, 64, 96, 128), time_kernel_from_level=2),
    "f8-wide": dict(latent_channels=16, channels=(32, 64, 128, 128), time_kernel_from_level=1),
}


def vae_config(preset: str, **overrides) -> VAEConfig:
    if preset not in VAE_PRESETS:
        raise ValueError(f"unknown VAE preset {preset!r}; choose from {sorted(VAE_PRESETS)}")
    return VAEConfig(**{**VAE_PRESETS[preset], **overrides})


def num_latent_frames(num_frames: int, temporal_factor: int) -> int:
    """Pixel frames -> latent frames; only 1 + k * factor frames are valid."""
    if num_frames < 1 or (num_frames - 1) % temporal_factor:
        raise ValueError(f"{num_frames} frames cannot be encoded: a clip needs 1 + k*{temporal_factor} "
                         f"frames (e.g. {valid_frame_counts_near(num_frames, temporal_factor)})")
    return 1 + (num_frames - 1) // temporal_factor


def num_pixel_frames(num_latent: int, temporal_factor: int) -> int:
    return 1 + (num_latent - 1) * temporal_factor


def valid_frame_counts_near(num_frames: int, temporal_factor: int) -> tuple[int, int]:
    k = max(0, (num_frames - 1) // temporal_factor)
    return 1 + k * temporal_factor, 1 + (k + 1) * temporal_factor


def frame_norm(x: torch.Tensor, norm: nn.GroupNorm) -> torch.Tensor:
    """GroupNorm applied to each frame on its own, which keeps the network causal in time."""
    B, C, T, H, W = x.shape
    y = norm(x.transpose(1, 2).reshape(B * T, C, H, W))
    return y.reshape(B, T, C, H, W).transpose(1, 2)


def _groups(c: int) -> int:
    for g in (8, 4, 2, 1):
        if c % g == 0:
            return g
    return 1


class CausalConv3d(nn.Module):
    """A 3D conv padded only on the past side in time, with an optional streaming cache."""

    def __init__(self, cin: int, cout: int, kt: int = 3, ks: int = 3, st: int = 1, ss: int = 1):
        super().__init__()
        self.kt, self.st = kt, st
        self.conv = nn.Conv3d(cin, cout, (kt, ks, ks), stride=(st, ss, ss), padding=(0, ks // 2, ks // 2))
        self.streaming = False
        self.cache: Optional[torch.Tensor] = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T, H, W)
        if self.kt == 1 and self.st == 1:
            return self.conv(x)
        if self.streaming and self.cache is not None:
            padded = torch.cat([self.cache, x], dim=2)
        else:
            padded = torch.cat([x[:, :, :1].expand(-1, -1, self.kt - 1, -1, -1), x], dim=2)
        if padded.shape[2] < self.kt:
            raise ValueError(f"a chunk of {x.shape[2]} frames is too short for this causal conv")
        out = self.conv(padded)
        if self.streaming:
            # What the next window starts from: everything after the last window's start step.
            self.cache = padded[:, :, out.shape[2] * self.st:].detach()
        return out


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, kt: int):
        super().__init__()
        self.norm1 = nn.GroupNorm(_groups(cin), cin)
        self.conv1 = CausalConv3d(cin, cout, kt)
        self.norm2 = nn.GroupNorm(_groups(cout), cout)
        self.conv2 = CausalConv3d(cout, cout, kt)
        self.skip = nn.Conv3d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x):
        h = self.conv1(F.silu(frame_norm(x, self.norm1)))
        h = self.conv2(F.silu(frame_norm(h, self.norm2)))
        return self.skip(x) + h


class Downsample(nn.Module):
    def __init__(self, cin: int, cout: int, time: bool):
        super().__init__()
        self.conv = CausalConv3d(cin, cout, kt=3 if time else 1, st=2 if time else 1, ss=2)

    def forward(self, x):
        return self.conv(x)


class Upsample(nn.Module):
    """Time: a conv to 2x channels, unfolded into two frames per latent frame (the very first
    latent frame yields one frame, mirroring the encoder). Space: nearest 2x then a conv."""

    def __init__(self, cin: int, cout: int, time: bool):
        super().__init__()
        self.time = time
        self.time_conv = CausalConv3d(cin, 2 * cin, kt=3) if time else None
        self.conv = CausalConv3d(cin, cout, kt=1)
        self.streaming = False
        self.started = False

    def forward(self, x):  # (B, C, t, H, W)
        if self.time:
            B, C, T, H, W = x.shape
            y = self.time_conv(x).view(B, C, 2, T, H, W).permute(0, 1, 3, 2, 4, 5)
            y = y.reshape(B, C, 2 * T, H, W)
            if not (self.streaming and self.started):
                y = y[:, :, 1:]
            self.started = self.streaming
            x = y
        B, C, T, H, W = x.shape
        x = F.interpolate(x.transpose(1, 2).reshape(B * T, C, H, W), scale_factor=2, mode="nearest")
        x = x.reshape(B, T, C, 2 * H, 2 * W).transpose(1, 2)
        return self.conv(x)


def _time_kernel(level: int, cfg: VAEConfig) -> int:
    return 3 if level >= cfg.time_kernel_from_level else 1


class Encoder(nn.Module):
    def __init__(self, cfg: VAEConfig):
        super().__init__()
        ch = cfg.encoder_channels or cfg.channels
        self.conv_in = CausalConv3d(cfg.in_channels, ch[0], _time_kernel(0, cfg))
        self.levels = nn.ModuleList()
        first_time_down = cfg.spatial_down - cfg.temporal_down
        for i, c in enumerate(ch):
            blocks = [ResBlock(c if j else (ch[i - 1] if i else ch[0]), c, _time_kernel(i, cfg))
                      for j in range(cfg.res_blocks)]
            level = nn.Module()
            level.blocks = nn.ModuleList(blocks)
            level.down = (Downsample(c, c, time=i >= first_time_down)
                          if i < cfg.spatial_down else None)
            self.levels.append(level)
        self.mid = ResBlock(ch[-1], ch[-1], 3)
        self.norm_out = nn.GroupNorm(_groups(ch[-1]), ch[-1])
        self.conv_out = CausalConv3d(ch[-1], 2 * cfg.latent_channels, kt=1)

    def forward(self, x):  # (B, 3, T, H, W) -> (B, 2z, t, h, w)
        x = self.conv_in(x)
        for level in self.levels:
            for block in level.blocks:
                x = block(x)
            if level.down is not None:
                x = level.down(x)
        x = self.mid(x)
        return self.conv_out(F.silu(frame_norm(x, self.norm_out)))


class Decoder(nn.Module):
    def __init__(self, cfg: VAEConfig):
        super().__init__()
        ch = cfg.channels
        self.lookahead = cfg.decoder_lookahead
        # with look-ahead L, output k of this causal conv belongs to latent frame k - L
        self.conv_in = CausalConv3d(cfg.latent_channels, ch[-1], 3 + self.lookahead)
        self.mid = ResBlock(ch[-1], ch[-1], 3)
        self.levels = nn.ModuleList()
        first_time_down = cfg.spatial_down - cfg.temporal_down
        for i in reversed(range(len(ch))):
            level = nn.Module()
            level.blocks = nn.ModuleList(ResBlock(ch[i], ch[i], _time_kernel(i, cfg))
                                         for _ in range(cfg.res_blocks))
            # Level i upsamples into level i - 1, undoing the encoder's downsample i - 1.
            level.up = Upsample(ch[i], ch[i - 1], time=i - 1 >= first_time_down) if i > 0 else None
            self.levels.append(level)
        self.norm_out = nn.GroupNorm(_groups(ch[0]), ch[0])
        self.conv_out = CausalConv3d(ch[0], cfg.in_channels, _time_kernel(0, cfg))

    def forward(self, z, first: bool = True, last: bool = True):  # (B, z, t, h, w) -> (B, 3, T, H, W)
        """first/last: whether z starts / ends the clip (streaming passes chunks in order). With
        look-ahead L a chunk yields the frames of its latents shifted L back: the first chunk
        drops L, the last one repeats its final latent L times to flush the ones held back."""
        L, n = self.lookahead, z.shape[2]
        if L and last:
            z = torch.cat([z, z[:, :, -1:].expand(-1, -1, L, -1, -1)], dim=2)
        x = self.conv_in(z)
        if L and first:
            x = x[:, :, L:]
        if x.shape[2] == 0:
            raise ValueError(f"a first chunk of {n} latent frames is too short for a "
                             f"decoder that reads {L} ahead")
        x = self.mid(x)
        for level in self.levels:
            for block in level.blocks:
                x = block(x)
            if level.up is not None:
                x = level.up(x)
        return self.conv_out(F.silu(frame_norm(x, self.norm_out)))


@contextmanager
def streaming(module: nn.Module):
    """Within this context, causal convs carry their cache from one call to the next."""
    parts = [m for m in module.modules() if isinstance(m, (CausalConv3d, Upsample))]
    for m in parts:
        m.streaming, m.cache, m.started = True, None, False
    try:
        yield
    finally:
        for m in parts:
            m.streaming, m.cache, m.started = False, None, False


class VideoVAE(nn.Module):
    def __init__(self, cfg: VAEConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)
        # A linear latent -> RGB map for cheap previews while sampling, trained beside the VAE
        # against the average colour of each latent cell's patch (ComfyUI's latent2rgb idea).
        self.preview = nn.Conv3d(cfg.latent_channels, 3, 1)
        z = cfg.latent_channels
        mean = cfg.latent_mean or (0.0,) * z
        std = cfg.latent_std or (1.0,) * z
        self.register_buffer("latent_mean", torch.tensor(mean).view(1, z, 1, 1, 1), persistent=False)
        self.register_buffer("latent_std", torch.tensor(std).view(1, z, 1, 1, 1), persistent=False)

    # -- sizes ---------------------------------------------------------------------------------
    def check_pixels(self, shape: tuple[int, ...]) -> None:
        T, H, W = shape[-3:]
        f = self.cfg.spatial_factor
        if H % f or W % f:
            raise ValueError(f"frame size {W}x{H} must be a multiple of {f} on both sides for this VAE")
        num_latent_frames(T, self.cfg.temporal_factor)

    # -- coding --------------------------------------------------------------------------------
    def encode_moments(self, video: torch.Tensor, chunk_frames: Optional[int] = None):
        """video (B, 3, T, H, W) in [-1, 1] -> mean, logvar (B, z, t, h, w).

        chunk_frames (a multiple of the temporal factor) encodes the video in pieces with the
        causal cache: the first frame, then chunk_frames at a time, flat in memory."""
        self.check_pixels(video.shape)
        if chunk_frames is None or video.shape[2] <= 1 + chunk_frames:
            out = self.encoder(video)
        else:
            if chunk_frames % self.cfg.temporal_factor:
                raise ValueError(f"chunk_frames must be a multiple of {self.cfg.temporal_factor}")
            with streaming(self.encoder):
                pieces = [self.encoder(video[:, :, :1])]
                for s in range(1, video.shape[2], chunk_frames):
                    pieces.append(self.encoder(video[:, :, s:s + chunk_frames]))
            out = torch.cat(pieces, dim=2)
        mean, logvar = out.chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)

    def decode_raw(self, z: torch.Tensor, chunk_latents: Optional[int] = None) -> torch.Tensor:
        """Unnormalised latents (B, z, t, h, w) -> video (B, 3, T, H, W) in about [-1, 1]."""
        if chunk_latents is None or z.shape[2] <= chunk_latents:
            return self.decoder(z)
        if chunk_latents <= self.cfg.decoder_lookahead:
            raise ValueError(f"chunk_latents must exceed the decoder's look-ahead "
                             f"({self.cfg.decoder_lookahead})")
        t = z.shape[2]
        with streaming(self.decoder):
            pieces = [self.decoder(z[:, :, s:s + chunk_latents], first=s == 0, last=s + chunk_latents >= t)
                      for s in range(0, t, chunk_latents)]
        return torch.cat(pieces, dim=2)

    def normalize(self, z: torch.Tensor) -> torch.Tensor:
        return (z - self.latent_mean.to(z.dtype)) / self.latent_std.to(z.dtype)

    def denormalize(self, z: torch.Tensor) -> torch.Tensor:
        return z * self.latent_std.to(z.dtype) + self.latent_mean.to(z.dtype)

    @torch.no_grad()
    def encode(self, video: torch.Tensor, chunk_frames: Optional[int] = 16) -> torch.Tensor:
        """Pixels (B, 3, T, H, W) in [-1, 1] -> normalised latents (B, z, t, h, w) for the DiT
        (the posterior mean: deterministic, so known frames are reproducible)."""
        mean, _ = self.encode_moments(video, chunk_frames)
        return self.normalize(mean)

    @torch.no_grad()
    def decode(self, latent: torch.Tensor, chunk_latents: Optional[int] = 4,
               phases: int = 1) -> torch.Tensor:
        """Normalised latents (B, z, t, h, w) -> pixels (B, 3, T, H, W) clamped to [-1, 1].

        phases > 1 averages that many decodes whose latent frames are moved in time by k / phases
        of a frame (see phase_shifted), each put back in step with the first: a generated latent's
        frame-to-frame error otherwise comes out on the first frames of its f-frame group."""
        if phases == 1 or latent.shape[2] == 1:
            return self.decode_raw(self.denormalize(latent), chunk_latents).clamp(-1, 1)
        shifted, offsets = phase_shifted(latent, phases, self.cfg.temporal_factor)
        B = latent.shape[0]
        video = self.decode_raw(self.denormalize(shifted), chunk_latents).clamp(-1, 1)
        T = video.shape[2]
        total = torch.zeros_like(video[:B])                                 # (B, 3, T, H, W)
        count = torch.zeros(T, dtype=video.dtype, device=video.device)
        for k, o in enumerate(offsets):     # decode k shows frame j at j + o
            total[:, :, :T - o] += video[k * B:(k + 1) * B, :, o:]
            count[:T - o] += 1
        return total / count.view(1, 1, T, 1, 1)

    @torch.no_grad()
    def preview_rgb(self, latent: torch.Tensor) -> torch.Tensor:
        """Normalised latents (B, z, t, h, w) -> a cheap low-resolution RGB (B, 3, t, h, w)."""
        return self.preview(self.denormalize(latent)).clamp(-1, 1)


def check_decode_phases(phases, f: int) -> None:
    """Decode phases (a card's decode_phases) are a whole number >= 1 that divides the temporal
    factor f, so every phase moves its decode by whole pixel frames."""
    if not isinstance(phases, int) or phases < 1 or f % phases:
        raise ValueError(f"decode_phases must be a whole number >= 1 that divides the VAE's "
                         f"temporal factor {f}, got {phases!r}")


def phase_shifted(latent: torch.Tensor, phases: int, f: int) -> tuple[torch.Tensor, list[int]]:
    """Latents (B, z, t, h, w) -> (phases * B, z, t, h, w): copy k has each latent frame i >= 1
    moved k / phases of a frame back in time (the linear blend of frames i - 1 and i), so its
    decode shows pixel frame j at j + k f / phases; frame 0 codes one pixel frame and stays.
    Returns the stacked copies and those pixel offsets.

    Why: a causal decoder puts the change between latent frames i - 1 and i on the first pixel
    frames of group i. The DiT's latents change more from frame to frame than real clips' do, so
    its clips pulse in step with the groups (issue 4; bench/latent_noise.py). Averaging decodes
    whose groups start at different pixel frames spreads each change over the group, the way
    tiled decoders blend their overlaps."""
    check_decode_phases(phases, f)
    copies = [latent]
    for k in range(1, phases):
        s = k / phases
        moved = latent.clone()
        moved[:, :, 1:] = (1 - s) * latent[:, :, 1:] + s * latent[:, :, :-1]
        copies.append(moved)
    return torch.cat(copies), [k * f // phases for k in range(phases)]


def grow_lookahead(vae: VideoVAE, lookahead: int) -> VideoVAE:
    """vae with a decoder that reads `lookahead` latent frames ahead and decodes exactly as vae's
    did: its first conv gets zero taps for the frames ahead (trained from there, --stage decoder)."""
    if lookahead < vae.cfg.decoder_lookahead:
        raise ValueError(f"cannot shrink the decoder's look-ahead ({vae.cfg.decoder_lookahead} -> {lookahead})")
    grown = VideoVAE(replace(vae.cfg, decoder_lookahead=lookahead)).to(next(vae.parameters()).device)
    state = dict(vae.state_dict())
    key = "decoder.conv_in.conv.weight"
    w = state[key]                                          # (out, in, 3 + L_old, kh, kw)
    extra = lookahead - vae.cfg.decoder_lookahead
    state[key] = torch.cat([w, w.new_zeros(*w.shape[:2], extra, *w.shape[3:])], dim=2)
    grown.load_state_dict(state)
    return grown


def kl_divergence(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(q(z|x) || N(0, I)) averaged over elements."""
    return 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).mean()


def preview_target(video: torch.Tensor, cfg: VAEConfig) -> torch.Tensor:
    """What the preview map should reproduce: each latent cell's patch colour, taking the last
    pixel frame of each temporal group (B, 3, t, h, w)."""
    frames = video[:, :, ::cfg.temporal_factor]  # frames 0, f, 2f, ... : one per latent frame
    B, C, t, H, W = frames.shape
    pooled = F.avg_pool2d(frames.transpose(1, 2).reshape(B * t, C, H, W), cfg.spatial_factor)
    return pooled.reshape(B, t, C, H // cfg.spatial_factor, W // cfg.spatial_factor).transpose(1, 2)
