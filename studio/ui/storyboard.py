"""The Storyboard tab: cards of prompt + duration rendered as one continuous clip."""
from __future__ import annotations

from types import SimpleNamespace

import gradio as gr

from studio.actions import ASPECTS, Card, Studio
from studio.ui.common import call, one_result

CARDS = 6


def build(studio: Studio) -> SimpleNamespace:
    c = SimpleNamespace()
    gr.Markdown("Write what happens, card by card. The first card is generated; each next card "
                "extends the clip with its own prompt, so the result is one continuous shot. "
                "Empty cards are skipped.")
    c.prompts, c.seconds = [], []
    for i in range(CARDS):
        with gr.Row():
            c.prompts.append(gr.Textbox(label=f"Card {i + 1}", scale=4,
                                        placeholder="a red ball rolls right" if i == 0 else "then…"))
            c.seconds.append(gr.Slider(0.5, 4, value=2, step=0.5, label="Seconds", scale=1))
    with gr.Row():
        c.style = gr.Dropdown(studio.styles.names(), value="None", label="Style", allow_custom_value=True,
                              info="Added to every card's prompt.")
        c.aspect = gr.Radio(list(ASPECTS), value="16:9", label="Aspect ratio")
        c.seed = gr.Number(value=None, precision=0, minimum=0, label="Seed",
                           info="Empty: a random seed (saved with the result).")
        c.draft = gr.Checkbox(True, label="Draft quality", info="Fast and small; untick for full size.")
    with gr.Row():
        c.run = gr.Button("Render storyboard", variant="primary")
        c.cancel = gr.Button("Cancel", variant="stop")
    c.status = gr.Markdown(label="Status")
    c.preview = gr.Image(label="Live preview", interactive=False, height=160)
    c.result = gr.Video(label="Storyboard clip", interactive=False)
    c.result_json = gr.JSON(label="Settings of the result")
    c.current = gr.Textbox(label="Clip to send")
    c.to_timeline = gr.Button("Place on the timeline")
    c.job = gr.State(0)
    _wire(studio, c)
    return c


def _wire(studio: Studio, c: SimpleNamespace) -> None:
    def run(*values):
        prompts, seconds = values[:CARDS], values[CARDS:2 * CARDS]
        style, aspect, seed, draft = values[2 * CARDS:]
        cards = [Card(p or "", float(s)) for p, s in zip(prompts, seconds)]
        job = call(studio.storyboard, cards, style=style, aspect=aspect, seed=seed, draft=bool(draft))
        yield from one_result(studio, job)

    c.run.click(run, c.prompts + c.seconds + [c.style, c.aspect, c.seed, c.draft],
                [c.status, c.preview, c.result, c.result_json, c.current, c.job],
                api_name="storyboard", concurrency_limit=None)

    def cancel_own(job_id):
        if job_id and studio.worker.cancel(job_id):
            gr.Info("Cancelling the storyboard; nothing will be saved.")

    c.cancel.click(cancel_own, c.job, None, api_visibility="undocumented", queue=False)
