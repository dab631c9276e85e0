"""Tessera's engine: a small Sora-style video model (VAE, spacetime patches, DiT, one sampler).

Public API:
    from engine import Engine
    engine = Engine.load(device="cpu")            # weights load on first use
    [result] = engine.generate("a red ball moves right over green grass", seconds=2, seed=1)
    result.frames                                  # (T, H, W, 3) uint8

Glossary of symbols used in shape comments:
    B batch   C channels   T pixel frames   t latent frames (also: flow time)   H W pixel height/width
    h w latent height/width   N tokens   D model width   M text tokens   F conditioning rows
    t (flow time) in [0, 1]: x_t = (1 - t) x0 + t noise;  v = noise - x0 (the model's target)

Heavy modules (torch) load only when Engine is first touched, so `engine.timeline` and
`engine.world` stay cheap to import.
"""
from __future__ import annotations

__all__ = ["Engine", "Request", "Result", "Progress", "Cancelled"]


def __getattr__(name):
    if name in ("Engine", "Request", "Result", "Progress"):
        from engine import runtime
        return getattr(runtime, name)
    if name == "Cancelled":
        from engine.sampler import Cancelled
        return Cancelled
    raise AttributeError(f"module 'engine' has no attribute {name!r}")
