"""Motion continuation (engine/continuation.py): the motion at a clip's edge, read from its pixels
and laid on past it; and the extension's plan that refines it (operations.continue_edit)."""
import cv2
import numpy as np
import pytest
import torch

from engine import continuation as cont
from engine import operations as ops

H, W = 72, 128


def texture(seed=0, width=W + 120, height=H + 40):
    """A smooth random picture (height, width, 3) uint8 with detail at several scales."""
    rng = np.random.default_rng(seed)
    out = np.zeros((height, width, 3), np.float32)
    for sigma in (1.5, 4, 10):
        out += cv2.GaussianBlur(rng.normal(0, 60, (height, width, 3)).astype(np.float32), (0, 0), sigma) * sigma ** 0.5
    return np.clip(128 + out, 0, 255).astype(np.uint8)


def panning(frames=13, speed=2, seed=0):
    """A window sliding right over a picture by `speed` pixels a frame (content moves left)."""
    pic = texture(seed)
    return np.stack([pic[20:20 + H, 10 + k * speed:10 + k * speed + W] for k in range(frames)])


def square_moving(frames=13, speed=(3, 0), start=(20, 28), side=14, seed=0):
    """A still picture with a flat red square crossing it at `speed` (x, y) pixels a frame."""
    pic = texture(seed)[:H, :W]
    out = np.repeat(pic[None], frames, axis=0)
    for k in range(frames):
        x, y = start[0] + k * speed[0], start[1] + k * speed[1]
        out[k, y:y + side, x:x + side] = (230, 30, 40)
    return out


def test_a_pan_is_read_as_the_camera():
    motion = cont.estimate(panning(speed=2))
    assert motion.shift[0] == pytest.approx(-2.0, abs=0.25) and abs(motion.shift[1]) < 0.25
    assert abs(motion.zoom) < 0.003 and not motion.movers and motion.moves


def test_a_still_clip_does_not_move():
    clip = np.repeat(texture()[None, :H, :W], 9, axis=0)
    motion = cont.estimate(clip)
    assert not motion.moves and motion.note(W, H, 12.0)["movers"] == []
    assert not cont.estimate(clip[:1]).moves                    # one frame: nothing to read


def test_a_mover_is_found_with_its_speed_and_its_own_pixels():
    clip = square_moving(speed=(3, 0))
    motion = cont.estimate(clip)
    assert not motion.camera_moves and len(motion.movers) == 1
    mover = motion.movers[0]
    assert mover.velocity[0] == pytest.approx(3.0, abs=0.6) and abs(mover.velocity[1]) < 0.6
    truth = np.zeros((H, W), bool)
    truth[28:42, 20 + 12 * 3:20 + 12 * 3 + 14] = True
    assert (mover.mask & truth).sum() / (mover.mask | truth).sum() > 0.6
    # what lies behind it is the picture, not the square
    assert np.abs(motion.behind[truth].astype(int) - clip[0][truth].astype(int)).mean() < 10


def test_continue_frames_carry_the_mover_on_and_stop_it_at_the_edge():
    clip = square_moving(speed=(3, 0))
    guide, cover, motion = cont.continue_clip(clip, 40)
    assert guide.shape == (40, H, W, 3) and cover.shape == (40, H, W)
    xs = [np.nonzero(c > 0.5)[1].mean() for c in cover]
    assert xs[1] - xs[0] == pytest.approx(motion.movers[0].velocity[0], abs=0.2)   # its speed
    assert np.all(np.diff(xs) >= -1e-6) and np.nonzero(cover[-1] > 0.5)[1].max() <= W - 1
    assert np.diff(xs)[-5:].max() < 1e-6                     # at the frame's right edge, it stopped
    red = (guide[..., 0] > 200) & (guide[..., 1] < 80)
    assert red[0].sum() > 0.8 * 14 * 14                      # the square itself, not a smear


def test_a_continued_pan_goes_on_at_its_speed():
    clip = panning(frames=13, speed=2)
    guide, cover, motion = cont.continue_clip(clip, 4)
    assert not cover.any()
    truth = panning(frames=17, speed=2)[13:]                 # the window, slid on
    inner = (slice(8, -8), slice(16, -16))                   # away from the revealed edge
    assert np.abs(guide[1][inner].astype(int) - truth[1][inner].astype(int)).mean() < 6


