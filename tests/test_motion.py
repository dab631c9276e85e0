import cv2
import numpy as np
import pytest
import torch

from engine import motion
from engine import operations as ops
from engine.checkpoint import ModelCard
from engine.world.scene import COLOUR_RGB, SPEED_RATE, ObjectSpec, Scene


def scene_still(width=96, height=64, discs=((30, 32, 8, "red"),)):
    """A green field with discs (x, y, radius, colour) of the world's colours."""
    still = np.zeros((height, width, 3), np.uint8)
    still[:] = (60, 150, 60)
    for x, y, r, colour in discs:
        cv2.circle(still, (x, y), r, COLOUR_RGB[colour], -1)
    return still


def red_share(frame, x0, x1):
    return float((np.linalg.norm(frame[:, x0:x1].astype(float) - COLOUR_RGB["red"], axis=-1) < 60).mean())


def centre_x(mask):
    return float(np.nonzero(mask)[1].mean())


def test_find_object_takes_the_largest_region_of_the_colour_with_its_outline():
    still = scene_still(discs=((30, 32, 8, "red"), (70, 20, 3, "red")))
    mask = motion.find_object(still, "red")
    assert mask is not None and abs(centre_x(mask) - 30) < 0.5         # the larger disc
    area = np.pi * 8 ** 2
    assert area < mask.sum() < np.pi * (8 + motion.OUTLINE_PX + 1) ** 2  # and a rim around it
    assert motion.find_object(still, "blue") is None                  # not in the picture
    taken = motion.find_object(still, "red")
    second = motion.find_object(still, "red", taken=taken)
    assert second is not None and abs(centre_x(second) - 70) < 0.5     # the next one, not the first again


def test_find_object_refuses_specks_and_backgrounds_and_unknown_colours():
    speck = scene_still(width=200, height=150, discs=((30, 32, 1, "red"),))
    assert motion.find_object(speck, "red") is None                   # under MIN_AREA of the frame
    wall = np.zeros((40, 60, 3), np.uint8)
    wall[:] = COLOUR_RGB["red"]
    assert motion.find_object(wall, "red") is None                    # over MAX_AREA: not an object
    with pytest.raises(ValueError, match="unknown colour"):
        motion.find_object(speck, "teal")
    with pytest.raises(ValueError, match="uint8"):
        motion.find_object(speck.astype(float), "red")


def test_find_object_passes_over_a_background_of_the_colour_for_the_object():
    still = scene_still(discs=((70, 40, 6, "white"),))
    still[:24] = COLOUR_RGB["white"]                                  # a white sky: over MAX_AREA
    mask = motion.find_object(still, "white")
    assert mask is not None and abs(centre_x(mask) - 70) < 0.5 and mask[:20].sum() == 0


def test_find_object_leaves_the_backgrounds_own_colours_to_the_background():
    """The sea's deep blue lies within FIND_DISTANCE of the world's blue; told the background, the
    finder takes the smaller blue ball, not the larger patch of sea."""
    still = np.zeros((64, 96, 3), np.uint8)
    still[:] = (182, 212, 240)                                        # the ocean's pale sky
    still[40:60, 5:45] = (44, 122, 176)                               # a patch of sea, 13% of the frame
    cv2.circle(still, (75, 20), 6, COLOUR_RGB["blue"], -1)
    loose = motion.find_object(still, "blue")
    assert loose is not None and centre_x(loose) < 45                 # colour alone: the sea
    mask = motion.find_object(still, "blue", background="ocean")
    assert mask is not None and abs(centre_x(mask) - 75) < 0.5
    with pytest.raises(ValueError, match="unknown background"):
        motion.find_object(still, "blue", background="moon")


def _scene(*objects):
    """A grass scene of (colour, motion) balls."""
    return Scene("grass", tuple(ObjectSpec("ball", c, m, "normal", 0.5, 0.5, 0.1, 0.0) for c, m in objects),
                 "static", 2.0, 0)


