"""The studio's operations on a tiny engine: results land in the library with their settings,
cancel saves nothing, one job runs at a time, and page ids never become raw paths."""
import json
import time

import numpy as np
import pytest

from engine import io
from studio.actions import Card, Studio
from studio.config import StudioConfig
from studio.workspace import WorkspaceBusy


def finish(job, timeout=120):
    deadline = time.monotonic() + timeout
    while not job.done and time.monotonic() < deadline:
        job.wait(0.2)
    assert job.done, f"job {job.label} did not finish"
    return job


def ok(job):
    finish(job)
    assert job.status == "done", job.error
    return job.result


@pytest.fixture
def studio(tmp_path, tiny_engine):
    s = Studio(StudioConfig(workspace=tmp_path / "ws", preload=False), engine_factory=lambda: tiny_engine)
    yield s
    s.close()


def test_draft_variations_render_and_settings(studio):
    drafts = ok(studio.draft("a red ball moves right", seconds=1, seed=5, variations=2, aspect="1:1"))
    assert [d.seed for d in drafts] == [5, 6] and all(d.draft for d in drafts)
    d = drafts[0]
    assert d.file.is_file() and d.thumb.is_file() and d.file.suffix == ".mp4"
    saved = json.loads(studio.ws.inside("media", d.id + ".json").read_text())
    for key in ("operation", "prompt", "caption", "seed", "width", "height", "steps", "parents"):
        assert key in saved
    assert io.probe_video(d.file).width == d.width == d.height     # 1:1
    [full] = ok(studio.render(d.id, strength=0.5))
    assert full.parents == (d.id,) and not full.draft and full.width > d.width
    assert full.settings["prompt"] == d.settings["prompt"] and full.seed == d.seed


def test_render_keeps_the_aspect_asked_for_and_only_finishes_drafts(studio, tiny_engine):
    [d] = ok(studio.draft("a red ball moves right", seconds=1, seed=5, aspect="16:9"))
    assert d.settings["aspect"] == "16:9"
    [full] = ok(studio.render(d.id, strength=0.5))
    want = tiny_engine.resolve("generate", "x", aspect="16:9")       # what Generate makes at 16:9
    assert (full.width, full.height) == (want.width, want.height)
    assert full.settings["inputs"]["draft"]["fit"] in ("crop", "none")
    with pytest.raises(ValueError, match="restyle it instead"):
        studio.render(full.id)                                         # a render is not a draft
    from studio.actions import nearest_aspect
    assert nearest_aspect(128, 64) == "16:9" and nearest_aspect(64, 128) == "9:16"  # older drafts


def test_library_search_is_literal_and_a_still_is_its_own_last_frame(studio):
    [a] = ok(studio.draft("a red ball 100% round", seconds=1, seed=1))
    [b] = ok(studio.draft("a blue box", seconds=1, seed=2))
    assert [e.id for e in studio.library.entries("100%")] == [a.id]
    assert [e.id for e in studio.library.entries("%")] == [a.id]       # not every clip
    assert studio.library.entries("_") == []
    still = studio.last_frame(b.id)
    assert studio.last_frame(still.id).id == still.id and len(studio.library) == 3


def test_a_stale_page_never_overwrites_a_saved_project(studio):
    import os
    from engine.timeline import Project
    from studio import projects
    saved = Project("my-film").add("aaaaaaaaaaaa").add("bbbbbbbbbbbb")
    projects.save_project(studio, saved)
    projects.check_unchanged(studio, "my-film", saved)        # the page last saw what is on disk
    with pytest.raises(ValueError, match="changed elsewhere"):
        projects.check_unchanged(studio, "my-film", Project("my-film"))   # another tab's older copy
    with pytest.raises(ValueError, match="changed elsewhere"):
        projects.check_unchanged(studio, "my-film", None)     # a page that never read the file
    projects.check_unchanged(studio, "new-name", None)        # a new name saves a new file
    assert projects.latest_project(studio) == saved           # what a fresh page opens
    older = projects.save_project(studio, Project("older").add("cccccccccccc"))
    os.utime(older, (1, 1))
    assert projects.latest_project(studio) == saved           # the newest file, not the name
    broken = projects.project_path(studio, "broken")
    broken.write_text('{"name": "broken", "clips": 5}')
    assert projects.latest_project(studio) == saved           # an unreadable file is skipped
    with pytest.raises(ValueError, match="fix the file"):      # ... and never saved over
        projects.check_unchanged(studio, "broken", None)


