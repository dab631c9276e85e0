"""The timeline: clips with in/out trims and a transition at each cut, laid out and exported.

Pure data and arithmetic here (no torch): a Project is a frozen dataclass saved as JSON; `layout`
places every clip on the output's time axis; `export` renders the layout with moviepy 2 to an
H.264 MP4 (yuv420p, faststart) at the project's fps and size.

Transitions, chosen per cut (on the clip *before* the cut):
    cut        hard cut: the next clip starts where this one ends
    crossfade  the next clip starts `cut_s` seconds early and fades in over this one
               (the sequence gets cut_s shorter)
    blend      a generated transition (the engine's interpolate of this clip's end into the next
               clip's start) of about cut_s seconds is inserted between them; the studio makes it
               and passes its file to `export` (this module never runs the model)
"""
from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Optional

CUTS = ("cut", "crossfade", "blend")
PROJECT_VERSION = 1
MAX_CUT_S = 10.0


@dataclass(frozen=True)
class TimelineClip:
    clip_id: str                   # a library id; the studio maps it to a file
    in_s: float = 0.0              # trim: first second used
    out_s: Optional[float] = None  # trim: last second used (None: to the clip's end)
    cut: str = "cut"               # transition into the next clip
    cut_s: float = 0.5             # its length in seconds (unused for a hard cut)

    def __post_init__(self):
        if not isinstance(self.clip_id, str) or not self.clip_id:
            raise ValueError("a timeline clip needs a clip id")
        _check_number(self.in_s, "in point")
        if self.out_s is not None:
            _check_number(self.out_s, "out point")
        _check_number(self.cut_s, "transition length")
        if not (self.in_s >= 0):
            raise ValueError(f"in point must be 0 s or later, got {self.in_s}")
        if self.out_s is not None and not (self.out_s > self.in_s):
            raise ValueError(f"out point {self.out_s} s must come after the in point {self.in_s} s")
        if self.cut not in CUTS:
            raise ValueError(f"transition must be one of {', '.join(CUTS)}, got {self.cut!r}")
        if not (0 <= self.cut_s <= MAX_CUT_S):
            raise ValueError(f"transition length must be 0-{MAX_CUT_S} s, got {self.cut_s}")


@dataclass(frozen=True)
class Project:
    name: str
    clips: tuple[TimelineClip, ...] = ()
    fps: float = 12.0
    width: int = 512
    height: int = 288
    version: int = PROJECT_VERSION

    def __post_init__(self):
        if not isinstance(self.name, str):
            raise ValueError(f"the project name must be text, got {self.name!r}")
        _check_number(self.fps, "export fps")
        for what, v in (("export width", self.width), ("export height", self.height),
                        ("project version", self.version)):
            _check_number(v, what, whole=True)
        if not (1 <= self.fps <= 60):
            raise ValueError(f"export fps must be 1-60, got {self.fps}")
        for side, v in (("width", self.width), ("height", self.height)):
            if not (16 <= v <= 4096) or v % 2:
                raise ValueError(f"export {side} must be an even number of pixels, 16-4096; got {v}")
        if self.version != PROJECT_VERSION:
            raise ValueError(f"project version {self.version} is not supported ({PROJECT_VERSION} is)")

    # -- edits: each returns a new project ---------------------------------------------------------
    def add(self, clip_id: str) -> "Project":
        return replace(self, clips=self.clips + (TimelineClip(clip_id),))

    def remove(self, index: int) -> "Project":
        self._check(index)
        return replace(self, clips=self.clips[:index] + self.clips[index + 1:])

    def move(self, index: int, delta: int) -> "Project":
        """Move clip `index` by `delta` places (clamped to the ends)."""
        self._check(index)
        clips = list(self.clips)
        clip = clips.pop(index)
        clips.insert(max(0, min(len(clips), index + delta)), clip)
        return replace(self, clips=tuple(clips))

    def update(self, index: int, **changes) -> "Project":
        """Change a clip's trim or transition (in_s, out_s, cut, cut_s)."""
        self._check(index)
        unknown = set(changes) - {"in_s", "out_s", "cut", "cut_s"}
        if unknown:
            raise ValueError(f"cannot change {sorted(unknown)} of a timeline clip")
        clips = list(self.clips)
        clips[index] = replace(clips[index], **changes)
        return replace(self, clips=tuple(clips))

    def _check(self, index: int) -> None:
        if not (0 <= index < len(self.clips)):
            raise ValueError(f"there is no clip {index + 1} on the timeline "
                             f"(it has {len(self.clips)})")