def test_strays_are_the_duplicates_of_a_moving_objects_colour_and_are_erased_from_every_frame():
    still = scene_still(discs=((30, 32, 8, "red"), (75, 15, 4, "red"), (75, 50, 5, "blue")))
    [mover] = motion.find_movers(still, _scene(("red", "right")))
    strays = motion.find_strays(still, _scene(("red", "right")), [mover])
    assert strays[15, 75] and not (strays & mover.mask).any() and not strays[50, 75]   # not the blue one
    frames = motion.motion_frames(still, [mover], 9, 12.0, 0.75, erase=strays)
    assert red_share(frames[0], 68, 82) == 0 and red_share(frames[-1], 68, 82) == 0  # the duplicate is gone
    blue = np.linalg.norm(frames.astype(float) - COLOUR_RGB["blue"], axis=-1) < 60
    assert blue[:, 50, 75].all()
    # a still red object of the scene keeps its colour's regions; so does a background of it
    assert not motion.find_strays(still, _scene(("red", "right"), ("red", "still")), [mover]).any()
    speckled = scene_still(width=200, height=150, discs=[(30, 75, 10, "red")] +
                           [(60 + 12 * i, 20 + 12 * j, 3, "red") for i in range(10) for j in range(10)])
    [m] = motion.find_movers(speckled, _scene(("red", "left")))
    assert not motion.find_strays(speckled, _scene(("red", "left")), [m]).any()   # over STRAY_MAX_TOTAL


def test_the_clearest_frame_is_where_the_moving_objects_cover_the_most():
    frames = np.stack([scene_still(discs=((48, 32, r, "red"),) if r else ()) for r in (0, 3, 9, 6)])
    assert motion.clearest_frame(frames, _scene(("red", "up"))) == 2
    assert motion.clearest_frame(frames[:1], _scene(("red", "up"))) == 0   # nothing found: the first
    assert motion.clearest_frame(frames, _scene(("red", "still"))) == 0    # nothing to move


def test_a_mover_travels_its_path_at_the_worlds_speed_and_leaves_no_copy_behind():
    still = scene_still()
    [mover] = [motion.Mover(motion.find_object(still, "red"), "right", "normal")]
    fps, n = 12.0, 13
    frames = motion.motion_frames(still, [mover], n, fps, n / fps)
    assert frames.shape == (n,) + still.shape and frames.dtype == np.uint8
    xs = [centre_x(np.linalg.norm(f.astype(float) - COLOUR_RGB["red"], axis=-1) < 60) for f in frames]
    steps = np.diff(xs)
    assert (steps > 0).all()                                          # to the right, every frame
    expected = SPEED_RATE["normal"] * 96 / fps                        # frame widths a second -> pixels a frame
    assert np.allclose(steps, expected, atol=0.3)
    assert xs[0] == pytest.approx(30, abs=0.5)                        # it fits, so it starts where drawn
    assert red_share(frames[-1], 20, 40) < red_share(frames[0], 20, 40) / 4  # the hole is filled
    again, cover = motion.motion_frames(still, [mover], n, fps, n / fps, with_cover=True)
    assert np.array_equal(again, frames) and cover.shape == (n, 64, 96) and cover.dtype == np.float32
    for f, c in zip(frames, cover):                                   # the cover follows the object
        red = np.linalg.norm(f.astype(float) - COLOUR_RGB["red"], axis=-1) < 60
        assert c[red].min() > 0.5 and c.max() <= 1.0 and centre_x(c > 0.5) == pytest.approx(centre_x(red), abs=1)


def test_a_path_that_does_not_fit_is_fitted_for_generate_and_stopped_for_animate():
    still = scene_still(discs=((80, 32, 8, "red"),))                 # near the right edge
    mover = motion.Mover(motion.find_object(still, "red"), "right", "normal")   # half the width
    fitted = motion.motion_frames(still, [mover], 25, 12.0, 25 / 12)
    kept = motion.motion_frames(still, [mover], 25, 12.0, 25 / 12, fit_start=False)

    def xs(frames):
        return [centre_x(np.linalg.norm(f.astype(float) - COLOUR_RGB["red"], axis=-1) < 60) for f in frames]
    assert xs(fitted)[0] < 60 and np.diff(xs(fitted)).min() > 0       # moved back so the path fits
    assert xs(kept)[0] == pytest.approx(80, abs=0.5)                  # the image's start is kept
    assert np.array_equal(kept[0], still) and not np.array_equal(fitted[0], still)
    assert np.diff(xs(kept)).min() >= -1e-6 and xs(kept)[-1] < 96 - 8  # and it stops at the edge