def test_image_style_and_caption(studio):
    [still] = ok(studio.image("a blue box", style="Desert heat", seed=1))
    assert still.kind == "image" and still.file.suffix == ".png"
    assert "desert" in still.settings["prompt"]
    caption, unknown = studio.expand("a blue box flibbers", seed=1)
    assert "blue box" in caption.lower() and unknown == ["flibbers"]
    _, unknown = studio.expand("a red ball se déplace 赤い", seed=1)
    assert "déplace" in unknown and "赤い" in unknown  # whole words of any script, not "d"
    [edited] = ok(studio.image("ignored", caption="A red star in the desert.", seed=1))
    assert edited.settings["prompt"] == "A red star in the desert."


def test_edits_record_parents(studio):
    [clip] = ok(studio.draft("a green box moves up", seconds=1, seed=1))
    [frame] = [studio.last_frame(clip.id)]
    count = len(studio.library)
    assert studio.last_frame(clip.id).id == frame.id and len(studio.library) == count   # saved once
    frames, _ = studio.library.frames(clip.id)
    assert np.array_equal(io.read_image(frame.file), frames[-1])            # the exact last frame
    [anim] = ok(studio.animate(frame.id, "the box moves up", seconds=1, seed=2))
    [longer] = ok(studio.extend(clip.id, "a green box", direction="backward", seconds=1, seed=2))
    [blend] = ok(studio.interpolate(clip.id, anim.id, "a green box", seconds=0.5, seed=2))
    [rest] = ok(studio.restyle(clip.id, "a green box at night", strength=0.3, seed=2))
    assert anim.parents == (frame.id,) and longer.parents == (clip.id,)
    assert blend.parents == (clip.id, anim.id) and rest.parents == (clip.id,)
    assert longer.seconds > clip.seconds


def test_animate_says_which_frame_it_starts_from(studio, tmp_path):
    """An animated image gives its first frame (as the CLI's --image), a video its last."""
    from PIL import Image
    frames = [np.full((36, 64, 3), v, np.uint8) for v in (40, 200)]
    gif = studio.ws.tmp / "two.gif"
    gif.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(frames[0]).save(gif, save_all=True, append_images=[Image.fromarray(frames[1])],
                                    duration=100)
    clip = studio.ws.tmp / "two.mp4"
    io.write_video(np.stack(frames * 3), clip, fps=12.0)
    assert Studio.animate_frame(str(gif), io.read_video(gif)[0])[1].startswith("frame 1 of 2")
    assert Studio.animate_frame(str(clip), io.read_video(clip)[0])[1] == "frame 6 of 6 (a video's last)"
    [anim] = ok(studio.animate(str(gif), "a ball", seconds=1, seed=2))
    assert anim.settings["inputs"]["source_frame"].startswith("frame 1 of 2")
    broken = studio.ws.tmp / "holiday.mp4"
    broken.write_bytes(clip.read_bytes()[:300])           # a bad upload: named, not the server's path
    with pytest.raises(io.MediaError) as e:
        studio.extend(str(broken), "a ball", seconds=1)
    assert str(e.value).startswith("holiday.mp4:") and str(studio.ws.tmp) not in str(e.value)


