"""One rule for every frozen config read from a checkpoint: unknown keys are refused, loudly."""
from __future__ import annotations

from dataclasses import fields


def check_keys(cls, d: dict, what: str) -> None:
    unknown = set(d) - {f.name for f in fields(cls)}
    if unknown:
        raise ValueError(f"unknown {what} keys: {sorted(unknown)}")