def test_growing_objects_grow_and_still_objects_are_not_moved():
    still = scene_still(discs=((48, 32, 6, "red"), (15, 15, 5, "blue")))
    frames = motion.motion_frames(still, [motion.Mover(motion.find_object(still, "red"), "grow", "normal")],
                                  9, 4.0, 9 / 4.0)
    area = [(np.linalg.norm(f.astype(float) - COLOUR_RGB["red"], axis=-1) < 60).sum() for f in frames]
    assert area[-1] > 2 * area[0]                                     # 1.7x the radius over the clip
    blue = np.linalg.norm(frames.astype(float) - COLOUR_RGB["blue"], axis=-1) < 60
    assert (blue == blue[0]).all()                                    # the blue one never moved


def test_find_movers_grounds_each_moving_object_of_the_scene_once():
    still = scene_still(discs=((20, 32, 6, "red"), (70, 32, 7, "red"), (48, 12, 5, "blue")))
    objects = (ObjectSpec("ball", "red", "left", "normal", 0.2, 0.5, 0.1, 0.0),
               ObjectSpec("ball", "red", "up", "slowly", 0.7, 0.5, 0.1, 0.0),
               ObjectSpec("ball", "blue", "still", "normal", 0.5, 0.2, 0.1, 0.0))
    movers = motion.find_movers(still, Scene("grass", objects, "static", 2.0, 0))
    assert [m.motion for m in movers] == ["left", "up"]              # the still blue ball is not cut out
    assert not (movers[0].mask & movers[1].mask).any()               # two regions, one each
    assert motion.find_movers(scene_still(discs=()), Scene("grass", objects, "static", 2.0, 0)) == []


def test_motion_frames_refuse_what_they_cannot_move():
    still = scene_still()
    mover = motion.Mover(motion.find_object(still, "red"), "left", "slowly")
    with pytest.raises(ValueError, match="no object"):
        motion.motion_frames(still, [], 5, 12.0, 1.0)
    with pytest.raises(ValueError, match="at least 2 frames"):
        motion.motion_frames(still, [mover], 1, 12.0, 1.0)
    with pytest.raises(ValueError, match="does not match"):
        motion.motion_frames(scene_still(width=50), [mover], 5, 12.0, 1.0)


def test_motion_plan_knows_every_frame_partly_and_animates_first_frame_exactly():
    z = torch.randn(3, 4, 2, 3)
    px = np.zeros((13, 8, 12, 3), np.uint8)
    e = ops.motion_edit(z, px, 0.7, 4)
    assert e.plan.mask.tolist() == pytest.approx([0.7] * 4) and not e.keep.any()
    a = ops.motion_edit(z, px, 0.7, 4, keep_first=True)
    assert a.plan.mask.tolist() == pytest.approx([1.0, 0.7, 0.7, 0.7])
    assert a.keep.tolist() == [True] + [False] * 12
    for bad in (0.0, 1.0):
        with pytest.raises(ValueError, match="hold"):
            ops.motion_edit(z, px, bad, 4)
    with pytest.raises(ValueError, match="longer than one frame"):
        ops.motion_edit(z[:, :1], px[:1], 0.7, 4)


