"""The Edit tab: animate, extend, loop, blend (interpolate), restyle on library clips or uploads.
API: /animate /extend /loop /interpolate /restyle (each takes a clip id or an uploaded file)."""
from __future__ import annotations

from types import SimpleNamespace

import gradio as gr

from engine.sizes import TRANSITION_MAX_SECONDS, TRANSITION_MIN_SECONDS
from studio.actions import Studio
from studio.ui.common import call, clip_choices, one_result, send_buttons



def build(studio: Studio) -> SimpleNamespace:
    c = SimpleNamespace()
    gr.Markdown("Pick a clip from the library (or upload a video or image), write what should "
                "happen, then run one of the edits below. Results go to the library.")
    with gr.Row():
        with gr.Column():
            c.source = gr.Dropdown(clip_choices(studio), label="Clip", allow_custom_value=True,
                                   info="From the library; Animate uses a still or a clip's last frame.")
            c.upload = gr.File(label="…or upload a video or image", file_types=["video", "image"],
                               type="filepath")
        with gr.Column():
            c.second = gr.Dropdown(clip_choices(studio), label="Second clip (Blend only)",
                                   allow_custom_value=True, info="Blend plays Clip, a transition, then this.")
            c.upload2 = gr.File(label="…or upload the second clip", file_types=["video", "image"],
                                type="filepath")
    c.refresh = gr.Button("↻ Refresh clip lists", size="sm")
    c.prompt = gr.Textbox(label="Prompt", lines=2, info="What the new or changed frames should show.")
    c.seed = gr.Number(value=None, precision=0, minimum=0, label="Seed",
                       info="Leave empty for a new random seed; it is saved with the result.")
    with gr.Tabs() as c.ops:
        with gr.Tab("Animate", id="animate"):
            c.animate_seconds = gr.Slider(0.5, 6, value=2, step=0.5, label="Seconds of motion",
                                          info="The image becomes the first frame (a video clip gives "
                                               "its last frame, an animated image its first).")
            c.animate = gr.Button("Animate", variant="primary")
        with gr.Tab("Extend", id="extend"):
            c.direction = gr.Radio([("After (forward)", "forward"), ("Before (backward)", "backward")],
                                   value="forward", label="Direction",
                                   info="Add new material after the clip or before it.")
            c.extend_seconds = gr.Slider(0.5, 6, value=2, step=0.5, label="New seconds")
            c.extend = gr.Button("Extend", variant="primary")
        with gr.Tab("Loop", id="loop"):
            c.loop_seconds = gr.Slider(0.5, 4, value=1, step=0.5, label="Transition seconds",
                                       info="A generated bridge from the clip's end back to its start.")
            c.loop = gr.Button("Make it loop", variant="primary")
        with gr.Tab("Blend", id="blend"):
            c.blend_seconds = gr.Slider(0, TRANSITION_MAX_SECONDS, value=0, step=0.5,
                                        label="Transition seconds (0: automatic)",
                                        info="The generated part between the two clips, paced evenly. "
                                             "Automatic: as long as the change from one scene to the "
                                             f"other needs to look smooth, {TRANSITION_MIN_SECONDS:g} to "
                                             f"{TRANSITION_MAX_SECONDS:g} s.")
            c.blend = gr.Button("Blend the two clips", variant="primary")
        with gr.Tab("Restyle", id="restyle"):
            c.strength = gr.Slider(0.05, 1.0, value=0.6, step=0.05, label="Strength",
                                   info="0 returns the clip unchanged, 1 ignores it entirely; a light "
                                        "restyle keeps the clip's fine detail where it keeps its content.")
            c.restyle = gr.Button("Restyle", variant="primary")
    c.cancel = gr.Button("Cancel", variant="stop")
    c.status = gr.Markdown(label="Status")
    c.preview = gr.Image(label="Live preview", interactive=False, height=160)
    c.result = gr.Video(label="Result", interactive=False, loop=True)
    c.result_json = gr.JSON(label="Settings of the result")
    c.current = gr.Textbox(label="Clip to send", info="The latest edit result.")
    with gr.Row():
        send_buttons(c, "Use as the next edit's clip")
    c.job = gr.State(0)
    _wire(studio, c)
    return c


def _source(clip, upload):
    if upload and clip and str(clip).strip():    # fail loudly rather than pick one silently
        raise gr.Error("both a library clip and an uploaded file are set: clear one of them",
                       print_exception=False)
    return upload if upload else clip


def _run(studio, submit):
    """Shared generator body: follow the job, then show its one result."""
    yield from one_result(studio, call(submit))


def _wire(studio: Studio, c: SimpleNamespace) -> None:
    outs = [c.status, c.preview, c.result, c.result_json, c.current, c.job]
    seed = c.seed

    def animate(clip, upload, prompt, seed, seconds):
        yield from _run(studio, lambda: studio.animate(_source(clip, upload), prompt,
                                                       seconds=float(seconds), seed=seed))

    def extend(clip, upload, prompt, seed, direction, seconds):
        yield from _run(studio, lambda: studio.extend(_source(clip, upload), prompt, direction=direction,
                                                      seconds=float(seconds), seed=seed))

    def loop(clip, upload, prompt, seed, seconds):
        yield from _run(studio, lambda: studio.loop(_source(clip, upload), prompt,
                                                    seconds=float(seconds), seed=seed))

    def interpolate(clip, upload, second_clip, second_upload, prompt, seed, seconds):
        yield from _run(studio, lambda: studio.interpolate(_source(clip, upload), _source(second_clip, second_upload),
                                                           prompt, seconds=float(seconds) or None, seed=seed))

    def restyle(clip, upload, prompt, seed, strength):
        yield from _run(studio, lambda: studio.restyle(_source(clip, upload), prompt,
                                                       strength=float(strength), seed=seed))

    # a clip comes from the dropdown or an upload, never both: choosing one clears the other
    quiet = dict(api_visibility="undocumented", queue=False)
    for pick, upload in ((c.source, c.upload), (c.second, c.upload2)):
        # Gradio 6's Dropdown sends `input` on blur too: clear the upload only for a chosen clip
        pick.input(lambda v: None if v and str(v).strip() else gr.skip(), pick, upload, **quiet)
        upload.upload(lambda: None, None, pick, **quiet)
    src = [c.source, c.upload]
    kw = dict(outputs=outs, concurrency_limit=None)
    c.animate.click(animate, src + [c.prompt, seed, c.animate_seconds], api_name="animate", **kw)
    c.extend.click(extend, src + [c.prompt, seed, c.direction, c.extend_seconds], api_name="extend", **kw)
    c.loop.click(loop, src + [c.prompt, seed, c.loop_seconds], api_name="loop", **kw)
    c.blend.click(interpolate, src + [c.second, c.upload2, c.prompt, seed, c.blend_seconds],
                  api_name="interpolate", **kw)
    c.restyle.click(restyle, src + [c.prompt, seed, c.strength], api_name="restyle", **kw)

    def cancel_own(job_id):
        if job_id and studio.worker.cancel(job_id):
            gr.Info("Cancelling: the edit stops at its next step and saves nothing.")

    c.cancel.click(cancel_own, c.job, None, api_visibility="undocumented", queue=False)

    def refresh(a, b):
        choices = clip_choices(studio)
        return gr.update(choices=choices, value=a), gr.update(choices=choices, value=b)

    c.refresh.click(refresh, [c.source, c.second], [c.source, c.second], api_visibility="undocumented")
