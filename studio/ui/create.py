"""The Create tab: prompt -> expand -> drafts -> render; and stills. API: /draft /render /image."""
from __future__ import annotations

import os
from types import SimpleNamespace

import gradio as gr

from engine.sizes import RENDER_STRENGTH
from studio.actions import ASPECTS, MAX_SEED, Studio
from studio.ui.common import SKIP, call, entry_json, follow, friendly, one_result, outcome, send_buttons



def new_seed() -> int:
    return int.from_bytes(os.urandom(4), "little") & MAX_SEED


def build(studio: Studio) -> SimpleNamespace:
    c = SimpleNamespace()
    with gr.Row():
        with gr.Column(scale=3):
            c.prompt = gr.Textbox(label="Prompt", lines=2,
                                  placeholder="a red ball bounces slowly on green grass",
                                  info="Describe the scene: objects, colours, how they move, the background, and a "
                                       "camera move if you want one (\"the camera pans left\", \"zooms in\").")
            with gr.Row():
                c.style = gr.Dropdown(studio.styles.names(), value="None", label="Style",
                                      allow_custom_value=True,
                                      info="A preset paragraph added after your prompt.", scale=3)
                c.expand = gr.Button("✨ Expand prompt", scale=1)
            c.caption = gr.Textbox(label="Caption the model will see (editable)", lines=3,
                                   info="Expand fills this in from your prompt. Edit it to steer the "
                                        "details; leave it empty to use the prompt as written.")
            c.unknown = gr.Markdown(label="Unknown words")
        with gr.Column(scale=2):
            c.aspect = gr.Radio(list(ASPECTS), value="16:9", label="Aspect ratio",
                                info="16:9 landscape, 9:16 portrait, 1:1 square, 4:3, 3:4.")
            c.seconds = gr.Slider(0.5, 8.0, value=2.0, step=0.5, label="Duration (seconds)",
                                  info="Longer clips take longer; extend them later in Edit.")
            with gr.Row():
                c.seed = gr.Number(value=new_seed(), precision=0, minimum=0, maximum=MAX_SEED,
                                   label="Seed", info="The same prompt and seed make the same clip.")
                c.dice = gr.Button("🎲 New seed", scale=0)
            c.lock = gr.Checkbox(False, label="Lock seed",
                                 info="Off: every Draft rolls a new seed. On: keep this one.")
            c.variations = gr.Radio([1, 2, 4], value=1, label="Variations",
                                    info="How many drafts to make at once (seed, seed+1, ...).")
    with gr.Row():
        c.draft = gr.Button("Draft", variant="primary")
        c.image = gr.Button("Image (still)")
        c.cancel = gr.Button("Cancel", variant="stop")
    gr.Markdown("*Draft* makes quick low-resolution clips. Choose one, then *Render* it at full size: "
                "the composition stays, the detail improves. *Cancel* stops within one step and "
                "saves nothing.")
    c.status = gr.Markdown(label="Status")
    c.preview = gr.Image(label="Live preview (the model's current guess)", interactive=False, height=180)
    c.drafts = gr.Gallery(label="Drafts: click one to choose it for Render", columns=4, height=260,
                          interactive=False)
    with gr.Row():
        with gr.Column():
            c.chosen = gr.Textbox(label="Chosen draft", info="The id of the draft Render will finish.")
            c.strength = gr.Slider(0.1, 1.0, value=RENDER_STRENGTH, step=0.05, label="Render strength",
                                   info="Low keeps the draft's composition closely; 1 starts afresh.")
            c.render = gr.Button("Render full size", variant="primary")
        c.chosen_video = gr.Video(label="Chosen draft", interactive=False, loop=True, autoplay=True)
    with gr.Row():
        c.result = gr.Video(label="Result", interactive=False, loop=True)
        c.result_image = gr.Image(label="Still", interactive=False)
    c.result_json = gr.JSON(label="Settings of the result")
    c.current = gr.Textbox(label="Clip to send", info="The latest result (or chosen draft).")
    with gr.Row():
        send_buttons(c)
    with gr.Accordion("Manage style presets", open=False):
        c.style_text = gr.Textbox(label="Style paragraph", info="Added after the prompt when this style is chosen.")
        with gr.Row():
            c.style_name = gr.Textbox(label="Save as", info="A new name saves a new style in your workspace.")
            c.style_save = gr.Button("Save style")
            c.style_delete = gr.Button("Delete style")
    c.job = gr.State(0)
    c.draft_ids = gr.State([])
    _wire(studio, c)
    return c