def test_the_moved_objects_latent_cells_are_a_known_region_at_the_object_hold():
    z = torch.randn(3, 3, 2, 3)                                       # (C, t, h, w): cells of 4x4 pixels
    px = np.zeros((9, 8, 12, 3), np.uint8)
    cover = np.zeros((9, 8, 12), np.float32)
    cover[0, 1, 1] = 1.0                                              # frame 0: cell (0, 0)
    cover[3, 5, 10] = 0.5                                             # frame 3, in latent frame 1: cell (1, 2)
    cover[8, 2, 6] = 1.0                                              # frame 8, the last of latent frame 2
    cells = ops.latent_cells(cover, (3, 2, 3), 4)
    assert cells.shape == (3, 2, 3)
    assert cells[0].tolist() == [[1, 0, 0], [0, 0, 0]] and cells[1].tolist() == [[0, 0, 0], [0, 0, 0.5]]
    assert cells[2].tolist() == [[0, 1, 0], [0, 0, 0]]
    e = ops.motion_edit(z, px, 0.7, 4, cover=cover, object_hold=0.8, detail=0.5)
    assert torch.allclose(e.plan.region, cells * 0.8) and e.plan.mask.tolist() == pytest.approx([0.7] * 3)
    assert e.detail == 0.5 and ops.motion_edit(z, px, 0.7, 4).detail == 0.0
    assert ops.motion_edit(z, px, 0.7, 4, cover=cover, object_hold=0.0).plan.region is None
    assert ops.motion_edit(z, px, 0.7, 4).plan.region is None
    with pytest.raises(ValueError, match="object_hold"):
        ops.motion_edit(z, px, 0.7, 4, cover=cover, object_hold=1.5)
    with pytest.raises(ValueError, match="latent frames"):
        ops.latent_cells(cover[:5], (3, 2, 3), 4)
    with pytest.raises(ValueError, match="cells"):
        ops.latent_cells(cover[:, :7], (3, 2, 3), 4)


def test_the_card_refuses_a_motion_hold_out_of_range():
    assert ModelCard.from_dict({"motion_hold": 0.7}).motion_hold == 0.7
    assert ModelCard.from_dict({}).motion_hold == 0.0                 # old cards leave motion to the DiT
    with pytest.raises(ValueError, match="motion_hold"):
        ModelCard.from_dict({"motion_hold": -0.1})


