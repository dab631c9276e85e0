import numpy as np
import pytest

from engine import operations as ops
from engine import recolour
from engine.motion import find_object
from engine.world import parse, render
from engine.world.scene import COLOUR_RGB, ObjectSpec, Scene


def world(background="grass", objects=(("ball", "red", "right", 0.3, 0.6, 0.12),), frames=9, size=(96, 54)):
    """A rendered world clip (T, H, W, 3) of (shape, colour, motion, x, y, size) objects."""
    specs = tuple(ObjectSpec(s, c, m, "normal", x, y, r, float(k)) for k, (s, c, m, x, y, r) in enumerate(objects))
    return render(Scene(background, specs, "static", 1.0, 3), *size, frames, 12.0)


def test_paint_turns_the_objects_colour_and_leaves_the_rest_alone():
    clip = world()
    out, cover = recolour.paint(clip, "red", "blue", "grass")
    assert out.shape == clip.shape and out.dtype == np.uint8 and cover.shape == clip.shape[:3] and cover.dtype == bool
    for frame, before in zip(out, clip):
        assert find_object(frame, "red", None, "grass") is None
        found, was = find_object(frame, "blue", None, "grass"), find_object(before, "red", None, "grass")
        assert found is not None and (found & was).sum() >= 0.8 * was.sum()    # the same place
    assert np.array_equal(out[cover == 0], clip[cover == 0])                    # nothing else touched
    inside = (cover == 1) & (np.linalg.norm(clip.astype(float) - COLOUR_RGB["red"], axis=-1) < 20)
    assert np.abs(out[inside].astype(float) - COLOUR_RGB["blue"]).max() <= 21  # shading kept, near blue
    with pytest.raises(ValueError, match="colour"):
        recolour.paint(clip, "red", "teal", "grass")


@pytest.mark.parametrize("prompt, why", [
    ("a ball rolls over the grass", "names no object's colour"),
    ("a blue ball", "names no background"),
    ("a blue ball at night", "does not show the night"),
    ("a red ball on grass", "shows every colour named"),
])
def test_nothing_is_recoloured_unless_the_prompt_and_the_clip_disagree_on_a_colour(prompt, why):
    clip = world()
    pairs, reason = recolour.plan_recolour(clip, parse(prompt)[0])
    assert pairs == [] and why in reason
    same, cover, note = recolour.recolour_clip(clip, prompt)
    assert np.array_equal(same, clip) and not cover.any() and note["recoloured"] == []


def test_footage_that_is_not_the_worlds_background_is_not_recoloured():
    rng = np.random.default_rng(0)
    footage = rng.integers(0, 256, (5, 54, 96, 3), dtype=np.uint8)   # no world background in it
    assert not recolour.shows_background(footage, "grass")
    assert recolour.recolour_clip(footage, "a blue ball on grass")[2]["recoloured"] == []


def test_colours_pair_in_the_prompts_order_with_the_largest_unnamed_objects():
    shown = {"red": 0.02, "yellow": 0.05, "white": 0.01}
    assert recolour.pair_colours(["blue", "red", "green"], shown) == [
        recolour.Recolour("yellow", "blue"), recolour.Recolour("white", "green")]
    assert recolour.pair_colours(["red"], shown) == []
    clip = world(objects=(("ball", "red", "right", 0.3, 0.6, 0.12), ("box", "yellow", "still", 0.75, 0.6, 0.1)))
    assert set(recolour.objects_shown(clip, "grass")) == {"red", "yellow"}
    pairs, _ = recolour.plan_recolour(clip, parse("a red ball and a purple box on grass")[0])
    assert pairs == [recolour.Recolour("yellow", "purple")]


def test_engine_restyle_paints_the_new_colour_and_holds_it_by_strength(tiny_engine, monkeypatch):
    clip = world(frames=13, size=(64, 36))
    edits, run = [], tiny_engine._run_edit
    monkeypatch.setattr(tiny_engine, "_run_edit", lambda op, s, edit, *a: edits.append(edit) or run(op, s, edit, *a))
    exacts, restore = [], ops.restore_detail
    monkeypatch.setattr(ops, "restore_detail", lambda f, p, r, w, **k: exacts.append(k.get("exact")) or restore(f, p, r, w, **k))
    r = tiny_engine.restyle(clip, 12.0, "a blue ball on grass", strength=0.6, seed=1)
    assert r.notes["recolour"] == {"recoloured": [["red", "blue"]], "why": "recoloured"}
    [edit] = edits
    assert find_object(edit.pixels[0], "blue", None, "grass") is not None       # the guide is painted
    assert edit.plan.region is not None and edit.plan.region.max() == pytest.approx(min(1.0, 0.4 * ops.RECOLOUR_HOLD))
    # the painted object's own pixels come back as painted, whatever the decoder makes of them
    assert edit.object_detail.max() == pytest.approx(min(1.0, 0.4 * ops.RECOLOUR_HOLD))
    assert (edit.object_detail > 0).sum() < (edit.held_detail > 0).sum()      # its pixels, not its cells
    assert len(exacts) == 1 and exacts[0] is edit.object_detail                # and the engine puts it back
    tiny_engine.restyle(clip, 12.0, "a blue ball on grass", strength=0.9, seed=1)   # held less, never fully
    held = float(edits[-1].plan.region.max())
    assert held == pytest.approx(min(1.0, 0.1 * ops.RECOLOUR_HOLD)) and held < 1.0
    off = tiny_engine.restyle(clip, 12.0, "a blue ball on grass", strength=0.6, seed=1, recolour=False)
    assert "recolour" not in off.notes and edits[-1].plan.region is None
    same = tiny_engine.restyle(clip, 12.0, "a blue ball on grass", strength=0.0, seed=1)
    assert np.array_equal(same.frames, clip) and "recolour" not in same.notes
    with pytest.raises(ValueError, match="strength"):
        tiny_engine.restyle(clip, 12.0, "a blue ball on grass", strength=1.5, seed=1)


def test_engine_restyle_paints_every_window_of_a_long_clip(tiny_engine, monkeypatch):
    clip = world(frames=45, size=(64, 36))                 # max_frames 33: two windows
    edits, run = [], tiny_engine._run_edit
    monkeypatch.setattr(tiny_engine, "_run_edit", lambda op, s, edit, *a: edits.append(edit) or run(op, s, edit, *a))
    r = tiny_engine.restyle(clip, 12.0, "a blue ball on grass", strength=0.5, seed=1)
    assert r.notes["windows"] == 2 and len(edits) == 2 and r.frames.shape == clip.shape
    second = edits[1]
    context = int((second.plan.mask == 1.0).sum())
    assert context >= 1 and float(second.plan.region[:context].max()) == 0.0    # restyled context: no hold
    assert float(second.plan.region[context:].max()) > 0.0