def _wire(studio: Studio, c: SimpleNamespace) -> None:
    @friendly
    def expand(prompt, style, seed, seconds):
        caption, unknown = studio.expand(prompt, style, int(seed or 0), float(seconds))
        note = (f"⚠️ Words the model does not know (ignored): **{', '.join(unknown)}**"
                if unknown else "✅ The model knows every word of this prompt.")
        return caption, note

    c.expand.click(expand, [c.prompt, c.style, c.seed, c.seconds], [c.caption, c.unknown],
                   api_name="expand")
    c.dice.click(new_seed, None, c.seed, api_visibility="undocumented")

    def draft(prompt, caption, style, aspect, seconds, seed, lock_seed, variations):
        seed = int(seed) if lock_seed and seed is not None else new_seed()
        job = call(studio.draft, prompt, caption=caption, style=style, aspect=aspect,
                   seconds=float(seconds), seed=seed, variations=int(variations))
        for status, preview in follow(studio, job):
            yield status, preview, SKIP(), SKIP(), seed, SKIP(), SKIP(), SKIP(), job.id, SKIP()
        entries = outcome(job)
        if not entries:   # cancelled or failed: the drafts already shown stay
            yield status, SKIP(), SKIP(), SKIP(), seed, SKIP(), SKIP(), SKIP(), job.id, SKIP()
            return
        gallery = [(str(e.file), f"seed {e.seed}") for e in entries]
        first = entries[0]
        yield (status, SKIP(), gallery, [entry_json(e) for e in entries], seed, first.id,
               str(first.file), first.id, job.id, [e.id for e in entries])

    c.draft.click(draft, [c.prompt, c.caption, c.style, c.aspect, c.seconds, c.seed, c.lock, c.variations],
                  [c.status, c.preview, c.drafts, c.result_json, c.seed, c.chosen, c.chosen_video,
                   c.current, c.job, c.draft_ids], api_name="draft", concurrency_limit=None)

    def choose(ids, evt: gr.SelectData):
        if not ids or evt.index is None or evt.index >= len(ids):
            return SKIP(), SKIP(), SKIP()
        entry = studio.library.get(ids[evt.index])
        return entry.id, str(entry.file), entry.id

    c.drafts.select(choose, c.draft_ids, [c.chosen, c.chosen_video, c.current],
                    api_visibility="undocumented")

    def render(draft_id, strength):
        yield from one_result(studio, call(studio.render, draft_id, strength=float(strength)))

    c.render.click(render, [c.chosen, c.strength],
                   [c.status, c.preview, c.result, c.result_json, c.current, c.job],
                   api_name="render", concurrency_limit=None)

    def image(prompt, caption, style, aspect, seed, lock_seed):
        seed = int(seed) if lock_seed and seed is not None else new_seed()
        job = call(studio.image, prompt, caption=caption, style=style, aspect=aspect, seed=seed)
        for status, preview in follow(studio, job):
            yield status, preview, SKIP(), SKIP(), seed, SKIP(), job.id
        entries = outcome(job)
        if not entries:
            yield status, SKIP(), SKIP(), SKIP(), seed, SKIP(), job.id
            return
        yield status, SKIP(), str(entries[0].file), entry_json(entries[0]), seed, entries[0].id, job.id

    c.image.click(image, [c.prompt, c.caption, c.style, c.aspect, c.seed, c.lock],
                  [c.status, c.preview, c.result_image, c.result_json, c.seed, c.current, c.job],
                  api_name="image", concurrency_limit=None)

    def cancel_own(job_id):
        if job_id and studio.worker.cancel(job_id):
            gr.Info("Cancelling: the job stops at its next step and saves nothing.")
        else:
            gr.Info("Nothing of yours is running.")

    c.cancel.click(cancel_own, c.job, None, api_visibility="undocumented", queue=False)

    def show_style(name):
        return gr.update(value=studio.styles.all().get(name, "")), gr.update(value=name)

    c.style.change(show_style, c.style, [c.style_text, c.style_name], api_visibility="undocumented")

    @friendly
    def save_style(name, text):
        studio.styles.save(name, text)
        gr.Info(f"Saved style “{name.strip()}”.")
        return gr.update(choices=studio.styles.names(), value=name.strip())

    @friendly
    def delete_style(name):
        studio.styles.delete(name)
        return gr.update(choices=studio.styles.names(), value="None")

    c.style_save.click(save_style, [c.style_name, c.style_text], c.style, api_visibility="undocumented")
    c.style_delete.click(delete_style, c.style_name, c.style, api_visibility="undocumented")
