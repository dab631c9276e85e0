"""Training: the VAE first, then the DiT on its latents, both on the embedded world.

    python -m engine.train --recipe default                 # both stages, resumable
    python -m engine.train --recipe default --stage dit --minutes 60
    python -m engine.train --stage decoder --from assets/default --out runs/dec/checkpoint

Each stage keeps EMA weights, writes a resumable state (safetensors + JSON, never pickle) to
--work every few minutes, logs losses to <work>/log.jsonl and shows a progress bar. The DiT sees
the same conditioning plans the operations use (first frame known, a run of frames known at either
end, both ends known, uniform partial noise), so every operation is trained. Clips of different
sizes, aspects and durations are packed into one sequence batch (NaViT's Patch n' Pack). The
decoder stage fine-tunes a trained model's VAE decoder on its frozen encoder: the latents, and so
the DiT trained on them, stay valid.

Layout: config.py (recipes), data.py (world clips), objectives.py (losses, plans, packed batches),
loop.py (the shared resumable loop), stages.py (the VAE and DiT stages and the command line).
"""
from engine.train.config import TRAIN_RECIPES, TrainConfig
from engine.train.data import (crop_origin, draw_clip, draw_scene_clip, object_pixels, token_foreground,
                               vae_batch)
from engine.train.loop import lr_factor, run_loop
from engine.train.objectives import PackedBatch, dit_loss, make_dit_batch, train_mask, vae_loss
from engine.train.stages import latent_stats, main, train_dit, train_vae

__all__ = ["TRAIN_RECIPES", "TrainConfig", "crop_origin", "draw_clip", "draw_scene_clip", "object_pixels",
           "token_foreground", "vae_batch", "lr_factor", "run_loop", "PackedBatch", "dit_loss", "make_dit_batch", "train_mask",
           "vae_loss", "latent_stats", "main", "train_dit", "train_vae"]
