"""Captioner: a Scene -> a detailed caption in the training style.

Following the Sora report's re-captioning (Brooks et al. 2024, after DALL-E 3): the model trains on
long, exact captions of what is on screen, and short user prompts are upsampled into the same style
(upsample.py). Every caption names each object's colour, shape and motion (with a speed word unless
still), the background, the camera, and any object passing behind another.

With an rng, phrasing varies (templates, verbs, synonyms) so training sees varied language; every
variant keeps words that upsample.parse maps back to the same attributes. Without one, the single
canonical phrasing is used. Captions stay short for a 64-token text encoder (< ~45 words).
"""
from __future__ import annotations

import numpy as np

from .scene import SIZE_RANGES, Scene, occlusions

# Index 0 of every tuple is the canonical phrasing.
BACKGROUND_PHRASES = {
    "grass": ("on green grass under a blue sky", "on a grassy meadow under a clear sky",
              "across a green grass field beneath a blue sky"),
    "night": ("under a starry night sky above dark hills", "on dark hills at night under the stars",
              "in a night scene with stars over dark hills"),
    "desert": ("on desert sand dunes under a pale sky", "among the dunes of a sandy desert",
               "in a sunny desert with sand dunes"),
    "ocean": ("over ocean waves under a blue sky", "above the waves of the sea", "over the open ocean"),
    "studio": ("in a grey studio", "in a plain grey studio", "against a grey studio backdrop"),
}
CAMERA_PHRASES = {
    "static": ("The camera is static.", "The camera stays still.", "It is filmed with a static camera."),
    "pan_left": ("The camera pans left.", "The camera pans to the left.", "The view pans leftward."),
    "pan_right": ("The camera pans right.", "The camera pans to the right.", "The view pans rightward."),
    "zoom_in": ("The camera zooms in.", "The view zooms in.", "The camera zooms in on the scene."),
    "zoom_out": ("The camera zooms out.", "The view zooms out.", "The camera zooms out from the scene."),
}
SPEED_PHRASES = {
    "slowly": ("slowly", "gently", "leisurely"),
    "normal": ("steadily", "at a steady pace", "at a moderate speed"),
    "quickly": ("quickly", "fast", "rapidly", "swiftly"),
}
# (verb, direction) pairs; the speed phrase goes between or after them.
_TRAVEL = ("moves", "travels", "glides", "drifts")
MOTION_PHRASES = {
    "left": tuple((v, d) for d in ("to the left", "leftward") for v in _TRAVEL),
    "right": tuple((v, d) for d in ("to the right", "rightward") for v in _TRAVEL),
    "up": (("moves", "upward"), ("rises", ""), ("floats", "up"), ("drifts", "upward")),
    "down": (("moves", "downward"), ("sinks", ""), ("falls", ""), ("drops", "down")),
    "bounce": (("bounces", ""), ("bounces", "up and down"), ("hops", "")),
    "grow": (("grows", ""), ("grows", "larger"), ("expands", ""), ("gets", "bigger")),
    "shrink": (("shrinks", ""), ("gets", "smaller"), ("shrinks", "in size")),
}
STILL_PHRASES = ("stays still", "sits still", "rests motionless", "remains stationary")
OCCLUSION_PHRASES = ("passes behind the {}", "goes behind the {} and comes out again",
                     "is briefly hidden behind the {}")


def _pick(rng, options):
    return options[0] if rng is None else options[int(rng.integers(len(options)))]


def _size_word(size: float) -> str:
    """Only clearly small or large objects get a size word, so the word is reliable when present."""
    return "small " if size <= SIZE_RANGES["small"][1] else "large " if size >= SIZE_RANGES["large"][0] else ""


def _article(phrase: str) -> str:
    return "An" if phrase[0] in "aeiou" else "A"


def _object_clause(obj, rng) -> tuple[str, str]:
    """(noun phrase, verb phrase) for one object, e.g. ("red ball", "moves slowly to the right")."""
    noun = f"{_size_word(obj.size)}{obj.colour} {obj.shape}"
    if obj.motion == "still":
        return noun, _pick(rng, STILL_PHRASES)
    verb, direction = _pick(rng, MOTION_PHRASES[obj.motion])
    if obj.motion in ("left", "right") and obj.shape == "ball" and rng is not None and rng.random() < 0.3:
        verb = "rolls"  # only balls roll
    speed = _pick(rng, SPEED_PHRASES[obj.speed])
    # Canonical order puts the speed right after the verb; variants may move it after the direction.
    # A one-word speed may sit between verb and direction, never inside "gets bigger" or "up and down".
    between = " " not in speed and direction in ("", "to the left", "to the right", "leftward", "rightward",
                                                 "upward", "downward", "up", "down")
    parts = [verb, speed, direction] if between and (rng is None or rng.random() < 0.5) else [verb, direction, speed]
    return noun, " ".join(p for p in parts if p)


def caption(scene: Scene, rng: np.random.Generator | None = None) -> str:
    """A detailed caption of `scene`; rng None gives the canonical phrasing, an rng varies it."""
    pairs = occlusions(scene)
    behind = {i: j for i, j in pairs}  # each mover names the first object it passes behind
    # Objects in front of an occlusion are described before the object passing behind them.
    fronts = [j for _, j in pairs]
    order = sorted(range(len(scene.objects)), key=lambda k: (k not in fronts, k))
    clauses = []
    for k in order:
        noun, verb = _object_clause(scene.objects[k], rng)
        if k in behind:
            front = scene.objects[behind[k]]
            verb += " and " + _pick(rng, OCCLUSION_PHRASES).format(f"{front.colour} {front.shape}")
        clauses.append((noun, verb))
    setting = _pick(rng, BACKGROUND_PHRASES[scene.background])
    style = 0 if rng is None else int(rng.integers(3))
    sentences = []
    for n, (noun, verb) in enumerate(clauses):
        if style == 2 and n == 0:
            sentences.append(f"There is {_article(noun).lower()} {noun} that {verb}.")
        else:
            sentences.append(f"{_article(noun)} {noun} {verb}.")
    if style == 1:  # the setting opens the caption
        sentences.insert(0, f"The scene is set {setting}.")
    else:  # the setting completes the first sentence
        sentences[0] = sentences[0][:-1] + f" {setting}."
    sentences.append(_pick(rng, CAMERA_PHRASES[scene.camera]))
    return " ".join(sentences)
