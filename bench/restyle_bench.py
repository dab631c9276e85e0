"""Restyle (SDEdit) measured from pixels: bench/operations.py's restyle section and its rows.

The same world clips at each strength are asked for a new colour for their object (read
frame-wide and at the input's object), and for another world background; the photographs'
panning clips for a light change. `restyle_rows` reads the issue's restyle bars off the figures.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from engine.motion import _nearest_distance
from engine.recolour import BACKGROUND_DISTANCE
from engine.world import BACKGROUNDS, caption
from engine.world.render import background_palette
from op_inputs import COLOURS, on_grid, photo_clip, row, world_clip
from world_metrics import measure, motions_agree, path_distance, readable_colours
from worldbench import photographs, psnr


def _restyle_reading(got: dict, was: dict, new_colour: str, seen: bool = False) -> dict:
    """What a restyled clip kept, read against its input (both measured with track=True).
    seen: the object must also be found in at least half the frames where the input's is
    (path_distance's least share) for "all" and "agree_all": a reading at the input's place
    (measure's `at`) finds nothing where the object left it, and would judge place and motion
    on the frames where it stayed."""
    colour = got["colour"] == new_colour
    place = (got["centre"] is not None and was["centre"] is not None
             and max(abs(a - b) for a, b in zip(got["centre"], was["centre"])) <= 0.05)
    gap = None if got["track"] is None or was["track"] is None else path_distance(got["track"], was["track"])
    agree = motions_agree(was["motion_numbers"], got["motion_numbers"])
    motion = got["motion"] == was["motion"]
    found = gap is not None or not seen
    return {"colour": colour, "motion": motion, "place": place, "all": colour and motion and place and found,
            "path": gap is not None and gap <= 0.05, "on_path": colour and gap is not None and gap <= 0.05,
            "agree": agree, "agree_all": colour and place and agree and found, "found": gap is not None,
            "gap": None if gap is None else round(gap, 4)}


def _shares(reads: list[dict]) -> dict:
    share = lambda key: 100 * float(np.mean([r[key] for r in reads]))   # noqa: E731
    return {"new_colour_%": share("colour"),
            "motion_kept_%": share("motion"),
            "position_kept_%": share("place"),
            "new_colour_in_place_%": share("all"),   # all three at once
            # the object's centre frame by frame within 0.05 of the input's: place and
            # motion read from the path itself, not from a class at its thresholds
            "path_kept_%": share("path"),
            "new_colour_on_path_%": share("on_path"),
            # the motion's own numbers within one class step of the input's
            # (world_metrics.motions_agree), with the new colour and the place
            "motion_agrees_%": share("agree"),
            "new_colour_in_place_motion_agrees_%": share("agree_all"),
            # the object found in at least half the frames where the input's is
            "found_%": share("found")}


def bench_restyle(engine, rng, n, recolour=True, strengths=(0.0, 0.3, 0.6, 0.9)):
    """The same n clips at each strength, prompted with a new colour for their object: three
    colours on from its own, or the next after that the detector can read on the background.
    Clips are drawn until n show an object whose colour reads there: one that does not has no
    place or motion to keep. recolour: the engine paints the new colour on first (its default).
    Motion kept is read three ways, each against the input: the same class (object_motion), the
    motion's own numbers within one class step (motions_agree), and the object's path (its centre
    in each frame within 0.05 of the input's on average; it does not see a change of size).

    The object is read two ways. Frame-wide (the top-level figures): its colour is the most common
    object colour in the clip and it is that colour's largest part in each frame, as worldbench
    reads a generation. At the input's object (`at_object`): its colour is the most common one
    where the input's object lies, and it is the part of that colour overlapping that place in
    each frame (world_metrics.measure's `at`): the model redraws a background with blotches of
    the new colour (a pale sky whiter than the palette, a cloud bluer) that the frame-wide reading
    takes for the object. The 0.6 bar's words are about the object, so its rows use this reading;
    adherence as strength rises (restyle_rows) reads the colour frame-wide, where the object may have gone.
    `backgrounds` asks the same clips for another world background instead (restyle_backgrounds)."""
    clips = []
    while len(clips) < n:
        frames, scene = world_clip(rng)
        if scene.objects[0].colour in readable_colours(scene.background):
            clips.append((frames, scene))
    out = {}
    for strength in strengths:
        sims, reads, at_object, classes, numbers, at_classes, at_numbers = [], [], [], [], [], [], []
        for i, (frames, scene) in enumerate(clips):
            obj = scene.objects[0]
            new_colour = new_colour_for(obj.colour, scene.background)
            prompt = caption(scene).replace(obj.colour, new_colour, 1)
            r = engine.restyle(frames, 12.0, prompt, strength=strength, seed=i, recolour=recolour)
            src = on_grid(frames, r.frames)
            sims.append(psnr(r.frames, src))
            got, was = measure(r.frames, scene.background, track=True), measure(src, scene.background, track=True)
            reads.append(_restyle_reading(got, was, new_colour))
            place = was["mask"] if was["mask"] is not None else np.zeros(r.frames.shape[:3], bool)  # none: nothing read
            there = measure(r.frames, scene.background, track=True, at=place)
            at_object.append(_restyle_reading(there, was, new_colour, seen=True))
            at_classes.append([was["motion"], there["motion"]])
            at_numbers.append([was["motion_numbers"], there["motion_numbers"]])
            classes.append([was["motion"], got["motion"]])
            numbers.append([was["motion_numbers"], got["motion_numbers"]])
        out[str(strength)] = {"psnr_to_input_db": float(np.mean(sims)), **_shares(reads),
                              "at_object": {**_shares(at_object), "motion_classes": at_classes,
                                            "motion_numbers": at_numbers,
                                            "path_distances": [r["gap"] for r in at_object]},
                              # per clip: (input, result)
                              "motion_classes": classes, "motion_numbers": numbers,
                              "path_distances": [r["gap"] for r in reads]}
    out["backgrounds"] = restyle_backgrounds(engine, clips, strengths)
    out["photographs"] = restyle_photographs(engine)
    return out


def background_share(frames: np.ndarray, background: str) -> float:
    """The share of pixels within BACKGROUND_DISTANCE of `background`'s palette, over every 4th
    frame: the engine's own reading of whether a clip shows a world background
    (recolour.shows_background), as a share."""
    palette = background_palette(background)
    return float(np.mean([(_nearest_distance(f, palette) < BACKGROUND_DISTANCE).mean() for f in frames[::4]]))


def restyle_backgrounds(engine, clips, strengths) -> dict:
    """Adherence to a prompt that changes the scene, not an object: each clip restyled with its
    own caption set in another world background (one to three on in BACKGROUNDS, by turns; the
    object unchanged), and `adheres_%` the share of clips where more pixels lie within
    BACKGROUND_DISTANCE of the new background's palette than of the old's (background_share; a
    pixel near both counts for both); also the mean of both shares, per strength. It costs as
    much again as the colour restyles."""
    out = {}
    for strength in strengths:
        new_share, old_share = [], []
        for i, (frames, scene) in enumerate(clips):
            to = BACKGROUNDS[(BACKGROUNDS.index(scene.background) + 1 + i % 3) % len(BACKGROUNDS)]
            r = engine.restyle(frames, 12.0, caption(replace(scene, background=to)), strength=strength, seed=i)
            new_share.append(background_share(r.frames, to))
            old_share.append(background_share(r.frames, scene.background))
        out[str(strength)] = {"adheres_%": 100 * float(np.mean(np.array(new_share) > np.array(old_share))),
                              "new_background_share": float(np.mean(new_share)),
                              "old_background_share": float(np.mean(old_share))}
    return out


def restyle_photographs(engine, strengths=(0.0, 0.1, 0.3), prompt: str = "the same scene, slightly warmer") -> dict:
    """How much of real footage a light restyle keeps: PSNR of the result to the input (conformed
    to the grid), mean over the photographs' panning clips, per strength."""
    out = {}
    for strength in strengths:
        sims = []
        for i, photo in enumerate(photographs()):
            clip = photo_clip(photo)
            r = engine.restyle(clip, 12.0, prompt, strength=strength, seed=i)
            sims.append(psnr(r.frames, on_grid(clip, r.frames)))
        out[str(strength)] = {"psnr_to_input_db": float(np.mean(sims)), "n": len(sims)}
    return out


def new_colour_for(colour: str, background: str) -> str:
    start = COLOURS.index(colour) + 3
    turn = [COLOURS[(start + k) % len(COLOURS)] for k in range(len(COLOURS))]
    return next(c for c in turn if c != colour and c in readable_colours(background))


def strengths(r: dict) -> list[str]:
    """The strengths a restyle report holds figures for, ascending (its keys "0.0", "0.3", ...)."""
    return sorted((k for k in r if k.replace(".", "", 1).isdigit()), key=float)


def rising(values: list[float]) -> bool:
    """Never falls from one strength to the next, and ends above where it starts."""
    return all(x <= y for x, y in zip(values, values[1:])) and values[-1] > values[0]


def restyle_rows(r: dict) -> list[tuple[str, str, str, str]]:
    """The issue's restyle bars, one row each: (row, figure, bar, met).

    "Adherence to the new prompt rises with strength" is read over every request the section
    makes: the n clips asked for a new colour (read frame-wide, where the object may have gone)
    and the same n clips asked for a new background, each counted once (so the mean of the two
    shares). The new colour alone cannot show a rise: the recolour plan paints it on at every
    strength above 0, so it is at its ceiling from the first one; the new background is what
    strength buys. Both parts, and the new background's share of the frame, are printed beside
    it. A report without the background requests is read on the new colour alone."""
    rows = []
    levels = strengths(r)
    if "0.0" in r:
        row(rows, "restyle: strength 0 matches the input", f"{r['0.0']['psnr_to_input_db']:.1f} dB",
            ">= 35 dB", r["0.0"]["psnr_to_input_db"] >= 35)
    if "0.0" in r.get("photographs", {}):
        ph = r["photographs"]["0.0"]
        row(rows, "restyle, photographs: strength 0 matches the input", f"{ph['psnr_to_input_db']:.1f} dB",
            ">= 35 dB", ph["psnr_to_input_db"] >= 35)
    if len(levels) > 1:
        psnrs = [r[s]["psnr_to_input_db"] for s in levels]
        row(rows, f"restyle: PSNR to the input as strength rises ({', '.join(levels)})",
            " > ".join(f"{p:.1f}" for p in psnrs), "falls", all(x > y for x, y in zip(psnrs, psnrs[1:])))
        colours = [r[s]["new_colour_%"] for s in levels]
        scenes = r.get("backgrounds", {})
        pcts = lambda v: " / ".join(f"{x:.0f}" for x in v)   # noqa: E731
        if all(s in scenes for s in levels):
            taken = [scenes[s]["adheres_%"] for s in levels]
            pooled = [(c + b) / 2 for c, b in zip(colours, taken)]
            share = " / ".join(f"{scenes[s]['new_background_share']:.2f}" for s in levels)
            row(rows, "restyle: adherence to the new prompt as strength rises (new colour and new background)",
                f"{pcts(pooled)}% (new colour {pcts(colours)}%; new background {pcts(taken)}%, "
                f"its share of the frame {share})", "rises", rising(pooled))
        else:
            row(rows, "restyle: new colour as strength rises (no background requests at every strength in this report)",
                f"{pcts(colours)}%", "rises", rising(colours))
    if "0.6" in r:
        at = r["0.6"].get("at_object", r["0.6"])   # reports before the object reading: frame-wide
        wide = lambda key: (f" (frame-wide {r['0.6'][key]:.0f}%)" if "at_object" in r["0.6"]   # noqa: E731
                            else " (frame-wide: the report predates the reading at the object)")
        row(rows, "restyle 0.6: new colour, place and motion class kept",
            f"{at['new_colour_in_place_%']:.0f}%{wide('new_colour_in_place_%')}", ">= 80%",
            at["new_colour_in_place_%"] >= 80)
        row(rows, "restyle 0.6: new colour, place and motion's numbers kept",
            f"{at['new_colour_in_place_motion_agrees_%']:.0f}%{wide('new_colour_in_place_motion_agrees_%')}",
            ">= 80%", at["new_colour_in_place_motion_agrees_%"] >= 80)
    return rows
