"""Named model recipes: architecture presets plus the model card a trained checkpoint ships with.

`default` is the model shipped in assets/; `tiny` is for tests (runs in milliseconds).
"""
from __future__ import annotations

import torch

from engine.checkpoint import ModelCard
from engine.dit import DiT, dit_config
from engine.vae import VideoVAE, vae_config

RECIPES: dict[str, dict] = {
    # f4 with 4x4 patches (the same token grid as f8 with 2x2, which had beaten f16 with 1x1 in
    # bench/vae_compression.py): after 45 CPU minutes f8 (z=16) still reconstructed world clips
    # at ~20 dB and dropped whole objects, while f4 kept them (issue 3).
    # abs_pos: fractional positions next to RoPE; refine: a convolutional head after the
    # unpatchify (engine/dit.py); assets/default predates both. text_layers (6, 0): MiniLM's last
    # layer and its token embeddings, which keep "left" and "right" apart (engine/dit.py).
    "default": dict(vae="f4", dit="cpu", dit_overrides=dict(patch_h=4, patch_w=4, abs_pos=True, refine=16,
                                                            text_layers=(6, 0)),
                    card=dict(name="tessera-default")),
    # The default's VAE and token grid with a wider, deeper DiT (12.7M parameters), for a lent
    # GPU: bench/dit_cost.py puts its full render at about 15 s of sampling on the 2-core CPU,
    # inside the 30 s bar, where 2x2 patches would take 53 s (issue 3).
    "small": dict(vae="f4", dit="small", dit_overrides=dict(patch_h=4, patch_w=4, abs_pos=True, refine=16,
                                                            text_layers=(6, 0)),
                  card=dict(name="tessera-small")),
    "tiny": dict(vae="tiny", dit="tiny", dit_overrides=dict(patch_h=1, patch_w=1, abs_pos=True, refine=4,
                                                          text_layers=(6, 0)),
                 card=dict(name="tessera-tiny", full_long_side=64, draft_long_side=32,
                           max_long_side=128, steps=4, draft_steps=2, max_frames=33)),
}


def build(recipe: str, seed: int = 0) -> tuple[VideoVAE, DiT, ModelCard]:
    """Freshly initialised modules for a recipe (weights drawn from `seed`)."""
    if recipe not in RECIPES:
        raise ValueError(f"unknown recipe {recipe!r}; choose from {sorted(RECIPES)}")
    r = RECIPES[recipe]
    with torch.random.fork_rng():  # leave the caller's global RNG untouched
        torch.manual_seed(seed)
        vae = VideoVAE(vae_config(r["vae"]))
        # the DiT reads the VAE's latents: its input width follows the VAE preset, never a copy
        dit = DiT(dit_config(r["dit"], in_channels=vae.cfg.latent_channels, **r["dit_overrides"]))
    return vae, dit, ModelCard(**r["card"])
