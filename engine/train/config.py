"""Training recipes: every knob of a run, frozen."""
from __future__ import annotations

from dataclasses import dataclass

# Shares of the conditioning plans a clip with motion trains under (objectives.PLANS: generate,
# animate, forward, backward, ends, restyle).
PLAN_SHARES = (0.45, 0.15, 0.10, 0.08, 0.10, 0.12)


@dataclass(frozen=True)
class TrainConfig:
    vae_steps: int = 4000
    vae_batch: int = 8
    vae_lr: float = 5e-4
    kl_weight: float = 1e-6
    vae_long_sides: tuple[int, ...] = (128, 256)  # clips render at inference sizes ...
    vae_crop: int = 64                          # ... and train on random crops (convs are local)
    vae_frames: tuple[int, ...] = (1, 5, 9, 13)
    vae_object_crops: float = 0.7               # share of crops centred on an object
    # Pixels on and around objects weigh 1 + this in the reconstruction loss: through the first
    # shipped VAE, moving objects ghosted across their 4-frame latent group and shape detection
    # fell from 97% to 50% while backgrounds were fine (issue 3).
    vae_object_weight: float = 4.0
    # Decoder stage only: latents get noise of std U(0, latent_noise) (normalised units) and must
    # still decode to the clean clip. A DiT never lands on the encoder's latents, and the shipped
    # decoder turned latent error into flicker locked to the 4-frame latent groups (jumps between
    # a group's first two frames 2-3x the rest; issue 4's seams). LTX-Video's decoder, likewise,
    # decodes noisy latents. Measured: it did not lower flicker, with or without the temporal term
    # below (docs/model-notes.md, issue 3), so the default stays 0.
    latent_noise: float = 0.0
    # Weight of the VAE loss's edge term along time (frame-to-frame changes must match the clip's):
    # a decoder tuned without it, with or without latent noise, flickered more than before
    # (bench/latent_noise.py on clean latents: 0.81x -> 1.13x the clip's own frame change).
    vae_temporal_weight: float = 0.0
    # Decoder stage only: grow the decoder to read this many latent frames ahead (engine/vae.py,
    # grow_lookahead); it starts decoding exactly as --from's and learns to use what follows.
    decoder_lookahead: int = 0
    dit_steps: int = 3000
    # On a 2-core CPU more, smaller steps beat fewer large ones: 16 clips a step gave 811 steps
    # an hour and a model that had learned backgrounds but no objects (issue 3, first run).
    dit_clips: int = 8             # clips per step, packed into rows of max_tokens
    max_tokens: int = 1024
    replay_size: int = 1024        # encoded clips kept for reuse under fresh noise and plans
    fresh_per_step: int = 1        # new clips rendered and encoded per step (encoding is costly)
    group_clips: int = 1           # clips rendered at one shape and VAE-encoded as one batch (GPU)
    dit_lr: float = 5e-4
    # Weight of the DiT loss's temporal term (objectives.temporal_error): the prediction error's
    # change from one latent frame to the next. Generated clips flicker ~3x as much as the world's
    # renders, in step with the latent frames, and no decoder change took that out (issue 4).
    # Measured at 0.5 against a control of the same 498 steps: flicker 2.71 -> 2.30, but two
    # prompts of colour and one of motion lost (docs/model-notes.md), so the default stays 0.
    dit_temporal_weight: float = 0.0
    long_sides: tuple[int, ...] = (128, 256)   # draft and full sizes
    seconds: tuple[float, ...] = (0.0, 1.0, 2.0, 3.0)  # 0.0 draws a still image
    fps: tuple[float, ...] = (8.0, 12.0, 16.0)
    aspects: tuple[str, ...] = ("16:9", "9:16", "1:1", "4:3", "3:4")
    caption_dropout: float = 0.1   # the null caption, for classifier-free guidance
    # The part of the world clips are drawn from (engine/world/scene.py, sample_scene): up to
    # world_max_objects objects, a static camera with probability world_static_share, motions
    # from world_motions (empty: all). The defaults draw all of it. Narrower, they are a
    # curriculum: in the whole world about one clip in nine shows one object travelling in a
    # direction under a still camera, the case a motion word is plainest in (issue 3).
    world_max_objects: int = 3
    world_static_share: float = 0.5
    world_motions: tuple[str, ...] = ()
    # The share of scenes whose movers start where the opposite direction would fit too, so the
    # first frame does not give the direction away and only the caption says it
    # (engine/world/scene.py, blind_starts). 0: every path placed as before.
    world_blind_share: float = 0.0
    # Objects fill a few percent of the tokens, so an unweighted loss is nearly all background:
    # the first default DiT learned backgrounds and camera moves but not the named object's
    # colour or shape (issue 3). Tokens an object touches weigh 1 + object_weight, but only below
    # flow time object_max_t: the mask comes from the clean target, and where the noisy input does
    # not yet show where objects are, a target-dependent weight biases the regression towards
    # object content everywhere (ungated, samples were sprinkled with object-coloured patches).
    object_weight: float = 4.0
    object_max_t: float = 0.5
    # The same gate for clips with a given latent frame (animate, extend, interpolate, loop). With
    # no frame given a motion word barely changes the best prediction (where an object starts is
    # unknown at high flow times, and visible in the noisy input at low ones); with the first
    # frame given it says where the object goes. The shipped model reads it there hardly at all
    # (bench/flow_loss.py --swap motion --known 1: +1-2% object error under a wrong motion word),
    # and above object_max_t objects carry ~1/20 of the loss. A given frame and the caption fix
    # where objects are, so the target-dependent weight biases little there. Tried at 1.01 (every
    # flow time) with animate plans at 0.25 (plan_shares below) on a lent H200: the motion word
    # moved to +2-3%, worldbench by a prompt either way (docs/model-notes.md), so the default
    # stays 0.5.
    object_max_t_given: float = 0.5
    plan_shares: tuple[float, ...] = PLAN_SHARES
    # The floor of the training time shift (objectives.make_dit_batch). Flow times are drawn
    # logit-normal and shifted by sqrt(tokens / base_tokens), so a draft-size clip (224 tokens)
    # trained around t = 0.5, where the noisy frames already show where an object goes and the
    # motion word is not needed (issue 3). The sampler floors its shift at the card's min_shift.
    time_shift_min: float = 1.0
    # EMA horizons fit to CPU-length runs: at 0.999 (a 1,000-step horizon) the VAE's EMA after
    # 1,800 steps lagged its raw weights by 4-6 dB PSNR, still averaging early weights.
    vae_ema_decay: float = 0.99
    dit_ema_decay: float = 0.998
    warmup_steps: int = 100
    final_lr_frac: float = 0.05    # cosine decay to this fraction of the peak over the last
    decay_frac: float = 0.4        # decay_frac of the planned steps (a constant LR plateaus early)
    save_every_s: float = 300.0
    log_every: int = 25

    def world(self) -> dict:
        """The world options as sample_scene's keywords."""
        return dict(max_objects=self.world_max_objects, static_share=self.world_static_share,
                    motions=self.world_motions, blind_share=self.world_blind_share)


TRAIN_RECIPES = {
    "default": TrainConfig(),
    "small": TrainConfig(),       # the default's data and schedule; a wider DiT (engine/recipes.py)
    "tiny": TrainConfig(vae_steps=20, vae_batch=2, vae_long_sides=(32,), vae_crop=16, vae_frames=(1, 5),
                        dit_steps=20, dit_clips=4, max_tokens=1024, long_sides=(16, 32),
                        seconds=(0.0, 0.5), fps=(8.0,), replay_size=8, fresh_per_step=2,
                        save_every_s=1e9, log_every=5),
}
