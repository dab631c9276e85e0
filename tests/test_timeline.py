"""engine/timeline.py: layout arithmetic, project JSON, and a real moviepy export's duration."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine import io, timeline
from engine.timeline import Project, TimelineClip
from sound import loudness, with_tone


def _project(*clips, **kw):
    return Project("p", tuple(clips), **kw)


def test_hard_cuts_add_and_crossfades_overlap():
    lengths = {"a": 2.0, "b": 3.0, "c": 1.0}
    cuts = _project(TimelineClip("a"), TimelineClip("b"), TimelineClip("c"))
    assert timeline.layout(cuts, lengths).duration == pytest.approx(6.0)
    faded = cuts.update(0, cut="crossfade", cut_s=0.5).update(1, cut="crossfade", cut_s=0.25)
    lay = timeline.layout(faded, lengths)
    assert lay.duration == pytest.approx(6.0 - 0.75)
    assert lay.segments[1].start == pytest.approx(1.5) and lay.segments[1].fade_in == 0.5


def test_trims_and_blend_segments():
    lengths = {"a": 4.0, "b": 4.0}
    p = _project(TimelineClip("a", in_s=1.0, out_s=3.0, cut="blend", cut_s=1.0), TimelineClip("b", out_s=9.0))
    lay = timeline.layout(p, lengths, {0: 1.25})
    assert [s.source for s in lay.segments] == ["a", "blend:0", "b"]
    assert lay.duration == pytest.approx(2.0 + 1.25 + 4.0)   # out past the end is clamped


def test_last_clip_transition_is_ignored_and_bad_values_refused():
    p = _project(TimelineClip("a", cut="crossfade", cut_s=1.0))
    assert timeline.layout(p, {"a": 2.0}).duration == pytest.approx(2.0)
    with pytest.raises(ValueError, match="out point"):
        TimelineClip("a", in_s=2.0, out_s=1.0)
    with pytest.raises(ValueError, match="transition"):
        TimelineClip("a", cut="wipe")
    with pytest.raises(ValueError, match="empty"):
        timeline.layout(_project(), {})
    with pytest.raises(ValueError, match="longer than"):
        timeline.layout(_project(TimelineClip("a", cut="crossfade", cut_s=3.0), TimelineClip("b")),
                        {"a": 2.0, "b": 2.0})
    with pytest.raises(ValueError, match="even"):
        Project("p", width=511)
    with pytest.raises(ValueError, match="less than one frame at 12 fps"):
        timeline.layout(_project(TimelineClip("a", in_s=1.0, out_s=1.05)), {"a": 2.0})


def test_edits_are_pure_and_reorder():
    p = _project(TimelineClip("a"), TimelineClip("b"), TimelineClip("c"))
    moved = p.move(2, -5)
    assert [c.clip_id for c in moved.clips] == ["c", "a", "b"]
    assert [c.clip_id for c in p.clips] == ["a", "b", "c"]
    assert [c.clip_id for c in p.remove(1).clips] == ["a", "c"]
    with pytest.raises(ValueError, match="no clip 9"):
        p.remove(8)


def test_project_json_round_trip_and_unknown_keys(tmp_path):
    p = _project(TimelineClip("a", 0.5, 1.5, "crossfade", 0.25), TimelineClip("b"), fps=24)
    path = timeline.save(p, tmp_path / "p.json")
    assert timeline.load(path) == p
    data = json.loads(path.read_text())
    data["clips"][0]["speed"] = 2
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="unknown keys"):
        timeline.load(path)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="cannot read"):
        timeline.load(tmp_path / "bad.json")
    assert not list(tmp_path.glob(".*tmp*"))


@pytest.mark.parametrize("clip, project, message", [
    ({"in_s": "abc"}, {}, "in point must be a number, got 'abc'"),
    ({"out_s": float("inf")}, {}, "out point must be a number"),
    ({"cut_s": True}, {}, "transition length must be a number"),
    ({}, {"fps": "NaN"}, "export fps must be a number"),
    ({}, {"width": 512.5}, "export width must be a whole number"),
])
def test_hand_edited_project_values_get_a_clear_message(clip, project, message):
    with pytest.raises(ValueError, match=message):
        timeline.from_dict({"name": "p", "clips": [{"clip_id": "a", **clip}], **project})


@pytest.mark.parametrize("data, message", [
    ({"clips": []}, "needs a name"), ({"name": "p", "clips": 5}, "must be a list"),
    ({"name": "p", "clips": [{"in_s": 1}]}, "has no clip_id")])
def test_hand_edited_project_shapes_get_a_clear_message(data, message):
    with pytest.raises(ValueError, match=message):
        timeline.from_dict(data)


def test_module_imports_without_torch():
    code = "import sys, engine.timeline; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=str(Path(__file__).parent.parent))


def test_export_has_expected_duration_size_and_codec(tmp_path):
    rng = np.random.default_rng(0)
    files = {}
    for name, n, w in (("a", 24, 64), ("b", 12, 48)):        # 2 s and 1 s at 12 fps, other sizes
        frames = rng.integers(0, 255, (n, 32, w, 3), dtype=np.uint8)
        files[name] = io.write_video(frames, tmp_path / f"{name}.mp4", fps=12)
    lengths = {k: io.probe_video(v).duration_s for k, v in files.items()}
    p = _project(TimelineClip("a", cut="crossfade", cut_s=0.5), TimelineClip("b"),
                 fps=12, width=64, height=32)
    out = timeline.export(p, tmp_path / "out.mp4", files.__getitem__, lengths)
    info = io.probe_video(out)
    assert (info.width, info.height, info.codec, info.pix_fmt) == (64, 32, "h264", "yuv420p")
    assert info.duration_s == pytest.approx(2.5, abs=1.01 / 12)
    assert not io.source_info(out)["audio"]                          # silent clips: no sound track
    files = {k: with_tone(v, tmp_path / f"{k}_voiced.mp4", 3) for k, v in files.items()}   # both with sound
    out = timeline.export(p, tmp_path / "out2.mp4", files.__getitem__, lengths)
    sound = loudness(out)
    assert io.probe_video(out).duration_s == pytest.approx(2.5, abs=1.01 / 12)
    cross, alone = sound[int(1.5 * 8000):int(2.0 * 8000)], sound[int(0.2 * 8000):int(1.4 * 8000)]
    assert cross.max() <= 1.15 * alone.max()           # one sound fades out as the other fades in
    files["a"] = tmp_path / "a.mp4"                    # a silent, b with sound: b plays from 1.5 s
    out = timeline.export(p, tmp_path / "out3.mp4", files.__getitem__, lengths)
    sound = loudness(out)
    assert 1.45 <= np.flatnonzero(sound > 100)[0] / 8000 < 1.75   # b starts at 1.5 s, fading in
