import numpy as np
import pytest
import torch

from engine import operations as ops
from engine.edits import _opts
from engine.sampler import schedule

F = 4  # temporal factor of the plans below


def clip(num_latent, C=3, h=2, w=3, H=4, W=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    T = ops.pixel_frames(num_latent, F)
    pixels = np.random.default_rng(seed).integers(0, 255, (T, H, W, 3), dtype=np.uint8)
    return torch.randn(C, num_latent, h, w, generator=g), pixels


def test_animate_knows_only_the_first_latent_frame():
    z, px = clip(1)
    e = ops.animate_edit(z, px[0], num_latent=4, f=F)
    assert e.plan.mask.tolist() == [1, 0, 0, 0] and torch.equal(e.plan.known[:, 0], z[:, 0])
    assert e.keep.tolist() == [True] + [False] * 12 and np.array_equal(e.pixels[0], px[0])


def test_extend_forward_keeps_the_clip_at_the_start():
    z, px = clip(3)
    e = ops.extend_edit(z, px, new_latent=2, f=F, direction="forward")
    assert e.plan.mask.tolist() == [1, 1, 1, 0, 0] and torch.equal(e.plan.known[:, :3], z)
    assert e.keep[:9].all() and not e.keep[9:].any() and np.array_equal(e.pixels[:9], px)


def test_extend_forward_hold_starts_new_frames_from_the_last_one():
    z, px = clip(3)
    e = ops.extend_edit(z, px, new_latent=3, f=F, direction="forward", hold=0.6, hold_decay=0.5)
    assert e.plan.mask.tolist() == pytest.approx([1, 1, 1, 0.6, 0.3, 0.15])
    for i in range(3):
        torch.testing.assert_close(e.plan.known[:, 3 + i], z[:, -1])
    assert e.keep.sum() == 9  # held frames are generated material, not kept
    back = ops.extend_edit(z, px, new_latent=3, f=F, direction="backward", hold=0.6, hold_decay=0.5)
    # backward: the new frame next to the clip is held most, to the clip's first latent group
    assert back.plan.mask.tolist() == pytest.approx([0.15, 0.3, 0.6, 1, 1])
    for i in range(3):
        torch.testing.assert_close(back.plan.known[:, i], z[:, 1])
    assert back.keep.sum() == 9
    with pytest.raises(ValueError, match="hold"):
        ops.extend_edit(z, px, 1, F, "forward", hold=1.0)


def test_extend_backward_puts_the_clip_at_the_end():
    z, px = clip(3)
    e = ops.extend_edit(z, px, new_latent=2, f=F, direction="backward")
    # latent 0 of the clip (its first frame alone) is replaced by the generated lead-in
    assert e.plan.mask.tolist() == [0, 0, 1, 1] and torch.equal(e.plan.known[:, 2:], z[:, 1:])
    T = ops.pixel_frames(4, F)
    assert e.keep.tolist() == [False] * (T - 9) + [True] * 9 and np.array_equal(e.pixels[-9:], px)
    with pytest.raises(ValueError, match="direction"):
        ops.extend_edit(z, px, 1, F, "sideways")


def test_interpolate_knows_both_ends_and_generates_the_middle():
    za, pa = clip(2, seed=1)
    zb, pb = clip(3, seed=2)
    e = ops.interpolate_edit(za, pa, zb, pb, mid_latent=2, f=F)
    assert e.plan.mask.tolist() == [1, 1, 0, 0, 1, 1]
    assert torch.equal(e.plan.known[:, 4:], zb[:, 1:])
    assert np.array_equal(e.pixels[:5], pa) and np.array_equal(e.pixels[-9:], pb)
    assert e.keep.sum() == 5 + 9
    assert e.decode_phases == F         # a scene change is spread over every frame of a group
    assert not e.even_pace and ops.interpolate_edit(za, pa, zb, pb, 2, F, even_pace=True).even_pace
    assert not ops.loop_edit(za, pa, zb, pb, 2, F).even_pace     # a loop keeps its held ends' pace
    with pytest.raises(ValueError, match="one frame size"):
        ops.interpolate_edit(za, pa, zb, pb[:, :2], 2, F)


def test_loop_ends_on_a_transition_into_the_clip_start():
    z, px = clip(3)
    e = ops.loop_edit(z, px, z[:, :3], px[:9], mid_latent=2, f=F)
    T = e.keep.shape[0]
    out = np.arange(T)[e.output]
    # the clip, then the transition; its last frame stands for the clip's frame 0 and is cut, so on
    # repeat the transition flows straight into frame 0
    assert out[0] == 0 and len(out) == 9 + 2 * F - 1
    assert e.plan.mask.tolist() == [1, 1, 1, 0, 0, 1, 1]
    assert torch.equal(e.plan.known[:, -2:], z[:, 1:3])  # the clip's opening is the target
    assert e.decode_phases is None      # one scene: the card's decode
    held = ops.loop_edit(z, px, z[:, :3], px[:9], mid_latent=3, f=F, guide=0.3, hold=0.9, hold_decay=0.5)
    assert held.plan.mask.tolist() == pytest.approx([1, 1, 1, 0.9, 0.45, 0.9, 1, 1])


def test_a_guided_transition_starts_from_a_latent_crossfade():
    za, pa = clip(2, seed=1)
    zb, pb = clip(3, seed=2)
    e = ops.interpolate_edit(za, pa, zb, pb, mid_latent=3, f=F, guide=0.3)
    assert e.plan.mask.tolist() == pytest.approx([1, 1, 0.3, 0.3, 0.3, 1, 1])
    for i, s in enumerate((0.25, 0.5, 0.75)):
        torch.testing.assert_close(e.plan.known[:, 2 + i], (1 - s) * za[:, -1] + s * zb[:, 1])
    assert e.keep.sum() == 5 + 9  # the guide is generated material, not kept
    with pytest.raises(ValueError, match="guide"):
        ops.interpolate_edit(za, pa, zb, pb, 3, F, guide=1.0)


def test_a_held_transition_keeps_its_crossfade_ends_closer_than_its_middle():
    za, pa = clip(2, seed=1)
    zb, pb = clip(3, seed=2)
    e = ops.interpolate_edit(za, pa, zb, pb, mid_latent=4, f=F, guide=0.3, hold=0.9, hold_decay=0.5)
    assert e.plan.mask.tolist() == pytest.approx([1, 1, 0.9, 0.45, 0.45, 0.9, 1, 1])
    free = ops.interpolate_edit(za, pa, zb, pb, mid_latent=4, f=F, guide=0.0, hold=0.9, hold_decay=0.0)
    assert free.plan.mask.tolist() == pytest.approx([1, 1, 0.9, 0, 0, 0.9, 1, 1])
    torch.testing.assert_close(free.plan.known[:, 2], 0.8 * za[:, -1] + 0.2 * zb[:, 1])  # the crossfade
    with pytest.raises(ValueError, match="hold"):
        ops.interpolate_edit(za, pa, zb, pb, 4, F, hold=1.0)


def test_a_transition_can_be_planned_in_parts():
    za, pa = clip(2, seed=1)
    zb, pb = clip(3, seed=2)
    whole = ops.interpolate_edit(za, pa, zb, pb, mid_latent=5, f=F, guide=0.3, hold=0.9, hold_decay=0.5)
    start, end = za[:, -1], zb[:, 1]
    first = ops.crossfade_guide(start, end, range(0, 3), 5, 0.3, 0.9, 0.5)
    rest = ops.crossfade_guide(start, end, range(3, 5), 5, 0.3, 0.9, 0.5)
    torch.testing.assert_close(torch.cat([first[0], rest[0]], 1), whole.plan.known[:, 2:7])
    assert torch.cat([first[1], rest[1]]).tolist() == whole.plan.mask[2:7].tolist()
    opening = ops.transition_edit(za, pa, *first, F)                  # the window that does not reach B
    assert opening.plan.mask.tolist() == pytest.approx([1, 1, 0.9, 0.45, 0.3])
    assert opening.keep.tolist() == [True] * 5 + [False] * 3 * F and opening.decode_phases == F
    closing = ops.transition_edit(za, pa, *rest, F, zb, pb)
    assert closing.plan.mask.tolist() == pytest.approx([1, 1, 0.45, 0.9, 1, 1])
    assert np.array_equal(closing.pixels[-9:], pb) and closing.keep.sum() == 5 + 9
    with pytest.raises(ValueError, match="run of the transition"):
        ops.crossfade_guide(start, end, range(4, 6), 5)
    with pytest.raises(ValueError, match="both"):
        ops.transition_edit(za, pa, *rest, F, zb, None)



@pytest.mark.parametrize("strength", [0.0, 0.3, 1.0])
@pytest.mark.parametrize("shift", [1.0, 2.7])
def test_restyle_is_a_uniform_mask_at_the_shifted_strength(strength, shift):
    z, px = clip(3)
    e = ops.restyle_edit(z, px, strength, F, shift=shift)
    level = shift * strength / (1 + (shift - 1) * strength)      # the sampler's shifted time
    assert torch.allclose(e.plan.mask, torch.full((3,), 1 - level))
    assert e.keep.all() == (strength == 0.0)


def test_restyle_strength_is_the_fraction_of_the_schedule_run_again():
    """With the sampler's shift, strength s starts SDEdit on the shifted schedule's time at
    fraction s, so it runs s of the steps at any grid size."""
    for shift in (1.0, 1.4, 2.7):
        for strength in (0.25, 0.5, 0.75):
            level = 1 - float(ops.restyle_edit(*clip(2), strength, F, shift=shift).plan.mask[0])
            assert len(schedule(24, shift, t_start=level)) - 1 == round(24 * strength)


def test_restyle_window_knows_its_restyled_context_exactly():
    z, px = clip(4)
    e = ops.restyle_edit(z, px, 0.6, F, context_latent=2)
    assert e.plan.mask.tolist() == pytest.approx([1, 1, 0.4, 0.4])
    assert e.keep.tolist() == [True] * 5 + [False] * 8
    with pytest.raises(ValueError, match="context_latent"):
        ops.restyle_edit(z, px, 0.6, F, context_latent=4)


def test_restore_detail_returns_the_input_where_the_result_kept_it_and_nothing_where_redrawn():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (2, 16, 24, 3), dtype=np.uint8)
    reconstructed = np.clip(pixels.astype(int) // 2 + 60, 0, 255).astype(np.uint8)   # the VAE's blur
    redrawn = reconstructed.copy()
    redrawn[:, :, 12:] = 255 - redrawn[:, :, 12:]                  # the edit redrew the right half
    out = ops.restore_detail(redrawn, pixels, reconstructed, 1.0)
    assert np.abs(out[:, :, :8].astype(int) - pixels[:, :, :8]).max() <= 1       # kept: the input
    assert np.array_equal(out[:, :, 16:], redrawn[:, :, 16:])                     # redrawn: untouched
    half = ops.restore_detail(reconstructed, pixels, reconstructed, 0.5)
    assert np.abs(half.astype(int) - (pixels.astype(int) + reconstructed) / 2).max() <= 1
    assert ops.restore_detail(redrawn, pixels, reconstructed, 0.0) is redrawn
    with pytest.raises(ValueError):
        ops.restore_detail(redrawn, pixels[:1], reconstructed, 0.5)


def test_restore_detail_takes_a_weight_per_pixel():
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (2, 8, 8, 3), dtype=np.uint8)
    reconstructed = np.clip(pixels.astype(int) // 2 + 60, 0, 255).astype(np.uint8)
    weight = np.zeros((2, 8, 8), np.float32)
    weight[:, :, :4] = 1.0
    out = ops.restore_detail(reconstructed, pixels, reconstructed, weight)
    assert np.array_equal(out[:, :, :4], pixels[:, :, :4]) and np.array_equal(out[:, :, 4:], reconstructed[:, :, 4:])
    with pytest.raises(ValueError, match="do not match"):
        ops.restore_detail(reconstructed, pixels, reconstructed, weight[:1])
    for bad in (weight + 2, np.float32("nan")):
        with pytest.raises(ValueError, match=r"\[0, 1\]"):
            ops.restore_detail(reconstructed, pixels, reconstructed, bad)


def test_exact_detail_is_put_back_even_where_the_result_was_redrawn():
    rng = np.random.default_rng(2)
    pixels = rng.integers(0, 256, (2, 8, 8, 3), dtype=np.uint8)
    reconstructed = np.clip(pixels.astype(int) // 2 + 60, 0, 255).astype(np.uint8)
    redrawn = (255 - reconstructed).astype(np.uint8)                 # disagrees everywhere
    exact = np.zeros((2, 8, 8), np.float32)
    exact[:, 2:5, 2:5] = 1.0                                         # an object held exactly
    out = ops.restore_detail(redrawn, pixels, reconstructed, 1.0, exact=exact)
    want = np.clip(redrawn.astype(int) + pixels - reconstructed, 0, 255)
    assert np.abs(out[:, 2:5, 2:5].astype(int) - want[:, 2:5, 2:5]).max() <= 1    # the whole residual
    assert np.abs(out[:, 6:].astype(int) - redrawn[:, 6:]).max() <= 1               # the gate: nearly none
    assert np.array_equal(ops.restore_detail(redrawn, pixels, reconstructed, 0.0, exact=exact)[:, 2:5, 2:5],
                          out[:, 2:5, 2:5])                          # no shared weight: still put back
    for bad in (exact[:1], exact + 1):
        with pytest.raises(ValueError, match="exact"):
            ops.restore_detail(redrawn, pixels, reconstructed, 1.0, exact=bad)


def test_held_objects_cells_keep_their_detail_in_every_frame_of_their_latent_frame():
    z, px = clip(3, H=16, W=24)                              # 1 + 2F pixel frames of 16x24, 2x3 cells of 8x8
    edit = ops.restyle_edit(z, px, 0.6, F)
    cover = np.zeros(px.shape[:3], np.float32)
    cover[F + 2, 0:3, 0:3] = 1.0                            # the object in one frame of latent frame 2
    held = ops.hold_objects(edit, cover, F, 0.8, edit.detail)
    assert held.detail == edit.detail and held.held_detail.shape == px.shape[:3]
    group = slice(F + 1, 2 * F + 1)                          # every pixel frame latent frame 2 codes
    assert held.held_detail[group, :8, :8].min() == held.held_detail.max() == pytest.approx(0.8)
    assert held.held_detail[:F + 1].max() == 0 and held.held_detail[group, 8:].max() == 0
    assert ops.hold_objects(edit, None, F, 0.8, edit.detail).held_detail is None
    assert held.object_detail is None                        # the object's own pixels: only when asked
    exact = ops.hold_objects(edit, cover, F, 0.8, edit.detail, exact=True).object_detail
    assert np.allclose(exact, cover * 0.8)


def test_restyle_restores_detail_by_its_strength_and_render_does_not(tiny_engine, monkeypatch):
    z, px = clip(2)
    assert ops.restyle_edit(z, px, 0.25, F).detail == 0.75 and ops.restyle_edit(z, px, 1.0, F).detail == 0.0
    weights, restore = [], ops.restore_detail
    monkeypatch.setattr(ops, "restore_detail", lambda f, p, r, w, **k: weights.append(w) or restore(f, p, r, w, **k))
    frames = world_clip(9, 64, 36)
    tiny_engine.restyle(frames, 12.0, "a blue ball", strength=0.3, seed=1)
    assert weights == [pytest.approx(0.7)]
    [draft] = tiny_engine.generate("a red ball", seconds=0.5, draft=True, seed=1)
    tiny_engine.render(draft.frames, draft.record(), seed=1)      # a render finishes, keeps no detail
    assert weights == [pytest.approx(0.7)]


def test_restyle_refuses_strength_out_of_range():
    z, px = clip(2)
    with pytest.raises(ValueError, match="strength"):
        ops.restyle_edit(z, px, 1.5, F)


def test_splice_keeps_originals_and_carries_the_vae_error_across_seams():
    rng = np.random.default_rng(0)
    T, fade = 30, 4
    original = rng.integers(60, 190, (T, 4, 5, 3)).astype(np.uint8)
    decoded = (original.astype(int) + 20).astype(np.uint8)       # a constant VAE error of +20
    keep = np.zeros(T, bool)
    keep[:5] = keep[9:11] = keep[25:] = True   # a short gap (5..8), a long one (11..24)
    out = ops.splice(decoded, original, keep, fade=fade)
    assert np.array_equal(out[keep], original[keep])
    # The same error on both sides of the short gap: the whole gap is corrected exactly.
    assert np.array_equal(out[5:9], original[5:9])
    # The long gap: corrected next to each side, fading out, untouched in the middle.
    assert np.array_equal(out[11], original[11]) and np.array_equal(out[24], original[24])
    assert np.abs(out[12].astype(int) - decoded[12]).mean() == pytest.approx(20 * (1 - 1 / fade), abs=0.6)
    assert np.array_equal(out[16:20], decoded[16:20])
    # No error, nothing to correct; nothing kept, nothing spliced.
    assert np.array_equal(ops.splice(original, original, keep, fade), original)
    assert np.array_equal(ops.splice(decoded, original, np.zeros(T, bool), fade), decoded)
    with pytest.raises(ValueError, match="disagree"):
        ops.splice(decoded, original[:-1], keep, fade)


def test_even_pace_spreads_a_lurching_transition_and_keeps_kept_frames():
    T = 12
    keep = np.zeros(T, bool)
    keep[:3] = keep[-2:] = True
    levels = np.array([10, 10, 10, 12, 14, 120, 122, 124, 126, 128, 130, 130], float)  # a lurch 14 -> 120
    frames = np.repeat(levels[:, None, None, None], 2 * 3 * 3, axis=1).reshape(T, 2, 3, 3).astype(np.uint8)
    out = ops.even_pace(frames, keep)
    assert np.array_equal(out[keep], frames[keep])
    steps = np.abs(np.diff(out[2:11].astype(float), axis=0)).mean(axis=(1, 2, 3))
    assert steps.max() <= (130 - 10) / 8 + 1.0            # the run's total over its steps, up to rounding
    assert np.all(np.diff(out[2:11, 0, 0, 0].astype(int)) >= 0)   # still monotone: retimed, not reordered
    # an even run stays as it is; a run open at the clip's end is left alone
    ramp = np.repeat(np.linspace(0, 110, T)[:, None], 18, axis=1).reshape(T, 2, 3, 3).round().astype(np.uint8)
    assert np.abs(ops.even_pace(ramp, keep).astype(int) - ramp).max() <= 1
    open_end = keep.copy()
    open_end[-2:] = False
    assert np.array_equal(ops.even_pace(frames, open_end), frames)
    with pytest.raises(ValueError, match="keep"):
        ops.even_pace(frames, keep[:-1])


# -- through the engine, on tiny weights ----------------------------------------------------------
def test_transition_gaps_grow_with_the_change_between_the_clips():
    def clip(level, wobble):             # (5, 4, 6, 3) frames around `level`, moving by `wobble`
        return np.stack([np.full((4, 6, 3), level + wobble * (k % 2), np.uint8) for k in range(5)])
    a = clip(100, 2)
    near, far = ops.transition_gaps(a, clip(110, 2)), ops.transition_gaps(a, clip(200, 2))
    assert near == pytest.approx(10 / (2 * ops.TRANSITION_PACE))  # 100 -> 110: 10 levels, 2 a frame
    assert far == pytest.approx(10 * near)                        # ten times the change, ten times the frames
    assert ops.transition_gaps(a, clip(110, 2), pace=2 * ops.TRANSITION_PACE) == pytest.approx(near / 2)
    still = ops.transition_gaps(clip(100, 0), clip(110, 0))          # no pace of their own
    assert still == pytest.approx(10 / (ops.STILL_CHANGE * ops.TRANSITION_PACE))
    assert ops.transition_gaps(a[:1], clip(110, 0)[:1]) > 0          # single frames: no changes to read
    with pytest.raises(ValueError, match="pace"):
        ops.transition_gaps(a, a, pace=0)


def world_clip(num_frames=13, width=50, height=30):
    from engine.world import render, upsample
    up = upsample("a red ball moves right over green grass", seed=0, duration_s=num_frames / 12)
    return render(up.scene, width, height, num_frames, 12.0)


def test_engine_animate_keeps_the_image_as_frame_zero(tiny_engine):
    image = world_clip(1, 90, 50)[0]
    r = tiny_engine.animate(image, "a red ball moves right", seconds=1.0, seed=0)
    assert r.request.operation == "animate" and len(r.frames) > 1
    settings = tiny_engine._settings("x", **_opts({}))
    expected, _ = tiny_engine._conform(image[None], 12.0, settings, max_frames=1)
    assert np.array_equal(r.frames[0], expected[0]) and r.notes["image"]["from_size"] == [90, 50]


@pytest.mark.parametrize("direction", ["forward", "backward"])
def test_engine_extend_returns_the_whole_clip_unchanged(tiny_engine, direction):
    frames = world_clip(13, 64, 36)
    r = tiny_engine.extend(frames, 12.0, "a red ball", direction=direction, seconds=0.5,
                           context_seconds=0.5, seed=1)
    tf = tiny_engine.vae.cfg.temporal_factor
    assert len(r.frames) == 13 + tf * round(0.5 * 12 / tf)     # as many new frames either way
    original = r.frames[:13] if direction == "forward" else r.frames[-13:]
    assert np.array_equal(original, frames)


@pytest.mark.parametrize("operation", ["forward", "backward", "loop", "interpolate"])
def test_engine_edits_keep_every_frame_of_a_clip_of_any_length(tiny_engine, operation):
    """A 10-frame clip is not 1 + 4k frames long: edits that sample only a context window keep
    all of it (the window is a valid length), with none of the clip's end dropped."""
    frames = world_clip(10, 64, 36)
    if operation == "loop":
        r = tiny_engine.loop(frames, 12.0, "a red ball", seconds=0.5, seed=4)
    elif operation == "interpolate":
        r = tiny_engine.interpolate(frames, 12.0, frames[::-1], 12.0, "a blend", seconds=0.5, seed=2)
        assert np.array_equal(r.frames[-10:], frames[::-1])
    else:
        r = tiny_engine.extend(frames, 12.0, "a red ball", direction=operation, seconds=0.5, seed=1)
    original = r.frames[-10:] if operation == "backward" else r.frames[:10]
    assert len(r.frames) > 10 and np.array_equal(original, frames)
    assert r.notes.get("video", r.notes.get("first"))["dropped_s"] == 0.0


def test_render_finishes_a_draft_at_the_aspect_it_was_asked_for(tiny_engine):
    draft = world_clip(9, 64, 32)                        # 2:1, as a 16:9 draft's grid is
    record = {"prompt": "a red ball", "seed": 1, "fps": 12.0}
    want = tiny_engine.resolve("generate", "x", aspect="16:9")
    asked = tiny_engine.render(draft, {**record, "aspect": "16:9"}, strength=0.5, steps=2)
    assert asked.frames.shape[1:3] == (want.height, want.width)
    assert asked.notes["draft"]["fit"] == "crop"
    assert asked.record()["aspect"] == "16:9"                          # the render says it too
    own = tiny_engine.render(draft, record, strength=0.5, steps=2)   # an older record: its shape
    assert own.frames.shape[2] == 2 * own.frames.shape[1]
    with pytest.raises(ValueError, match="a render makes at most"):
        tiny_engine.render(world_clip(tiny_engine.card.max_frames + 4, 64, 32), record)


def test_engine_interpolate_and_restyle_keep_their_inputs(tiny_engine):
    a, b = world_clip(9, 64, 36), world_clip(5, 36, 64)
    r = tiny_engine.interpolate(a, 12.0, b, 12.0, "a blend", seconds=0.5, seed=2)
    assert np.array_equal(r.frames[:9], a) and r.frames.shape[1:3] == (36, 64)
    assert r.notes["second"]["fit"] == "crop"
    assert r.notes["even_pace"] and r.notes["seconds"] == 0.5
    assert r.request.guidance == ops.TRANSITION_GUIDANCE            # unless the caller asks for one
    assert tiny_engine.interpolate(a, 12.0, b, 12.0, "a blend", seconds=0.5, seed=2,
                                   guidance=3.0).request.guidance == 3.0
    assert not r.notes["seconds_chosen"] and "scene_change" not in r.notes
    same = tiny_engine.restyle(a, 12.0, "a blue ball", strength=0.0, seed=3)
    assert np.array_equal(same.frames, a)
    changed = tiny_engine.restyle(a, 12.0, "a blue ball", strength=0.8, seed=3)
    assert changed.frames.shape == a.shape and not np.array_equal(changed.frames, a)
    assert 0.8 <= changed.notes["noise_level"] < 1.0       # the shift only ever raises the level


def test_engine_interpolate_chooses_a_longer_transition_for_scenes_further_apart(tiny_engine, monkeypatch):
    from engine.sizes import TRANSITION_MAX_SECONDS
    a = world_clip(9, 64, 36)
    tf, fps = tiny_engine.vae.cfg.temporal_factor, tiny_engine.card.fps
    near = tiny_engine.interpolate(a, 12.0, a[::-1], 12.0, "a blend", seed=2)
    assert near.notes["seconds_chosen"] and near.notes["scene_change"] < 5
    gap = len(near.frames) - 2 * len(a) + 1                          # frame changes from A to B
    assert gap == round(near.notes["seconds"] * fps) and gap % tf == 0
    assert "seconds_needed" not in near.notes
    new = tiny_engine._transition_latents(a, 255 - a, 1.0, fps)[0]   # the negative: far apart
    assert new * tf > gap and new * tf <= TRANSITION_MAX_SECONDS * fps
    far = tiny_engine.interpolate(a, 12.0, 255 - a, 12.0, "a blend", seed=2)
    assert far.notes["seconds"] == new * tf / fps and "seconds_needed" not in far.notes
    assert len(far.notes["windows"]) > 1                                # longer than one generation
    monkeypatch.setattr("engine.edits.TRANSITION_MAX_SECONDS", 2.0)
    capped = tiny_engine.interpolate(a, 12.0, 255 - a, 12.0, "a blend", seed=2)
    assert capped.notes["seconds_needed"] > capped.notes["seconds"] == 2.0   # the record says so


def test_engine_makes_a_transition_longer_than_one_generation_in_windows(tiny_engine, monkeypatch):
    a, b = world_clip(21, 64, 36), world_clip(17, 64, 36)
    b = b[:, :, ::-1].copy()                                          # another scene: mirrored
    tf = tiny_engine.vae.cfg.temporal_factor
    most = (tiny_engine.card.max_frames - 1) // tf + 1                 # latent frames made at once
    r = tiny_engine.interpolate(a, 12.0, b, 12.0, "a blend", seconds=3.0, seed=2)
    new = tiny_engine._new_latents(3.0, r.request.fps)
    assert new > most and sum(r.notes["windows"]) == new and len(r.notes["windows"]) >= 2
    assert np.array_equal(r.frames[:21], a) and np.array_equal(r.frames[-17:], b)
    assert len(r.frames) == 21 + new * tf - 1 + 17 == r.request.num_frames    # as one window would
    assert r.request.seed == 2
    seen = []                                                          # one progress bar over the windows
    again = tiny_engine.interpolate(a, 12.0, b, 12.0, "a blend", seconds=3.0, seed=2, progress=seen.append)
    assert np.array_equal(r.frames, again.frames) and r.notes["guide"] == ops.WINDOW_GUIDE
    assert [p.step for p in seen] == list(range(1, seen[-1].total + 1)) and len({p.total for p in seen}) == 1
    moves = ops.frame_changes(r.frames[20:len(r.frames) - 16])         # the transition, retimed whole
    assert moves.max() <= 1.5 * np.median(moves) + 1e-3                # even across the windows' joins
    with pytest.raises(ValueError, match="60 s"):
        tiny_engine.interpolate(a, 12.0, b, 12.0, "a blend", seconds=61.0, seed=2)
    plans, guide = [], ops.crossfade_guide        # each window is planned from where the last ended
    monkeypatch.setattr(ops, "crossfade_guide", lambda *a, **k: plans.append(a) or guide(*a, **k))
    tiny_engine.interpolate(a, 12.0, b, 12.0, "a blend", seconds=3.0, seed=2)
    left = np.cumsum([0] + r.notes["windows"][:-1])
    assert [(p[2], p[3]) for p in plans] == [(range(n), new - d) for n, d in zip(r.notes["windows"], left)]
    assert all(p[4] == ops.WINDOW_GUIDE for p in plans)


def test_engine_decodes_each_edit_with_its_own_phases(tiny_engine, monkeypatch):
    vae = tiny_engine.vae
    seen, decode = [], vae.decode
    monkeypatch.setattr(vae, "decode", lambda z, *a, phases=1, **k: seen.append(phases) or decode(z, *a, phases=phases, **k))
    a, b = world_clip(9, 64, 36), world_clip(9, 64, 36)
    tiny_engine.interpolate(a, 12.0, b, 12.0, "a blend", seconds=0.5, seed=2)
    tiny_engine.loop(a, 12.0, "a red ball", seconds=0.5, seed=4)
    tiny_engine.extend(a, 12.0, "a red ball", seconds=0.5, seed=1, continue_motion=False)
    tiny_engine.extend(a, 12.0, "a red ball", direction="backward", seconds=0.5, seed=1,
                       continue_motion=False)
    card = tiny_engine.card.decode_phases
    assert seen == [vae.cfg.temporal_factor, card, ops.EXTEND_DECODE_PHASES, card]
    seen.clear()     # a continued extension also decodes its guide (the detail put back), alike
    r = tiny_engine.extend(a, 12.0, "a red ball", seconds=0.5, seed=1)
    assert r.notes["continuation"]["moves"] and seen == [ops.EXTEND_DECODE_PHASES] * 2


def test_engine_loop_starts_with_the_clip_and_is_reproducible(tiny_engine):
    frames = world_clip(9, 64, 36)
    r1 = tiny_engine.loop(frames, 12.0, "a red ball", seconds=0.5, seed=4)
    r2 = tiny_engine.loop(frames, 12.0, "a red ball", seconds=0.5, seed=4)
    assert np.array_equal(r1.frames[:9], frames) and len(r1.frames) > 9
    assert np.array_equal(r1.frames, r2.frames)


def test_engine_restyles_a_clip_longer_than_one_generation_in_windows(tiny_engine):
    frames = world_clip(81, 64, 36)                                  # max_frames is 33
    same = tiny_engine.restyle(frames, 12.0, "a blue ball", strength=0.0, seed=3)
    # 33 frames, then windows of 13 restyled context frames + 20 new ones: 53, 73, 81
    assert np.array_equal(same.frames, frames) and same.notes["windows"] == 4
    changed = tiny_engine.restyle(frames, 12.0, "a blue ball", strength=0.7, seed=3)
    assert changed.frames.shape == frames.shape and changed.request.num_frames == 81
    assert not np.array_equal(changed.frames[40:], frames[40:])
    again = tiny_engine.restyle(frames, 12.0, "a blue ball", strength=0.7, seed=3)
    assert np.array_equal(changed.frames, again.frames)


@pytest.mark.parametrize("length", [12, 46])            # one window, and windows (max_frames 33)
def test_engine_restyle_returns_every_frame_of_any_length(tiny_engine, length):
    """A clip that does not end on a whole latent group comes back whole, not cut to 1 + 4k."""
    frames = world_clip(length, 64, 36)
    same = tiny_engine.restyle(frames, 12.0, "a blue ball", strength=0.0, seed=3)
    assert np.array_equal(same.frames, frames)
    changed = tiny_engine.restyle(frames, 12.0, "a blue ball", strength=0.7, seed=3)
    assert changed.frames.shape == frames.shape and changed.request.num_frames == length


def test_engine_blends_and_loops_whole_clips_longer_than_one_generation(tiny_engine):
    """Only the context near each seam is sampled; the rest comes back unchanged around it."""
    a, b = world_clip(41, 64, 36), world_clip(45, 64, 36)      # each longer than max_frames (33)
    r = tiny_engine.interpolate(a, 12.0, b, 12.0, "a blend", seconds=0.5, context_seconds=0.5, seed=2)
    tf = tiny_engine.vae.cfg.temporal_factor
    generated = tiny_engine._new_latents(0.5, r.request.fps) * tf - 1  # B's first frame ends the last group
    assert np.array_equal(r.frames[:41], a) and np.array_equal(r.frames[-45:], b)
    assert len(r.frames) == 41 + generated + 45 and r.notes["second"]["dropped_s"] < 0.1
    r = tiny_engine.loop(a, 12.0, "a red ball", seconds=0.5, context_seconds=0.5, seed=4)
    assert np.array_equal(r.frames[:41], a) and len(r.frames) == 41 + generated
    assert r.request.num_frames == len(r.frames)


def test_window_sizes_use_the_fewest_windows_as_evenly_as_they_hold():
    from engine.sizes import window_sizes
    assert window_sizes(32, 21, 21, 18) == [16, 16]
    assert window_sizes(39, 21, 21, 18) == [21, 18]          # the last window also holds B
    assert window_sizes(40, 21, 21, 18) == [14, 13, 13]
    for total in range(2, 80):
        sizes = window_sizes(total, 7, 7, 6)
        caps = [7] + [7] * (len(sizes) - 2) + [6]
        assert sum(sizes) == total and all(0 < n <= c for n, c in zip(sizes, caps))
        assert len(sizes) == max(2, -(-(total + 1) // 7)) and max(sizes) - min(sizes) <= 1 + (total > 12)
    with pytest.raises(ValueError):
        window_sizes(5, 0, 3, 3)
    with pytest.raises(ValueError, match="two or more"):
        window_sizes(1, 7, 7, 6)


def test_later_windows_continue_from_a_full_context_whatever_the_first_clip(tiny_engine, monkeypatch):
    still, b = world_clip(1, 64, 36), world_clip(17, 64, 36)        # A: one frame
    contexts, edit = [], ops.transition_edit
    monkeypatch.setattr(ops, "transition_edit", lambda z, *a, **k: contexts.append(z.shape[1]) or edit(z, *a, **k))
    seen = []
    r = tiny_engine.interpolate(still, 12.0, b, 12.0, "a blend", seconds=3.0, seed=2, progress=seen.append)
    assert contexts[0] == 1 and len(contexts) == len(r.notes["windows"]) >= 2
    assert all(c > 1 for c in contexts[1:])                           # a second of the window before
    assert np.array_equal(r.frames[:1], still) and seen[-1].step == seen[-1].total
