"""Spacetime patches: the latent video cut into the transformer's tokens (pure functions).

A latent video (B, C, T, h, w) is cut into non-overlapping patches of pt x ph x pw latent cells;
each patch is one token of C*pt*ph*pw features. The grid (T/pt, h/ph, w/pw) is what sets the size
and duration of a generation, so one model serves every resolution, duration and aspect ratio
(Sora report, "spacetime latent patches"). Clips of different sizes are packed into one sequence
batch with a key mask, after NaViT's Patch n' Pack (Dehghani et al., 2023).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class PatchSize:
    t: int = 1
    h: int = 2
    w: int = 2

    @property
    def volume(self) -> int:
        return self.t * self.h * self.w


def grid_shape(latent_shape: tuple[int, ...], patch: PatchSize) -> tuple[int, int, int]:
    """(T, h, w) of a latent -> (Tp, hp, wp) token grid; refuses sizes the patch does not divide."""
    T, h, w = latent_shape[-3:]
    if T % patch.t or h % patch.h or w % patch.w:
        raise ValueError(
            f"latent grid (T={T}, h={h}, w={w}) is not divisible by patch size "
            f"({patch.t}, {patch.h}, {patch.w})"
        )
    return T // patch.t, h // patch.h, w // patch.w


def patchify(latent: torch.Tensor, patch: PatchSize) -> torch.Tensor:
    """(B, C, T, h, w) -> (B, N, C*pt*ph*pw) with tokens in (t, y, x) raster order."""
    B, C = latent.shape[:2]
    Tp, hp, wp = grid_shape(latent.shape, patch)
    x = latent.reshape(B, C, Tp, patch.t, hp, patch.h, wp, patch.w)
    x = x.permute(0, 2, 4, 6, 1, 3, 5, 7)  # (B, Tp, hp, wp, C, pt, ph, pw)
    return x.reshape(B, Tp * hp * wp, C * patch.volume)


def unpatchify(tokens: torch.Tensor, grid: tuple[int, int, int], channels: int,
               patch: PatchSize) -> torch.Tensor:
    """(B, N, C*pt*ph*pw) -> (B, C, T, h, w); the exact inverse of patchify."""
    B, N, D = tokens.shape
    Tp, hp, wp = grid
    if N != Tp * hp * wp or D != channels * patch.volume:
        raise ValueError(f"tokens {tuple(tokens.shape)} do not match grid {grid} x "
                         f"{channels} channels x patch {patch}")
    x = tokens.reshape(B, Tp, hp, wp, channels, patch.t, patch.h, patch.w)
    x = x.permute(0, 4, 1, 5, 2, 6, 3, 7)  # (B, C, Tp, pt, hp, ph, wp, pw)
    return x.reshape(B, channels, Tp * patch.t, hp * patch.h, wp * patch.w)


POS_COLUMNS = 5  # (t, y, x) integer grid coordinates, then (y, x) as fractions of the frame


def positions(grid: tuple[int, int, int], device=None) -> torch.Tensor:
    """Each token's place in raster order: (N, 5) float.

    Columns 0-2 are integer (t, y, x) grid coordinates (rotary positions: relative offsets).
    Columns 3-4 are the token centre's (y, x) as fractions of the frame's height and width, in
    (0, 1): the same place in the picture at every size and aspect (NaViT's fractional positions).
    """
    Tp, hp, wp = grid
    t, y, x = torch.meshgrid(torch.arange(Tp, device=device), torch.arange(hp, device=device),
                             torch.arange(wp, device=device), indexing="ij")
    t, y, x = t.float(), y.float(), x.float()
    return torch.stack([t, y, x, (y + 0.5) / hp, (x + 0.5) / wp], dim=-1).reshape(-1, POS_COLUMNS)


def frame_values_to_tokens(values: torch.Tensor, grid: tuple[int, int, int],
                           patch: PatchSize) -> torch.Tensor:
    """Per-latent-frame values (B, T) -> per-token values (B, N), e.g. flow time per token.

    With pt > 1 a token spans several latent frames; it takes the largest value among them
    (a token is only as clean as its noisiest frame)."""
    B, T = values.shape
    Tp, hp, wp = grid
    if T != Tp * patch.t:
        raise ValueError(f"{T} frame values for a grid of {Tp} x {patch.t} latent frames")
    per_t = values.reshape(B, Tp, patch.t).amax(dim=-1)  # (B, Tp)
    return per_t[:, :, None].expand(B, Tp, hp * wp).reshape(B, Tp * hp * wp)


@dataclass(frozen=True)
class Packed:
    """Several token sequences of different lengths packed into one padded batch."""
    tokens: torch.Tensor      # (B, Nmax, D)
    positions: torch.Tensor   # (B, Nmax, POS_COLUMNS)
    valid: torch.Tensor       # (B, Nmax) bool, False on padding
    segment: torch.Tensor     # (B, Nmax) long: which clip of the row a token belongs to, -1 on padding
    layout: tuple[tuple[tuple[int, int, int, int], ...], ...]  # per row: (clip index, start, length, ...)

    def attention_mask(self) -> torch.Tensor:
        """(B, 1, Nmax, Nmax) bool: a token attends only to tokens of its own clip.

        Padding rows attend to themselves only, so softmax never sees an all-masked row."""
        same = self.segment[:, :, None] == self.segment[:, None, :]  # (B, N, N)
        same = same & self.valid[:, None, :]
        eye = torch.eye(same.shape[-1], dtype=torch.bool, device=same.device)[None]
        same = same | (eye & ~self.valid[:, :, None])
        return same[:, None]


def pack(sequences: list[torch.Tensor], grids: list[tuple[int, int, int]],
         max_len: int) -> Packed:
    """Greedy first-fit packing of token sequences (each (N_i, D)) into rows of max_len tokens.

    Returns the padded batch; `unpack` restores the per-clip order."""
    if len(sequences) != len(grids):
        raise ValueError("one grid per sequence")
    rows: list[list[int]] = []
    fill: list[int] = []
    for i, seq in enumerate(sequences):
        n = seq.shape[0]
        if n > max_len:
            raise ValueError(f"sequence {i} has {n} tokens, more than max_len={max_len}")
        for r, used in enumerate(fill):
            if used + n <= max_len:
                rows[r].append(i)
                fill[r] += n
                break
        else:
            rows.append([i])
            fill.append(n)
    D = sequences[0].shape[1]
    device, dtype = sequences[0].device, sequences[0].dtype
    B = len(rows)
    tokens = torch.zeros(B, max_len, D, device=device, dtype=dtype)
    # The bookkeeping is built on the CPU and moved once: per clip on a GPU it was a dozen small
    # kernel launches (a training step there is bound by launches, not arithmetic; issue 3).
    pos = torch.zeros(B, max_len, POS_COLUMNS)
    valid = torch.zeros(B, max_len, dtype=torch.bool)
    segment = torch.full((B, max_len), -1, dtype=torch.long)
    layout = []
    for r, members in enumerate(rows):
        start, row_layout = 0, []
        for seg, i in enumerate(members):
            n = sequences[i].shape[0]
            tokens[r, start:start + n] = sequences[i]
            pos[r, start:start + n] = positions(grids[i])
            valid[r, start:start + n] = True
            segment[r, start:start + n] = seg
            row_layout.append((i, start, n, seg))
            start += n
        layout.append(tuple(row_layout))
    return Packed(tokens, pos.to(device), valid.to(device), segment.to(device), tuple(layout))


def unpack(batch: torch.Tensor, packed: Packed) -> list[torch.Tensor]:
    """(B, Nmax, D') -> the list of per-clip (N_i, D') in the original order."""
    out: dict[int, torch.Tensor] = {}
    for r, row_layout in enumerate(packed.layout):
        for i, start, n, _ in row_layout:
            out[i] = batch[r, start:start + n]
    return [out[i] for i in range(len(out))]


def check_grid_offset(offset: int, patch: PatchSize) -> None:
    """A token grid can move by 0 .. patch - 1 latent cells (a card's grid_shift)."""
    if not 0 <= offset < min(patch.h, patch.w):
        raise ValueError(f"grid offset (the card's grid_shift) must be between 0 and "
                         f"{min(patch.h, patch.w) - 1} latent cells for a {patch.h}x{patch.w} patch, got {offset}")


def alternate_grid(call, offset: int, patch: PatchSize, below: float = 1.0):
    """Wrap a model call `call(latent (B, C, T, h, w), t (B, T), *rest) -> (B, C, T, h, w)` so
    that every second call at flow times t <= `below` sees the token grid moved by `offset`
    latent cells down and right: the latent is padded by edge replication (offset cells before,
    patch - offset after: one token row and column more) and the output cropped back. Token edges
    then fall in other places on alternate sampler steps, and the 16-pixel grid that the shipped
    DiT leaves in its samples mostly goes (worldbench's `seams` at full size: 1.79 -> 1.25, the
    world's own renders 1.01); it forms in the first steps (t > 0.8). Measured on the shipped
    model it also costs colour adherence (docs/model-notes.md), so its card leaves it off. offset
    0 returns `call` itself. One wrapper per sampling run: its count of calls is the alternation,
    so a seed still gives one result."""
    check_grid_offset(offset, patch)
    if offset == 0:
        return call
    calls = [0]

    def shifted(latent: torch.Tensor, t: torch.Tensor, *rest):
        if float(t.max()) > below:
            return call(latent, t, *rest)
        calls[0] += 1
        if calls[0] % 2:
            return call(latent, t, *rest)
        h, w = latent.shape[-2:]
        pad = (offset, patch.w - offset, offset, patch.h - offset, 0, 0)  # (x, y, t) before/after
        out = call(torch.nn.functional.pad(latent, pad, mode="replicate"), t, *rest)
        return out[..., offset:offset + h, offset:offset + w]
    return shifted
