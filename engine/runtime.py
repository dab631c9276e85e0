"""The Engine: loads a checkpoint lazily and turns requests into pixels through the one sampler.

Flow of a request: prompt -> upsampled caption (engine.world) -> text states (engine.text) ->
plan (engine.operations) -> sample (engine.sampler) with the DiT as velocity -> decode (engine.vae).
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch

from engine import checkpoint as ckpt
from engine import operations, sizes
from engine.edits import EditMethods, _opts, add_run_times  # noqa: F401  (_opts: part of the edit API)
from engine.patches import alternate_grid
from engine.sampler import (ConditioningPlan, classifier_free_guidance, sample, schedule,
                            shift_for_tokens)
from engine.text import TextBatch, TextEncoder
from engine.vae import num_latent_frames

STILL_CAPTION_SECONDS = 2.0   # the clip a still's caption describes a moment of (Request.caption_seconds)
# The object motion plan's first frame (Engine._motion_run) is the clearest frame of the DiT's own
# clip. Where no moving object is found in it, another clip is drawn (seed + k * FIRST_SEED_STEP),
# up to FIRST_TRIES in all, before the first clip stands as the DiT made it: at full size a still
# lacked its object in 3 of 48 motion prompts (worldbench, both seed sets) and the next one had it.
FIRST_TRIES = 3
FIRST_SEED_STEP = 7919


@dataclass(frozen=True)
class Request:
    """Everything that determines a result; saved with it so any clip can be made again."""
    operation: str
    prompt: str
    width: int
    height: int
    num_frames: int
    fps: float
    seed: int
    steps: int
    guidance: float
    draft: bool = False
    sampler: str = "euler"          # or "heun": second order, two model calls per step
    aspect: Optional[str] = None    # the aspect asked for ("16:9"), where the size came from one:
                                    # a draft's grid only approximates it (16:9 drafts are 128x64)

    @property
    def seconds(self) -> float:
        return self.num_frames / self.fps

    @property
    def caption_seconds(self) -> float:
        """The length the caption describes: a still is a moment of a STILL_CAPTION_SECONDS clip,
        so a scene that needs time to happen (an object passing behind another) still has one."""
        return self.seconds if self.num_frames > 1 else STILL_CAPTION_SECONDS


@dataclass(frozen=True)
class Progress:
    step: int
    total: int
    elapsed_s: float
    preview: Optional[np.ndarray]  # (t, h, w, 3) uint8 low-resolution estimate of the result


@dataclass
class Result:
    frames: np.ndarray             # (T, H, W, 3) uint8
    request: Request
    caption: str
    unknown_words: tuple[str, ...]
    checkpoint: str
    timings: dict = field(default_factory=dict)
    notes: dict = field(default_factory=dict)   # how inputs were conformed to the grid

    def record(self, path: Optional[str] = None) -> dict:
        """The JSON record of a result (the CLI's --json output)."""
        r = self.request
        return {"path": path, "operation": r.operation, "seed": r.seed, "width": r.width,
                "height": r.height, "frames": r.num_frames, "fps": r.fps,
                "seconds": round(r.seconds, 4), "prompt": r.prompt, "caption": self.caption,
                "unknown_words": list(self.unknown_words), "steps": r.steps,
                "guidance": r.guidance, "sampler": r.sampler, "draft": r.draft, "aspect": r.aspect,
                "checkpoint": self.checkpoint, "inputs": self.notes,
                "timings": {k: round(v, 4) for k, v in self.timings.items()}}


def pick_device(device: str | None) -> torch.device:
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was asked for, but no CUDA device is available")
    return dev


def to_uint8(video: torch.Tensor) -> np.ndarray:
    """(B, 3, T, H, W) in [-1, 1] -> (B, T, H, W, 3) uint8."""
    x = ((video.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.permute(0, 2, 3, 4, 1).cpu().numpy()


class Engine(EditMethods):
    """`Engine.load()` reads the shipped checkpoint's config; weights load on first use."""

    def __init__(self, directory: Optional[Path], device: torch.device, *,
                 modules: Optional[tuple] = None, label: Optional[str] = None):
        self.directory = directory
        self.device = device
        # bf16 on CUDA; fp32 on the CPU, where bf16 runs about 60x slower.
        self.dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
        self._lock = threading.Lock()
        self._modules = None
        if modules is not None:
            vae, dit, card = modules
            self._modules = (vae.to(device, self.dtype).eval(), dit.to(device, self.dtype).eval())
            self.card, text_layers = card, dit.cfg.text_layers
        else:
            _, dit_cfg, self.card = ckpt.read_config(directory)
            text_layers = dit_cfg.text_layers
        self.label = label or str(directory)
        self.text = TextEncoder(device, layers=text_layers)  # the hidden states this DiT reads

    # -- construction ----------------------------------------------------------------------------
    @classmethod
    def load(cls, checkpoint: str | Path | None = None, device: str | None = "auto",
             random_if_missing: bool = False) -> "Engine":
        """The checkpoint at `checkpoint` (default: the shipped assets/default).

        With random_if_missing, a missing *default* checkpoint gives an untrained model of the
        default recipe, labelled as such in every result; an explicit path must exist."""
        dev = pick_device(device)
        directory = Path(checkpoint) if checkpoint else ckpt.DEFAULT_CHECKPOINT
        if (directory / "config.json").is_file():
            return cls(directory, dev)
        if checkpoint is None and random_if_missing:
            return cls.random("default", dev)
        raise FileNotFoundError(f"no checkpoint at {directory} (expected config.json and "
                                "model.safetensors; train one with `python -m engine.train`)")

    @classmethod
    def random(cls, recipe: str = "default", device: str | torch.device = "cpu",
               seed: int = 0) -> "Engine":
        from engine.recipes import build
        label = f"random-init:{recipe} (UNTRAINED weights: no checkpoint in assets/default; output is noise)"
        return cls(None, pick_device(str(device)), modules=build(recipe, seed), label=label)

    @property
    def modules(self):
        with self._lock:
            if self._modules is None:
                vae, dit, _ = ckpt.load(self.directory, device="cpu")
                self._modules = (vae.to(self.device, self.dtype), dit.to(self.device, self.dtype))
        return self._modules

    @property
    def vae(self):
        return self.modules[0]

    @property
    def dit(self):
        return self.modules[1]

    # -- the grid ----------------------------------------------------------------------------------
    def grid_multiple(self) -> int:
        vae_cfg = self.vae.cfg
        dit_cfg = self.dit.cfg
        return vae_cfg.spatial_factor * max(dit_cfg.patch_h, dit_cfg.patch_w)

    def _settings(self, prompt: str, fps, draft, seed, steps, guidance, sampler) -> dict:
        """Checks and defaults shared by every operation."""
        card = self.card
        if not isinstance(prompt, str) or not prompt.strip():
            raise ValueError("the prompt is empty: describe what the clip should show")
        fps = float(fps if fps is not None else card.fps)
        if not (card.min_fps <= fps <= card.max_fps):
            raise ValueError(f"fps {fps} is outside what this model knows ({card.min_fps}-{card.max_fps})")
        if seed is None:
            seed = int.from_bytes(os.urandom(4), "little") & 0x7FFFFFFF
        if isinstance(seed, bool) or int(seed) != seed or not 0 <= int(seed) < 2 ** 63:
            raise ValueError(f"seed must be a whole number from 0 to 2**63 - 1, got {seed}")
        steps = int(steps if steps is not None else (card.draft_steps if draft else card.steps))
        if steps < 1 or steps > 1000:
            raise ValueError(f"steps must be between 1 and 1000, got {steps}")
        guidance = float(guidance if guidance is not None else card.guidance)
        if not (0.0 <= guidance <= 30.0):
            raise ValueError(f"guidance must be between 0 and 30, got {guidance}")
        if sampler not in ("euler", "heun"):
            raise ValueError(f"sampler must be 'euler' or 'heun', got {sampler!r}")
        return dict(prompt=prompt.strip(), fps=fps, seed=int(seed), steps=steps,
                    guidance=guidance, draft=bool(draft), sampler=sampler)

    def resolve(self, operation: str, prompt: str, *, seconds: float | None = None,
                frames: int | None = None, fps: float | None = None, aspect: str | None = None,
                width: int | None = None, height: int | None = None, draft: bool = False,
                seed: int | None = None, steps: int | None = None,
                guidance: float | None = None, sampler: str = "euler") -> Request:
        """Fill defaults from the model card and check the request against the grid."""
        card = self.card
        settings = self._settings(prompt, fps, draft, seed, steps, guidance, sampler)
        multiple = self.grid_multiple()
        tf = self.vae.cfg.temporal_factor
        if (width is None) != (height is None):
            raise ValueError("give both --width and --height, or an --aspect")
        if width is not None:
            if aspect is not None:
                raise ValueError("give either an aspect or a width and height, not both")
            w, h = int(width), int(height)
        else:
            aspect = aspect or "16:9"
            w, h = sizes.size_for_aspect(aspect, self.long_side(draft), multiple)
        sizes.check_size(w, h, multiple, card.max_long_side)
        if operation == "image":
            num_frames = 1
        elif frames is not None:
            if seconds is not None:
                raise ValueError("give either seconds or frames, not both")
            num_frames = int(frames)
        else:
            num_frames = sizes.frames_for_seconds(2.0 if seconds is None else seconds,
                                                  settings["fps"], tf)
        sizes.check_frames(num_frames, tf, card.max_frames)
        return Request(operation=operation, width=w, height=h, num_frames=num_frames, aspect=aspect,
                       **settings)

    def long_side(self, draft: bool) -> int:
        return self.card.draft_long_side if draft else self.card.full_long_side

    def _request(self, operation, settings, frames: np.ndarray) -> Request:
        return Request(operation=operation, width=frames.shape[2], height=frames.shape[1],
                       num_frames=len(frames), **settings)

    def latent_shape(self, request: Request) -> tuple[int, int, int, int]:
        cfg = self.vae.cfg
        f = cfg.spatial_factor
        t = num_latent_frames(request.num_frames, cfg.temporal_factor)
        return (cfg.latent_channels, t, request.height // f, request.width // f)

    # -- running -----------------------------------------------------------------------------------
    def velocity(self, caption: str, fps: float, guidance: float, batch: int = 1):
        """The model as the sampler sees it: velocity(x, t), with guidance wrapped around it."""
        dit = self.dit
        cond = self.text.encode([caption] * batch)
        if guidance == 1.0:
            text = cond.to(self.device, self.dtype)
        else:
            text = TextBatch.cat([cond, self.text.null(batch)]).to(self.device, self.dtype)
        rows = text.states.shape[0]
        fps_t = torch.full((rows,), fps, device=self.device)
        model = alternate_grid(dit, self.card.grid_shift, dit.cfg.patch,  # one count per run
                               below=self.card.grid_shift_below)

        def velocity_rows(x, t):
            return model(x, t, text.states, text.valid, text.pooled, fps_t)

        if guidance == 1.0:
            return velocity_rows

        def velocity_cond(x, t):  # the conditional rows alone, where guidance is off
            return model(x, t, text.states[:batch], text.valid[:batch], text.pooled[:batch], fps_t[:batch])

        return classifier_free_guidance(velocity_rows, guidance, interval=self.card.guidance_interval,
                                        velocity_cond=velocity_cond)

    def tokens(self, latent_shape: tuple[int, int, int, int]) -> int:
        """How many tokens the DiT cuts a latent (C, T, h, w) into."""
        return int(np.prod(latent_shape[1:])) // self.modules[1].cfg.patch.volume

    def shift_for(self, latent_shape: tuple[int, int, int, int]) -> float:
        """The sampler's time shift for a latent (C, T, h, w): it grows with the token count."""
        return shift_for_tokens(self.tokens(latent_shape), self.modules[1].cfg.base_tokens,
                                min_shift=self.card.min_shift)

    def run(self, request: Request, plan: ConditioningPlan | operations.Edit, *,
            progress: Optional[Callable[[Progress], None]] = None,
            cancel: Optional[Callable[[], bool]] = None, notes: Optional[dict] = None) -> Result:
        """Sample `plan` for `request`: its seed draws the noise, so the result is reproducible.
        An Edit also puts its input's own pixels back on the frames it keeps."""
        edit = plan if isinstance(plan, operations.Edit) else None
        plan = edit.plan if edit else plan
        timings = {}
        start = time.perf_counter()
        up = self.upsampled(request)
        vae = self.modules[0]  # loads both modules: the load's time is counted here
        timings["load_s"] = time.perf_counter() - start
        t0 = time.perf_counter()
        velocity = self.velocity(up.caption, request.fps, request.guidance, batch=1)
        timings["text_s"] = time.perf_counter() - t0

        shift = self.shift_for(plan.shape)
        generator = torch.Generator().manual_seed(request.seed)
        t1 = time.perf_counter()

        def on_step(step, total, x0):
            if progress is not None:
                preview = to_uint8(vae.preview_rgb(x0[:1]))[0]
                progress(Progress(step, total, time.perf_counter() - t1, preview))

        with torch.inference_mode():
            latents = sample(velocity, plan, steps=request.steps, generator=generator,
                             shift=shift, method=request.sampler,
                             callback=on_step if progress else None, cancel=cancel,
                             device=self.device, dtype=self.dtype)
            timings["sample_s"] = time.perf_counter() - t1
            t2 = time.perf_counter()
            phases = edit.decode_phases if edit and edit.decode_phases else self.card.decode_phases
            frames = to_uint8(vae.decode(latents, phases=phases))[0]  # (T, H, W, 3)
            if (edit is not None and (edit.detail > 0 or edit.held_detail is not None)
                    and plan.known is not None and plan.known.dim() == 4):
                known = plan.known[None].to(self.device, self.dtype)      # the input's own latent
                reconstructed = to_uint8(vae.decode(known, phases=phases))[0]
                weight = (edit.detail if edit.held_detail is None
                          else np.maximum(edit.held_detail, np.float32(edit.detail)))   # (T, H, W)
                frames = operations.restore_detail(frames, edit.pixels, reconstructed, weight,
                                                   exact=edit.object_detail)
            timings["decode_s"] = time.perf_counter() - t2
        if edit is not None:
            frames = operations.splice(frames, edit.pixels, edit.keep)
            if edit.even_pace:
                frames = operations.even_pace(frames, edit.keep)
            frames = frames[edit.output]
        timings["total_s"] = time.perf_counter() - start
        return Result(frames, replace(request, num_frames=len(frames)), up.caption,
                      tuple(up.unknown_words), self.label, timings, notes or {})

    def generate(self, prompt: str, *, progress=None, cancel=None, variations: int = 1,
                 camera_hold: float | None = None, motion_hold: float | None = None,
                 **options) -> list[Result]:
        """Text to video. Options as in `resolve` (seconds/frames, fps, aspect or width and
        height, draft, seed, steps, guidance). Variation i is the request with seed + i, so each
        can be made again on its own. A camera move the prompt names is made by the camera plan
        (engine/camera.py) at mask camera_hold, the caption's moving objects moving in it where
        motion_hold is above 0; otherwise the caption's moving objects are moved by the motion
        plan (engine/motion.py) at mask motion_hold (None: the card's; 0: the DiT alone)."""
        if variations < 1:
            raise ValueError(f"variations must be at least 1, got {variations}")
        hold = self.camera_hold(camera_hold)
        moving = self.motion_hold(motion_hold)
        request = self.resolve("generate", prompt, **options)
        move = self.camera_move(request.prompt, request.num_frames) if hold > 0 else None
        plan = operations.generate_plan(self.latent_shape(request))
        results = []
        for i in range(variations):
            varied = replace(request, seed=request.seed + i)
            if move:         # the caption's moving objects move as the camera does
                results.append(self._camera_run(varied, move, hold, progress, cancel,
                                                movers=moving > 0 and self.movers_named(varied)))
            elif moving > 0 and self.movers_named(varied):
                results.append(self._motion_run(varied, moving, progress, cancel))
            else:
                results.append(self.run(varied, plan, progress=progress, cancel=cancel))
        return results

    def camera_hold(self, camera_hold: float | None) -> float:
        """The mask a named camera move is known at: the card's, or the one asked for, checked."""
        return self._hold("camera_hold", self.card.camera_hold, camera_hold)

    def motion_hold(self, motion_hold: float | None) -> float:
        """The mask moved objects are known at: the card's, or the one asked for, checked."""
        return self._hold("motion_hold", self.card.motion_hold, motion_hold)

    @staticmethod
    def _hold(name: str, card_value: float, asked: float | None) -> float:
        hold = card_value if asked is None else float(asked)
        if not 0.0 <= hold < 1.0:
            raise ValueError(f"{name} must be in [0, 1), got {asked}")
        return hold

    @staticmethod
    def upsampled(request: Request):
        """The request's prompt upsampled (engine/world): the caption the model sees and the
        scene it describes, objects' paths included."""
        from engine.world import upsample  # the world is only needed when a prompt arrives
        return upsample(request.prompt, seed=request.seed, duration_s=request.caption_seconds)

    def movers_named(self, request: Request) -> bool:
        """Whether the request's caption moves an object, in a clip long enough to show it."""
        return request.num_frames > 1 and any(o.motion != "still" for o in self.upsampled(request).scene.objects)

    def _motion_run(self, request: Request, hold: float, progress, cancel) -> Result:
        """The caption's moving objects as a plan: the DiT samples the clip, its movers are
        found in its clearest frame (motion.clearest_frame), and moved from there along their
        paths, refined from flow time 1 - hold (engine/motion.py). Where no mover is found,
        another clip is drawn, up to FIRST_TRIES (the record's `motion.tries`); then the first
        clip stands, and the record says so. A one-frame still of the prompt was the first frame
        at full size before: worldbench's motion at full size is 91.3% and 82.6% from the clip's
        clearest frame (seeds 1000, 3000), 78.3% and 69.6% from the still (docs/model-notes.md)."""
        from engine import motion
        start = time.perf_counter()
        shape = self.latent_shape(request)
        refine = self.run_steps(request.steps, shape, 1.0 - hold)
        scene = self.upsampled(request).scene
        clips, result = [], None
        for k in range(FIRST_TRIES):
            relay = self.relay(progress, (k + 1) * request.steps + refine, start)
            clip = self.run(replace(request, seed=request.seed + k * FIRST_SEED_STEP),
                            operations.generate_plan(shape), progress=relay(k * request.steps), cancel=cancel)
            clips.append(clip)
            result = self._move_objects(clip.frames[motion.clearest_frame(clip.frames, scene)], hold, request,
                                        relay((k + 1) * request.steps), keep_first=False, cancel=cancel)
            if result is not None:
                result.notes["motion"]["tries"] = len(clips)
                break
        else:                                  # the DiT's own first clip stands
            result, clips = clips[0], clips[1:]
            result.notes["motion"] = {"hold": hold, "moved": 0, "tries": FIRST_TRIES}
        for clip in clips:
            add_run_times(result, clip)
        result.timings["total_s"] = time.perf_counter() - start
        return result

    def _move_objects(self, image: np.ndarray, hold: float, request: Request, progress, *,
                      keep_first: bool, cancel) -> Optional[Result]:
        """The request's moving objects found in `image` (its first frame), moved and refined
        from flow time 1 - hold; keep_first: frame 0 is the image itself (animate), and each
        mover starts where it is. None where no mover is found."""
        t0 = time.perf_counter()
        # the model's own frame may draw an object twice (erased); an image's other things stay
        frames, cover, note = self._objects_in(image, image, (0, 0), request, hold, keep_first)
        if not note["moved"]:
            return None
        edit = operations.motion_edit(self._encode(frames), frames, hold, self.vae.cfg.temporal_factor,
                                      keep_first=keep_first, cover=cover, object_hold=operations.OBJECT_HOLD,
                                      detail=operations.MOTION_DETAIL)
        move_s = time.perf_counter() - t0
        result = self.run(request, edit, progress=progress, cancel=cancel, notes={"motion": note})
        result.timings["motion_s"] = move_s
        return result

    def camera_move(self, prompt: str, num_frames: int) -> Optional[str]:
        """The camera move (engine/camera.py MOVES) the prompt names, if any, for a clip; a move
        the upsampler draws for a prompt that names none is left to the DiT."""
        from engine import camera
        from engine.world import parse
        if num_frames < 2:
            return None
        camera_named = parse(prompt)[0]["camera"]
        return camera_named if camera_named in camera.MOVES else None

    def _camera_run(self, request: Request, move: str, hold: float, progress, cancel, *,
                    movers: bool = False) -> Result:
        """A named camera move as a plan: a still of the prompt at the frame's size, outpainted
        where the move reveals more, the move laid over it and refined from flow time 1 - hold
        (engine/camera.py; the same road as animate's, from the model's own first frame).
        movers: the caption's moving objects move in the still as the camera moves."""
        start = time.perf_counter()
        relay = self.relay(progress, request.steps + self._move_steps(move, request, hold), start)
        still_shape = self.latent_shape(replace(request, num_frames=1))
        first = self.run(request, operations.image_plan(still_shape),   # the clip's own caption
                         progress=relay(0), cancel=cancel)
        result = self._move_over(first.frames[0], move, hold, request, relay, request.steps,
                                 keep_first=False, cancel=cancel, movers=movers)
        add_run_times(result, first)
        result.timings["total_s"] = time.perf_counter() - start
        return result

    def run_steps(self, steps: int, latent_shape: tuple[int, int, int, int], t_start: float) -> int:
        """Sampler steps a run of `steps` makes from flow time t_start on a latent of that shape."""
        return len(schedule(steps, self.shift_for(latent_shape), t_start)) - 1

    def refine_steps(self, request: Request, hold: float) -> int:
        """Sampler steps that refine a camera move known at mask `hold` on the request's grid."""
        return self.run_steps(request.steps, self.latent_shape(request), 1.0 - hold)

    @staticmethod
    def relay(progress, total: int, start: float):
        """One progress bar over several sampler runs: relay(offset) is the callback for the run
        whose steps begin at `offset` of `total`."""
        def at(offset):
            if progress is None:
                return None
            return lambda p: progress(Progress(offset + p.step, total, time.perf_counter() - start,
                                               p.preview))
        return at

    def image(self, prompt: str, *, progress=None, cancel=None, **options) -> Result:
        """Text to image: a one-frame video on the same grid."""
        request = self.resolve("image", prompt, **options)
        return self.run(request, operations.image_plan(self.latent_shape(request)),
                        progress=progress, cancel=cancel)
