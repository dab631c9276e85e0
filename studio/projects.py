"""Timeline projects in the workspace: save/load/autosave as JSON, and the export job.

The timeline's logic is engine/timeline.py; this file maps clip ids to library files, makes the
generated blends (the engine's interpolate) and runs the export in the worker.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from engine import io, timeline
from engine.timeline import Project
from studio.actions import Studio
from studio.worker import Job

BLEND_CONTEXT_S = 1.0      # seconds of each neighbour the model sees when making a blend


def project_path(studio: Studio, name: str) -> Path:
    return studio.ws.inside("projects", f"{(name or '').strip()}.json")


def save_project(studio: Studio, project: Project) -> Path:
    return timeline.save(project, project_path(studio, project.name))


def load_project(studio: Studio, name: str) -> Project:
    path = project_path(studio, name)
    if not path.is_file():
        raise ValueError(f"there is no project called {name!r}")
    project = timeline.load(path)
    return replace(project, name=name) if project.name != name else project


def check_unchanged(studio: Studio, name: str, synced: Project | None) -> None:
    """Refuse to save over a file that changed since this page last read or wrote it: `synced`
    is the project as the page last synced it with the workspace (None: never). A second tab,
    or a page opened before the file was made, would otherwise silently overwrite the timeline.
    What the page edited since (its table, its JSON) does not matter, only what it last saw."""
    path = project_path(studio, name)
    if not path.is_file():
        return
    try:
        saved = timeline.load(path)
    except ValueError as e:                  # a hand edit gone wrong: never save over it silently
        raise ValueError(f"{e}; fix the file, or save under a new name") from None
    if synced is None or replace(saved, name=name) != replace(synced, name=name):
        raise ValueError(f"the project {name!r} was changed elsewhere (another tab?): open it "
                         "again first, or save under a new name")


def latest_project(studio: Studio) -> Project | None:
    """The most recently saved project that reads, or None: what a fresh page opens, so a reload
    shows the timeline the creator was working on (not an empty one under its name)."""
    for path in sorted(_project_files(studio), key=lambda p: p.stat().st_mtime, reverse=True):
        try:
            return load_project(studio, path.stem)
        except (ValueError, OSError):
            continue
    return None


def project_names(studio: Studio) -> list[str]:
    return sorted(p.stem for p in _project_files(studio))


def _project_files(studio: Studio) -> list[Path]:
    """The workspace's project files (not the hidden temp files of a save in progress)."""
    return [p for p in studio.ws.projects.glob("*.json") if not p.name.startswith(".")]


def lengths(studio: Studio, project: Project) -> dict[str, float]:
    """Each clip's full length in seconds, from the library (refusing stills and missing clips)."""
    out = {}
    for clip in project.clips:
        entry = studio.library.get(clip.clip_id)
        if entry.kind != "video":
            raise ValueError(f"{entry.id} is a still image; animate it before putting it on the timeline")
        out[entry.id] = entry.seconds
    return out


def export_timeline(studio: Studio, project: Project, *, steps=None) -> Job:
    """Submit the export: blends are generated first (cancellable per step), then moviepy renders."""
    plan_lengths = lengths(studio, project)
    timeline.layout(project, plan_lengths)            # refuse a bad project now, in the page
    save_project(studio, project)                     # after the checks: a refused export
                                                      # leaves the file as the page shows it
    out = studio.ws.inside("exports", f"{project.name}.mp4")

    def job(ctx):
        blends = {}
        last = len(project.clips) - 1
        try:
            for i, clip in enumerate(project.clips):
                if clip.cut == "blend" and i < last and clip.cut_s > 0:
                    ctx.stage(f"generating the blend after clip {i + 1}")
                    blends[i] = _make_blend(studio, ctx, project, i, steps)
            ctx.check()
            ctx.stage("rendering the MP4")
            timeline.export(project, out, lambda cid: studio.library.get(cid).file, plan_lengths, blends)
        finally:
            for path, _ in blends.values():
                path.unlink(missing_ok=True)
        return out
    return studio.worker.submit("export", f"Export {project.name}", job)


def _make_blend(studio, ctx, project: Project, i: int, steps) -> tuple[Path, float]:
    a, b = project.clips[i], project.clips[i + 1]
    fa, fps_a = studio.library.frames(a.clip_id)
    fb, fps_b = studio.library.frames(b.clip_id)
    a_end = len(fa) if a.out_s is None else min(len(fa), round(a.out_s * fps_a))
    b_start = round(b.in_s * fps_b)
    tail = fa[max(0, a_end - round(BLEND_CONTEXT_S * fps_a)):a_end]
    head = fb[b_start:b_start + round(BLEND_CONTEXT_S * fps_b)]
    if len(tail) < 1 or len(head) < 1:
        raise ValueError(f"clip {i + 1} or {i + 2} is trimmed to nothing; cannot blend them")
    prompt = studio.library.get(b.clip_id).settings.get("prompt") or "a smooth transition"
    result = ctx.engine.interpolate(tail, fps_a, head, fps_b, prompt, seconds=a.cut_s, steps=steps,
                                    progress=ctx.progress, cancel=ctx.cancelled)
    n_a = result.notes["first"]["to_frames"]
    n_b = result.notes["second"]["to_frames"]
    middle = result.frames[n_a:len(result.frames) - n_b]
    if len(middle) < 1:
        raise ValueError(f"the blend after clip {i + 1} came out empty; make it longer")
    path = studio.ws.inside("tmp", f"blend-{project.name}-{i}.mp4")
    io.write_video(middle, path, fps=result.request.fps)
    return path, len(middle) / result.request.fps
