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
from engine import conform, operations, sizes
from engine.operations import pixel_frames
from engine.sampler import (ConditioningPlan, classifier_free_guidance, sample,
                            shift_for_tokens)
from engine.text import TextBatch, TextEncoder
from engine.vae import num_latent_frames


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

    @property
    def seconds(self) -> float:
        return self.num_frames / self.fps


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
                "guidance": r.guidance, "sampler": r.sampler, "draft": r.draft,
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


class Engine:
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
            self.card = card
        else:
            _, _, self.card = ckpt.read_config(directory)
        self.label = label or str(directory)
        self.text = TextEncoder(device)

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
            w, h = sizes.size_for_aspect(aspect or "16:9", self.long_side(draft), multiple)
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
        return Request(operation=operation, width=w, height=h, num_frames=num_frames, **settings)

    def long_side(self, draft: bool) -> int:
        return self.card.draft_long_side if draft else self.card.full_long_side

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

        def velocity_rows(x, t):
            return dit(x, t, text.states, text.valid, text.pooled, fps_t)

        if guidance == 1.0:
            return velocity_rows
        return classifier_free_guidance(velocity_rows, guidance)

    def run(self, request: Request, plan: ConditioningPlan | operations.Edit, *,
            progress: Optional[Callable[[Progress], None]] = None,
            cancel: Optional[Callable[[], bool]] = None, notes: Optional[dict] = None) -> Result:
        """Sample `plan` for `request`: its seed draws the noise, so the result is reproducible.
        An Edit also puts its input's own pixels back on the frames it keeps."""
        edit = plan if isinstance(plan, operations.Edit) else None
        plan = edit.plan if edit else plan
        from engine.world import upsample  # the world is only needed when a prompt arrives
        timings = {}
        start = time.perf_counter()
        up = upsample(request.prompt, seed=request.seed, duration_s=request.seconds)
        vae, dit = self.modules
        timings["load_s"] = time.perf_counter() - start
        t0 = time.perf_counter()
        velocity = self.velocity(up.caption, request.fps, request.guidance, batch=1)
        timings["text_s"] = time.perf_counter() - t0

        grid_tokens = int(np.prod(plan.shape[1:])) // dit.cfg.patch.volume
        shift = shift_for_tokens(grid_tokens, dit.cfg.base_tokens)
        generator = torch.Generator().manual_seed(request.seed)
        t1 = time.perf_counter()

        def on_step(step, total, x0):
            if progress is not None:
                preview = to_uint8(vae.preview_rgb(x0[:1]))[0]
                progress(Progress(step, total, time.perf_counter() - t1, preview))

        with torch.inference_mode():
            latents = sample(velocity, plan, steps=request.steps, generator=generator,
                             shift=shift, method=request.sampler, callback=on_step if progress else None, cancel=cancel,
                             device=self.device, dtype=self.dtype)
            timings["sample_s"] = time.perf_counter() - t1
            t2 = time.perf_counter()
            frames = to_uint8(vae.decode(latents))[0]                  # (T, H, W, 3)
            timings["decode_s"] = time.perf_counter() - t2
        if edit is not None:
            frames[edit.keep] = edit.pixels[edit.keep]
            frames = frames[edit.output]
        timings["total_s"] = time.perf_counter() - start
        return Result(frames, replace(request, num_frames=len(frames)), up.caption,
                      tuple(up.unknown_words), self.label, timings, notes or {})

    def generate(self, prompt: str, *, progress=None, cancel=None, variations: int = 1,
                 **options) -> list[Result]:
        """Text to video. Options as in `resolve` (seconds/frames, fps, aspect or width and
        height, draft, seed, steps, guidance). Variation i is the request with seed + i, so each
        can be made again on its own."""
        if variations < 1:
            raise ValueError(f"variations must be at least 1, got {variations}")
        request = self.resolve("generate", prompt, **options)
        plan = operations.generate_plan(self.latent_shape(request))
        return [self.run(replace(request, seed=request.seed + i), plan, progress=progress,
                         cancel=cancel) for i in range(variations)]

    def image(self, prompt: str, *, progress=None, cancel=None, **options) -> Result:
        """Text to image: a one-frame video on the same grid."""
        request = self.resolve("image", prompt, **options)
        return self.run(request, operations.image_plan(self.latent_shape(request)),
                        progress=progress, cancel=cancel)

    # -- editing operations: each conforms its inputs, encodes them and builds an Edit -----------
    def _conform(self, frames: np.ndarray, fps_in: float, settings: dict, size=None,
                 max_frames=None, keep="start", fit="crop") -> tuple[np.ndarray, dict]:
        """Any clip (T, H, W, 3) -> the model's grid at the request's size and fps."""
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or len(frames) < 1:
            raise ValueError(f"expected frames (T, H, W, 3) uint8, got {frames.dtype} {frames.shape}")
        if size is None:
            size = conform.grid_size_for(frames.shape[1], frames.shape[2],
                                         self.long_side(settings["draft"]), self.grid_multiple())
        frames, time_note = conform.resample_frames(frames, fps_in, settings["fps"],
                                                    self.vae.cfg.temporal_factor, max_frames, keep)
        frames, size_note = conform.fit_frames(frames, *size, mode=fit)
        return frames, {**size_note, **time_note}

    def _encode(self, frames: np.ndarray) -> torch.Tensor:
        """(T, H, W, 3) uint8 -> normalised latents (C, t, h, w) on the CPU in fp32."""
        x = torch.from_numpy(frames).permute(3, 0, 1, 2).float()[None] / 127.5 - 1.0
        with torch.inference_mode():
            z = self.vae.encode(x.to(self.device, self.dtype))
        return z[0].float().cpu()

    def _new_latents(self, seconds: float, fps: float) -> int:
        """Latent frames that hold about `seconds` of new material (at least one)."""
        if not (seconds > 0):
            raise ValueError(f"seconds must be positive, got {seconds}")
        return max(1, round(seconds * fps / self.vae.cfg.temporal_factor))

    def _request(self, operation, settings, frames: np.ndarray) -> Request:
        return Request(operation=operation, width=frames.shape[2], height=frames.shape[1],
                       num_frames=len(frames), **settings)

    def _check_total(self, num_latent: int) -> None:
        most = self.card.max_frames
        if pixel_frames(num_latent, self.vae.cfg.temporal_factor) > most:
            raise ValueError(f"this edit would sample more than {most} frames at once; "
                             "use a shorter input or fewer new seconds")

    def animate(self, image: np.ndarray, prompt: str, *, seconds: float = 2.0, fit: str = "crop",
                progress=None, cancel=None, **options) -> Result:
        """The image (H, W, 3) is the first frame; the motion follows the prompt."""
        s = self._settings(prompt, **_opts(options))
        if image.ndim != 3:
            raise ValueError(f"animate takes one image (H, W, 3), got shape {image.shape}")
        first, note = self._conform(image[None], s["fps"], s, max_frames=1, fit=fit)
        tf = self.vae.cfg.temporal_factor
        num_latent = 1 + self._new_latents(seconds, s["fps"])
        self._check_total(num_latent)
        edit = operations.animate_edit(self._encode(first), first[0], num_latent, tf)
        return self.run(self._request("animate", s, edit.pixels), edit, progress=progress,
                        cancel=cancel, notes={"image": note})

    def extend(self, frames: np.ndarray, input_fps: float, prompt: str, *, direction: str = "forward",
               seconds: float = 2.0, context_seconds: float = 2.0, progress=None, cancel=None,
               **options) -> Result:
        """The whole clip with new material after (forward) or before (backward) it. Only the
        last (or first) context_seconds condition the model, so memory and cost per new second
        stay flat however long the clip grows."""
        s = self._settings(prompt, **_opts(options))
        clip, note = self._conform(frames, input_fps, s, keep="start")
        tf = self.vae.cfg.temporal_factor
        new = self._new_latents(seconds, s["fps"])
        room = (self.card.max_frames - 1) // tf + 1 - new   # latent frames left for context
        if room < 1:
            raise ValueError(f"{seconds} s of new material is more than one generation makes; "
                             "extend in several steps")
        ctx = min(1 + int(context_seconds * s["fps"]) // tf * tf, pixel_frames(room, tf))
        if direction == "forward":
            context, rest = clip[max(0, len(clip) - ctx):], clip[:max(0, len(clip) - ctx)]
        else:
            context, rest = clip[:ctx], clip[ctx:]
        context_latent = self._encode(context)
        self._check_total(context_latent.shape[1] + new)
        edit = operations.extend_edit(context_latent, context, new, tf, direction)
        result = self.run(self._request("extend", s, edit.pixels), edit, progress=progress,
                          cancel=cancel, notes={"video": note, "direction": direction,
                                                "context_frames": len(context)})
        result.frames = (np.concatenate([rest, result.frames]) if direction == "forward"
                         else np.concatenate([result.frames, rest]))
        result.request = replace(result.request, num_frames=len(result.frames))
        return result

    def loop(self, frames: np.ndarray, input_fps: float, prompt: str, *, seconds: float = 1.0,
             progress=None, cancel=None, **options) -> Result:
        """The clip plus a generated transition back into its start: repeats seamlessly."""
        s = self._settings(prompt, **_opts(options))
        clip, note = self._conform(frames, input_fps, s, max_frames=self.card.max_frames // 2)
        if len(clip) < 1 + self.vae.cfg.temporal_factor:
            raise ValueError("loop needs a clip of at least a few frames")
        tf = self.vae.cfg.temporal_factor
        latent = self._encode(clip)
        new = self._new_latents(seconds, s["fps"])
        self._check_total(latent.shape[1] + new + 2)
        edit = operations.loop_edit(latent, clip, new, tf)
        return self.run(self._request("loop", s, edit.pixels), edit, progress=progress,
                        cancel=cancel, notes={"video": note})

    def interpolate(self, first: np.ndarray, first_fps: float, second: np.ndarray,
                    second_fps: float, prompt: str, *, seconds: float = 1.0, progress=None,
                    cancel=None, **options) -> Result:
        """First clip unchanged, a generated transition, then the second clip unchanged (the
        second is conformed to the first's size)."""
        s = self._settings(prompt, **_opts(options))
        half = self.card.max_frames // 3
        a, note_a = self._conform(first, first_fps, s, max_frames=half)
        b, note_b = self._conform(second, second_fps, s, size=(a.shape[2], a.shape[1]), max_frames=half)
        tf = self.vae.cfg.temporal_factor
        new = self._new_latents(seconds, s["fps"])
        la, lb = self._encode(a), self._encode(b)
        self._check_total(la.shape[1] + new + lb.shape[1] - 1)
        edit = operations.interpolate_edit(la, a, lb, b, new, tf)
        return self.run(self._request("interpolate", s, edit.pixels), edit, progress=progress,
                        cancel=cancel, notes={"first": note_a, "second": note_b})

    def restyle(self, frames: np.ndarray, input_fps: float, prompt: str, *, strength: float = 0.6,
                progress=None, cancel=None, **options) -> Result:
        """SDEdit: re-noise the clip to `strength` and denoise it under the new prompt."""
        s = self._settings(prompt, **_opts(options))
        clip, note = self._conform(frames, input_fps, s, max_frames=self.card.max_frames)
        edit = operations.restyle_edit(self._encode(clip), clip, strength, self.vae.cfg.temporal_factor)
        return self.run(self._request("restyle", s, clip), edit, progress=progress, cancel=cancel,
                        notes={"video": note, "strength": strength})

    def render(self, draft_frames: np.ndarray, draft: dict, *, strength: float = 0.6,
               progress=None, cancel=None, **options) -> Result:
        """A chosen draft -> the full-size clip with the draft's composition: the draft is
        upscaled to the full grid, re-noised part way (strength) and finished at full size with
        the full step count, under the draft's own prompt and seed (SDEdit on the one sampler)."""
        for key in ("prompt", "seed", "fps"):
            if key not in draft:
                raise ValueError(f"the draft record has no {key!r}; pass the JSON that came with the draft")
        options = {"seed": draft["seed"], "fps": draft["fps"], "guidance": draft.get("guidance"),
                   **options, "draft": False}
        s = self._settings(draft["prompt"], **_opts(options))
        H, W = draft_frames.shape[1:3]
        size = conform.grid_size_for(H, W, self.long_side(False), self.grid_multiple())
        clip, note = self._conform(draft_frames, s["fps"], s, size=size,
                                   max_frames=self.card.max_frames)
        edit = operations.restyle_edit(self._encode(clip), clip, strength,
                                       self.vae.cfg.temporal_factor)
        return self.run(self._request("render", s, clip), edit, progress=progress, cancel=cancel,
                        notes={"draft": {**note, "path": draft.get("path"), "strength": strength}})


def _opts(options: dict) -> dict:
    """The shared settings an edit accepts (fps, draft, seed, steps, guidance, sampler)."""
    allowed = ("fps", "draft", "seed", "steps", "guidance", "sampler")
    unknown = set(options) - set(allowed)
    if unknown:
        raise TypeError(f"unexpected options: {sorted(unknown)}")
    defaults = dict(fps=None, draft=False, seed=None, steps=None, guidance=None, sampler="euler")
    return {**defaults, **options}