def test_backward_continues_the_clip_into_its_past():
    clip = square_moving(speed=(3, 0), start=(50, 28))
    guide, cover, _ = cont.continue_clip(clip, 6, "backward")
    xs = [np.nonzero(c > 0.5)[1].mean() for c in cover]
    assert np.all(np.diff(xs) > 2)                           # playing order: moving right into the clip
    assert xs[-1] < np.nonzero(clip[0, ..., 0] > 200)[1].mean()
    with pytest.raises(ValueError, match="direction"):
        cont.continue_clip(clip, 6, "sideways")


def test_continue_edit_knows_the_clip_and_holds_the_guide():
    T = ops.pixel_frames(5, 4)
    pixels = np.random.default_rng(0).integers(0, 255, (T, 8, 12, 3), dtype=np.uint8)
    latent = torch.randn(3, 5, 2, 3)
    keep = np.zeros(T, bool)
    keep[:9] = True                                           # the clip: latent frames 0..2
    cover = np.zeros((T, 8, 12), np.float32)
    cover[9:, :4, :4] = 1.0
    e = ops.continue_edit(latent, pixels, keep, 4, hold=0.6, hold_decay=0.5, cover=cover, object_hold=1.0)
    assert e.plan.mask.tolist() == pytest.approx([1, 1, 1, 0.6, 0.3])
    assert torch.equal(e.plan.known, latent) and np.array_equal(e.keep, keep)
    assert e.plan.region[3:, 0, 0].tolist() == [1, 1] and float(e.plan.region[:3].sum()) == 0
    back = np.zeros(T, bool)
    back[T - 9:] = True                                       # backward: the clip at the end
    b = ops.continue_edit(latent, pixels, back, 4, hold=0.6, hold_decay=0.5)
    # the clip's first frame ends latent frame 2, whose other frames are new: it is generated
    assert b.plan.mask.tolist() == pytest.approx([0.15, 0.3, 0.6, 1, 1])
    assert b.plan.region is None
    with pytest.raises(ValueError, match="hold"):
        ops.continue_edit(latent, pixels, keep, 4, hold=1.0)
    with pytest.raises(ValueError, match="keep"):
        ops.continue_edit(latent, pixels, np.ones(T, bool), 4, hold=0.6)


@pytest.mark.parametrize("direction", ["forward", "backward"])
def test_engine_extend_carries_a_moving_clip_on_and_keeps_it(tiny_engine, direction):
    frames = square_moving(frames=13, speed=(4, 0), start=(30, 28), side=18)
    r = tiny_engine.extend(frames, 12.0, "a red box", direction=direction, seconds=0.5, seed=1)
    read = r.notes["continuation"]
    assert read["moves"] and len(read["movers"]) == 1 and read["movers"][0]["velocity"][0] > 0
    assert r.notes["hold"] == [ops.CONTINUE_HOLD, ops.CONTINUE_HOLD_DECAY]
    settings = tiny_engine._settings("x", fps=None, draft=False, seed=None, steps=None, guidance=None,
                                     sampler="euler")
    conformed, _ = tiny_engine._conform(frames, 12.0, settings, whole=True)
    original = r.frames[:13] if direction == "forward" else r.frames[-13:]
    assert np.array_equal(original, conformed)
    plain = tiny_engine.extend(frames, 12.0, "a red box", direction=direction, seconds=0.5, seed=1,
                               continue_motion=False)
    assert plain.notes["continuation"] is None and len(plain.frames) == len(r.frames)
    assert not np.array_equal(plain.frames, r.frames)