# -- JSON ---------------------------------------------------------------------------------------------
def to_dict(project: Project) -> dict:
    return asdict(project)


def _check_number(value, what: str, whole: bool = False) -> None:
    """A project file is edited by hand: "abc", true, NaN or Infinity get a clear message, not a
    comparison error or a file that cannot be saved again."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or (whole and value != int(value)):
        kind = "a whole number" if whole else "a number"
        raise ValueError(f"{what} must be {kind}, got {value!r}")


def from_dict(d: dict) -> Project:
    """A project from its JSON; unknown keys are refused (a typo never silently drops a setting)."""
    if not isinstance(d, dict):
        raise ValueError("a project file must hold a JSON object")
    _refuse_unknown(d, Project, "project")
    if "name" not in d:
        raise ValueError("a project needs a name")
    if not isinstance(d.get("clips", []), list):
        raise ValueError("a project's clips must be a list")
    clips = []
    for i, c in enumerate(d.get("clips", [])):
        if not isinstance(c, dict):
            raise ValueError(f"timeline clip {i + 1} is not an object")
        _refuse_unknown(c, TimelineClip, f"timeline clip {i + 1}")
        if "clip_id" not in c:
            raise ValueError(f"timeline clip {i + 1} has no clip_id")
        clips.append(TimelineClip(**c))
    return Project(**{**d, "clips": tuple(clips)})


def _refuse_unknown(d: dict, cls, what: str) -> None:
    unknown = set(d) - {f for f in cls.__dataclass_fields__}
    if unknown:
        raise ValueError(f"{what} has unknown keys {sorted(unknown)}")


def save(project: Project, path: str | os.PathLike) -> Path:
    """Atomic: a crash mid-save leaves the previous file, never a broken one."""
    from engine.io import write_json_atomic
    return write_json_atomic(to_dict(project), path)


def load(path: str | os.PathLike) -> Project:
    import json
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"cannot read project {Path(path).name}: {e}") from None
    return from_dict(data)


# -- layout -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Segment:
    source: str            # a clip id, or "blend:I" for the generated transition after clip I
    in_s: float            # seconds into the source
    out_s: float
    start: float           # where it starts on the output's time axis
    fade_in: float = 0.0   # crossfade over the previous segment

    @property
    def seconds(self) -> float:
        return self.out_s - self.in_s

    @property
    def end(self) -> float:
        return self.start + self.seconds


@dataclass(frozen=True)
class Layout:
    segments: tuple[Segment, ...] = field(default_factory=tuple)

    @property
    def duration(self) -> float:
        return max((s.end for s in self.segments), default=0.0)


def layout(project: Project, lengths: dict[str, float],
           blend_lengths: Optional[dict[int, float]] = None) -> Layout:
    """Place every clip: `lengths` gives each source clip's full duration in seconds;
    `blend_lengths[i]` the real length of the generated blend after clip i (default: its cut_s)."""
    if not project.clips:
        raise ValueError("the timeline is empty: add clips from the library first")
    blend_lengths = blend_lengths or {}
    segments: list[Segment] = []
    t, fade = 0.0, 0.0
    for i, clip in enumerate(project.clips):
        if clip.clip_id not in lengths:
            raise ValueError(f"clip {clip.clip_id} is not in the library any more")
        full = float(lengths[clip.clip_id])
        out = full if clip.out_s is None else min(clip.out_s, full)
        if clip.in_s >= out:
            raise ValueError(f"clip {i + 1}: in point {clip.in_s} s is at or past its end ({out:.2f} s)")
        seg = Segment(clip.clip_id, clip.in_s, out, t - fade, fade)
        if seg.seconds < 1.0 / project.fps:      # it would vanish from the export without a word
            raise ValueError(f"clip {i + 1} is trimmed to {seg.seconds:.3f} s, less than one frame at "
                             f"{project.fps:g} fps: lengthen it or remove it")
        if fade and fade > min(seg.seconds, segments[-1].seconds):
            raise ValueError(f"the crossfade into clip {i + 1} ({fade} s) is longer than a clip it joins")
        segments.append(seg)
        t, fade = seg.end, 0.0
        last = i == len(project.clips) - 1
        if last or clip.cut == "cut" or clip.cut_s <= 0:
            continue
        if clip.cut == "crossfade":
            fade = clip.cut_s
        else:  # blend: its own segment between the two clips
            n = float(blend_lengths.get(i, clip.cut_s))
            segments.append(Segment(f"blend:{i}", 0.0, n, t))
            t += n
    return Layout(tuple(segments))


# -- export -------------------------------------------------------------------------------------------
def export(project: Project, out: str | os.PathLike, source: Callable[[str], Path],
           lengths: dict[str, float], blends: Optional[dict[int, tuple[Path, float]]] = None,
           crf: int = 18) -> Path:
    """Render the project to an H.264 MP4 at `out`, atomically. `source(clip_id)` gives a clip's
    file; `blends[i]` = (file, seconds) of the generated transition after clip i. Clips that carry
    sound keep it under their frames (AAC, faded with a crossfade); the rest is silent."""
    from moviepy import CompositeVideoClip, VideoFileClip, afx, vfx  # moviepy loads only to export

    from engine.io import atomic_path
    blends = blends or {}
    plan = layout(project, lengths, {i: s for i, (_, s) in blends.items()})
    W, H = project.width, project.height
    opened, placed = [], []
    try:
        for i, seg in enumerate(plan.segments):
            if seg.source.startswith("blend:"):
                path = blends[int(seg.source.split(":")[1])][0]
            else:
                path = source(seg.source)
            clip = VideoFileClip(str(path))              # its sound, if it has any
            opened.append(clip)
            end = min(seg.out_s, clip.duration)
            part = clip.subclipped(seg.in_s, end)
            if part.audio is not None and part.audio.duration > part.duration:
                part = part.with_audio(part.audio.with_duration(part.duration))
            scale = min(W / part.w, H / part.h)      # fit inside the frame, centred on black
            part = part.resized(scale).with_position("center").with_start(seg.start)
            if seg.fade_in > 0:
                part = part.with_effects([vfx.CrossFadeIn(seg.fade_in)])
            # a crossfade's sound crossfades too: in under this clip, out under the one it covers
            fade_out = plan.segments[i + 1].fade_in if i + 1 < len(plan.segments) else 0.0
            sound = [afx.AudioFadeIn(seg.fade_in)] if seg.fade_in > 0 else []
            sound += [afx.AudioFadeOut(fade_out)] if fade_out > 0 else []
            if part.audio is not None and sound:
                part = part.with_audio(part.audio.with_effects(sound))
            placed.append(part)
        video = CompositeVideoClip(placed, size=(W, H), bg_color=(0, 0, 0)).with_duration(plan.duration)
        out = Path(out)
        with atomic_path(out) as tmp:
            sound = any(p.audio is not None for p in placed)
            video.write_videofile(str(tmp), fps=project.fps, codec="libx264", audio=sound,
                                  audio_codec="aac",
                                  preset="medium", pixel_format="yuv420p", logger=None,
                                  ffmpeg_params=["-crf", str(crf), "-movflags", "+faststart"])
        return out
    finally:
        for clip in opened:
            clip.close()
