"""The one sampler: rectified flow over latent videos, driven by a ConditioningPlan.

Time convention (written once, here): x_t = (1 - t) * x0 + t * noise, and the model predicts the
velocity v = noise - x0 (Liu et al. 2022, "Flow straight and fast"; minRF's rf.py). Sampling runs t
from 1 (pure noise) to 0 (data): x_{t'} = x_t + (t' - t) * v.

Every operation (generate, animate, extend, loop, interpolate, restyle, image) is a plan: known
latent frames plus a per-frame mask m in [0, 1]. A frame with mask m has its own flow time
t_frame = min(t, 1 - m): m = 1 is known exactly and never moves, m = 0 is generated from noise,
and anything in between starts denoising only once t <= 1 - m (LTX-Video's conditioning strength;
SDEdit at strength s is a uniform mask of 1 - s). The sampler sees the model only as a function
velocity(x, t) -> v (DiT's p_sample_loop(model.forward_with_cfg, ...)); guidance is a wrapper.
Imports torch only.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

import torch

Velocity = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (B,C,T,h,w), (B,T) -> (B,C,T,h,w)
StepCallback = Callable[[int, int, torch.Tensor], None]          # (step, total, x0 estimate)


class Cancelled(Exception):
    """Raised by the sampler when its cancel check returns True; nothing partial is returned."""


@dataclass(frozen=True)
class ConditioningPlan:
    """What the sampler knows before it starts.

    shape: the latent to produce, (C, T, h, w) in latent frames.
    known: (C, T, h, w) or (B, C, T, h, w) latent values, read where mask > 0 or region > 0
           (None: nothing known).
    mask:  (T,) or (B, T) per latent frame in [0, 1]: 1 known exactly, 0 free, between: partial noise.
    region: (T, h, w) latent cells in [0, 1] known inside frames that are otherwise generated
           (outpainting): after every step those cells are put back on the known latents' own
           path, (1 - t) known + t noise, with the frame's noise (the replacement method of
           RePaint, Lugmayr et al. 2022), so the model draws the rest around them and the
           result holds them exactly where region is 1.
    """
    shape: tuple[int, int, int, int]
    known: Optional[torch.Tensor] = None
    mask: Optional[torch.Tensor] = None
    region: Optional[torch.Tensor] = None

    def __post_init__(self):
        if len(self.shape) != 4 or min(self.shape) < 1:
            raise ValueError(f"plan shape must be (C, T, h, w) with positive sizes, got {self.shape}")
        T = self.shape[1]
        if self.mask is not None:
            if self.mask.shape[-1] != T or self.mask.dim() not in (1, 2):
                raise ValueError(f"mask must be (T,) or (B, T) with T={T}, got {tuple(self.mask.shape)}")
            if float(self.mask.min()) < 0 or float(self.mask.max()) > 1:
                raise ValueError("mask values must lie in [0, 1]")
            if float(self.mask.max()) > 0 and self.known is None:
                raise ValueError("a plan with known frames (mask > 0) needs `known` latents")
        if self.region is not None:
            if tuple(self.region.shape) != tuple(self.shape[1:]):
                raise ValueError(f"region must be (T, h, w) = {tuple(self.shape[1:])}, got {tuple(self.region.shape)}")
            if float(self.region.min()) < 0 or float(self.region.max()) > 1:
                raise ValueError("region values must lie in [0, 1]")
            if self.known is None:
                raise ValueError("a plan with a known region needs `known` latents")
        if self.known is not None and tuple(self.known.shape[-4:]) != tuple(self.shape):
            raise ValueError(f"known latents {tuple(self.known.shape)} do not match plan shape {self.shape}")

    def batched(self, batch: int, device, dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """(known (B, C, T, h, w), mask (B, T)) on device; zeros where nothing is known."""
        C, T, h, w = self.shape
        mask = torch.zeros(T) if self.mask is None else self.mask
        mask = mask.to(device=device, dtype=torch.float32).expand(batch, T).clone()  # (B, T)
        if self.known is None:
            known = torch.zeros(batch, C, T, h, w, device=device, dtype=dtype)
        else:
            known = self.known.to(device=device, dtype=dtype).expand(batch, C, T, h, w)
        return known, mask


def shift_time(t: torch.Tensor, shift: float) -> torch.Tensor:
    """Resolution-dependent time shift (SD3, Esser et al. 2024, eq. 23): more steps near t = 1
    for larger token counts, where more of the signal survives a given noise level."""
    return shift * t / (1 + (shift - 1) * t)


MAX_SHIFT = 6.0


def min_shift_checked(min_shift: float, max_shift: float = MAX_SHIFT) -> float:
    """min_shift as a float, checked: 1 <= min_shift <= max_shift."""
    if not 1.0 <= float(min_shift) <= max_shift:
        raise ValueError(f"need 1 <= min_shift <= max_shift, got {min_shift} and {max_shift}")
    return float(min_shift)


def shift_for_tokens(num_tokens: int, base_tokens: int, max_shift: float = MAX_SHIFT,
                     min_shift: float = 1.0) -> float:
    """The shift grows with the square root of the token count relative to the training base,
    within [min_shift, max_shift] (Flux's schedule, too, never shifts less than about 1.6)."""
    min_shift = min_shift_checked(min_shift, max_shift)
    return float(min(max_shift, max(min_shift, math.sqrt(num_tokens / base_tokens))))


def schedule(steps: int, shift: float, t_start: float = 1.0) -> torch.Tensor:
    """Decreasing times from t_start to 0 (float64). A partial start (SDEdit) keeps the tail of
    the full shifted schedule, so strength s costs about s of the steps."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    full = shift_time(torch.linspace(1.0, 0.0, steps + 1, dtype=torch.float64), shift)
    if t_start >= 1.0:
        return full
    tail = full[full < t_start - 1e-6]  # a start on a schedule time takes no sliver of a step
    return torch.cat([torch.tensor([t_start], dtype=torch.float64), tail])


def guidance_interval(values) -> tuple[float, float]:
    """(lo, hi) as floats, checked: the flow times lo < t <= hi where guidance applies."""
    lo, hi = (float(v) for v in values)
    if not (0.0 <= lo < hi <= 1.0):
        raise ValueError(f"guidance_interval must satisfy 0 <= lo < hi <= 1, got {tuple(values)}")
    return lo, hi


def classifier_free_guidance(velocity_pair: Velocity, scale: float, *,
                             interval: tuple[float, float] = (0.0, 1.0),
                             velocity_cond: Optional[Velocity] = None) -> Velocity:
    """Guidance as a wrapper (Ho & Salimans 2022): one batched forward over [cond; uncond].

    velocity_pair(x2, t2) must treat the first half of the batch as conditional and the second
    half as unconditional. With an `interval` (lo, hi), guidance applies only at flow times
    lo < t <= hi (Kynkaanniemi et al. 2024, "Applying guidance in a limited interval"); elsewhere
    the conditional velocity is used alone, from `velocity_cond` (one forward of half the batch).
    The time that decides is the latest frame's, t.max(): known frames wait at lower times."""
    lo, hi = guidance_interval(interval)
    limited = (lo, hi) != (0.0, 1.0)
    if limited and velocity_cond is None:
        raise ValueError("a limited guidance interval needs velocity_cond for the unguided steps")

    def velocity(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if limited and not (lo < float(t.max()) <= hi):
            return velocity_cond(x, t)
        v = velocity_pair(torch.cat([x, x]), torch.cat([t, t]))  # (2B, C, T, h, w)
        v_cond, v_uncond = v.chunk(2)
        return v_uncond + scale * (v_cond - v_uncond)
    return velocity


def _frame_times(t: float, mask: torch.Tensor) -> torch.Tensor:
    """Global time -> per-frame times (B, T): a frame with mask m waits at 1 - m."""
    return torch.clamp(1.0 - mask, max=t)


def _expand(frame_values: torch.Tensor) -> torch.Tensor:
    return frame_values[:, None, :, None, None]  # (B, T) -> (B, 1, T, 1, 1)


@torch.no_grad()
def sample(velocity: Velocity, plan: ConditioningPlan, *, steps: int, generator: torch.Generator,
           batch: int = 1, shift: float = 1.0, method: str = "euler",
           callback: Optional[StepCallback] = None,
           cancel: Optional[Callable[[], bool]] = None,
           device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Integrate the flow from noise to data under `plan`; returns x0 latents (B, C, T, h, w).

    The noise is drawn on the CPU from `generator`, so a seed gives the same video on any device.
    """
    if method not in ("euler", "heun"):
        raise ValueError(f"unknown sampler method {method!r}; use 'euler' or 'heun'")
    C, T, h, w = plan.shape
    known, mask = plan.batched(batch, device, dtype)                    # (B,C,T,h,w), (B,T)
    noise = torch.randn((batch, C, T, h, w), generator=generator, dtype=torch.float32)
    noise = noise.to(device=device, dtype=dtype)
    hard = _expand(mask >= 1.0)                                         # (B,1,T,1,1) known exactly

    region = None if plan.region is None else plan.region.to(device=device, dtype=dtype)[None, None]
    t_start = float((1.0 - mask).max())
    times = schedule(steps, shift, t_start) if t_start > 0 else torch.zeros(1, dtype=torch.float64)

    def settle(x, t_frames):  # known frames and known cells back on their own path
        tt = _expand(t_frames).to(dtype)
        if region is not None:                                          # exact where region is 1
            target = (1 - tt) * known + tt * noise                      # (B,C,T,h,w)
            x = torch.where(region >= 1, target, x + region * (target - x))
        return torch.where(hard, known, x)

    first = _frame_times(float(times[0]), mask)                         # (B, T)
    t0 = _expand(first).to(dtype)
    x = settle((1 - t0) * known + t0 * noise, first)
    total = len(times) - 1
    for i in range(total):
        if cancel is not None and cancel():
            raise Cancelled(f"cancelled at step {i} of {total}")
        t_cur = _frame_times(float(times[i]), mask)                     # (B, T)
        t_next = _frame_times(float(times[i + 1]), mask)
        dt = _expand(t_next - t_cur).to(dtype)
        v = velocity(x, t_cur)
        if method == "heun" and float(times[i + 1]) > 0:
            v2 = velocity(settle(x + dt * v, t_next), t_next)
            v_step = 0.5 * (v + v2)
        else:
            v_step = v
        if callback is not None:
            callback(i + 1, total, x - _expand(t_cur).to(dtype) * v)   # cheap x0 estimate
        x = settle(x + dt * v_step, t_next)
    if cancel is not None and cancel():
        raise Cancelled(f"cancelled after step {total}")
    return x
