"""The Timeline tab: clips from the library, reordered and trimmed, with a transition per cut;
saved as a project (autosave on every change) and exported to MP4. API: /export_timeline."""
from __future__ import annotations

import json
from dataclasses import replace
from types import SimpleNamespace

import gradio as gr

from engine import timeline
from engine.timeline import Project
from studio import projects
from studio.actions import Studio
from studio.ui.common import SKIP, call, clip_choices, follow, friendly, outcome

SIZES = ["512x288 (16:9)", "768x432 (16:9)", "1280x720 (16:9)", "288x512 (9:16)",
         "512x512 (1:1)", "512x384 (4:3)", "384x512 (3:4)"]
HEADERS = ["#", "clip", "prompt", "in (s)", "out (s)", "transition to next", "transition (s)"]


def build(studio: Studio) -> SimpleNamespace:
    c = SimpleNamespace()
    with gr.Row():
        c.name = gr.Textbox(value="my-film", label="Project name",
                            info="Letters, digits, - and _. Every change is saved automatically.")
        c.open = gr.Dropdown(projects.project_names(studio), label="Open a project", scale=1,
                             allow_custom_value=True,
                             info="Projects saved in this workspace.")
        c.load = gr.Button("Open", scale=0)
    with gr.Row():
        c.pick = gr.Dropdown(clip_choices(studio, "video"), label="Clip from the library",
                             allow_custom_value=True, info="Add it at the end of the timeline.")
        c.add = gr.Button("Add to timeline", scale=0)
        c.refresh = gr.Button("↻", scale=0)
    c.table = gr.Dataframe(headers=HEADERS, type="array", interactive=True, static_columns=[0, 1, 2],
                           label="Timeline: edit in/out points and transitions in the table",
                           column_count=(len(HEADERS), "fixed"))
    gr.Markdown("**Transitions**: `cut` (hard cut), `crossfade` (the next clip fades in over "
                "this one), `blend` (a generated transition is inserted: two different scenes need 2 to 6 s "
                "to change smoothly, the further apart the longer, so give a blend 3 or more in "
                "*transition (s)*). *out* empty = to the end.")
    with gr.Row():
        c.index = gr.Number(value=1, precision=0, minimum=1, label="Clip #", info="Which row the buttons move.")
        c.up = gr.Button("Move up")
        c.down = gr.Button("Move down")
        c.remove = gr.Button("Remove")
    with gr.Row():
        c.fps = gr.Slider(4, 30, value=12, step=1, label="Export fps")
        c.size = gr.Dropdown(SIZES, value=SIZES[0], label="Export size",
                             info="Clips are fitted inside this frame, centred on black.")
        c.export = gr.Button("Export MP4 (plays the whole sequence)", variant="primary")
        c.cancel = gr.Button("Cancel", variant="stop")
    c.status = gr.Markdown(label="Status")
    c.video = gr.Video(label="The whole sequence", interactive=False)
    c.file = gr.File(label="Download the MP4", interactive=False)
    with gr.Accordion("Project JSON (advanced)", open=False):
        c.project = gr.Textbox(label="Project", lines=8, value=_json(Project("my-film")),
                               info="What is saved; the API's /export_timeline takes this text.")
    c.job = gr.State(0)
    c.synced = gr.State("")   # the project JSON as this page last read or saved it (see opening)
    _wire(studio, c)
    return c


def opening(studio: Studio) -> tuple[str, str, list[list], str]:
    """(name, project JSON, table rows, synced JSON) a fresh page starts from: the latest saved
    project, or an empty one that no file backs yet."""
    saved = projects.latest_project(studio)
    project = saved or Project("my-film")
    return project.name, _json(project), rows(studio, project), _json(saved) if saved else ""


def synced_project(synced: str) -> Project | None:
    """The project the page last synced with the workspace ("" : none yet)."""
    return timeline.from_dict(json.loads(synced)) if (synced or "").strip() else None


def _json(project: Project) -> str:
    return json.dumps(timeline.to_dict(project), indent=1)


def _size(size: str) -> tuple[int, int]:
    """"512x288 (16:9)" or "512x288" -> (512, 288)."""
    try:
        w, h = (int(v) for v in str(size).split(" ")[0].lower().split("x"))
    except ValueError:
        raise ValueError(f"export size must look like 512x288, got {size!r}") from None
    return w, h