def test_an_uploads_sound_stays_under_its_frames(studio):
    from sound import loudness, with_tone
    plain = studio.ws.tmp / "plain.mp4"
    plain.parent.mkdir(parents=True, exist_ok=True)
    io.write_video(np.full((13, 36, 64, 3), 90, np.uint8), plain, fps=12.0)
    voiced = with_tone(plain, studio.ws.tmp / "voiced.mp4", 13 / 12)
    [longer] = ok(studio.extend(str(voiced), "a ball", direction="backward", seconds=1, seed=1))
    assert longer.settings["inputs"]["video"]["audio"].startswith("kept, from 1.000 s")
    assert np.flatnonzero(loudness(longer.file) > 1000)[0] / 8000 == pytest.approx(1.0, abs=0.06)
    [again] = ok(studio.restyle(longer.id, "a ball", strength=0.3, seed=1))   # and on through the library
    assert io.source_info(again.file)["audio"]
    assert again.settings["inputs"]["video"]["audio"].startswith("kept, from 0.000 s")


def test_storyboard_is_one_continuous_clip(studio):
    [board] = ok(studio.storyboard([Card("a red ball", 1.0), Card("", 5), Card("a red ball moves left", 1.0)],
                                   seed=3))
    assert board.operation == "storyboard" and len(board.settings["cards"]) == 2
    assert board.seconds > 1.5


def test_cancel_running_and_queued_saves_nothing(studio):
    before = len(studio.library)
    running = studio.draft("a red ball", seconds=1, seed=1, steps=400)
    queued = studio.draft("a blue ball", seconds=1, seed=1)
    while running.step < 1 and not running.done:
        running.wait(0.1)
    assert studio.worker.position(queued) == 1                     # one job at a time
    assert studio.worker.cancel(queued.id) and studio.worker.cancel(running.id)
    finish(running), finish(queued)
    assert running.status == queued.status == "cancelled"
    assert running.step < 400 and "nothing was saved" in running.error
    assert len(studio.library) == before
    assert not [p for p in studio.ws.media.iterdir() if p.name.startswith(".")]   # no temp files


def test_errors_are_readable_and_ids_are_checked(studio, tmp_path):
    with pytest.raises(ValueError, match="empty"):
        studio.draft("   ")
    with pytest.raises(ValueError, match="not a library clip id"):
        studio.render("../../etc/passwd")
    with pytest.raises(ValueError, match="not in the library"):
        studio.render("0123456789ab")
    outside = tmp_path / "x.mp4"
    io.write_video(np.zeros((5, 16, 16, 3), np.uint8), outside, fps=12)
    with pytest.raises(ValueError, match="only library clips"):
        studio.restyle(str(outside), "a ball")
    for name in ("../x", "..", ".hidden", "a/b", "media_evil/../../x", "%2e%2e"):
        with pytest.raises(ValueError):
            studio.ws.inside("media", name)
    job = ok_or_fail(studio.draft("a red ball", seconds=60, seed=1))
    assert job.status == "failed" and "frames" in job.error and "Traceback" not in job.error


def ok_or_fail(job):
    return finish(job)


def test_library_survives_restart_and_second_instance_is_refused(tmp_path, tiny_engine):
    config = StudioConfig(workspace=tmp_path / "ws", preload=False)
    first = Studio(config, engine_factory=lambda: tiny_engine)
    try:
        [clip] = ok(first.draft("a red ball", seconds=1, seed=1))
        with pytest.raises(WorkspaceBusy):
            Studio(config, engine_factory=lambda: tiny_engine)
    finally:
        first.close()
    again = Studio(config, engine_factory=lambda: tiny_engine)
    try:
        assert [e.id for e in again.library.entries()] == [clip.id]
        again.library.delete(clip.id)
        assert len(again.library) == 0 and not clip.file.exists() and not clip.thumb.exists()
    finally:
        again.close()


def test_every_shipped_style_is_understood_and_camera_styles_name_their_move():
    from engine.world import parse
    from studio.styles import SHIPPED, with_style
    for name, text in SHIPPED.items():
        named, unknown = parse(with_style("a red ball", text))
        assert unknown == (), (name, unknown)
    moves = {"Pan left": "pan_left", "Pan right": "pan_right", "Zoom in": "zoom_in", "Zoom out": "zoom_out"}
    for name, move in moves.items():
        assert parse(with_style("a red ball rolls right", SHIPPED[name]))[0]["camera"] == move
