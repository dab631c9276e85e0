"""Operations: each one builds a ConditioningPlan for the one sampler; none runs its own loop.

A plan is the latent shape to produce, the latent frames that are known, and how strongly each
is known (Open-Sora's masks; LTX-Video's conditioning items). Text-to-video and text-to-image
know nothing; the editing operations (animate, extend, loop, interpolate, restyle) fill `known`
and `mask` from their input clips.
"""
from __future__ import annotations

from engine.sampler import ConditioningPlan


def generate_plan(latent_shape: tuple[int, int, int, int]) -> ConditioningPlan:
    """Text to video: every latent frame (C, t, h, w) starts from noise."""
    return ConditioningPlan(shape=latent_shape)


def image_plan(latent_shape: tuple[int, int, int, int]) -> ConditioningPlan:
    """Text to image: a one-latent-frame video, since the VAE codes the first frame alone."""
    if latent_shape[1] != 1:
        raise ValueError(f"an image is one latent frame, got {latent_shape[1]}")
    return ConditioningPlan(shape=latent_shape)


OPERATIONS = {"generate": generate_plan, "image": image_plan}
