"""The editing operations as Engine methods: each conforms its inputs onto the grid, encodes them,
builds an Edit (engine/operations.py) and hands it to the Engine's one `run`.
"""
from __future__ import annotations

import math
import time
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import torch

from engine import conform, operations
from engine.operations import pixel_frames
from engine.sizes import (RENDER_STRENGTH, TRANSITION_LONGEST_SECONDS, TRANSITION_MAX_SECONDS,
                          TRANSITION_MIN_SECONDS, size_for_aspect, window_sizes)

if TYPE_CHECKING:  # runtime imports this module; the names are only needed for annotations
    from engine.runtime import Result


class EditMethods:
    """Mixed into Engine; uses its _settings, run, vae, card, long_side and grid_multiple."""

    # -- editing operations: each conforms its inputs, encodes them and builds an Edit -----------
    def _conform(self, frames: np.ndarray, fps_in: float, settings: dict, size=None,
                 max_frames=None, keep="start", fit="crop", whole=False) -> tuple[np.ndarray, dict]:
        """Any clip (T, H, W, 3) -> the model's grid at the request's size and fps. whole=True keeps
        every resampled frame (no cut to 1 + k * temporal_factor): for edits that sample only a
        context window (_split picks a valid one) and splice the rest back unchanged."""
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or len(frames) < 1:
            raise ValueError(f"expected frames (T, H, W, 3) uint8, got {frames.dtype} {frames.shape}")
        if size is None:
            size = conform.grid_size_for(frames.shape[1], frames.shape[2],
                                         self.long_side(settings["draft"]), self.grid_multiple())
        frames, time_note = conform.resample_frames(frames, fps_in, settings["fps"],
                                                    1 if whole else self.vae.cfg.temporal_factor,
                                                    max_frames, keep)
        frames, size_note = conform.fit_frames(frames, *size, mode=fit)
        return frames, {**size_note, **time_note}

    def _encode(self, frames: np.ndarray) -> torch.Tensor:
        """(T, H, W, 3) uint8 -> normalised latents (C, t, h, w) on the CPU in fp32."""
        x = torch.from_numpy(frames.astype(np.float32)).permute(3, 0, 1, 2)[None] / 127.5 - 1.0
        with torch.inference_mode():
            z = self.vae.encode(x.to(self.device, self.dtype))
        return z[0].float().cpu()

    def _new_latents(self, seconds: float, fps: float) -> int:
        """Latent frames that hold about `seconds` of new material (at least one)."""
        if not (0 < seconds < float("inf")):
            raise ValueError(f"seconds must be a positive finite number, got {seconds}")
        return max(1, round(seconds * fps / self.vae.cfg.temporal_factor))

    def _run_edit(self, operation: str, settings: dict, edit: operations.Edit, notes: dict,
                  progress, cancel) -> Result:
        """Refuse an edit whose plan is longer than one generation, then run it."""
        self._check_length(edit.plan.shape[1])
        return self.run(self._request(operation, settings, edit.pixels), edit, progress=progress,
                        cancel=cancel, notes=notes)

    def _check_length(self, latent_frames: int) -> None:
        most = self.card.max_frames
        if pixel_frames(latent_frames, self.vae.cfg.temporal_factor) > most:
            raise ValueError(f"this edit would sample more than {most} frames at once; "
                             "use a shorter input or fewer new seconds")

    def animate(self, image: np.ndarray, prompt: str, *, seconds: float = 2.0, fit: str = "crop",
                camera_hold: float | None = None, motion_hold: float | None = None,
                progress=None, cancel=None, **options) -> Result:
        """The image (H, W, 3) is the first frame; the motion follows the prompt. A camera move
        the prompt names is made by the camera plan, as in generate (engine/camera.py): the
        model draws what the move reveals around the image. Either way the caption's moving
        objects, where the image shows them, move from where they are (engine/motion.py)."""
        s = self._settings(prompt, **_opts(options))
        if image.ndim != 3:
            raise ValueError(f"animate takes one image (H, W, 3), got shape {image.shape}")
        first, note = self._conform(image[None], s["fps"], s, max_frames=1, fit=fit)
        tf = self.vae.cfg.temporal_factor
        num_latent = 1 + self._new_latents(seconds, s["fps"])
        hold = self.camera_hold(camera_hold)
        moving = self.motion_hold(motion_hold)
        move = self.camera_move(s["prompt"], pixel_frames(num_latent, tf)) if hold > 0 else None
        notes = {"image": note}
        if move or moving > 0:
            self._check_length(num_latent)
            clip_like = np.broadcast_to(first, (pixel_frames(num_latent, tf),) + first.shape[1:])
            request = self._request("animate", s, clip_like)   # a clip of the image's size
        if not move and moving > 0 and self.movers_named(request):
            result = self._move_objects(first[0], moving, request, progress, keep_first=True,
                                        cancel=cancel)
            if result is not None:
                result.notes["image"] = note
                return result
            notes["motion"] = {"hold": moving, "moved": 0}   # not in the image: the DiT alone
        if move:
            start = time.perf_counter()
            relay = self.relay(progress, self._move_steps(move, request, hold), start)
            result = self._move_over(first[0], move, hold, request, relay, 0, keep_first=True, cancel=cancel,
                                     movers=moving > 0 and self.movers_named(request))
            result.notes["image"] = note
            result.timings["total_s"] = time.perf_counter() - start
            return result
        edit = operations.animate_edit(self._encode(first), first[0], num_latent, tf)
        return self._run_edit("animate", s, edit, notes, progress, cancel)

    def _still_size(self, move: str, request) -> tuple[int, int]:
        from engine import camera
        return camera.still_size(move, request.width, request.height, request.seconds,
                                 self.grid_multiple())

    def _move_steps(self, move: str, request, hold: float) -> int:
        """Sampler steps _move_over runs: the outpainting (where the move needs a larger still),
        then the move's refinement."""
        outpaint = self._still_size(move, request) != (request.width, request.height)
        return (request.steps if outpaint else 0) + self.refine_steps(request, hold)

    def _move_over(self, image: np.ndarray, move: str, hold: float, request, relay, offset: int, *,
                   keep_first: bool, cancel, movers: bool = False) -> Result:
        """A camera move over `image` (H, W, 3), the request's first frame: the still it is made
        from is the image, outpainted by the model where the move reveals more (a known region)
        with the image put back exactly; the move is laid over it (engine/camera.py) and refined
        from flow time 1 - hold. keep_first: frame 0 is the image itself (animate). movers: the
        caption's moving objects found in the image move along their paths in the still as the
        camera moves over it (engine/motion.py; the record's `motion`)."""
        from engine import camera
        cfg = self.vae.cfg
        f, tf = cfg.spatial_factor, cfg.temporal_factor
        H, W = image.shape[:2]
        ws, hs = self._still_size(move, request)
        x, y = camera.placement(move, W, H, ws, hs)
        if x % f or y % f:   # still_size keeps margins on the grid; the plan needs whole latent cells
            raise ValueError(f"the first frame's place ({x}, {y}) in the still is off the latent grid ({f})")
        still, out = image, None
        if (ws, hs) != (W, H):
            plan = operations.outpaint_plan(self._encode(image[None]), (hs // f, ws // f), (y // f, x // f))
            out = self.run(replace(request, width=ws, height=hs), plan,   # the clip's own caption
                           progress=relay(offset), cancel=cancel)
            offset += request.steps
            still = out.frames[0].copy()
            still[y:y + H, x:x + W] = image                  # the image itself, where it sits
        t0 = time.perf_counter()
        notes = {"camera": {"move": move, "hold": hold, "still": [ws, hs]}}
        cover = None
        if movers:
            still, cover, notes["motion"] = self._objects_in(still, image, (x, y), request, hold, keep_first)
        travel = camera.pan_pixels(request.seconds, W) if move.startswith("pan") else None
        frames = camera.move_frames(still, move, W, H, request.num_frames, travel=travel)
        edit = operations.camera_edit(self._encode(frames), frames, hold, tf, keep_first=keep_first)
        if cover is not None:     # the moved objects kept as drawn, as the motion plan keeps them
            edit = operations.hold_objects(edit, camera.move_cover(cover, move, W, H, travel), tf,
                                           operations.OBJECT_HOLD, operations.MOTION_DETAIL)
        move_s = time.perf_counter() - t0
        result = self.run(request, edit, progress=relay(offset), cancel=cancel, notes=notes)
        if out is not None:
            add_run_times(result, out)
        result.timings["camera_s"] = move_s
        return result

    def _objects_in(self, still: np.ndarray, image: np.ndarray, at: tuple[int, int], request, hold: float,
                    keep_first: bool) -> tuple[np.ndarray, np.ndarray | None, dict]:
        """The caption's moving objects found in `image` (H, W, 3), the first frame, which sits at
        `at` (x, y) in `still` (Hs, Ws, 3): a camera's larger still, or the image itself at
        (0, 0). They are moved along their paths in the still (without keep_first, the image's
        duplicates of them erased): -> (the still, one per frame (T, Hs, Ws, 3), or the still
        itself where none is found; where the moved objects lie in each, (T, Hs, Ws) float32 in
        [0, 1], or None; the record's motion note). Speeds are in the frame's widths and heights,
        as the world's."""
        from engine import motion
        H, W = image.shape[:2]
        x, y = at
        scene = self.upsampled(request).scene
        found = motion.find_movers(image, scene)
        if not found:
            return still, None, {"hold": hold, "moved": 0}

        def placed(mask):            # a mask of the frame, where the frame sits in the still
            out = np.zeros(still.shape[:2], bool)
            out[y:y + H, x:x + W] = mask
            return out
        erase = None if keep_first else placed(motion.find_strays(image, scene, found))
        stills, cover = motion.motion_frames(still, [replace(m, mask=placed(m.mask)) for m in found],
                                             request.num_frames, request.fps, request.seconds,
                                             fit_start=not keep_first, erase=erase, frame=(W, H), with_cover=True)
        note = {"hold": hold, "moved": len(found), "objects": [{"motion": m.motion, "speed": m.speed} for m in found]}
        if erase is not None:
            note["erased"] = round(float(erase.mean()), 4)   # share of the still: duplicates filled in
        return stills, cover, note

    def _room(self, new_latent: int, seconds: float) -> int:
        """Latent frames one generation has left for context around new_latent new ones."""
        room = self._latents_per_generation() - new_latent
        if room < 1:
            raise ValueError(f"{seconds} s of new material is more than one generation makes; "
                             "use fewer seconds (or extend in several steps)")
        return room

    def _split(self, clip: np.ndarray, context_seconds: float, fps: float, most_latent: int,
               at_end: bool) -> tuple[np.ndarray, np.ndarray]:
        """(context, rest): the clip's last (at_end) or first 1 + k*f frames that condition the
        model, at most context_seconds and most_latent latent frames, and the frames around them
        that are spliced back unchanged. Only the context is sampled, so memory and cost stay
        flat however long the clip is."""
        n = self._context_frames(len(clip), context_seconds, fps, most_latent)
        return (clip[len(clip) - n:], clip[:len(clip) - n]) if at_end else (clip[:n], clip[n:])

    def _context_frames(self, length: int, context_seconds: float, fps: float, most_latent: int) -> int:
        """How many frames (1 + k*f) _split takes from a clip of `length` frames."""
        tf = self.vae.cfg.temporal_factor
        k = max(0, min(int(context_seconds * fps) // tf, most_latent - 1, (length - 1) // tf))
        return 1 + k * tf

    def extend(self, frames: np.ndarray, input_fps: float, prompt: str, *, direction: str = "forward",
               seconds: float = 2.0, context_seconds: float = 2.0, continue_motion: bool | None = None,
               progress=None, cancel=None, **options) -> Result:
        """The whole clip with new material after (forward) or before (backward) it. Only the
        last (or first) context_seconds condition the model, so memory and cost per new second
        stay flat however long the clip grows. continue_motion (None: operations.CONTINUE_MOTION):
        where the clip's edge moves (a pan, a zoom, an object crossing it), the new frames carry
        that motion on (engine/continuation.py), and where it is still they hold it still; the
        record's `continuation` says what was read. False: the plain hold (EXTEND_HOLD)."""
        s = self._settings(prompt, **_opts(options))
        clip, note = self._conform(frames, input_fps, s, whole=True)
        tf = self.vae.cfg.temporal_factor
        new = self._new_latents(seconds, s["fps"])
        room = self._room(new, seconds)
        if direction == "backward":   # the plan's first latent frame decodes to one pixel frame
            new += 1                  # (causal VAE): one more gives as many new frames as forward;
                                      # the plan (new + m latents) needs no more room than forward's
        context, rest = self._split(clip, context_seconds, s["fps"], room,
                                    at_end=direction == "forward")
        phases = math.gcd(operations.EXTEND_DECODE_PHASES, tf) if direction == "forward" else None
        if continue_motion is None:
            continue_motion = operations.CONTINUE_MOTION
        edit, read = (self._continue_edit(context, new, direction, phases, s["fps"]) if continue_motion
                      else (None, None))
        if edit is None:          # not asked (or, without CONTINUE_STILL, nothing moves): the plain hold
            hold = ((operations.EXTEND_HOLD, operations.EXTEND_HOLD_DECAY) if direction == "forward"
                    else (operations.BACKWARD_HOLD, operations.BACKWARD_HOLD_DECAY))
            edit = operations.extend_edit(self._encode(context), context, new, tf, direction, *hold,
                                          decode_phases=phases)
        else:
            hold = (operations.CONTINUE_HOLD, operations.CONTINUE_HOLD_DECAY)
        notes = {"video": note, "direction": direction, "context_frames": len(context),
                 "hold": list(hold), "decode_phases": edit.decode_phases or self.card.decode_phases,
                 "continuation": read}
        result = self._run_edit("extend", s, edit, notes, progress, cancel)
        return _with_frames(result, [rest, result.frames] if direction == "forward"
                            else [result.frames, rest])

    def _continue_edit(self, context: np.ndarray, new: int, direction: str, phases: int | None,
                       fps: float) -> tuple[operations.Edit | None, dict]:
        """The extension's plan that carries the motion at the clip's edge on (engine/continuation.py):
        where nothing there is read to move, the edge held still (operations.CONTINUE_STILL; None
        without it); and the record's note of what was read. context
        (1 + f*m, H, W, 3): the frames next to the new ones; new: the plan's new latent frames
        (backward: one of them holds the context's first frame)."""
        from engine import continuation
        tf = self.vae.cfg.temporal_factor
        count = tf * new if direction == "forward" else tf * (new - 1)      # guide pixel frames
        guide, cover, motion = continuation.continue_clip(context, count, direction)
        H, W = context.shape[1:3]
        read = {"moves": motion.moves, **motion.note(W, H, fps, backward=direction == "backward")}
        if not motion.moves and not operations.CONTINUE_STILL:
            return None, read
        parts = [context, guide] if direction == "forward" else [guide, context]
        seq = np.concatenate(parts)                                          # (T, H, W, 3)
        keep = np.zeros(len(seq), bool)
        held = np.zeros(seq.shape[:3], np.float32)                           # (T, H, W)
        if direction == "forward":
            keep[:len(context)], held[len(context):] = True, cover
        else:
            keep[count:], held[:count] = True, cover
        edit = operations.continue_edit(self._encode(seq), seq, keep, tf, operations.CONTINUE_HOLD,
                                        operations.CONTINUE_HOLD_DECAY,
                                        held if motion.movers else None, operations.OBJECT_HOLD,
                                        operations.MOTION_DETAIL, decode_phases=phases)
        return edit, read

    def loop(self, frames: np.ndarray, input_fps: float, prompt: str, *, seconds: float = 1.0,
             context_seconds: float = 1.0, progress=None, cancel=None, **options) -> Result:
        """The whole clip plus a generated transition back into its start: repeats seamlessly.
        The transition sees the clip's last and first context_seconds."""
        s = self._settings(prompt, **_opts(options))
        clip, note = self._conform(frames, input_fps, s, whole=True)
        tf = self.vae.cfg.temporal_factor
        if len(clip) < 1 + tf:
            raise ValueError("loop needs a clip of at least a few frames")
        new = self._new_latents(seconds, s["fps"])
        room = self._room(new, seconds)
        end, rest = self._split(clip, context_seconds, s["fps"], (room + 1) // 2, at_end=True)
        head, _ = self._split(clip, context_seconds, s["fps"], max(2, room - (len(end) - 1) // tf),
                              at_end=False)
        if len(head) == 1:  # the target must hold at least one latent group of the clip's start
            head = clip[:1 + tf]
        edit = operations.loop_edit(self._encode(end), end, self._encode(head), head, new, tf,
                                    operations.TRANSITION_GUIDE, operations.LOOP_HOLD,
                                    operations.LOOP_HOLD_DECAY)
        notes = {"video": note, "context_frames": len(end),
                 "hold": [operations.LOOP_HOLD, operations.LOOP_HOLD_DECAY]}
        result = self._run_edit("loop", s, edit, notes, progress, cancel)
        return _with_frames(result, [rest, result.frames])

    def interpolate(self, first: np.ndarray, first_fps: float, second: np.ndarray,
                    second_fps: float, prompt: str, *, seconds: float | None = None,
                    context_seconds: float = 1.0, progress=None, cancel=None, **options) -> Result:
        """First clip unchanged, a generated transition, then the second clip unchanged (the
        second is conformed to the first's size). The transition sees the first clip's last and
        the second's first context_seconds; both clips come back whole. seconds: the
        transition's length, up to TRANSITION_LONGEST_SECONDS; None chooses it
        (_transition_latents). A transition longer than one generation holds is made in windows
        (_transition_windows). guidance, unless given: operations.TRANSITION_GUIDANCE. The
        transition is retimed to an even pace of change (operations.even_pace)."""
        options = _opts(options)
        if options["guidance"] is None:
            options["guidance"] = operations.TRANSITION_GUIDANCE
        s = self._settings(prompt, **options)
        if seconds is not None and not 0 < seconds <= TRANSITION_LONGEST_SECONDS:
            raise ValueError(f"a transition is from a moment to {TRANSITION_LONGEST_SECONDS:g} s long, "
                             f"got {seconds} s")
        a, note_a = self._conform(first, first_fps, s, whole=True)
        b, note_b = self._conform(second, second_fps, s, size=(a.shape[2], a.shape[1]), whole=True)
        tf = self.vae.cfg.temporal_factor
        auto = seconds is None
        if auto:
            new, gaps = self._transition_latents(a, b, context_seconds, s["fps"])
            seconds = new * tf / s["fps"]
        else:
            new = self._new_latents(seconds, s["fps"])
        notes = {"first": note_a, "second": note_b, "guide": operations.TRANSITION_GUIDE,
                 "seconds": seconds, "seconds_chosen": auto, "even_pace": bool(operations.EVEN_PACE),
                 "hold": [operations.TRANSITION_HOLD, operations.TRANSITION_HOLD_DECAY]}
        if auto:
            notes["scene_change"] = round(gaps * operations.TRANSITION_PACE, 1)
            if gaps > new * tf:      # capped: the scenes lie further apart than the longest transition
                notes["seconds_needed"] = round(gaps / s["fps"], 1)
        if new > max(self._latents_per_generation() - 4, 1):   # under 4 latent frames left for context
            return self._transition_windows(a, b, new, context_seconds, s, notes, progress, cancel)
        room = self._room(new, seconds)
        a_ctx, a_rest = self._split(a, context_seconds, s["fps"], (room + 1) // 2, at_end=True)
        b_ctx, b_rest = self._split(b, context_seconds, s["fps"], room - (len(a_ctx) - 1) // tf,
                                    at_end=False)
        edit = operations.interpolate_edit(self._encode(a_ctx), a_ctx, self._encode(b_ctx), b_ctx,
                                           new, tf, operations.TRANSITION_GUIDE,
                                           operations.TRANSITION_HOLD, operations.TRANSITION_HOLD_DECAY,
                                           bool(operations.EVEN_PACE))
        result = self._run_edit("interpolate", s, edit, notes, progress, cancel)
        return _with_frames(result, [a_rest, result.frames, b_rest])

    def _latents_per_generation(self) -> int:
        """Latent frames one sampler run makes at most (card.max_frames pixel frames)."""
        return (self.card.max_frames - 1) // self.vae.cfg.temporal_factor + 1

    def _transition_windows(self, a: np.ndarray, b: np.ndarray, new: int, context_seconds: float,
                            s: dict, notes: dict, progress, cancel) -> Result:
        """A transition of `new` latent frames, more than one generation holds beside its clips,
        made in windows: the first continues a's end, each next one the previous window's last
        context_seconds, the last one also reaches b. Each window's guide is the crossfade from
        its context's last latent frame to b's first (operations.crossfade_guide, at
        WINDOW_GUIDE): planned from where the last window ended, so the join does not jump.
        Window k is drawn with seed + k. The whole transition is retimed at the end, so the
        joins are paced like any other frame; memory stays that of one generation."""
        start = time.perf_counter()
        tf, fps = self.vae.cfg.temporal_factor, s["fps"]
        most = self._latents_per_generation()
        a_ctx, a_rest = self._split(a, context_seconds, fps, most // 4, at_end=True)
        b_ctx, b_rest = self._split(b, context_seconds, fps, most // 4, at_end=False)
        za, zb = self._encode(a_ctx), self._encode(b_ctx)
        (C, ta, h, w), mb = za.shape, zb.shape[1] - 1
        # the latent frames of context each later window continues from: context_seconds of the
        # window before, however short a was (a generation's length stands in for the window's)
        tc = (self._context_frames(self.card.max_frames, context_seconds, fps, most // 4) - 1) // tf + 1
        sizes = window_sizes(new, most - ta, most - tc, most - tc - mb)
        left = new - np.cumsum([0] + sizes[:-1])                  # the transition's frames still to make
        made = [len(a_ctx) + sizes[0] * tf] + [n * tf for n in sizes[1:]]     # frames each window adds
        # each window's context in pixel frames: a's, then the end of the two windows before it
        context_frames = [len(a_ctx)] + [self._context_frames(sum(made[max(0, k - 2):k]), context_seconds,
                                                              fps, tc) for k in range(1, len(sizes))]
        contexts = [(n - 1) // tf + 1 for n in context_frames]                # in latent frames
        hold = (operations.WINDOW_GUIDE, operations.TRANSITION_HOLD, operations.TRANSITION_HOLD_DECAY)
        masks = [operations.crossfade_mask(range(n), int(r), *hold) for n, r in zip(sizes, left)]
        steps = [self.run_steps(s["steps"], (C, contexts[k] + n + mb * (k == len(sizes) - 1), h, w),
                                1.0 - float(m.min())) for k, (n, m) in enumerate(zip(sizes, masks))]
        relay = self.relay(progress, sum(steps), start)
        end = zb[:, min(1, mb)]
        parts, context, z_context, timings = [], a_ctx, za, {}
        for k, (size, mask) in enumerate(zip(sizes, masks)):
            known, _ = operations.crossfade_guide(z_context[:, -1], end, range(size), int(left[k]), *hold)
            last = k == len(sizes) - 1
            edit = operations.transition_edit(z_context, context, known, mask, tf,
                                              zb if last else None, b_ctx if last else None)
            part = self._run_edit("interpolate", {**s, "seed": s["seed"] + k}, edit, notes,
                                  relay(sum(steps[:k])), cancel)
            parts.append(part.frames if k == 0 else part.frames[len(context):])
            timings = {key: timings.get(key, 0.0) + v for key, v in part.timings.items()}
            if not last:   # the next window continues from this one's end
                context = np.concatenate(parts[-2:])[-context_frames[k + 1]:]
                z_context = self._encode(context)
        frames = np.concatenate(parts)
        if operations.EVEN_PACE:
            keep = np.zeros(len(frames), bool)
            keep[:len(a_ctx)], keep[len(frames) - len(b_ctx):] = True, True
            frames = operations.even_pace(frames, keep)
        result = _with_frames(part, [a_rest, frames, b_rest])
        result.request = replace(result.request, seed=s["seed"])
        timings["total_s"] = time.perf_counter() - start
        result.timings, result.notes = timings, {**notes, "guide": operations.WINDOW_GUIDE, "windows": sizes}
        return result

    def _transition_latents(self, a: np.ndarray, b: np.ndarray, context_seconds: float,
                            fps: float) -> tuple[int, float]:
        """(latent frames, frame changes wanted) for a transition from clip a to clip b that no
        length was asked for: the change from a's last frame to b's first, spread evenly, moves
        each frame by at most operations.TRANSITION_PACE times the median frame change of the
        frames next to it (operations.transition_gaps), within TRANSITION_MIN_SECONDS ..
        TRANSITION_MAX_SECONDS (longer than one generation: windows)."""
        tf = self.vae.cfg.temporal_factor
        n = max(2, int(context_seconds * fps) + 1)
        gaps = operations.transition_gaps(a[-n:], b[:n], operations.TRANSITION_PACE)
        new = min(max(math.ceil(gaps / tf), self._new_latents(TRANSITION_MIN_SECONDS, fps)),
                  self._new_latents(TRANSITION_MAX_SECONDS, fps))
        return max(1, new), gaps

    def restyle(self, frames: np.ndarray, input_fps: float, prompt: str, *, strength: float = 0.6,
                context_seconds: float = 1.0, recolour: bool = True, progress=None, cancel=None,
                **options) -> Result:
        """SDEdit: re-run the last `strength` of the sampling schedule under the new prompt (see
        operations.restyle_edit). A clip longer than one generation is restyled in windows, each
        conditioned on the last context_seconds of restyled material before it, so memory stays
        flat. The clip comes back whole: its last frame is repeated to fill the final latent
        group, and those frames are cut again. recolour (at strength > 0): an object the prompt
        gives another colour is painted in it first (engine/recolour.py); the record's
        `recolour` says what was, or why nothing was."""
        operations.noise_level(strength, 1.0)           # a strength out of range: refused before any work
        s = self._settings(prompt, **_opts(options))
        clip, note = self._conform(frames, input_fps, s, whole=True)
        painted = cover = None
        if recolour and strength > 0:
            from engine.recolour import recolour_clip
            clip, cover, painted = recolour_clip(clip, prompt)
            cover = cover if painted["recoloured"] else None
        tf = self.vae.cfg.temporal_factor
        length, pad = len(clip), -(len(clip) - 1) % tf
        if pad:                                                   # to 1 + k * tf frames
            clip = np.concatenate([clip, np.repeat(clip[-1:], pad, axis=0)])
            cover = None if cover is None else np.concatenate([cover, np.repeat(cover[-1:], pad, axis=0)])
        most = 1 + (self.card.max_frames - 1) // tf * tf
        first = clip[:most]
        edit = self._restyle_edit(first, strength, cover=None if cover is None else cover[:most].astype(np.float32))
        notes = {"video": note, "strength": strength, **edit.notes}
        if painted is not None:
            notes["recolour"] = painted
        result = self._run_edit("restyle", s, edit, notes, progress, cancel)
        if len(clip) == len(first):
            return _with_frames(result, [result.frames[:length]])
        parts, timings = [result.frames], dict(result.timings)
        done = len(first)
        while done < len(clip):
            tail = np.concatenate(parts[-2:])          # bounded: two windows at most
            context, _ = self._split(tail, context_seconds, s["fps"], (most - 1) // tf, at_end=True)
            chunk = clip[done:done + (most - len(context)) // tf * tf]     # whole latent groups
            window = np.concatenate([context, chunk])
            window_cover = None if cover is None else np.concatenate(    # the restyled context: not held
                [np.zeros((len(context),) + cover.shape[1:], np.float32),
                 cover[done:done + len(chunk)].astype(np.float32)])
            edit = self._restyle_edit(window, strength, context_latent=1 + (len(context) - 1) // tf,
                                      cover=window_cover)
            part = self._run_edit("restyle", s, edit, notes, progress, cancel)
            parts.append(part.frames[len(context):])
            timings = {k: timings.get(k, 0.0) + v for k, v in part.timings.items()}
            done += len(chunk)
        parts[-1] = parts[-1][:len(parts[-1]) - pad]             # the padding frames go again
        result = _with_frames(result, parts)     # one copy at the end, not one per window
        result.timings, result.notes = timings, {**notes, "windows": len(parts)}
        return result

    def _restyle_edit(self, clip: np.ndarray, strength: float, context_latent: int = 0,
                      cover: np.ndarray | None = None):
        """restyle_edit for conformed frames, at the time shift the sampler uses for their grid;
        cover (T, H, W): where recoloured objects lie, held at operations.RECOLOUR_HOLD times
        (1 - strength) (at most 1), so at strength 1 the input is ignored there too."""
        latent = self._encode(clip)
        edit = operations.restyle_edit(latent, clip, strength, self.vae.cfg.temporal_factor,
                                       context_latent, shift=self.shift_for(tuple(latent.shape)))
        if cover is None:
            return edit
        return operations.hold_objects(edit, cover, self.vae.cfg.temporal_factor,
                                       min(1.0, operations.RECOLOUR_HOLD * (1.0 - strength)), edit.detail,
                                       exact=True)

    def render(self, draft_frames: np.ndarray, draft: dict, *, strength: float = RENDER_STRENGTH,
               progress=None, cancel=None, **options) -> Result:
        """A chosen draft -> the full-size clip with the draft's composition: the draft is
        upscaled to the full grid, re-noised part way (strength) and finished at full size with
        the full step count, under the draft's own prompt and seed (SDEdit on the one sampler).
        The full size is the aspect the draft was asked for where its record says (a 16:9 draft's
        grid is 2:1, so it is cropped to 16:9 as it is upscaled), else the draft's own shape."""
        for key in ("prompt", "seed", "fps"):
            if key not in draft:
                raise ValueError(f"the draft record has no {key!r}; pass the JSON that came with the draft")
        options = {"seed": draft["seed"], "fps": draft["fps"], "guidance": draft.get("guidance"),
                   **options, "draft": False}
        s = self._settings(draft["prompt"], **_opts(options))   # draft=False: the full grid
        s["aspect"] = draft.get("aspect")                         # the render's record says it too
        if len(draft_frames) > self.card.max_frames:   # one generation: never cut it silently
            raise ValueError(f"the draft has {len(draft_frames)} frames; a render makes at most "
                             f"{self.card.max_frames} (cut it, or restyle it, which works in windows)")
        size = None
        if draft.get("aspect"):
            size = size_for_aspect(draft["aspect"], self.long_side(False), self.grid_multiple())
        clip, note = self._conform(draft_frames, s["fps"], s, size=size, max_frames=self.card.max_frames)
        inputs = draft.get("inputs") or {}
        made = inputs.get("camera") if isinstance(inputs, dict) else None
        moved = inputs.get("motion") if isinstance(inputs, dict) else None
        moved = moved if isinstance(moved, dict) and moved.get("moved") else None
        if made:                                            # the draft was a camera move: keep it
            from engine import camera
            if not isinstance(made, dict) or made.get("move") not in camera.MOVES:
                raise ValueError(f"the draft record's inputs.camera is not a camera move: {made!r}")
            hold = self.camera_hold(made.get("hold"))
            if hold <= 0:
                raise ValueError("the draft was a camera move but no camera_hold is known to render it "
                             "(its record has none and the card's is 0)")
            return self._render_move(clip, made["move"], hold, strength, s, note, draft.get("path"),
                                     progress, cancel, movers=moved is not None)
        if moved:                                           # the draft's objects were moved: again
            hold = self.motion_hold(moved.get("hold"))
            if hold <= 0:
                raise ValueError("the draft moved its objects but no motion_hold is known to render it "
                                 "(its record has none and the card's is 0)")
            return self._render_move(clip, None, hold, strength, s, note, draft.get("path"),
                                     progress, cancel)
        # a render finishes the draft: the upscaled draft's detail is not the result's to keep
        edit = replace(self._restyle_edit(clip, strength), detail=0.0)
        return self._run_edit("render", s, edit, {"draft": {**note, "path": draft.get("path"),
                                                            "strength": strength, **edit.notes}},
                              progress, cancel)

    def _render_move(self, clip: np.ndarray, move: str | None, hold: float, strength: float, s: dict,
                     note: dict, path, progress, cancel, *, movers: bool = False) -> Result:
        """A draft of a camera move (or, move None, of moved objects) rendered on its own road:
        an SDEdit of the whole draft would undo the move (from t = 0.5 the model pulls the
        frames back to a still camera: 4 drafts of 4 lost their move), so the draft's first
        frame, upscaled, is finished at full size at `strength` and the move is made over it
        again at the draft's hold (the objects found in it again and moved along their paths;
        movers: with the camera's move too, where the draft's were)."""
        start = time.perf_counter()
        first = replace(self._restyle_edit(clip[:1], strength), detail=0.0)
        request = self._request("render", s, clip)
        first_steps = self.run_steps(s["steps"], first.plan.shape, 1.0 - float(first.plan.mask.min()))
        steps = (self._move_steps(move, request, hold) if move else
                 self.run_steps(request.steps, self.latent_shape(request), 1.0 - hold))
        relay = self.relay(progress, first_steps + steps, start)
        still = self.run(request, first, progress=relay(0), cancel=cancel)   # the clip's caption
        if move:
            result = self._move_over(still.frames[0], move, hold, request, relay, first_steps,
                                     keep_first=False, cancel=cancel, movers=movers)
        else:
            result = self._move_objects(still.frames[0], hold, request, relay(first_steps),
                                        keep_first=False, cancel=cancel)
            if result is None:    # the finished first frame lost its objects: finish the draft
                edit = replace(self._restyle_edit(clip, strength), detail=0.0)
                result = self._run_edit("render", s, edit, {"motion": {"hold": hold, "moved": 0}},
                                        None, cancel)
        result.notes["draft"] = {**note, "path": path, "strength": strength, **first.notes}
        add_run_times(result, still)
        result.timings["total_s"] = time.perf_counter() - start
        return result


def add_run_times(result: Result, other: Result) -> None:
    """Count another sampler run that went into `result` (a camera move's still) in its times."""
    for key in ("load_s", "text_s", "sample_s", "decode_s"):
        result.timings[key] += other.timings[key]


def _with_frames(result: Result, parts: list[np.ndarray]) -> Result:
    """The result with its frames replaced by `parts` joined in time (the request says so too)."""
    result.frames = np.concatenate(parts)
    result.request = replace(result.request, num_frames=len(result.frames))
    return result


def _opts(options: dict) -> dict:
    """The shared settings an edit accepts (fps, draft, seed, steps, guidance, sampler)."""
    allowed = ("fps", "draft", "seed", "steps", "guidance", "sampler")
    unknown = set(options) - set(allowed)
    if unknown:
        raise TypeError(f"unexpected options: {sorted(unknown)}")
    defaults = dict(fps=None, draft=False, seed=None, steps=None, guidance=None, sampler="euler")
    return {**defaults, **options}
