"""The Library tab: browse every result, play it, reuse its settings, remix, delete."""
from __future__ import annotations

from types import SimpleNamespace

import gradio as gr

from studio.actions import Studio
from studio.ui.common import SKIP, entry_json, friendly, send_buttons



def build(studio: Studio) -> SimpleNamespace:
    c = SimpleNamespace()
    with gr.Row():
        c.search = gr.Textbox(label="Search", placeholder="ball, render, extend…",
                              info="Filters on the prompt or the operation.", scale=4)
        c.refresh = gr.Button("↻ Refresh", scale=1)
    c.gallery = gr.Gallery(label="Your clips, newest first (click one)", columns=6, height=320,
                           interactive=False, allow_preview=False)
    c.ids = gr.State([])
    with gr.Row():
        with gr.Column():
            c.selected = gr.Textbox(label="Selected clip", info="Its id; every button below acts on it.")
            c.video = gr.Video(label="Play", interactive=False, loop=True)
            c.image = gr.Image(label="Still", interactive=False, visible=False)
        c.settings = gr.JSON(label="Full settings (prompt, caption, seed, size, steps, parents)")
    with gr.Row():
        c.reuse = gr.Button("Reuse settings in Create")
        c.remix = gr.Button("Remix (restyle)")
        send_buttons(c)
    with gr.Row():
        c.confirm = gr.Checkbox(False, label="Yes, delete it", info="Tick to confirm; deleting cannot be undone.")
        c.delete = gr.Button("Delete", variant="stop")
    _wire(studio, c)
    return c


def listing(studio: Studio, query: str = ""):
    entries = studio.library.entries(query or "")
    gallery = [(str(e.thumb), f"{'draft' if e.draft else e.operation} · {e.prompt[:40]}") for e in entries]
    return gallery, [e.id for e in entries]


def _wire(studio: Studio, c: SimpleNamespace) -> None:
    def refresh(query):
        return listing(studio, query)

    c.refresh.click(refresh, c.search, [c.gallery, c.ids], api_visibility="undocumented")
    c.search.submit(refresh, c.search, [c.gallery, c.ids], api_visibility="undocumented")

    @friendly
    def select(ids, evt: gr.SelectData):
        if not ids or evt.index is None or evt.index >= len(ids):
            return SKIP(), SKIP(), SKIP(), SKIP()
        return show(ids[evt.index])

    def show(clip_id):
        e = studio.library.get(clip_id)
        video = gr.update(value=str(e.file), visible=True) if e.kind == "video" else gr.update(value=None, visible=False)
        image = gr.update(value=str(e.file), visible=True) if e.kind == "image" else gr.update(value=None, visible=False)
        return e.id, video, image, {**e.settings, **entry_json(e)}

    c.gallery.select(select, c.ids, [c.selected, c.video, c.image, c.settings],
                     api_visibility="undocumented")

    @friendly
    def delete(clip_id, confirm, query):
        if not confirm:
            raise gr.Error("Tick “Yes, delete it” first.", print_exception=False)
        studio.library.delete(clip_id)
        gr.Info(f"Deleted {clip_id}.")
        gallery, ids = listing(studio, query)
        return gallery, ids, "", gr.update(value=None), gr.update(value=None), None, False

    c.delete.click(delete, [c.selected, c.confirm, c.search],
                   [c.gallery, c.ids, c.selected, c.video, c.image, c.settings, c.confirm],
                   api_name="delete_clip")
