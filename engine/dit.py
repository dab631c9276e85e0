"""The diffusion transformer: predicts the flow velocity of noisy spacetime patches.

DiT (Peebles & Xie 2023) with adaLN-Zero blocks, self-attention over all spacetime tokens with
3D rotary positions, cross-attention to the text encoder's token states (PixArt-alpha), and a flow
time per latent frame, so frames that are known enter the model clean (t = 0) while the others
are noisy. Conditioning (time, fps, pooled text) is computed once per latent frame and gathered
to its tokens, so per-frame times cost almost nothing over one global time.

Symbols: B batch, N tokens, F conditioning rows (latent frames), M text tokens, D width.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.configs import check_keys
from engine.patches import PatchSize, grid_shape, patchify, positions, unpatchify


@dataclass(frozen=True)
class DiTConfig:
    in_channels: int = 16        # latent channels of the VAE
    patch_t: int = 1
    patch_h: int = 2
    patch_w: int = 2
    dim: int = 384
    depth: int = 12
    heads: int = 6
    mlp_ratio: float = 4.0
    text_dim: int = 384          # all-MiniLM-L6-v2 hidden size (one layer's token states)
    # Which of the text encoder's hidden states the DiT reads, concatenated per token (0: the
    # token embeddings, 6: MiniLM's last layer). The last layer, trained for sentence similarity,
    # nearly erases what tells "left" from "right": swapping them moves that word's state by half
    # its norm and the pooled caption by 0.1%, where swapping a colour moves every token (docs/
    # model-notes.md). Layer 0 keeps each word apart. A DiT grown from one that read fewer layers
    # starts unchanged (the new inputs' weights start at zero).
    text_layers: tuple[int, ...] = (6,)
    rope_theta: float = 10000.0
    base_tokens: int = 256       # token count the time shift is relative to
    # Add an embedding of each token's place in the frame (fractions of height and width) and of
    # whether it is in the first latent frame (the causal VAE's one-frame group). RoPE alone
    # sees only offsets: the first shipped DiT drew its horizon as a staircase of token-sized
    # blocks, with grass in mid-frame and sky below it (issue 3). False for checkpoints from
    # before it, which lack the weights.
    abs_pos: bool = False
    # Channels of a convolutional head at latent resolution after the linear unpatchify (U-ViT,
    # Bao et al. 2023, puts a 3x3 conv there against patch artifacts); 0: none. The linear head
    # alone predicts each token's 4x4 cells on their own, and the shipped DiT drew token-sized
    # blocks: a horizon as a staircase, objects as scattered fragments (issue 3). The head also
    # sees the noisy input latents, and its 3x3x3 kernels span neighbouring latent frames.
    refine: int = 0

    def __post_init__(self):
        layers = tuple(self.text_layers)
        object.__setattr__(self, "text_layers", layers)  # JSON gives a list
        if not layers or len(set(layers)) != len(layers) or any(
                not isinstance(k, int) or isinstance(k, bool) or k < 0 for k in layers):
            raise ValueError(f"text_layers must be distinct hidden-state indices >= 0, got {list(layers)}")

    @property
    def text_width(self) -> int:
        """Width of the text features the DiT reads: one text_dim per layer in text_layers."""
        return self.text_dim * len(self.text_layers)

    @property
    def patch(self) -> PatchSize:
        return PatchSize(self.patch_t, self.patch_h, self.patch_w)

    @property
    def head_dim(self) -> int:
        return self.dim // self.heads

    @classmethod
    def from_dict(cls, d: dict) -> "DiTConfig":
        check_keys(cls, d, "DiT config")
        return cls(**d)

    def to_dict(self) -> dict:
        return asdict(self)


# One dict of sizes (DiT's DiT_models). tiny is for tests; cpu is trained in hours on a 2-core
# CPU; small runs on a laptop CPU;
# base and up are meant for GPUs.
DIT_PRESETS: dict[str, dict] = {
    "tiny": dict(dim=64, depth=2, heads=2),
    "cpu": dict(dim=192, depth=6, heads=3),
    "small": dict(dim=256, depth=8, heads=4),
    "base": dict(dim=384, depth=12, heads=6),
    "large": dict(dim=768, depth=24, heads=12),
    "xl": dict(dim=1152, depth=28, heads=16),
}


def dit_config(preset: str, **overrides) -> DiTConfig:
    if preset not in DIT_PRESETS:
        raise ValueError(f"unknown DiT preset {preset!r}; choose from {sorted(DIT_PRESETS)}")
    return DiTConfig(**{**DIT_PRESETS[preset], **overrides})


def widen_text_inputs(state: dict, source: DiTConfig, target: DiTConfig) -> dict:
    """A DiT state dict that read source.text_layers, made to read target.text_layers: the weights
    on each layer both read are kept, those on layers new to it start at zero, so the widened DiT
    predicts exactly as the source did. Every layer the source read must stay."""
    lost = [k for k in source.text_layers if k not in target.text_layers]
    if lost:
        raise ValueError(f"text layers {lost} would be dropped: a DiT only grows new text inputs")
    if source.text_dim != target.text_dim:
        raise ValueError(f"text_dim {source.text_dim} -> {target.text_dim}: not the same text encoder")
    d = source.text_dim
    out = dict(state)
    for key, w in state.items():
        if not (key == "text_pool.0.weight" or key.endswith(".cross.kv.weight")):
            continue
        wide = w.new_zeros(w.shape[0], target.text_width)                   # (out, layers * d)
        for i, k in enumerate(source.text_layers):
            j = target.text_layers.index(k)
            wide[:, j * d:(j + 1) * d] = w[:, i * d:(i + 1) * d]
        out[key] = wide
    return out


def sinusoidal(x: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """(...,) -> (..., dim) sinusoidal features (Vaswani et al.; DiT's TimestepEmbedder)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=x.device) / half)
    args = x.float()[..., None] * freqs  # (..., half)
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class ScalarEmbedder(nn.Module):
    """A scalar (flow time x 1000, or fps) -> (..., D) through sinusoids and a small MLP."""

    def __init__(self, dim: int, freq_dim: int = 256):
        super().__init__()
        self.freq_dim = freq_dim
        self.mlp = nn.Sequential(nn.Linear(freq_dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(sinusoidal(x, self.freq_dim).to(self.mlp[0].weight.dtype))


def rope_split(head_dim: int) -> tuple[int, int, int]:
    """How many channels of a head rotate with (t, y, x); each even."""
    d_space = 2 * ((head_dim * 3 // 8) // 2)
    d_time = head_dim - 2 * d_space
    if d_time <= 0 or d_time % 2:
        raise ValueError(f"head_dim {head_dim} cannot be split for 3D RoPE")
    return d_time, d_space, d_space


def rope_angles(pos: torch.Tensor, head_dim: int, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """3D RoPE (Su et al. 2021, one band of frequencies per axis): pos (B, N, 3) -> cos, sin
    (B, 1, N, head_dim/2)."""
    parts = []
    for axis, d in enumerate(rope_split(head_dim)):
        freqs = theta ** (-torch.arange(0, d, 2, device=pos.device, dtype=torch.float32) / d)
        parts.append(pos[..., axis:axis + 1].float() * freqs)  # (B, N, d/2)
    angles = torch.cat(parts, dim=-1)[:, None]  # (B, 1, N, head_dim/2)
    return angles.cos(), angles.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate channel pairs of x (B, H, N, hd)."""
    x1, x2 = x.float().unflatten(-1, (-1, 2)).unbind(-1)  # (B, H, N, hd/2) each
    out = torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1).flatten(-2)
    return out.to(x.dtype)


POS_FREQS = 8  # sinusoid pairs per axis of the fractional position


def absolute_features(pos: torch.Tensor) -> torch.Tensor:
    """pos (B, N, 5) from `positions` -> (B, N, 4 * POS_FREQS + 1): sin and cos of k * pi * frac
    for k = 1..POS_FREQS along y and x (0 and 1 stay distinct: top is not bottom), and a flag for
    the first latent frame. Resolution free: the same place in a frame gets the same features at
    every size and aspect, and nothing depends on the clip's length."""
    k = torch.arange(1, POS_FREQS + 1, device=pos.device, dtype=torch.float32) * math.pi
    angles = pos[..., 3:5, None].float() * k                                 # (B, N, 2, K)
    first = (pos[..., :1] == 0).float()                                      # (B, N, 1)
    return torch.cat([angles.sin().flatten(-2), angles.cos().flatten(-2), first], dim=-1)


class Refiner(nn.Module):
    """The convolutional head: token features are spread over each token's latent cells
    (unpatchify), joined by the noisy input latents, and three 3x3x3 convolutions add a
    correction to the linear head's velocity. The last convolution starts at zero, so a DiT
    grown from one without the head starts unchanged."""

    def __init__(self, cfg: DiTConfig):
        super().__init__()
        c, C = cfg.refine, cfg.in_channels
        self.cfg = cfg
        self.feat = nn.Linear(cfg.dim, c * cfg.patch.volume)
        self.conv1 = nn.Conv3d(c + C, c, 3, padding=1)
        self.conv2 = nn.Conv3d(c, c, 3, padding=1)
        self.out = nn.Conv3d(c, C, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, h: torch.Tensor, tokens: torch.Tensor, grid: tuple[int, int, int]) -> torch.Tensor:
        """h (B, n, D) final hidden tokens, tokens (B, n, Din) the noisy input tokens of one
        grid -> (B, n, Din) velocity correction."""
        cfg, patch = self.cfg, self.cfg.patch
        f = unpatchify(self.feat(h), grid, cfg.refine, patch)                 # (B, c, T, h, w)
        z = unpatchify(tokens.to(f.dtype), grid, cfg.in_channels, patch)      # (B, C, T, h, w)
        y = F.silu(self.conv1(torch.cat([f, z], dim=1)))
        y = self.out(F.silu(self.conv2(y)))                                    # (B, C, T, h, w)
        return patchify(y, patch)


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale) + shift


class SelfAttention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        # QK-norm keeps attention logits bounded as training goes on (Dehghani et al. 2023).
        self.q_norm = nn.RMSNorm(dim // heads)
        self.k_norm = nn.RMSNorm(dim // heads)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x, cos, sin, mask):
        B, N, D = x.shape
        q, k, v = self.qkv(x).view(B, N, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)
        q, k = apply_rope(self.q_norm(q), cos, sin), apply_rope(self.k_norm(k), cos, sin)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (B, H, N, hd)
        return self.proj(out.transpose(1, 2).reshape(B, N, D))


class CrossAttention(nn.Module):
    def __init__(self, dim: int, text_dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(text_dim, 2 * dim)
        self.q_norm = nn.RMSNorm(dim // heads)
        self.k_norm = nn.RMSNorm(dim // heads)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x, text, mask):
        B, N, D = x.shape
        M = text.shape[1]
        q = self.q_norm(self.q(x).view(B, N, self.heads, -1).transpose(1, 2))   # (B, H, N, hd)
        k, v = self.kv(text).view(B, M, 2, self.heads, -1).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, self.k_norm(k), v, attn_mask=mask)
        return self.proj(out.transpose(1, 2).reshape(B, N, D))


class DiTBlock(nn.Module):
    """adaLN-Zero block: every residual branch is gated by a modulation that starts at zero,
    so each block starts as the identity (DiT, section 3.2)."""

    def __init__(self, cfg: DiTConfig):
        super().__init__()
        D = cfg.dim
        self.norm1 = nn.LayerNorm(D, elementwise_affine=False, eps=1e-6)
        self.attn = SelfAttention(D, cfg.heads)
        self.norm_cross = nn.LayerNorm(D, eps=1e-6)
        self.cross = CrossAttention(D, cfg.text_width, cfg.heads)
        self.norm2 = nn.LayerNorm(D, elementwise_affine=False, eps=1e-6)
        hidden = int(D * cfg.mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(D, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, D))
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(D, 6 * D))
        nn.init.zeros_(self.ada[1].weight)
        nn.init.zeros_(self.ada[1].bias)

    def forward(self, x, cond_rows, token_row, cos, sin, self_mask, text, cross_mask):
        mod = _gather_rows(self.ada(cond_rows), token_row)  # (B, N, 6D)
        s1, sc1, g1, s2, sc2, g2 = mod.chunk(6, dim=-1)
        x = x + g1 * self.attn(modulate(self.norm1(x), s1, sc1), cos, sin, self_mask)
        x = x + self.cross(self.norm_cross(x), text, cross_mask)
        x = x + g2 * self.mlp(modulate(self.norm2(x), s2, sc2))
        return x


def _gather_rows(rows: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """rows (B, F, E), index (B, N) -> (B, N, E)."""
    return torch.gather(rows, 1, index[..., None].expand(-1, -1, rows.shape[-1]))


class DiT(nn.Module):
    def __init__(self, cfg: DiTConfig):
        super().__init__()
        self.cfg = cfg
        D = cfg.dim
        token_dim = cfg.in_channels * cfg.patch.volume
        self.x_embed = nn.Linear(token_dim, D)
        self.t_embed = ScalarEmbedder(D)
        self.fps_embed = ScalarEmbedder(D)
        self.text_pool = nn.Sequential(nn.Linear(cfg.text_width, D), nn.SiLU(), nn.Linear(D, D))
        if cfg.abs_pos:  # zero-initialised: a DiT grown from one without it starts unchanged
            self.pos_embed = nn.Linear(4 * POS_FREQS + 1, D)
            nn.init.zeros_(self.pos_embed.weight)
            nn.init.zeros_(self.pos_embed.bias)
        self.blocks = nn.ModuleList(DiTBlock(cfg) for _ in range(cfg.depth))
        self.final_norm = nn.LayerNorm(D, elementwise_affine=False, eps=1e-6)
        self.final_ada = nn.Sequential(nn.SiLU(), nn.Linear(D, 2 * D))
        self.final = nn.Linear(D, token_dim)
        for m in (self.final_ada[1], self.final):
            nn.init.zeros_(m.weight)
            nn.init.zeros_(m.bias)
        if cfg.refine:
            self.refine = Refiner(cfg)

    def forward_tokens(self, tokens, pos, row_t, row_fps, row_pooled, token_row, text, text_valid,
                       token_segment=None, text_segment=None, valid=None, clips=None):
        """The general (packed) entry.

        tokens (B, N, Din); pos (B, N, 5) from `positions`; row_t, row_fps (B, F); row_pooled (B, F, Dt);
        token_row (B, N) long index of each token's conditioning row; text (B, M, Dt);
        text_valid (B, M) bool; token_segment (B, N) / text_segment (B, M) long clip ids within
        a packed row (None: one clip per row); valid (B, N) bool, False on padding;
        clips: where each clip lies, rows of (row, start, length, Tp, hp, wp), for the
        convolutional head (cfg.refine), which needs each clip's grid.
        Returns the velocity tokens (B, N, Din).
        """
        if text.shape[-1] != self.cfg.text_width:
            raise ValueError(f"text states are {text.shape[-1]} wide; this DiT reads "
                             f"{self.cfg.text_width} (text layers {list(self.cfg.text_layers)}): "
                             "encode with TextEncoder(layers=dit.cfg.text_layers)")
        x = self.x_embed(tokens)                                             # (B, N, D)
        if self.cfg.abs_pos:
            x = x + self.pos_embed(absolute_features(pos).to(x.dtype))
        cond_rows = (self.t_embed(row_t * 1000) + self.fps_embed(row_fps)
                     + self.text_pool(row_pooled))                          # (B, F, D)
        cos, sin = rope_angles(pos, self.cfg.head_dim, self.cfg.rope_theta)
        if token_segment is None:
            self_mask = None
            cross_mask = text_valid[:, None, None, :]                        # (B, 1, 1, M)
        else:
            self_mask = token_segment[:, :, None] == token_segment[:, None, :]   # (B, N, N)
            if valid is not None:
                self_mask = self_mask & valid[:, None, :]
                eye = torch.eye(x.shape[1], dtype=torch.bool, device=x.device)[None]
                self_mask = self_mask | (eye & ~valid[:, :, None])
            self_mask = self_mask[:, None]
            cross_mask = (token_segment[:, :, None] == text_segment[:, None, :]) & text_valid[:, None, :]
            cross_mask = cross_mask | ~cross_mask.any(-1, keepdim=True)  # padding: never all-masked
            cross_mask = cross_mask[:, None]                                 # (B, 1, N, M)
        text = text.to(x.dtype)
        for block in self.blocks:
            x = block(x, cond_rows, token_row, cos, sin, self_mask, text, cross_mask)
        shift, scale = _gather_rows(self.final_ada(cond_rows), token_row).chunk(2, dim=-1)
        h = modulate(self.final_norm(x), shift, scale)
        out = self.final(h)                                                  # (B, N, Din)
        if not self.cfg.refine:
            return out
        if clips is None:
            raise ValueError("a DiT with a convolutional head needs each clip's place (clips)")
        clips = clips.tolist() if torch.is_tensor(clips) else clips
        if token_segment is None:  # one clip per row, all of one grid: one batched call
            return out + self.refine(h, tokens, tuple(clips[0][3:]))
        groups: dict[tuple, list] = {}   # clips of one grid run as one batch (GPU runs group them)
        for r, start, n, *grid in clips:
            groups.setdefault(tuple(grid), []).append((r, start, n))
        # Each group's tokens are gathered, and its corrections scattered back, by one index each
        # (slices per clip were a few kernel launches per clip, on a GPU the pace of a step).
        B, N, Din = out.shape
        flat_h, flat_tok = h.reshape(B * N, -1), tokens.reshape(B * N, -1)
        fixes = out.new_zeros(B * N, Din)
        for grid, members in groups.items():
            idx = torch.cat([torch.arange(r * N + s, r * N + s + n) for r, s, n in members]).to(out.device)
            k, n = len(members), members[0][2]
            y = self.refine(flat_h.index_select(0, idx).view(k, n, -1),
                            flat_tok.index_select(0, idx).view(k, n, -1), grid)   # (k, n, Din)
            fixes = fixes.index_copy(0, idx, y.reshape(k * n, Din).to(fixes.dtype))
        return out + fixes.view(B, N, Din)

    def forward(self, latent: torch.Tensor, t: torch.Tensor, text: torch.Tensor,
                text_valid: torch.Tensor, pooled: torch.Tensor, fps: torch.Tensor) -> torch.Tensor:
        """One clip per row: latent (B, C, T, h, w), t (B, T) flow time per latent frame,
        text (B, M, Dt), text_valid (B, M) bool, pooled (B, Dt), fps (B,) -> velocity like latent."""
        B, C, T, h, w = latent.shape
        patch = self.cfg.patch
        grid = grid_shape(latent.shape, patch)
        Tp, hp, wp = grid
        tokens = patchify(latent, patch)                                       # (B, N, Din)
        pos = positions(grid, device=latent.device)[None].expand(B, -1, -1)    # (B, N, 5)
        row_t = t.reshape(B, Tp, patch.t).amax(-1)                             # (B, Tp)
        token_row = torch.arange(Tp, device=latent.device).repeat_interleave(hp * wp)
        token_row = token_row[None].expand(B, -1)                              # (B, N)
        out = self.forward_tokens(
            tokens, pos, row_t, fps[:, None].expand(B, Tp), pooled[:, None].expand(B, Tp, -1),
            token_row, text, text_valid, clips=[(r, 0, Tp * hp * wp, *grid) for r in range(B)])
        return unpatchify(out, grid, C, patch)                                 # (B, C, T, h, w)