def _red_ball_still(engine, request):
    """A still of the request's size with a red ball where a run would have drawn one."""
    return scene_still(request.width, request.height, ((request.width // 3, request.height // 2,
                                                        max(3, request.height // 6), "red"),))


def test_engine_moves_the_captions_objects_as_a_plan(tiny_engine, monkeypatch):
    seen = []
    run = tiny_engine.run

    def spy(req, plan, **k):
        result = run(req, plan, **k)
        seen.append((req, plan, result))
        if len(seen) == 1:                                 # the DiT's clip: a red ball in frame 2 only
            result.frames = np.repeat(scene_still(req.width, req.height, ())[None], req.num_frames, axis=0)
            result.frames[2] = _red_ball_still(tiny_engine, req)
        return result
    monkeypatch.setattr(tiny_engine, "run", spy)
    bar = []
    options = dict(seconds=1.0, aspect="16:9", seed=3, steps=4)
    prompt = "a red ball moves quickly to the right on grass"
    [r] = tiny_engine.generate(prompt, motion_hold=0.6, progress=lambda p: bar.append((p.step, p.total)),
                               **options)
    (first_req, first_plan, _), (clip_req, edit, _) = seen
    assert first_plan.shape == edit.plan.shape and first_plan.mask is None   # the DiT's own clip
    assert first_req == clip_req                           # the request's seed and caption
    assert float(edit.plan.mask.min()) == float(edit.plan.mask.max()) == pytest.approx(0.6)
    assert r.notes["motion"] == {"hold": 0.6, "moved": 1, "objects": [{"motion": "right", "speed": "quickly"}],
                                 "erased": 0.0, "tries": 1}
    guide = edit.pixels                                    # what the model was asked to refine
    red = np.linalg.norm(guide.astype(float) - COLOUR_RGB["red"], axis=-1) < 60
    assert red.reshape(len(red), -1).any(1).all()          # frame 2's ball, in every frame
    xs = [centre_x(m) for m in red]
    assert xs[-1] > xs[0] + 2
    assert r.frames.shape == (clip_req.num_frames, r.request.height, r.request.width, 3)
    # the moved ball's cells are held at OBJECT_HOLD, and the VAE's lost detail is put back
    assert edit.detail == ops.MOTION_DETAIL and float(edit.plan.region.max()) == pytest.approx(ops.OBJECT_HOLD)
    cells = edit.plan.region > 0                           # (t, h, w)
    assert cells.flatten(1).any(1).all() and cells.float().mean() < 0.5   # the ball's cells in every frame, not all
    steps = [s for s, _ in bar]
    assert steps == sorted(steps) and bar[-1][0] == bar[-1][1] and bar[-1][1] > 4   # one bar, both runs
    seen.clear()
    [again] = tiny_engine.generate(prompt, motion_hold=0.6, **options)
    assert np.array_equal(again.frames, r.frames)          # reproducible from the record


def test_engine_samples_alone_where_nothing_moves_or_nothing_is_found(tiny_engine, monkeypatch):
    options = dict(seconds=1.0, aspect="16:9", seed=3, steps=2)
    calls, sampled = [], []
    run = tiny_engine.run

    def counted(req, plan, **k):
        calls.append(plan)
        r = run(req, plan, **k)
        sampled.append(r.timings["sample_s"])      # this run's own time, before any are summed
        return r
    monkeypatch.setattr(tiny_engine, "run", counted)
    off = tiny_engine.generate("a red ball moves left", motion_hold=0.0, **options)[0]
    still = tiny_engine.generate("a red ball stays still on grass", motion_hold=0.6, **options)[0]
    assert len(calls) == 2 and "motion" not in off.notes and "motion" not in still.notes
    calls.clear()
    sampled.clear()
    monkeypatch.setattr(motion, "find_movers", lambda image, scene: [])
    lost = tiny_engine.generate("a red ball moves left", motion_hold=0.6, **options)[0]
    from engine.runtime import FIRST_TRIES
    assert len(calls) == FIRST_TRIES and lost.notes["motion"] == {"hold": 0.6, "moved": 0, "tries": FIRST_TRIES}
    assert np.array_equal(lost.frames, off.frames) and lost.request == off.request   # the DiT's first clip
    # every try is counted: the sum of each run's own time (a comparison of wall times is not a test)
    assert len(sampled) == FIRST_TRIES and lost.timings["sample_s"] == pytest.approx(sum(sampled))
    with pytest.raises(ValueError, match="motion_hold"):
        tiny_engine.generate("a red ball", motion_hold=1.0, **options)


def test_animate_moves_the_object_from_where_the_image_has_it(tiny_engine):
    image = scene_still(64, 48, ((20, 24, 6, "red"),))
    r = tiny_engine.animate(image, "a red ball moves to the right", seconds=1.0, motion_hold=0.6, seed=1, steps=2)
    assert r.notes["motion"]["moved"] == 1 and r.notes["image"]
    first = r.frames[0]
    assert first.shape == image.shape and np.array_equal(first, image)   # the image itself, unchanged
    none = tiny_engine.animate(scene_still(64, 48, ()), "a red ball moves to the right", seconds=1.0,
                               motion_hold=0.6, seed=1, steps=2)
    assert none.notes["motion"] == {"hold": 0.6, "moved": 0}         # nothing red: the DiT alone


def test_a_drafts_moved_objects_are_moved_again_in_its_render(tiny_engine, monkeypatch):
    def found(image, scene):          # the tiny model draws noise: ground a disc in the middle
        H, W = image.shape[:2]
        mask = np.zeros((H, W), bool)
        cv2.circle(mask.view(np.uint8), (W // 2, H // 2), max(2, H // 8), 1, -1)
        return [motion.Mover(mask, "right", "normal")]
    monkeypatch.setattr(motion, "find_movers", found)
    prompt = "a red ball moves to the right on grass"
    [draft] = tiny_engine.generate(prompt, seconds=1.0, aspect="16:9", draft=True, seed=4, steps=2,
                                   motion_hold=0.6)
    assert draft.notes["motion"]["moved"] == 1
    bar = []
    full = tiny_engine.render(draft.frames, draft.record(), strength=0.5, steps=3,
                              progress=lambda p: bar.append((p.step, p.total)))
    want = tiny_engine.resolve("generate", prompt, aspect="16:9")
    assert full.frames.shape[1:3] == (want.height, want.width) and len(full.frames) == len(draft.frames)
    note = dict(full.notes["motion"])
    assert 0.0 <= note.pop("erased") < 0.05       # the tiny model's red noise: how much depends on its frame
    assert note == {"hold": 0.6, "moved": 1, "objects": [{"motion": "right", "speed": "normal"}]}
    assert full.notes["draft"]["strength"] == 0.5 and full.request.operation == "render"
    assert bar[-1][0] == bar[-1][1] and [s for s, _ in bar] == sorted(s for s, _ in bar)
    monkeypatch.setattr(motion, "find_movers", lambda image, scene: [])
    lost = tiny_engine.render(draft.frames, draft.record(), strength=0.5, steps=3)
    assert lost.notes["motion"] == {"hold": 0.6, "moved": 0} and lost.frames.shape == full.frames.shape


def test_speeds_are_in_the_frames_widths_where_the_still_is_a_cameras_larger_one():
    still = scene_still(width=192, discs=((60, 32, 8, "red"),))     # twice the 96-pixel frame
    mover = motion.Mover(motion.find_object(still, "red"), "right", "normal")
    fps, n = 12.0, 13
    frames = motion.motion_frames(still, [mover], n, fps, n / fps, frame=(96, 64))
    xs = [centre_x(np.linalg.norm(f.astype(float) - COLOUR_RGB["red"], axis=-1) < 60) for f in frames]
    assert np.allclose(np.diff(xs), SPEED_RATE["normal"] * 96 / fps, atol=0.3)   # the frame's widths


def test_objects_move_in_the_cameras_still_as_the_camera_moves(tiny_engine, monkeypatch):
    def guided(motion_hold):
        seen = []
        run = tiny_engine.run

        def spy(req, plan, **k):
            result = run(req, plan, **k)
            seen.append((req, plan))
            if len(seen) == 1:                             # the first frame: a red ball on grass
                result.frames = _red_ball_still(tiny_engine, req)[None]
            return result
        monkeypatch.setattr(tiny_engine, "run", spy)
        [r] = tiny_engine.generate("a red ball moves quickly to the right on grass, the camera pans left",
                                   camera_hold=0.75, motion_hold=motion_hold, seconds=1.0, aspect="16:9",
                                   seed=3, steps=2)
        monkeypatch.setattr(tiny_engine, "run", run)
        red = np.linalg.norm(seen[-1][1].pixels.astype(float) - COLOUR_RGB["red"], axis=-1) < 60
        seen_edits[motion_hold] = seen[-1][1]
        return r, [centre_x(m) for m in red]
    seen_edits = {}
    moving, xs = guided(0.6)
    still, xs_still = guided(0.0)
    assert moving.notes["camera"]["move"] == "pan_left" and "motion" not in still.notes
    assert moving.notes["motion"] == {"hold": 0.75, "moved": 1,
                                      "objects": [{"motion": "right", "speed": "quickly"}], "erased": 0.0}
    travel = SPEED_RATE["quickly"] * moving.request.width * (len(xs) - 1) / moving.request.fps
    assert (xs[-1] - xs[0]) - (xs_still[-1] - xs_still[0]) == pytest.approx(travel, rel=0.1)   # its own path
    assert xs_still[-1] > xs_still[0]                      # and the pan's, which carries content right
    # the moved ball's cells are held as the motion plan holds them; the camera alone holds none
    edit = seen_edits[0.6]
    assert edit.detail == ops.MOTION_DETAIL and float(edit.plan.region.max()) == pytest.approx(ops.OBJECT_HOLD)
    assert seen_edits[0.0].plan.region is None and seen_edits[0.0].detail == 0.0
