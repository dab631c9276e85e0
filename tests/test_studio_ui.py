"""The page and the launcher: safe defaults, labelled controls, readable errors, timeline table."""
import pytest

gr = pytest.importorskip("gradio")

from engine.timeline import Project, TimelineClip  # noqa: E402
from studio import app  # noqa: E402
from studio.config import StudioConfig  # noqa: E402
from studio.ui import common, timeline_tab  # noqa: E402


def test_launch_defaults_are_safe(tmp_path):
    config = app.parse_args(["--workspace", str(tmp_path)])
    assert (config.host, config.port, config.share) == ("127.0.0.1", 7860, False)
    with pytest.raises(SystemExit):
        app.parse_args(["--host", "0.0.0.0", "--workspace", str(tmp_path)])    # LAN needs --auth
    lan = app.parse_args(["--host", "0.0.0.0", "--auth", "me:secret", "--workspace", str(tmp_path)])
    assert lan.auth == ("me", "secret")
    # The ready line names the studio's own flags, not Gradio's "set share=True in launch()".
    text = app.ready_message(config, "http://127.0.0.1:7860/", None)
    assert "http://127.0.0.1:7860/" in text and "--share" in text and "share=True" not in text
    assert "public link: https://x.gradio.live" in app.ready_message(lan, "http://0.0.0.0:7860/", "https://x.gradio.live")


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    config = StudioConfig(workspace=tmp_path_factory.mktemp("ws"), preload=False)
    studio, demo = app.create(config, engine_factory=lambda: None)
    yield studio, demo
    studio.close()


def test_launch_settings_limit_files_uploads_and_monitoring(page):
    studio, _ = page
    kw = app.launch_kwargs(studio, studio.config)
    assert kw["enable_monitoring"] is False and kw["share"] is False and kw["max_file_size"] == "200mb"
    assert kw["allowed_paths"] == [str(studio.ws.media), str(studio.ws.exports)]
    import os
    assert os.environ["GRADIO_TEMP_DIR"] == str(studio.ws.tmp)


def test_every_control_has_a_label(page):
    _, demo = page
    controls = (gr.Textbox, gr.Slider, gr.Dropdown, gr.Radio, gr.Number, gr.Checkbox, gr.File,
                gr.Video, gr.Image, gr.Gallery, gr.Dataframe, gr.JSON)
    unlabelled = [b for b in demo.blocks.values() if isinstance(b, controls) and not b.label]
    assert not unlabelled, unlabelled
    buttons = [b for b in demo.blocks.values() if isinstance(b, gr.Button)]
    assert buttons and all(str(b.value).strip() for b in buttons)


def test_stable_api_names(page):
    _, demo = page
    names = {fn.api_name for fn in demo.fns.values()}
    assert {"draft", "render", "image", "animate", "extend", "loop", "interpolate", "restyle",
            "export_timeline", "cancel"} <= names


def test_errors_become_messages_not_tracebacks():
    @common.friendly
    def bad():
        raise ValueError("the prompt is empty: describe what the clip should show")
    with pytest.raises(gr.Error, match="prompt is empty"):
        bad()

    @common.friendly
    def huge():
        raise MemoryError()  # no message of its own: the page still says what happened
    with pytest.raises(gr.Error, match="out of memory"):
        huge()

    @common.friendly
    def quoted():
        raise ValueError("'nothere' is not a library clip id")
    with pytest.raises(gr.Error) as e:
        quoted()
    assert e.value.message == "'nothere' is not a library clip id"      # both quotes kept
    from studio.worker import readable
    assert readable(KeyError("abc")) == "abc" and readable(ValueError("'x' y")) == "'x' y"


def test_an_edit_takes_a_library_clip_or_an_upload_not_both():
    from studio.ui.edit import _source
    assert _source("abc", None) == "abc" and _source("", "/tmp/u.mp4") == "/tmp/u.mp4"
    with pytest.raises(gr.Error, match="clear one of them"):
        _source("abc", "/tmp/u.mp4")


def test_timeline_table_edits_apply_to_the_project():
    p = Project("p", (TimelineClip("aaaaaaaaaaaa"), TimelineClip("bbbbbbbbbbbb")))
    table = [[1, "aaaaaaaaaaaa", "", "0.5", "", "crossfade", "0.25"], [2, "bbbbbbbbbbbb", "", 0, 1.5, "cut", 0]]
    q = timeline_tab.apply_table(p, table)
    assert q.clips[0] == TimelineClip("aaaaaaaaaaaa", 0.5, None, "crossfade", 0.25)
    assert q.clips[1].out_s == 1.5
    with pytest.raises(ValueError, match="row 1"):
        timeline_tab.apply_table(p, [[1, "a", "", 0, "", "wipe", 0]])


def test_queue_rows_and_status_lines(page):
    studio, _ = page
    assert timeline_tab.parse("", "film").name == "film"
    job = studio.worker.submit("draft", "Draft: test", lambda ctx: None)
    job.wait(5)
    while not job.done:
        job.wait(0.1)
    assert "Done" in common.status_text(studio, job)
    from studio.ui import queue_rows
    assert any(r[0] == job.id and r[2].startswith("done") for r in queue_rows(studio))
