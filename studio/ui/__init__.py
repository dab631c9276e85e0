"""The page: a header with the model's state, the job queue, and one tab per activity.
Each tab lives in its own file; this one builds them and wires the "Send to" buttons across tabs."""
from __future__ import annotations

import gradio as gr

from studio import projects
from studio.actions import Studio, nearest_aspect
from studio.ui import create, edit, library_tab, storyboard, timeline_tab
from studio.ui.common import clip_choices, friendly
from studio.worker import FINISHED

TITLE = "Tessera studio"


def build_app(studio: Studio) -> gr.Blocks:
    # Gradio's cache may be wiped at any time; library clips live in media/, never in it.
    with gr.Blocks(title=TITLE, delete_cache=(3600, 86400)) as demo:
        gr.Markdown(f"# {TITLE}\nDraft quickly, render the drafts you like, edit them, and "
                    "stitch clips on the timeline. Everything you make is kept in the Library.")
        model = gr.Markdown(model_line(studio))
        with gr.Accordion("Queue: one job runs at a time", open=False):
            queue = gr.Dataframe(headers=["job", "what", "status", "progress"], type="array",
                                 interactive=False, value=queue_rows(studio), label="Jobs, oldest first")
            with gr.Row():
                job_id = gr.Number(value=None, precision=0, minimum=1, label="Job to cancel",
                                   info="The job number from the table above.")
                cancel = gr.Button("Cancel that job", variant="stop")
        with gr.Tabs() as tabs:
            with gr.Tab("Create", id="create"):
                c = create.build(studio)
            with gr.Tab("Edit", id="edit"):
                e = edit.build(studio)
            with gr.Tab("Library", id="library") as library_tab_block:
                lib = library_tab.build(studio)
            with gr.Tab("Timeline", id="timeline"):
                t = timeline_tab.build(studio)
            with gr.Tab("Storyboard", id="storyboard"):
                s = storyboard.build(studio)

        timer = gr.Timer(1.0)
        timer.tick(lambda: (model_line(studio), queue_rows(studio)), None, [model, queue],
                   show_progress="hidden", api_visibility="undocumented", queue=False)

        @friendly
        def cancel_job(job):
            if job is None or not studio.worker.cancel(int(job)):
                raise ValueError(f"job {job} is not waiting or running")
            gr.Info(f"Cancelling job {int(job)}.")
            return queue_rows(studio)

        cancel.click(cancel_job, job_id, queue, api_name="cancel", queue=False)
        library_tab_block.select(lambda q: library_tab.listing(studio, q), lib.search, [lib.gallery, lib.ids],
                                 api_visibility="undocumented")
        demo.load(lambda: library_tab.listing(studio), None, [lib.gallery, lib.ids],
                  api_visibility="undocumented")

        def fresh_choices():   # saved since the page was built
            styles = gr.update(choices=studio.styles.names())
            return styles, styles, gr.update(choices=projects.project_names(studio))

        demo.load(fresh_choices, None, [c.style, s.style, t.open], api_visibility="undocumented")
        demo.load(lambda: timeline_tab.opening(studio), None, [t.name, t.project, t.table, t.synced],
                  api_visibility="undocumented")
        _send_to(studio, tabs, c, e, lib, t, s)
    return demo


def model_line(studio: Studio) -> str:
    w = studio.worker
    if w.engine_status == "ready":
        label = w._engine.label
        warn = " ⚠️ **untrained weights: results are noise**" if "random-init" in label else ""
        return f"**Model:** {label}{warn}"
    if w.engine_status == "failed":
        return f"**Model failed to load:** {w.engine_error}"
    if w.engine_status == "loading":
        return "**Model:** loading… (the page works meanwhile; jobs wait in the queue)"
    return "**Model:** loads with the first job"


def queue_rows(studio: Studio) -> list[list]:
    rows = []
    for job in studio.worker.jobs():
        if job.kind == "load" and job.status in FINISHED:
            continue
        progress = f"{job.step}/{job.total}" if job.total else ""
        rows.append([job.id, job.label, job.status + (f" · {job.stage}" if job.stage and not job.done else ""),
                     progress])
    return rows[-20:] or [["", "no jobs yet", "", ""]]


def _send_to(studio: Studio, tabs, c, e, lib, t, s) -> None:
    """The "Send to" buttons: a clip (or its exact last frame) into an edit or onto the timeline."""
    quiet = dict(api_visibility="undocumented")

    @friendly
    def to_edit(clip_id):
        entry = studio.library.get(_bare(clip_id))
        return (gr.update(choices=clip_choices(studio), value=entry.title()), None,
                gr.Tabs(selected="edit"))

    @friendly
    def to_animate(clip_id):
        still = studio.last_frame(_bare(clip_id))
        return (gr.update(choices=clip_choices(studio), value=still.title()), None,
                gr.Tabs(selected="animate"), gr.Tabs(selected="edit"))

    @friendly
    def to_timeline(clip_id, text, name, synced):
        from studio.ui.timeline_tab import _json, parse, rows, synced_project
        entry = studio.library.get(_bare(clip_id))
        if entry.kind != "video":
            raise ValueError("that is a still image; animate it first, then add the clip")
        project = parse(text, name).add(entry.id)
        projects.check_unchanged(studio, project.name, synced_project(synced))
        projects.save_project(studio, project)
        gr.Info(f"Added {entry.id} to the timeline “{project.name}”.")
        return _json(project), rows(studio, project), _json(project)

    for tab in (c, e, lib, s):
        clip = tab.selected if tab is lib else tab.current
        tab.to_timeline.click(to_timeline, [clip, t.project, t.name, t.synced],
                              [t.project, t.table, t.synced], **quiet)
        if hasattr(tab, "to_edit"):
            tab.to_edit.click(to_edit, clip, [e.source, e.upload, tabs], **quiet)
        if hasattr(tab, "to_last"):
            tab.to_last.click(to_animate, clip, [e.source, e.upload, e.ops, tabs], **quiet)

    @friendly
    def reuse(clip_id):
        entry = studio.library.get(_bare(clip_id))
        st = entry.settings
        aspect = nearest_aspect(entry.width, entry.height)
        return (st.get("user_prompt") or entry.prompt, st.get("caption") or "", aspect,
                max(0.5, round(entry.seconds * 2) / 2) if entry.kind == "video" else 2.0,
                entry.seed if entry.seed is not None else 0, True, st.get("style") or "None",
                gr.Tabs(selected="create"))

    lib.reuse.click(reuse, lib.selected, [c.prompt, c.caption, c.aspect, c.seconds, c.seed, c.lock,
                                          c.style, tabs], **quiet)

    @friendly
    def remix(clip_id):
        entry = studio.library.get(_bare(clip_id))
        return (gr.update(choices=clip_choices(studio), value=entry.title()), None, entry.prompt,
                gr.Tabs(selected="restyle"), gr.Tabs(selected="edit"))

    lib.remix.click(remix, lib.selected, [e.source, e.upload, e.prompt, e.ops, tabs], **quiet)


def _bare(value: str) -> str:
    if not value or not str(value).strip():
        raise ValueError("there is no clip to send yet: make or choose one first")
    return str(value).strip().split(" ")[0]
