"""The embedded procedural world the video model trains on: an unlimited stream of captioned clips.

scene.py    vocabulary, Scene / ObjectSpec, motion and camera (object_position is ground truth), sampling
render.py   Scene -> frames (T, H, W, 3) uint8 at any size, frame count and fps; visible masks
caption.py  Scene -> detailed training-style caption (the Sora report's re-captioning)
upsample.py short user prompt -> named attributes kept, the rest seeded -> Scene + caption

Coordinates are normalized (x in frame widths, y in frame heights, radius in min(W, H)), so one
scene renders natively at any aspect. No torch here: the world is plain numpy + cv2.
"""
from .caption import caption
from .render import render, render_with_masks
from .scene import (BACKGROUNDS, CAMERAS, COLOUR_RGB, COLOURS, MOTIONS, SHAPES, SPEEDS, ObjectSpec, Scene,
                    fill_scene, layer_transform, object_position, object_track, occlusions, sample_scene)
from .upsample import UpsampleResult, parse, upsample

__all__ = [
    "BACKGROUNDS", "CAMERAS", "COLOURS", "COLOUR_RGB", "MOTIONS", "SHAPES", "SPEEDS", "ObjectSpec", "Scene",
    "UpsampleResult", "caption", "fill_scene", "layer_transform", "object_position", "object_track",
    "occlusions", "parse", "render", "render_with_masks", "sample_scene", "upsample",
]
