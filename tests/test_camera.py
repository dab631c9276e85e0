import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from engine import camera
from engine import operations as ops
from engine.checkpoint import ModelCard
from engine.world.scene import ZOOM_MAX


def still(width=80, height=24, seed=0):
    return np.random.default_rng(seed).integers(0, 255, (height, width, 3), dtype=np.uint8)


def test_a_pan_starts_and_ends_on_the_stills_edges():
    s = still()
    right = camera.move_frames(s, "pan_right", 64, 24, 9)
    assert np.array_equal(right[0], s[:, :64]) and np.array_equal(right[-1], s[:, 16:])
    left = camera.move_frames(s, "pan_left", 64, 24, 9)
    assert np.array_equal(left[0], s[:, 16:]) and np.array_equal(left[-1], s[:, :64])


def test_a_move_over_a_changing_scene_takes_each_frame_from_its_own_still():
    stills = np.stack([still(seed=k) for k in range(9)])
    frames = camera.move_frames(stills, "pan_right", 64, 24, 9)
    assert np.array_equal(frames[0], stills[0][:, :64]) and np.array_equal(frames[-1], stills[-1][:, 16:])
    with pytest.raises(ValueError, match="9 stills for a move of 5 frames"):
        camera.move_frames(stills, "pan_right", 64, 24, 5)


def test_a_cover_goes_where_the_stills_pixels_go():
    for move, (ws, hs) in (("pan_right", (80, 24)), ("zoom_out", (88, 34))):
        cover = np.zeros((9, hs, ws), np.float32)
        cover[:, 8:12, 30:40] = 1.0                                 # a thing in each frame's still
        drawn = np.zeros((9, hs, ws, 3), np.uint8)
        drawn[cover > 0] = 255                                      # the same thing drawn white
        seen = camera.move_cover(cover, move, 64, 24)
        assert seen.shape == (9, 24, 64) and seen.dtype == np.float32 and seen.max() > 0.99
        frames = camera.move_frames(drawn, move, 64, 24, 9)[..., 0] / 255.0
        assert np.abs(seen - frames).max() < 0.01                    # it goes where the still's pixels go
    assert camera.move_cover(np.ones((9, 40, 100), np.float32), "zoom_out", 64, 24).min() > 0.99
    with pytest.raises(ValueError, match="at least 2 frames"):
        camera.move_cover(np.ones((1, 24, 80), np.float32), "pan_right", 64, 24)


def test_a_pan_moves_content_at_constant_speed_the_way_it_says():
    s = np.zeros((16, 96, 3), np.uint8)
    s[:, 40:42] = 255                                     # a bright bar in the middle of the still
    frames = camera.move_frames(s, "pan_right", 64, 16, 17)
    xs = [float((f[8, :, 0].astype(float) * np.arange(64)).sum() / f[8, :, 0].sum()) for f in frames]
    steps = np.diff(xs)
    assert (steps < 0).all()                              # panning right moves content left
    assert np.allclose(steps, -2.0, atol=0.05)            # 32 pixels over 16 frame steps


