"""The DiT's held-out denoising error by flow time, on object and on background tokens.

Draws world clips from the training distribution (from a stream training never used), noises
their latents to fixed flow times and measures the velocity MSE of each checkpoint, on tokens an
object touches and on the rest. Every checkpoint meets the same clips, captions and noise, so two
DiTs compare in two minutes on this CPU, where bench/worldbench.py takes twenty and, with 16
distinct prompts a size, moves only in steps of 4-6 points.

A lower error is not prompt adherence (worldbench measures that), but it tells whether training
still improves the denoiser, and where: near t = 1 the model lays out the scene and objects,
at middle times it shapes them.

With --swap, it asks which words of a caption the DiT uses: each clip is scored twice at high
flow times, under its own canonical caption and under the caption of the same scene with one
attribute changed (the object's colour, shape or motion, the camera or the background). A model
that reads the attribute denoises worse under the wrong caption; one that ignores it scores the
same under both.

    python bench/flow_loss.py [--checkpoint DIR ...] [--clips 24] [--context] [--json FILE]
    python bench/flow_loss.py --swap colour shape motion camera background [--known K] [--checkpoint DIR ...]
                              [--set world_max_objects=1 --set world_blind_share=1 ...]

--set draws the --swap clips from a narrower world, as a training run with those settings would:
with single movers started blind (world_blind_share=1, engine/world/scene.py) and the first frame
given (--known 1), only the caption says where the object goes.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TIMES = (0.1, 0.2, 0.35, 0.5, 0.7, 0.9)


def given_frames(frames: int, known: int, grid: tuple[int, int, int], patch):
    """The first `known` of a clip's latent frames given clean: (given (1, frames) with 1 on
    them, free (N,) bool, True on the tokens left to denoise)."""
    from engine.patches import frame_values_to_tokens
    given = (torch.arange(frames) < known).float()[None]                   # (1, T)
    return given, frame_values_to_tokens(given, grid, patch)[0] == 0


def token_errors(dit, z, noise, t: float, given, text, fps: float) -> torch.Tensor:
    """The velocity MSE of each token (N,) for one clip noised to flow time t except on its given
    frames: z and noise (1, C, T, h, w), given (1, T), text a one-row TextBatch."""
    from engine.patches import patchify
    frame_t = t * (1 - given)                                              # (1, T)
    ft = frame_t[:, None, :, None, None]
    x = (1 - ft) * z + ft * noise
    v = dit(x, frame_t, text.states, text.valid, text.pooled, torch.tensor([fps]))
    return patchify(v.float() - (noise - z), dit.cfg.patch)[0].pow(2).mean(-1)


@torch.no_grad()
def flow_errors(vae, dit, text, clips: int, times=TIMES, seed: int = 777_000,
                recipe: str = "default", context: bool = False) -> dict:
    """{'object': {t: mse}, 'background': {t: mse}} over `clips` world clips (stills included),
    drawn as the training recipe draws them.

    context: the first half of each clip's latent frames is given clean (an extend plan) and the
    error is taken on the other half only; stills, with nothing to give, are skipped. Against the
    plain figures on the same clips this shows how much the model uses the frames it is given."""
    from engine.train import TRAIN_RECIPES
    from engine.train.data import dit_group
    cfg = TRAIN_RECIPES[recipe]
    multiple = vae.cfg.spatial_factor * max(dit.cfg.patch_h, dit.cfg.patch_w)
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    sums = {k: {t: [0.0, 0] for t in times} for k in ("object", "background")}
    for _ in range(clips):
        videos, captions, fps, fgs = dit_group(rng, cfg, multiple, vae.cfg.temporal_factor,
                                               dit.cfg.patch_t, clips=1)      # (1, 3, T, H, W)
        z = vae.encode(videos, chunk_frames=None).float()                      # (1, C, t, h, w)
        enc = text.encode(captions)
        fg = fgs[0].reshape(-1).bool()                                         # (N,) token order
        T, pt = z.shape[2], dit.cfg.patch_t
        known = (T // 2) // pt * pt if context else 0                          # latent frames given
        given, free = given_frames(T, known, tuple(fgs[0].shape), dit.cfg.patch)
        for t in times:
            noise = torch.randn(z.shape, generator=gen)
            if context and known == 0:
                continue                             # a still: nothing to give (noise drawn alike)
            err = token_errors(dit, z, noise, t, given, enc, fps)                 # (N,)
            for key, sel in (("object", fg & free), ("background", ~fg & free)):
                if sel.any():
                    sums[key][t][0] += float(err[sel].sum())
                    sums[key][t][1] += int(sel.sum())
    return {k: {t: s / max(n, 1) for t, (s, n) in v.items()} for k, v in sums.items()}


SWAPS = ("colour", "shape", "motion", "camera", "background")
SWAP_TIMES = (0.9, 0.7, 0.5)


def swapped_scene(scene, attribute: str, rng: np.random.Generator):
    """The scene with one attribute changed to another value of its vocabulary (first object)."""
    from dataclasses import replace
    from engine.world import scene as world
    vocab = {"colour": world.COLOURS, "shape": world.SHAPES, "motion": world.MOTIONS,
             "camera": world.CAMERAS, "background": world.BACKGROUNDS}[attribute]
    if attribute in ("camera", "background"):
        old = getattr(scene, attribute)
        return replace(scene, **{attribute: str(rng.choice([v for v in vocab if v != old]))})
    first = scene.objects[0]
    new = str(rng.choice([v for v in vocab if v != getattr(first, attribute)]))
    return replace(scene, objects=(replace(first, **{attribute: new}),) + scene.objects[1:])


@torch.no_grad()
def caption_use(vae, dit, text, clips: int, attribute: str, times=SWAP_TIMES, seed: int = 778_000,
                recipe="default", known: int = 0) -> dict:
    """{'object' | 'background': {t: (mse under the true caption, mse under the swapped one)}}
    over `clips` world clips with motion (stills are skipped: motion and camera do not show in
    them), each noised once per time and scored under both canonical captions.

    known: this many leading latent frames are given clean (1: animate a still) and the error is
    taken on the others. Without a given frame, where an object starts is unknown at high flow
    times and visible in the noisy input at low ones, so a motion word barely changes the best
    prediction; with the first frame given, it says where the object goes."""
    from engine.train import TRAIN_RECIPES
    from engine.train.data import draw_scene_clip, token_foreground
    from engine.world import caption
    cfg = TRAIN_RECIPES[recipe] if isinstance(recipe, str) else recipe   # a name or a TrainConfig
    multiple = vae.cfg.spatial_factor * max(dit.cfg.patch_h, dit.cfg.patch_w)
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    sums = {k: {t: [0.0, 0.0, 0] for t in times} for k in ("object", "background")}
    seconds = tuple(s for s in cfg.seconds if s > 0)
    for _ in range(clips):
        video, scene, fps, masks = draw_scene_clip(rng, cfg.long_sides, seconds, cfg.fps, cfg.aspects,
                                                   multiple, vae.cfg.temporal_factor,
                                                   max_tokens=cfg.max_tokens, with_masks=True,
                                                   world=cfg.world())
        grid = token_foreground(masks, multiple, vae.cfg.temporal_factor, dit.cfg.patch_t)
        fg = grid.reshape(-1).bool()
        z = vae.encode(video[None], chunk_frames=None).float()                 # (1, C, t, h, w)
        given, free = given_frames(z.shape[2], known, tuple(grid.shape), dit.cfg.patch)
        encs = text.encode_each([caption(scene), caption(swapped_scene(scene, attribute, rng))])
        for t in times:
            noise = torch.randn(z.shape, generator=gen)
            errs = [token_errors(dit, z, noise, t, given, enc, fps) for enc in encs]  # true, swapped (N,)
            for key, sel in (("object", fg & free), ("background", ~fg & free)):
                if sel.any():
                    acc = sums[key][t]
                    acc[0] += float(errs[0][sel].sum())
                    acc[1] += float(errs[1][sel].sum())
                    acc[2] += int(sel.sum())
    return {k: {t: (a / max(n, 1), b / max(n, 1)) for t, (a, b, n) in v.items()} for k, v in sums.items()}


def main_swap(args, text_for) -> int:
    from engine import checkpoint as ckpt
    from engine.io import write_json_atomic
    report = {}
    print("velocity error under the true caption -> under a caption with one attribute changed "
          "(+% the rise)")
    print(f"{'checkpoint':30}{'changed':>11}{'tokens':>11}" + "".join(f"{'t=' + str(t):>22}" for t in SWAP_TIMES))
    for directory in args.checkpoint:
        vae, dit, _ = ckpt.load(directory)
        vae.float().eval(), dit.float().eval()
        report[directory] = {}
        for attribute in args.swap:
            errors = caption_use(vae, dit, text_for(dit), args.clips, attribute, known=args.known,
                                 recipe=args.world)
            report[directory][attribute] = {k: {str(t): e for t, e in v.items()} for k, v in errors.items()}
            for key, row in errors.items():
                cells = "".join(f"{a:>8.3f} ->{b:>6.3f} {100 * (b / a - 1):+4.0f}%" for a, b in row.values())
                print(f"{directory[-30:]:30}{attribute:>11}{key:>11}{cells}")
    if args.json:
        write_json_atomic(report, args.json)
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--checkpoint", nargs="+", default=["assets/default"])
    p.add_argument("--clips", type=int, default=24)
    p.add_argument("--context", action="store_true",
                   help="give the first half of each clip's latent frames clean, score the rest")
    p.add_argument("--swap", nargs="+", choices=SWAPS,
                   help="instead: the error under the true caption against a caption with this "
                        "attribute changed (which words the DiT uses)")
    p.add_argument("--known", type=int, default=0, metavar="K",
                   help="with --swap: give each clip's first K latent frames clean (1: animate) and "
                        "score the rest")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="with --swap: draw the clips as a training run with this TrainConfig field "
                        "would (repeatable), e.g. --set world_max_objects=1 --set world_blind_share=1")
    p.add_argument("--json", help="also write the table here")
    args = p.parse_args(argv)
    if args.set and not args.swap:
        raise SystemExit("--set goes with --swap")
    from engine.train import TRAIN_RECIPES
    from engine.train.stages import override
    args.world = override(TRAIN_RECIPES["default"], args.set)
    if args.swap and args.context:
        raise SystemExit("--swap and --context measure different things: give one (with --swap, "
                         "--known gives leading frames)")
    if args.known and not args.swap:
        raise SystemExit("--known goes with --swap (without it, --context gives half the frames)")
    from engine import checkpoint as ckpt
    from engine.io import write_json_atomic
    from engine.text import TextEncoder
    encoders = {}

    def text_for(dit) -> TextEncoder:
        """One encoder per set of text layers, so checkpoints that read the same ones share its cache."""
        layers = dit.cfg.text_layers
        if layers not in encoders:
            encoders[layers] = TextEncoder(layers=layers)
        return encoders[layers]

    if args.swap:
        return main_swap(args, text_for)
    report = {}
    print(f"{'checkpoint':34}{'tokens':>12}" + "".join(f"{'t=' + str(t):>8}" for t in TIMES))
    for directory in args.checkpoint:
        vae, dit, _ = ckpt.load(directory)
        vae.float().eval(), dit.float().eval()
        errors = flow_errors(vae, dit, text_for(dit), args.clips, context=args.context)
        report[directory] = {k: {str(t): e for t, e in v.items()} for k, v in errors.items()}
        for key, row in errors.items():
            print(f"{directory[-34:]:34}{key:>12}" + "".join(f"{e:>8.3f}" for e in row.values()))
    if args.json:
        write_json_atomic(report, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
