"""The studio's operations, free of any UI: each checks its inputs, then submits one job to the
worker. A job calls the engine once per result and saves to the library only after all of its
compute is done (a cancelled job saves nothing). The Gradio page and the tests both call these.

A *source* is a library clip id or the path of an uploaded file (which must lie in the
workspace's upload folder); `Studio.source_frames` is the one place that reads either.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from engine import io
from engine.sizes import RENDER_STRENGTH, parse_aspect
from engine.sources import note_source
from studio.config import StudioConfig
from studio.library import ID, Entry, Library
from studio.styles import Styles, with_style
from studio.workspace import Workspace
from studio.worker import Job, JobContext, Worker

ASPECTS = ("16:9", "9:16", "1:1", "4:3", "3:4")
VARIATIONS = (1, 2, 4)
MAX_SEED = 2**31 - 1


@dataclass(frozen=True)
class Card:
    """One storyboard card: what happens, for how long."""
    prompt: str
    seconds: float


def default_engine_factory(config: StudioConfig) -> Callable:
    def load():
        from engine.runtime import Engine
        engine = Engine.load(config.checkpoint, device=config.device, random_if_missing=True)
        if engine.directory is None:
            print(f"WARNING: {engine.label}", flush=True)
        return engine
    return load


def _clip_id(source) -> Optional[str]:
    """The library id a source names ("id · draft · prompt" from a dropdown), or None (an upload)."""
    head = str(source).strip().split(" ")[0]
    return head if ID.fullmatch(head) else None


class Studio:
    def __init__(self, config: StudioConfig, engine_factory: Optional[Callable] = None):
        self.config = config
        self.ws = Workspace(config.workspace)
        self.ws.lock()
        try:
            self.library = Library(self.ws)
        except BaseException:
            self.ws.unlock()
            raise
        self.styles = Styles(self.ws)
        self.worker = Worker(engine_factory or default_engine_factory(config))
        if config.preload:
            self.worker.preload()

    def close(self) -> None:
        self.worker.stop()
        self.library.close()
        self.ws.unlock()

    # -- prompts ---------------------------------------------------------------------------------------
    def prompt_for(self, prompt: str, caption: str = "", style: str = "") -> str:
        """An edited caption wins; otherwise the prompt plus the style's paragraph."""
        text = (caption or "").strip() or with_style(prompt, self.styles.text(style))
        if not text:
            raise ValueError("the prompt is empty: describe what the clip should show")
        return text

    def expand(self, prompt: str, style: str = "", seed: int = 0, seconds: float = 2.0):
        """(caption, unknown words): what the model will see for this prompt, without compute."""
        from engine.world import upsample
        text = self.prompt_for(prompt, "", style)
        up = upsample(text, seed=int(seed), duration_s=float(seconds))
        return up.caption, list(up.unknown_words)

    # -- sources ---------------------------------------------------------------------------------------
    def source_frames(self, source: str) -> tuple[np.ndarray, float, tuple[str, ...]]:
        """(frames (T, H, W, 3), fps, parent ids) of a library clip id or an uploaded file."""
        if not source or not str(source).strip():
            raise ValueError("choose a clip from the library or upload one first")
        source = str(source).strip()
        clip_id = _clip_id(source)
        if clip_id:
            frames, fps = self.library.frames(clip_id)
            return frames, fps, (clip_id,)
        path = Path(source).resolve()
        uploads = self.ws.tmp.resolve()
        if not path.is_relative_to(uploads):
            raise ValueError("only library clips and files uploaded to the studio can be edited")
        # Whole clip (no silent cut at 2000 frames), decoded at the size edits need.
        try:
            frames, fps = io.read_video(path, long_side=io.EDIT_LONG_SIDE)
        except io.MediaError as e:   # the file's own name, not the server's upload folder
            raise io.MediaError(str(e).replace(f"file:{path}", path.name).replace(str(path), path.name)) from None
        return frames, fps, ()

    def source_file(self, source: str) -> Optional[Path]:
        """The file behind a source that source_frames has accepted: a library video's, or the
        upload's (its sound, if any, goes into the edit's result)."""
        clip_id = _clip_id(source)
        if clip_id:
            entry = self.library.get(clip_id)
            return entry.file if entry.kind == "video" else None
        return Path(str(source).strip()).resolve()

    @staticmethod
    def animate_frame(source: str, frames: np.ndarray) -> tuple[np.ndarray, str]:
        """The frame Animate starts from, and which it is: an uploaded image file (an animated
        GIF, WebP or PNG too) gives its first frame, as `python -m engine animate --image` does; a
        video gives its last, so the new clip goes on from where that one ends."""
        if len(frames) == 1:
            return frames[0], "the still"
        if not _clip_id(source) and io.is_image_file(Path(str(source).strip())):
            return frames[0], f"frame 1 of {len(frames)} (an animated image's first)"
        return frames[-1], f"frame {len(frames)} of {len(frames)} (a video's last)"

    def last_frame(self, clip_id: str) -> Entry:
        """The exact last frame of a clip, saved as a still once (an input for Animate); a still
        is its own last frame."""
        entry = self.library.get(clip_id)
        if entry.kind != "video":
            return entry
        for e in self.library.entries("last_frame"):   # sent before: the same still, not a copy
            if e.settings.get("operation") == "last_frame" and e.parents == (entry.id,):
                return e
        frames, _ = self.library.frames(entry.id)
        settings = {**{k: entry.settings.get(k) for k in ("prompt", "caption", "seed", "fps")},
                    "operation": "last_frame", "user_prompt": entry.prompt, "draft": entry.draft}
        return self.library.add(frames[-1:].copy(), 1.0, settings, parents=(entry.id,))

    # -- submitting ------------------------------------------------------------------------------------
    def _submit(self, kind: str, label: str, compute, parents=(), extra: Optional[dict] = None,
                audio_for: Optional[Callable] = None) -> Job:
        """compute(ctx) -> list of engine Results; saved together once all are done.
        audio_for(result) -> the io.AudioTrack list its inputs' sound gives it."""
        def job(ctx: JobContext) -> list[Entry]:
            results = compute(ctx)
            ctx.check()
            ctx.stage("saving")
            return [self._save(r, parents, extra, audio_for(r) if audio_for else ()) for r in results]
        return self.worker.submit(kind, label, job)

    def _save(self, result, parents, extra, audio=()) -> Entry:
        settings = {**result.record(), **(extra or {})}
        settings.pop("path", None)
        return self.library.add(result.frames, result.request.fps, settings, parents, audio=audio)

    @staticmethod
    def _seed(seed) -> int:
        if seed is None or seed == "":
            return int.from_bytes(os.urandom(4), "little") & MAX_SEED
        seed = int(seed)
        if not 0 <= seed <= MAX_SEED:
            raise ValueError(f"seed must be 0-{MAX_SEED}, got {seed}")
        return seed

    # -- create ----------------------------------------------------------------------------------------
    def draft(self, prompt: str, *, caption: str = "", style: str = "", aspect: str = "16:9",
              seconds: float = 2.0, seed=None, variations: int = 1, steps=None) -> Job:
        text, seed = self.prompt_for(prompt, caption, style), self._seed(seed)
        variations = int(variations)
        if variations not in VARIATIONS:
            raise ValueError(f"variations must be 1, 2 or 4, got {variations}")
        _check_aspect(aspect)
        extra = {"user_prompt": prompt, "style": style}

        def compute(ctx):
            out = []
            for i in range(variations):   # variation i is seed + i, as Engine.generate defines it
                ctx.stage(f"variation {i + 1} of {variations}")
                out += ctx.engine.generate(text, seconds=float(seconds), aspect=aspect, draft=True,
                                           seed=seed + i, steps=steps, progress=ctx.progress,
                                           cancel=ctx.cancelled)
            return out
        return self._submit("draft", f"Draft ×{variations}: {_short(text)}", compute, extra=extra)

    def render(self, draft_id: str, *, strength: float = RENDER_STRENGTH, steps=None) -> Job:
        entry = self.library.get(_id(draft_id))
        if entry.kind != "video":
            raise ValueError("Render turns a draft clip into a full clip; this is a still image")
        _check_strength(strength)
        if entry.settings.get("operation") not in (None, "generate"):
            raise ValueError(f"Render finishes a draft made by Draft; {entry.id} is a "
                             f"{entry.settings.get('operation')} clip: restyle it instead")
        extra = {"user_prompt": entry.prompt, "style": entry.settings.get("style", "")}
        # a draft saved before records carried their aspect: the one its shape is nearest
        record = {**entry.settings,
                  "aspect": entry.settings.get("aspect") or nearest_aspect(entry.width, entry.height)}

        def compute(ctx):
            frames, _ = self.library.frames(entry.id)
            return [ctx.engine.render(frames, record, strength=float(strength), steps=steps,
                                      progress=ctx.progress, cancel=ctx.cancelled)]
        return self._submit("render", f"Render {entry.id}: {_short(entry.prompt)}", compute,
                            parents=(entry.id,), extra=extra)

    def image(self, prompt: str, *, caption: str = "", style: str = "", aspect: str = "16:9",
              seed=None, steps=None) -> Job:
        text, seed = self.prompt_for(prompt, caption, style), self._seed(seed)
        _check_aspect(aspect)

        def compute(ctx):
            return [ctx.engine.image(text, aspect=aspect, seed=seed, steps=steps,
                                     progress=ctx.progress, cancel=ctx.cancelled)]
        return self._submit("image", f"Image: {_short(text)}", compute,
                            extra={"user_prompt": prompt, "style": style})

    # -- edit ------------------------------------------------------------------------------------------
    def _edit(self, kind: str, sources: list[str], prompt: str, call, label: str,
              places: tuple[tuple[str, bool], ...] = ()) -> Job:
        """Read every source now (a bad file fails here, in the page), then run `call`.
        places: for each source, the key of its note in the result and whether its frames end the
        result (engine.sources.note_source): its sound, if it has any, plays under them."""
        text = self.prompt_for(prompt)
        inputs = [self.source_frames(s) for s in sources]
        parents = tuple(p for _, _, ps in inputs for p in ps)
        files = [self.source_file(s) for s in sources[:len(places)]]     # those whose sound is placed
        infos = [io.source_info(f) if f else None for f in files]       # probed now, not after sampling

        def compute(ctx):
            return [call(ctx, text, inputs)]

        def audio_for(result):
            tracks = (note_source(result, key, file, info, frames, at_end)
                      for (key, at_end), file, info, (frames, _, _) in zip(places, files, infos, inputs) if file)
            return [t for t in tracks if t]
        return self._submit(kind, f"{label}: {_short(text)}", compute, parents=parents,
                            extra={"user_prompt": prompt}, audio_for=audio_for)

    def animate(self, source: str, prompt: str, *, seconds: float = 2.0, seed=None, steps=None) -> Job:
        seed = self._seed(seed)

        def call(ctx, text, inputs):
            frame, which = self.animate_frame(source, inputs[0][0])
            result = ctx.engine.animate(frame, text, seconds=float(seconds), seed=seed, steps=steps,
                                        progress=ctx.progress, cancel=ctx.cancelled)
            result.notes["source_frame"] = which
            return result
        return self._edit("animate", [source], prompt, call, "Animate")

    def extend(self, source: str, prompt: str, *, direction: str = "forward", seconds: float = 2.0,
               seed=None, steps=None) -> Job:
        if direction not in ("forward", "backward"):
            raise ValueError("extend direction is 'forward' (after) or 'backward' (before)")
        seed = self._seed(seed)

        def call(ctx, text, inputs):
            frames, fps, _ = inputs[0]
            return ctx.engine.extend(frames, fps, text, direction=direction, seconds=float(seconds),
                                     seed=seed, steps=steps, progress=ctx.progress, cancel=ctx.cancelled)
        return self._edit("extend", [source], prompt, call, f"Extend {direction}",
                          places=(("video", direction == "backward"),))

    def loop(self, source: str, prompt: str, *, seconds: float = 1.0, seed=None, steps=None) -> Job:
        seed = self._seed(seed)

        def call(ctx, text, inputs):
            frames, fps, _ = inputs[0]
            return ctx.engine.loop(frames, fps, text, seconds=float(seconds), seed=seed, steps=steps,
                                   progress=ctx.progress, cancel=ctx.cancelled)
        return self._edit("loop", [source], prompt, call, "Loop", places=(("video", False),))

    def interpolate(self, first: str, second: str, prompt: str, *, seconds: float | None = None, seed=None,
                    steps=None) -> Job:
        seed = self._seed(seed)
        seconds = None if seconds is None else float(seconds)      # None: the engine's default

        def call(ctx, text, inputs):
            (a, fa, _), (b, fb, _) = inputs
            return ctx.engine.interpolate(a, fa, b, fb, text, seconds=seconds, seed=seed,
                                          steps=steps, progress=ctx.progress, cancel=ctx.cancelled)
        return self._edit("interpolate", [first, second], prompt, call, "Blend",
                          places=(("first", False), ("second", True)))

    def restyle(self, source: str, prompt: str, *, strength: float = 0.6, seed=None, steps=None) -> Job:
        _check_strength(strength)
        seed = self._seed(seed)

        def call(ctx, text, inputs):
            frames, fps, _ = inputs[0]
            return ctx.engine.restyle(frames, fps, text, strength=float(strength), seed=seed,
                                      steps=steps, progress=ctx.progress, cancel=ctx.cancelled)
        return self._edit("restyle", [source], prompt, call, "Restyle", places=(("video", False),))

    # -- storyboard --------------------------------------------------------------------------------------
    def storyboard(self, cards: list[Card], *, style: str = "", aspect: str = "16:9", seed=None,
                   draft: bool = True, steps=None) -> Job:
        """One continuous clip: the first card generated, each next card extends it forward."""
        cards = [c for c in cards if c.prompt.strip()]
        if not cards:
            raise ValueError("the storyboard is empty: write a prompt on at least one card")
        style_text = self.styles.text(style)
        prompts = [with_style(c.prompt, style_text) for c in cards]
        seed = self._seed(seed)
        _check_aspect(aspect)

        def compute(ctx):
            n = len(cards)
            ctx.stage(f"card 1 of {n}")
            [clip] = ctx.engine.generate(prompts[0], seconds=float(cards[0].seconds), aspect=aspect,
                                         draft=draft, seed=seed, steps=steps, progress=ctx.progress,
                                         cancel=ctx.cancelled)
            for i, card in enumerate(cards[1:], start=1):
                ctx.stage(f"card {i + 1} of {n}")
                clip = ctx.engine.extend(clip.frames, clip.request.fps, prompts[i],
                                         seconds=float(card.seconds), seed=seed + i, draft=draft,
                                         steps=steps, progress=ctx.progress, cancel=ctx.cancelled)
            return [clip]
        extra = {"operation": "storyboard", "user_prompt": " | ".join(c.prompt for c in cards),
                 "style": style, "cards": [{"prompt": c.prompt, "seconds": c.seconds} for c in cards]}
        return self._submit("storyboard", f"Storyboard of {len(cards)} cards", compute, extra=extra)


def _id(value: str) -> str:
    """A clip id from a dropdown choice ("id · what · prompt") or a bare id."""
    if not value or not str(value).strip():
        raise ValueError("choose a clip first")
    return str(value).strip().split(" ")[0]


def nearest_aspect(width: int, height: int) -> str:
    """The studio's aspect closest to a width and height (a 128x64 draft: 16:9)."""
    ratio = width / max(height, 1)
    return min(ASPECTS, key=lambda a: abs(parse_aspect(a) - ratio))


def _check_aspect(aspect: str) -> None:
    if aspect not in ASPECTS:
        raise ValueError(f"aspect must be one of {', '.join(ASPECTS)}, got {aspect!r}")


def _check_strength(strength) -> None:
    if not (0.0 <= float(strength) <= 1.0):
        raise ValueError(f"strength must be between 0 and 1, got {strength}")


def _short(text: str, most: int = 40) -> str:
    return text if len(text) <= most else text[:most - 1] + "…"