def test_zooms_scale_about_the_centre_and_start_on_the_still():
    s = np.zeros((40, 64, 3), np.uint8)
    s[16:24, 28:36] = 255                                  # a square on the centre
    zin = camera.move_frames(s, "zoom_in", 64, 40, 5)
    assert np.array_equal(zin[0], s)
    areas = [float(f[..., 0].sum()) / 255 for f in zin]  # the square's brightness, summed
    assert all(a < b for a, b in zip(areas, areas[1:]))   # the square grows
    assert areas[-1] == pytest.approx(64 * ZOOM_MAX ** 2, rel=0.05)
    ys, xs = np.mgrid[0:40, 0:64]
    for f in zin:                                          # ... about the centre, which stays put
        weight = f[..., 0].astype(float)
        assert (weight * xs).sum() / weight.sum() == pytest.approx(31.5, abs=0.3)
        assert (weight * ys).sum() / weight.sum() == pytest.approx(19.5, abs=0.3)
    w, h = camera.still_size("zoom_out", 64, 40, 2.0, 8)
    big = np.zeros((h, w, 3), np.uint8)
    big[h // 2 - 4:h // 2 + 4, w // 2 - 4:w // 2 + 4] = 255
    zout = camera.move_frames(big, "zoom_out", 64, 40, 5)
    areas = [float(f[..., 0].sum()) / 255 for f in zout]
    assert all(a > b for a, b in zip(areas, areas[1:]))   # the square shrinks
    assert areas[-1] == pytest.approx(64 / ZOOM_MAX ** 2, rel=0.05)


@pytest.mark.parametrize("move", camera.MOVES)
def test_every_move_starts_on_the_still_at_its_placement(move):
    w, h = camera.still_size(move, 64, 40, 2.0, 8)
    s = still(w, h)
    x, y = camera.placement(move, 64, 40, w, h)
    assert np.array_equal(camera.move_frames(s, move, 64, 40, 3)[0], s[y:y + 40, x:x + 64])


def test_a_pans_still_is_wider_by_its_travel_on_the_grid():
    assert camera.still_size("pan_left", 256, 144, 2.0, 16) == (256 + 64, 144)   # 0.25 of 256
    assert camera.still_size("pan_right", 256, 144, 8.0, 16) == (256 + 96, 144)  # capped travel
    assert camera.still_size("zoom_in", 256, 144, 2.0, 16) == (256, 144)
    assert camera.still_size("zoom_out", 256, 144, 2.0, 16) == (352, 208)      # 1.35x, on the grid
    assert camera.pan_pixels(2.0, 128) == 32 and camera.pan_pixels(8.0, 100) == 35


@pytest.mark.parametrize("move", camera.MOVES)
@pytest.mark.parametrize("size,multiple", [((256, 144), 16), ((128, 64), 16), ((48, 32), 2), ((90, 50), 10)])
def test_the_first_frame_sits_on_the_grid_in_every_still(move, size, multiple):
    w, h = camera.still_size(move, *size, 2.0, multiple)
    x, y = camera.placement(move, *size, w, h)
    assert x % multiple == 0 and y % multiple == 0 and (w - size[0]) % multiple == 0
    if move == "zoom_out":
        assert w >= size[0] * ZOOM_MAX and h >= size[1] * ZOOM_MAX


def test_a_pan_slides_as_far_as_it_is_told_at_the_worlds_pace():
    s = still(100, 24)
    frames = camera.move_frames(s, "pan_left", 64, 24, 5, travel=16)
    assert np.array_equal(frames[0], s[:, 36:]) and np.array_equal(frames[-1], s[:, 20:84])
    with pytest.raises(ValueError, match="does not fit"):
        camera.move_frames(s, "pan_left", 64, 24, 5, travel=40)
    with pytest.raises(ValueError, match="unknown camera move"):
        camera.still_size("static", 256, 144, 2.0, 16)
    with pytest.raises(ValueError, match="smaller than the frame"):
        camera.move_frames(still(60), "pan_left", 64, 24, 5)


def test_camera_plan_knows_the_first_frame_exactly_and_the_move_partly():
    z = torch.randn(3, 4, 2, 3)
    px = np.zeros((13, 8, 12, 3), np.uint8)
    e = ops.camera_edit(z, px, 0.8, 4)
    assert e.plan.mask.tolist() == pytest.approx([1.0, 0.8, 0.8, 0.8])
    assert torch.equal(e.plan.known, z) and not e.keep.any()   # every frame is the model's
    for bad in (0.0, 1.0):
        with pytest.raises(ValueError, match="hold"):
            ops.camera_edit(z, px, bad, 4)


def test_the_card_refuses_a_camera_hold_out_of_range():
    assert ModelCard.from_dict({"camera_hold": 0.85}).camera_hold == 0.85
    with pytest.raises(ValueError, match="camera_hold"):
        ModelCard.from_dict({"camera_hold": 1.0})


def test_engine_makes_a_named_move_as_a_plan(tiny_engine, monkeypatch):
    seen = []
    run = tiny_engine.run
    monkeypatch.setattr(tiny_engine, "run", lambda req, plan, **k: seen.append((req, plan)) or run(req, plan, **k))
    bar = []
    options = dict(seconds=1.0, aspect="16:9", seed=3, steps=4)
    [r] = tiny_engine.generate("a red ball on grass, the camera pans left", camera_hold=0.75,
                               progress=lambda p: bar.append((p.step, p.total)), **options)
    (first_req, first), (still_req, outpaint), (clip_req, edit) = seen
    width = r.request.width
    assert first.shape[1] == outpaint.shape[1] == 1 and still_req.seed == 3   # one frame each, with
    assert first_req.num_frames == still_req.num_frames == clip_req.num_frames  # the clip's caption
    assert first_req.width == width and still_req.width > width       # the frame, then the wider still
    f = tiny_engine.vae.cfg.spatial_factor
    region = outpaint.region[0]                                       # the frame known at the right end
    assert region[:, -(width // f):].all() and not region[:, :-(width // f)].any()
    assert r.notes["camera"] == {"move": "pan_left", "hold": 0.75, "still": [still_req.width, r.request.height]}
    assert edit.plan.mask[0] == 1.0 and float(edit.plan.mask[1:].max()) == 0.75
    assert r.frames.shape == (clip_req.num_frames, r.request.height, width, 3)
    steps = [s for s, _ in bar]
    assert steps == sorted(steps) and bar[-1][0] == bar[-1][1] and bar[-1][1] > 4  # one bar, both runs
    json.dumps(r.record())                                     # the record says how it was made
    [again] = tiny_engine.generate("a red ball on grass, the camera pans left", camera_hold=0.75, **options)
    assert np.array_equal(again.frames, r.frames)


def test_engine_leaves_unnamed_or_switched_off_moves_to_the_model(tiny_engine):
    options = dict(seconds=1.0, aspect="16:9", seed=3, steps=2)
    off = tiny_engine.generate("a red ball, the camera zooms in", camera_hold=0.0, **options)[0]
    unnamed = tiny_engine.generate("a red ball on grass", camera_hold=0.75, **options)[0]
    assert "camera" not in off.notes and "camera" not in unnamed.notes
    card = replace(tiny_engine.card, camera_hold=0.6)
    tiny_engine.card, saved = card, tiny_engine.card
    try:
        named = tiny_engine.generate("a red ball, the camera zooms in", **options)[0]
    finally:
        tiny_engine.card = saved
    assert named.notes["camera"]["hold"] == 0.6 and named.notes["camera"]["move"] == "zoom_in"
    with pytest.raises(ValueError, match="camera_hold"):
        tiny_engine.generate("a red ball", camera_hold=1.0, **options)


def test_cli_generate_and_animate_take_a_camera_hold(tiny_checkpoint, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    from engine import io

    def cli(command, *args):
        return subprocess.run([sys.executable, "-m", "engine", command, "--seconds", "1", "--steps", "2",
                               "--checkpoint", str(tiny_checkpoint), "--device", "cpu", "--json", *args],
                              cwd=Path(__file__).resolve().parent.parent, capture_output=True, text=True,
                              timeout=300)
    ok = cli("generate", "--prompt", "a blue box as the camera pans right", "--camera-hold", "0.7",
             "--out", str(tmp_path / "pan.mp4"))
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["inputs"]["camera"]["move"] == "pan_right"
    bad = cli("generate", "--prompt", "a blue box", "--camera-hold", "1.5", "--out", str(tmp_path / "bad.mp4"))
    assert bad.returncode == 2 and "camera_hold" in json.loads(bad.stdout)["error"]
    assert not (tmp_path / "bad.mp4").exists()
    io.write_image(still(70, 40), tmp_path / "still.png")
    zoom = cli("animate", "--image", str(tmp_path / "still.png"), "--prompt", "the camera zooms out",
               "--camera-hold", "0.6", "--out", str(tmp_path / "zoom.mp4"))
    assert zoom.returncode == 0, zoom.stderr
    record = json.loads(zoom.stdout)
    assert record["inputs"]["camera"]["move"] == "zoom_out" and record["inputs"]["image"]["from_size"] == [70, 40]


def test_a_drafts_camera_move_is_rendered_on_the_camera_road(tiny_engine):
    prompt = "a red ball on grass, the camera zooms out"
    [draft] = tiny_engine.generate(prompt, seconds=1.0, aspect="16:9", draft=True, seed=4, steps=2,
                                   camera_hold=0.75)
    assert draft.notes["camera"]["move"] == "zoom_out"
    bar = []
    full = tiny_engine.render(draft.frames, draft.record(), strength=0.5, steps=3,
                              progress=lambda p: bar.append((p.step, p.total)))
    want = tiny_engine.resolve("generate", prompt, aspect="16:9")
    assert full.frames.shape[1:3] == (want.height, want.width) and len(full.frames) == len(draft.frames)
    assert full.notes["camera"]["move"] == "zoom_out" and full.notes["draft"]["strength"] == 0.5
    assert full.request.operation == "render" and bar[-1][0] == bar[-1][1]
    assert [s for s, _ in bar] == sorted(s for s, _ in bar)


def test_stills_of_a_scene_that_needs_time_have_the_clips_caption(tiny_engine):
    """An object passing behind another needs a clip's time: a camera move's still and an image
    are captioned as a moment of the clip (a one-frame caption used to be refused)."""
    prompt = "a red ball passes behind a blue box on grass. The camera pans left."
    options = dict(aspect="16:9", seed=1, steps=2)
    [r] = tiny_engine.generate(prompt, seconds=2.0, camera_hold=0.7, **options)
    assert r.notes["camera"]["move"] == "pan_left" and "passes behind" in r.caption
    image = tiny_engine.image(prompt, **options)
    assert image.frames.shape[0] == 1 and "passes behind" in image.caption
