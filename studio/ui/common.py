"""What every tab shares: following a job while it runs, readable errors, library choices."""
from __future__ import annotations

import functools

import gradio as gr

from studio.actions import Studio
from studio.library import Entry
from studio.worker import CANCELLED, DONE, QUEUED, exception_text

POLL_S = 0.4
SKIP = gr.skip  # an output left as it is


def friendly(fn):
    """Turn our and the engine's errors (bad input, unreadable media, out of memory) into a
    readable message in the page (gr.Error)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except (ValueError, OSError, KeyError, RuntimeError) as e:
            raise gr.Error(exception_text(e) or type(e).__name__, print_exception=False) from None
        except MemoryError:
            raise gr.Error("out of memory: this input is too long or too large for this machine; "
                           "try a shorter clip", print_exception=False) from None
    return wrapper


def call(fn, *args, **kwargs):
    """Run fn; a ValueError becomes a gr.Error with its message (for use inside generators)."""
    return friendly(fn)(*args, **kwargs)


def status_text(studio: Studio, job) -> str:
    """One line: where the job is, its step count, elapsed and remaining time."""
    if job.status == QUEUED:
        ahead = studio.worker.position(job)
        return f"⏳ **Queued** (job {job.id}): {ahead} job{'s' if ahead != 1 else ''} ahead. Cancel removes it."
    if job.status == DONE:
        return f"✅ **Done** in {job.elapsed():.1f} s (job {job.id})."
    if job.status == CANCELLED:
        return f"⛔ **Cancelled** (job {job.id}): {job.error}."
    if job.status != "running":
        return f"❌ **Failed** (job {job.id}): {job.error}"
    if studio.worker.engine_status == "loading":
        return f"⏳ **Loading the model** (job {job.id}); this happens once."
    stage = f" · {job.stage}" if job.stage else ""
    if job.total:
        per_step = job.elapsed() / max(job.step, 1)
        left = per_step * (job.total - job.step)
        return (f"🎬 **Step {job.step} of {job.total}**{stage} · {job.elapsed():.1f} s elapsed · "
                f"about {left:.1f} s left for this pass (job {job.id})")
    return f"🎬 **Running**{stage} · {job.elapsed():.1f} s (job {job.id})"


def follow(studio: Studio, job):
    """Yield (status markdown, preview image or None) until the job ends."""
    last = None
    while not job.done:
        job.wait(POLL_S)
        snapshot = (job.status, job.step, job.stage, int(job.elapsed()))
        if snapshot != last:
            last = snapshot
            yield status_text(studio, job), job.preview
    yield status_text(studio, job), job.preview


def outcome(job):
    """The job's result, or a gr.Error with its message (cancelled: a warning, then no result)."""
    if job.status == DONE:
        return job.result
    if job.status == CANCELLED:
        gr.Warning(f"Cancelled: {job.error}.")
        return None
    raise gr.Error(job.error, print_exception=False)


def send_buttons(c, edit_label: str = "Send to Edit") -> None:
    """The Send-to buttons of a tab (put them in the current row); ui/__init__ wires every tab's
    to_edit, to_last and to_timeline in one place."""
    c.to_edit = gr.Button(edit_label)
    c.to_last = gr.Button("Last frame → Animate")
    c.to_timeline = gr.Button("Add to timeline")


def one_result(studio: Studio, job):
    """Follow a job that makes one clip, then show it. Yields the tuple every single-result
    action returns: (status, preview, file, settings, clip id, job id); SKIP leaves a value be."""
    status = ""
    for status, preview in follow(studio, job):
        yield status, preview, SKIP(), SKIP(), SKIP(), job.id
    entries = outcome(job)
    if not entries:
        yield status, SKIP(), SKIP(), SKIP(), SKIP(), job.id
        return
    e = entries[0]
    yield status, SKIP(), str(e.file), entry_json(e), e.id, job.id


def entry_json(e: Entry) -> dict:
    return {"id": e.id, "operation": e.operation, "kind": e.kind, "prompt": e.prompt,
            "caption": e.settings.get("caption"), "seed": e.seed, "width": e.width,
            "height": e.height, "seconds": round(e.seconds, 3), "draft": e.draft,
            "parents": list(e.parents), "file": e.file.name}


def clip_choices(studio: Studio, kind: str | None = None) -> list[str]:
    """Dropdown choices "id · what · prompt", newest first (the id is read back by the studio)."""
    return [e.title() for e in studio.library.entries() if kind is None or e.kind == kind]