def test_what_lies_behind_a_slow_mover_comes_from_a_frame_it_had_left():
    """The clip's median still shows the trailing part of a square that stayed there over half
    the clip; _clear_view takes the frame far enough back that it had wholly left its place."""
    clip = square_moving(frames=25, speed=(2, 0), start=(6, 20), side=30)
    truth = np.zeros((H, W), bool)
    truth[20:50, 54:84] = True                               # the square in the last frame
    median = cont.background(clip, cont.Motion())
    assert (np.abs(median[truth].astype(int) - clip[-1][truth].astype(int)).max(axis=1) < 5).mean() > 0.15
    leading = truth.copy()
    leading[:, :70] = False                                  # the part the median does not hold
    region = np.zeros((H, W), bool)
    region[18:52, 50:86] = True                              # where flow found it moving
    whole, view = cont._clear_view(clip, region, leading, (2.0, 0.0), cont.Motion())
    assert (whole & truth).sum() / (whole | truth).sum() > 0.9
    picture = texture()[:H, :W]
    assert np.abs(view[truth].astype(int) - picture[truth].astype(int)).mean() < 3
    short = clip[-8:]                                        # too short to have left it: inpainted
    kept, filled = cont._clear_view(short, region, leading, (2.0, 0.0), cont.Motion())
    hole = cont._hole(leading)
    assert np.array_equal(kept, leading) and np.array_equal(filled[~hole], short[-1][~hole])
    assert not np.array_equal(filled[hole], short[-1][hole])


def test_an_object_shrinking_under_a_zoom_is_not_read_as_a_sliding_fragment():
    """A still box under a zoom-out over a plain studio (the world's own clip, bench seed 11): the
    camera cannot be read from the flat wall, and the box, which covers its own last place all
    clip long, was read as a fragment of itself (a fifth of it) sliding up-left. Its move explains
    little of the change around it, so it is no mover, and the extension holds."""
    from engine.world import render_with_masks
    from engine.world.scene import ObjectSpec, Scene
    box = ObjectSpec(shape="box", colour="white", motion="still", speed="slowly", x=0.8023, y=0.6071,
                     size=0.0883, depth=0.2886)
    scene = Scene(background="studio", objects=(box,), camera="zoom_out", duration_s=2.0, seed=1841477173)
    frames, _ = render_with_masks(scene, 256, 144, 25, 12.0)
    motion = cont.estimate(frames)
    assert not motion.movers and not motion.moves
    # a box that truly slides is still a mover (its move explains the change around it)
    moving = cont.estimate(square_moving(frames=13, speed=(0, 2), start=(50, 6)))
    assert len(moving.movers) == 1 and moving.movers[0].velocity[1] == pytest.approx(2.0, abs=0.5)


def test_a_still_edge_is_continued_as_a_still_guide(tiny_engine, monkeypatch):
    """Nothing moves at the edge: the guide is the edge frame held still, every new latent frame
    known at CONTINUE_HOLD (not the plain hold's decay), with the VAE's lost detail put back."""
    clip = np.repeat(texture()[None, :H, :W], 13, axis=0)
    edit, read = tiny_engine._continue_edit(clip, 2, "forward", None, 12.0)
    assert not read["moves"] and edit is not None
    tf = tiny_engine.vae.cfg.temporal_factor
    t_clip = 1 + (len(clip) - 1) // tf
    assert torch.all(edit.plan.mask[:t_clip] == 1.0) and len(edit.plan.mask) == t_clip + 2
    assert torch.allclose(edit.plan.mask[t_clip:], torch.tensor(ops.CONTINUE_HOLD))
    assert np.array_equal(edit.pixels[len(clip):], np.repeat(clip[-1:], 2 * tf, axis=0))
    assert edit.detail == ops.MOTION_DETAIL and edit.plan.region is None
    r = tiny_engine.extend(clip, 12.0, "a field", seconds=0.5, seed=1)
    assert r.notes["hold"] == [ops.CONTINUE_HOLD, ops.CONTINUE_HOLD_DECAY]
    monkeypatch.setattr(ops, "CONTINUE_STILL", False)       # the plain hold, as before
    assert tiny_engine._continue_edit(clip, 2, "forward", None, 12.0)[0] is None
    plain = tiny_engine.extend(clip, 12.0, "a field", seconds=0.5, seed=1)
    assert plain.notes["hold"] == [ops.EXTEND_HOLD, ops.EXTEND_HOLD_DECAY]