def parse(text: str, name: str) -> Project:
    text = (text or "").strip()
    project = timeline.from_dict(json.loads(text)) if text else Project(name or "my-film")
    return replace(project, name=(name or project.name).strip())


def rows(studio: Studio, project: Project) -> list[list]:
    out = []
    for i, clip in enumerate(project.clips):
        try:
            prompt = studio.library.get(clip.clip_id).prompt[:40]
        except ValueError:
            prompt = "(missing from the library)"
        out.append([i + 1, clip.clip_id, prompt, clip.in_s, "" if clip.out_s is None else clip.out_s,
                    clip.cut, clip.cut_s])
    return out


def apply_table(project: Project, table) -> Project:
    """The user's edits of in/out/transition cells, row by row, onto the project."""
    for i, row in enumerate(table or []):
        if i >= len(project.clips):
            break
        _, _, _, in_s, out_s, cut, cut_s = (list(row) + [None] * 7)[:7]
        try:
            project = project.update(i, in_s=float(in_s or 0), cut=str(cut or "cut").strip(),
                                     out_s=float(out_s) if str(out_s or "").strip() else None,
                                     cut_s=float(cut_s or 0))
        except (TypeError, ValueError) as e:
            raise ValueError(f"row {i + 1}: {e}") from None
    return project


def _wire(studio: Studio, c: SimpleNamespace) -> None:
    def commit(project: Project, synced: str):
        projects.check_unchanged(studio, project.name, synced_project(synced))  # never a newer file
        projects.save_project(studio, project)               # autosave: atomic, every change
        text = _json(project)
        return text, rows(studio, project), gr.update(choices=projects.project_names(studio)), text

    outs = [c.project, c.table, c.open, c.synced]
    quiet = dict(api_visibility="undocumented")

    @friendly
    def add(text, name, pick, synced):
        from studio.actions import _id
        entry = studio.library.get(_id(pick))
        if entry.kind != "video":
            raise ValueError("that is a still image; animate it first, then add the clip")
        return commit(parse(text, name).add(entry.id), synced)

    @friendly
    def edit_table(text, name, table, synced):
        return commit(apply_table(parse(text, name), table), synced)

    @friendly
    def move(text, name, index, delta, synced):
        project = parse(text, name)
        i = int(index or 1) - 1
        return commit(project.remove(i) if delta == 0 else project.move(i, delta), synced)

    @friendly
    def load(name):
        project = projects.load_project(studio, name)
        return project.name, _json(project), rows(studio, project), _json(project)

    c.add.click(add, [c.project, c.name, c.pick, c.synced], outs, **quiet)
    c.table.input(edit_table, [c.project, c.name, c.table, c.synced], outs, **quiet)
    moving = [c.project, c.name, c.index, c.synced]
    c.up.click(lambda t, n, i, s: move(t, n, i, -1, s), moving, outs, **quiet)
    c.down.click(lambda t, n, i, s: move(t, n, i, 1, s), moving, outs, **quiet)
    c.remove.click(lambda t, n, i, s: move(t, n, i, 0, s), moving, outs, **quiet)
    c.load.click(load, c.open, [c.name, c.project, c.table, c.synced], **quiet)
    c.refresh.click(lambda v: gr.update(choices=clip_choices(studio, "video"), value=v), c.pick, c.pick, **quiet)

    def export(project_name, project_json, fps, size, synced=""):
        """The page checks its project against the file as its edits do; an API call (no page
        state) sends the whole project and saves it as sent."""
        w, h = call(_size, size)
        project = call(lambda: replace(parse(project_json, project_name), fps=float(fps), width=w, height=h))
        if (synced or "").strip():
            call(lambda: projects.check_unchanged(studio, project.name, synced_project(synced)))
        job = call(projects.export_timeline, studio, project)      # saves the project (fps, size)
        text = _json(project)
        for status, _ in follow(studio, job):
            yield status, SKIP(), SKIP(), text, job.id, text
        out = outcome(job)
        yield status, (str(out) if out else SKIP()), (str(out) if out else SKIP()), text, job.id, text

    c.export.click(export, [c.name, c.project, c.fps, c.size, c.synced],
                   [c.status, c.video, c.file, c.project, c.job, c.synced],
                   api_name="export_timeline", concurrency_limit=None)

    def cancel_own(job_id):
        if job_id and studio.worker.cancel(job_id):
            gr.Info("Cancelling the export.")

    c.cancel.click(cancel_own, c.job, None, queue=False, **quiet)
