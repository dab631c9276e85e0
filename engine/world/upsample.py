"""Prompt upsampler: a short user prompt -> a full scene and its detailed training-style caption.

The Sora report upsamples short prompts with an LLM into the detailed style the model was trained on;
here the world is small enough for a parser. `parse` maps words and synonyms onto the scene
vocabulary and reports every word it does not understand; `upsample` keeps every named attribute
exactly and fills the rest from a seeded generator, so the same prompt and seed give the same scene.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .caption import caption
from .scene import Scene, draw_object_count, fill_scene

MAX_PROMPT_OBJECTS = 4


def _table(groups: dict[str, str]) -> dict[str, str]:
    return {w: canon for canon, words in groups.items() for w in words.split()}


COLOUR_WORDS = _table({
    "red": "red crimson scarlet ruby cherry", "orange": "orange amber tangerine",
    "yellow": "yellow golden gold lemon", "green": "green emerald lime",
    "blue": "blue azure navy cyan sapphire cobalt teal", "purple": "purple violet lilac magenta lavender indigo",
    "white": "white snowy ivory", "black": "black jet ebony",
})
SHAPE_WORDS = _table({
    "ball": "ball balls sphere spheres orb orbs circle circles marble marbles",
    "box": "box boxes cube cubes square squares block blocks crate crates",
    "triangle": "triangle triangles pyramid pyramids wedge wedges", "star": "star starfish",
})
DIRECTION_WORDS = _table({"left": "left leftward leftwards", "right": "right rightward rightwards",
                          "up": "up upward upwards", "down": "down downward downwards"})
# Verbs of travel need a direction ("moves left"); alone they only say the object moves.
TRAVEL_VERBS = set(("move moves moving moved roll rolls rolling go goes going travel travels travelling traveling "
                    "slide slides sliding drift drifts drifting glide glides gliding float floats floating "
                    "fly flies flying head heads heading pass passes passing").split())
MOTION_VERBS = _table({
    "up": "rise rises rising ascend ascends ascending climb climbs climbing",
    "down": "fall falls falling drop drops dropping sink sinks sinking descend descends descending",
    "bounce": "bounce bounces bouncing bouncy hop hops hopping jump jumps jumping",
    "grow": "grow grows growing expand expands expanding inflate inflates inflating swell swells swelling",
    "shrink": "shrink shrinks shrinking deflate deflates deflating",
    "still": "still static stationary motionless unmoving idle stay stays staying rest rests resting "
             "sit sits sitting stand stands standing remain remains remaining",
})
BASE_VERBS = set(("move roll go travel slide drift glide float fly head pass rise ascend climb fall drop sink "
                  "descend bounce hop jump grow expand inflate swell shrink deflate stay rest sit stand remain").split())
SPEED_WORDS = _table({"slowly": "slowly slow gently gentle leisurely lazily",
                      "normal": "steadily steady moderately moderate normally",
                      "quickly": "quickly quick fast rapidly rapid swiftly swift speedily briskly"})
SIZE_WORDS = _table({"large": "big large huge giant bigger larger", "small": "small tiny little smaller"})
BACKGROUND_WORDS = _table({"grass": "grass grassy meadow field lawn", "night": "night starry moon moonlit midnight",
                           "desert": "desert sand sandy dunes dune", "ocean": "ocean sea water waves wave beach seaside",
                           "studio": "studio backdrop"})
WEAK_BACKGROUND_WORDS = {"sky": "grass", "skies": "grass", "grey": "studio", "gray": "studio"}  # others win
SCENERY = set(BACKGROUND_WORDS) | set(WEAK_BACKGROUND_WORDS) | {"hills", "hill", "floor", "wall", "background"}
_GETS = {"get", "gets", "getting", "become", "becomes", "becoming", "grows", "grow", "growing", "turns"}
COUNT_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}
STATIC_CAMERA = {"static", "still", "fixed", "stationary", "steady", "locked", "motionless", "unmoving"}
STOPWORDS = set((
    "a an the of over on in across with and is are while to from its it at under through above below behind "
    "front very that which there into onto along as by for then this these those each other both beneath "
    "against among scene video clip shot filmed set setting takes place camera view get gets getting become "
    "becomes becoming turns out again come comes briefly hidden size pace speed open plain clear sunny bright "
    "light pale deep dark hills hill floor wall background frame does not be being will can so too slightly "
    "really fully they them their").split())  # pan / zoom outside a camera phrase stay unknown


@dataclass(frozen=True)
class UpsampleResult:
    caption: str  # the detailed caption, canonical training-style phrasing of `scene`
    scene: Scene
    unknown_words: tuple[str, ...]  # words of the prompt not understood, in order, once each
    named: dict  # the attributes the prompt named, canonical values, None where unnamed


def _tokens(prompt: str) -> list[str]:
    text = prompt.lower().replace("\u2019", "'")
    text = re.sub(r"'s\b", "", text).replace("'", "")
    # Letters of any script: "déplace", "café" or "赤いボール" are reported as unknown words,
    # not cut to "d" / "caf" or dropped in silence (the model would then draw a random scene).
    return re.findall(r"[^\W\d_]+|\d+", text)


def _camera_pass(tokens):
    """(camera or None, consumed indices): pans, zooms and static-camera phrases come first, so
    their 'left', 'in' or 'still' never reach an object."""
    camera, used = None, set()
    for i, w in enumerate(tokens):
        ahead = [(j, tokens[j]) for j in range(i + 1, min(i + 6, len(tokens)))]
        if w in ("pan", "pans", "panning", "panned", "tracks", "tracking", "camera", "view"):
            skip = {"to", "the", "towards", "toward", "is", "stays", "stay", "remains", "remain", "keeps", "does",
                    *CAMERA_PACE, *PAN_VERBS}  # "the camera slowly pans to the right", "pans very slowly left"
            for j, v in ahead:
                if v in ("left", "leftward", "leftwards", "right", "rightward", "rightwards") and (
                        w not in ("camera", "view") or any(t in TRAVEL_VERBS | {"pans", "pan"} for _, t in ahead[:j - i])):
                    camera = "pan_left" if v.startswith("left") else "pan_right"
                    used |= set(range(i, j + 1)) | _pace_before(tokens, i)
                    break
                if w in ("camera", "view") and v in STATIC_CAMERA:
                    camera, used = "static", used | set(range(i, j + 1))
                    break
                if w in ("camera", "view") and v == "not" and j + 1 < len(tokens) and tokens[j + 1] in TRAVEL_VERBS:
                    camera, used = "static", used | set(range(i, j + 2))
                    break
                if v not in skip and v not in TRAVEL_VERBS:
                    break
            if w == "camera" and i > 0 and tokens[i - 1] in STATIC_CAMERA:
                camera, used = "static", used | {i - 1, i}
        if w in ("zoom", "zooms", "zooming", "zoomed"):
            k = next((j for j, v in ahead if v not in CAMERA_PACE), None)   # "zooms slowly out"
            if k is not None and tokens[k] in ("in", "into", "out"):
                camera = "zoom_out" if tokens[k] == "out" else "zoom_in"
                used |= set(range(i, k + 1)) | _pace_before(tokens, i)
    return camera, used


PAN_VERBS = {"pan", "pans", "panning", "panned"}
CAMERA_PACE = set(SPEED_WORDS) | {"very", "really", "slightly"}  # words of pace a camera move may carry


def _pace_before(tokens, i) -> set:
    """Indices of the pace words right before a camera verb ("the camera slowly zooms in"): the
    camera's, not an object's."""
    used = set()
    while i - 1 >= 0 and tokens[i - 1] in CAMERA_PACE:
        i -= 1
        used.add(i)
    return used


class _Parser:
    def __init__(self, tokens):
        self.tokens = tokens
        self.objects: list[dict] = []  # colour shape motion speed size, plus count and moving
        self.targets: list[int] = []  # the objects motion and speed words attach to
        self.open: int | None = None  # an object still waiting for its shape ("a red ...")
        self.pending: dict = {}  # attributes met before any object ("a bouncing red ball")
        self.background, self.strong = None, False
        self.occlusion = None

    def new(self, **attrs):
        obj = dict(colour=None, shape=None, motion=None, speed=None, size=None, count=1, moving=False)
        obj.update(self.pending)
        obj.update(attrs)
        self.pending = {}
        self.objects.append(obj)
        self.targets = [len(self.objects) - 1]
        return len(self.objects) - 1

    def next_is_noun(self, i):
        nxt = self.tokens[i + 1] if i + 1 < len(self.tokens) else ""
        return nxt in SHAPE_WORDS or nxt in COLOUR_WORDS or nxt in SIZE_WORDS or nxt == "dark"

    def adjective(self, i, key, value):
        """A colour or size word: fills the open object, else starts one, else describes the last."""
        if self.open is not None and self.objects[self.open][key] is None:
            self.objects[self.open][key] = value
            return
        current = self.targets[-1] if self.targets else -1   # last named, or referred to ("the ball")
        if self.next_is_noun(i) or not self.objects or self.objects[current][key] is not None:
            self.open = self.new(**{key: value})
        else:  # "a ball that is red"; "... The ball is red"
            self.objects[current][key] = value

    def shape(self, value):
        if self.open is not None:
            self.objects[self.open]["shape"] = value
            self.targets, self.open = [self.open], None
        else:
            self.new(shape=value)
        if self.pending.get("count"):
            self.objects[self.targets[0]]["count"] = self.pending.pop("count")

    def motion(self, i, value):
        """value: a MOTIONS word, or 'moving' for a travel verb that still needs a direction."""
        w = self.tokens[i]
        prev = self.tokens[i - 1] if i > 0 else ""
        if (w.endswith("ing") and self.next_is_noun(i)) or not self.objects:  # "a bouncing red ball"
            self.pending.update(moving=True) if value == "moving" else self.pending.update(motion=value)
            return
        if w in BASE_VERBS and len(self.objects) >= 2 and prev not in ("to", "does", "not", "will", "can"):
            group = [k for k, o in enumerate(self.objects) if o["motion"] is None]  # "a ball and a box bounce"
            self.targets = group or self.targets
        for k in self.targets:
            obj = self.objects[k]
            if value == "moving":
                obj["moving"] = obj["motion"] is None
            elif obj["motion"] is None:  # the first motion named wins
                obj["motion"], obj["moving"] = value, False

    def direction(self, value):
        if not self.objects:
            self.pending["motion"] = value
        for k in self.targets:
            if self.objects[k]["motion"] is None:
                self.objects[k]["motion"], self.objects[k]["moving"] = value, False

    def behind(self, i):
        """'behind the yellow box': the current object passes behind that one. Returns tokens used."""
        j = i + 1
        while j < len(self.tokens) and self.tokens[j] in ("the", "a", "an"):
            j += 1
        attrs, j = _noun_phrase(self.tokens, j)
        if attrs.get("shape"):
            j += 1
        else:
            attrs.pop("shape")                       # "behind the red one": its colour alone
        if not attrs:
            return 0
        mover = self.targets[0] if self.targets else None
        match = [k for k, o in enumerate(self.objects) if k != mover and all(o[a] == v for a, v in attrs.items())]
        targets = self.targets
        front = match[0] if match else self.new(**{**attrs, "motion": None})
        self.targets = targets
        if mover is not None:
            self.occlusion = (mover, front)
        return j - i - 1

    def set_background(self, value, strong):
        if self.background is None or (strong and not self.strong):
            self.background, self.strong = value, strong


# Words that may stand between a number and its shape: "two bouncing red balls", "three very
# small boxes", "two big bright red balls".
_BEFORE_SHAPE = {"very", "really", "slightly", "bright", "pale", "deep", "light", "little", "tiny", "shiny",
                 "dark"}


def _counts_objects(tokens, i) -> bool:
    """Whether the number at tokens[i] counts objects: it does when its noun phrase ends in a
    shape ("two red balls", "3 big stars", "two bouncing balls"); "10 seconds", "24fps", "in 2024"
    or "3 cats" count nothing the world can draw, so the number is not a request for objects."""
    j = i + 1
    while j < len(tokens) and j <= i + 4 and (
            tokens[j] in COLOUR_WORDS or tokens[j] in SIZE_WORDS or tokens[j] in SPEED_WORDS
            or tokens[j] in _BEFORE_SHAPE
            or (tokens[j].endswith("ing") and (tokens[j] in MOTION_VERBS or tokens[j] in TRAVEL_VERBS))):
        j += 1
    return j < len(tokens) and (tokens[j] in SHAPE_WORDS or tokens[j] == "stars")


def _noun_phrase(tokens, j) -> tuple[dict, int]:
    """The object a noun phrase at tokens[j:] describes: its size and colour words, then its
    shape ("big dark ball" -> size, colour black, shape ball). Returns the attributes, with
    "shape" None where no shape word ends them, and the index of the shape word (or of the
    first word that is none of these)."""
    attrs = {}
    while j < len(tokens) and (tokens[j] in COLOUR_WORDS or tokens[j] in SIZE_WORDS or tokens[j] == "dark"):
        if tokens[j] in SIZE_WORDS:
            attrs["size"] = SIZE_WORDS[tokens[j]]
        else:
            attrs["colour"] = "black" if tokens[j] == "dark" else COLOUR_WORDS[tokens[j]]
        j += 1
    word = tokens[j] if j < len(tokens) else ""
    attrs["shape"] = SHAPE_WORDS.get(word, "star" if word == "stars" else None)
    return attrs, j


def _mentioned(p: "_Parser", tokens, i) -> int:
    """At "the" (tokens[i]) before a noun phrase that fits an object already named ("a red ball
    rolls left. The red ball then bounces"; "the ball" fits it too): make that object the one the
    next words describe and return how many tokens the phrase holds; 0 where nothing fits."""
    attrs, j = _noun_phrase(tokens, i + 1)
    if tokens[j:j + 1] == ["stars"] and j == i + 1:
        return 0                                        # bare "the stars" is the night sky; "the yellow stars" fit
    if attrs["shape"] is None or (j + 1 < len(tokens) and tokens[j + 1] == "of"):     # "the ball of wool"
        return 0
    fits = [k for k, o in enumerate(p.objects) if all(o[a] == v for a, v in attrs.items())]
    if not fits:
        return 0
    p.targets, p.open = [fits[-1]], None
    return j - i


def _parse(prompt: str):
    tokens = _tokens(prompt)
    camera, used = _camera_pass(tokens)
    p = _Parser(tokens)
    unknown: list[str] = []
    skip = 0
    for i, w in enumerate(tokens):
        if skip:
            skip -= 1
            continue
        if i in used:
            continue
        prev = tokens[i - 1] if i > 0 else ""
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        if w == "the" and (back := _mentioned(p, tokens, i)):
            skip = back                # "the red ball" again: the object already named, not a new one
            continue
        if (w in COUNT_WORDS or w.isdecimal()) and _counts_objects(tokens, i):
            count = COUNT_WORDS[w] if w in COUNT_WORDS else int(w)
            if count < 1:
                raise ValueError(f"a prompt cannot ask for {w} objects")
            if count > MAX_PROMPT_OBJECTS:                 # refused here: never a billion objects built
                raise ValueError(f"the prompt asks for {count} objects; at most {MAX_PROMPT_OBJECTS} are supported")
            p.pending["count"] = count
        elif w == "dark" and nxt in SHAPE_WORDS:
            p.adjective(i, "colour", "black")
        elif w in COLOUR_WORDS and nxt not in SCENERY:
            p.adjective(i, "colour", COLOUR_WORDS[w])
        elif w in ("bigger", "larger", "smaller") and _GETS & set(tokens[max(0, i - 5):i]):  # "gets (...) bigger"
            p.motion(i, "grow" if w != "smaller" else "shrink")
        elif w in SIZE_WORDS:
            p.adjective(i, "size", SIZE_WORDS[w])
        elif w == "stars" and (prev in COLOUR_WORDS or prev in SIZE_WORDS or prev in COUNT_WORDS or prev.isdigit()):
            p.shape("star")
        elif w in SHAPE_WORDS:
            p.shape(SHAPE_WORDS[w])
        elif w == "behind":
            skip = p.behind(i)
        elif w in TRAVEL_VERBS:
            p.motion(i, "still" if prev == "not" else "moving")
        elif w in MOTION_VERBS:
            p.motion(i, MOTION_VERBS[w])
        elif w in DIRECTION_WORDS:
            p.direction(DIRECTION_WORDS[w])
        elif w in SPEED_WORDS:
            for k in p.targets or []:
                if p.objects[k]["speed"] is None:
                    p.objects[k]["speed"] = SPEED_WORDS[w]
            if not p.objects:
                p.pending["speed"] = SPEED_WORDS[w]
        elif w in BACKGROUND_WORDS or w == "stars":
            p.set_background(BACKGROUND_WORDS.get(w, "night"), strong=True)
        elif w in WEAK_BACKGROUND_WORDS:
            p.set_background(WEAK_BACKGROUND_WORDS[w], strong=False)
        elif w in COLOUR_WORDS or w in STOPWORDS or w == "one":
            pass  # a colour of the scenery ("blue sky"), "a blue one", or a word with no attribute
        elif w not in unknown:
            unknown.append(w)
    if p.pending and not p.objects:  # "something bouncing slowly": attributes without a noun
        p.new()
    return p, camera, tuple(unknown)


def _named(prompt: str):
    """(named, unknown_words, moving): moving lists objects with a travel verb but no direction."""
    p, camera, unknown = _parse(prompt)
    objects, index, moving = [], {}, []
    for k, obj in enumerate(p.objects):
        index[k] = len(objects)
        moving += list(range(len(objects), len(objects) + obj["count"])) if obj["moving"] else []
        objects += [{key: obj[key] for key in ("colour", "shape", "motion", "speed", "size")}
                    for _ in range(obj["count"])]
    if len(objects) > MAX_PROMPT_OBJECTS:
        raise ValueError(f"the prompt names {len(objects)} objects; at most {MAX_PROMPT_OBJECTS} are supported")
    occlusion = None if p.occlusion is None else (index[p.occlusion[0]], index[p.occlusion[1]])
    named = {"objects": objects, "background": p.background, "camera": camera, "occlusion": occlusion}
    return named, unknown, moving


def parse(prompt: str) -> tuple[dict, tuple[str, ...]]:
    """(named, unknown_words): the attributes a prompt names, as canonical vocabulary values.

    named = {"objects": [{"colour", "shape", "motion", "speed", "size"}...], "background", "camera",
    "occlusion": (behind index, front index) or None}; unnamed values are None.
    """
    named, unknown, _ = _named(prompt)
    return named, unknown


def upsample(prompt: str, seed: int, duration_s: float = 2.0) -> UpsampleResult:
    """Expand `prompt` into a scene (named attributes kept, the rest drawn from `seed`) and its caption.

    A named path too long for the clip is kept anyway: the object stops at the frame edge.
    Raises ValueError for an impossible request (e.g. an occlusion in a clip too short for it).
    """
    named, unknown, moving = _named(prompt)
    rng = np.random.default_rng(seed)
    requests = [dict(o) for o in named["objects"]] or [{} for _ in range(draw_object_count(rng, 3))]
    movers = ("left", "right") if named["occlusion"] else ("left", "right", "up", "down")
    for k in moving:  # a travel verb without a direction: the object moves, its way is drawn
        requests[k]["motion"] = movers[int(rng.integers(len(movers)))]
    scene = fill_scene(rng, duration_s, background=named["background"], camera=named["camera"],
                       objects=requests, occlusion=named["occlusion"])
    return UpsampleResult(caption(scene), scene, unknown, named)
