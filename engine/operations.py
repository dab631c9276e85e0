"""Operations: each one builds a plan for the one sampler; none runs its own loop.

A plan is the latent shape to produce, the latent frames that are known and how strongly each is
known (Open-Sora's masks; LTX-Video's conditioning items). Text-to-video and text-to-image know
nothing; the editing operations fill `known` and `mask` from the latents of their inputs.

Because the VAE is causal, latent frame 0 codes pixel frame 0 alone and latent i >= 1 codes
pixel frames f(i-1)+1 .. f*i (f the temporal factor). Known material at the *start* of a clip is
therefore exact (a clip's latents do not depend on what follows). Known material later in a clip
(extend backward, the far side of a blend or loop) uses the clip's own latents 1..m, which were
encoded after its first frame only: a close approximation, and the seam is generated anyway.

Every edit also says which output pixel frames are the input's own pixels (`keep`): those come back
unchanged, so "the original frames unchanged" holds exactly, not up to VAE reconstruction. The
generated frames next to them are corrected by the VAE's own error at the boundary (`splice`), so
the seam does not jump from decoded texture to original texture.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import cv2
import numpy as np
import torch

from engine.sampler import ConditioningPlan, shift_time


@dataclass(frozen=True)
class Edit:
    """A plan plus how its decoded frames become the result."""
    plan: ConditioningPlan
    pixels: np.ndarray | None      # (T, H, W, 3) uint8 input pixels on the plan's pixel frames
    keep: np.ndarray               # (T,) bool: output these frames from `pixels`, unchanged
    output: slice = field(default_factory=lambda: slice(None))  # plan pixel frames in the result
    notes: dict = field(default_factory=dict)
    decode_phases: int | None = None  # decode with this many phases (None: the card's)
    detail: float = 0.0   # weight of the input's lost detail put back where the result kept it
    even_pace: bool = False  # retime the generated frames between kept ones to an even change (even_pace)
    held_detail: np.ndarray | None = None  # (T, H, W) detail weight at least this (hold_objects)
    # (T, H, W) in [0, 1]: this share of the lost detail put back whatever the result shows there
    # (hold_objects: a held object's own pixels)
    object_detail: np.ndarray | None = None


SEAM_FADE_FRAMES = 8  # generated frames over which a seam's correction fades out
# Transitions (interpolate, loop) start from a latent crossfade known at this mask: enough to keep
# a weak model from holding A and cutting to B, little enough that the model makes the motion.
TRANSITION_GUIDE = 0.3
# A transition longer than one generation is made in windows (Engine.interpolate), and a window
# that does not reach B sees nothing of it but this guide, so there it is stronger. On the pair
# furthest apart of sixteen (an 11-second transition), re-planned from each window's start, the
# largest jump was 2.75x the clips' median at 0.3, 2.08x at 0.5 and 1.96x at 0.7.
WINDOW_GUIDE = 0.5
# A transition between two scenes is sampled without classifier-free guidance (scale 1: the
# prompt still conditions it) unless the caller asks for a scale: guided at the card's 6, the
# prompt pulls the frames next to A toward B's scene at once. A 3-second transition's largest
# frame change fell from 4.6x to 2.5x the clips' median, before even_pace (`python
# bench/operations.py --only interpolate --transition-guidance G`; docs/model-notes.md).
TRANSITION_GUIDANCE = 1.0
# Interpolation retimes its transition to an even pace of change (even_pace): on the same eight
# 3-second transitions the largest jump fell from 2.5x to 1.70x, within 2.5x in 4 -> 7 of 8 pairs;
# 1.62x and 7 of 8 on a second set (`--seed 7`; `--even-pace 0` turns it off).
EVEN_PACE = True
# Left to itself from the guide, the model spends most of a scene change on the transition's
# first frames. Holding the crossfade's ends (mask at least hold * decay^k, k latent frames from
# the nearer end; interpolate_edit) pushes the change into the middle. At 0.9, 0.6 the largest
# jump fell 6.0x -> 5.0x and 4.6x -> 3.5x on two sets of eight pairs but rose 7.7x -> 8.4x on a
# third, with no more pairs within 2.5x on any (`python bench/operations.py --only [loop]
# interpolate --transition-hold H D`; docs/model-notes.md). Not robust, so interpolate does not
# hold.
TRANSITION_HOLD = 0.0
TRANSITION_HOLD_DECAY = 1.0
# A loop joins a scene to itself, and there the same hold helps: on three sets of eight clips
# (`python bench/operations.py --only loop`, `--only extend_backward loop`, `--only animate
# extend_forward extend_backward loop`, `--loop-hold 0 1` against 0.9 0.6) the wrap went 1.08x ->
# 0.83x, 1.27x -> 0.90x and 0.72x -> 0.66x the clip's median frame change, within 2x 8 -> 8, 6 -> 7
# and 7 -> 7 of 8.
LOOP_HOLD = 0.9
LOOP_HOLD_DECAY = 0.6
# A forward extension's i-th new latent frame starts from the clip's last latent frame, known at
# mask EXTEND_HOLD * EXTEND_HOLD_DECAY ** i (LTX-Video's conditioning strength below 1): the first
# new frames begin near where the clip stopped and the later ones are free. Left free, the first
# new latent frame jumped away from the clip and the seam jumped 4.2x the clip's median frame
# change (`python bench/operations.py --only extend_forward --n 8`); held so, 1.6x. On a second
# set of eight (after `animate`'s draws) 3.5x -> 1.7x, and one clip's colour was lost
# (docs/model-notes.md).
EXTEND_HOLD = 0.7
EXTEND_HOLD_DECAY = 0.7
# A forward extension decodes with two phases (VideoVAE.decode): its seam is the first frame of a
# latent group, where one decode puts a group's change. With the hold above, the seam fell 1.64x
# -> 1.03x and 1.72x -> 1.09x the clip's median frame change on two sets of eight, within 2x 7 -> 8
# and 5 -> 7 of 8, colour kept unchanged (8 and 6 of 8); all four phases did no better (0.91x,
# 1.03x) at twice the extra decode (`python bench/operations.py --only [animate] extend_forward
# --extend-phases P`). A backward seam ends a group, the quietest frame, and keeps one decode.
EXTEND_DECODE_PHASES = 2
# A backward extension's new frames, held the same way to the clip's first latent group (the new
# frame next to the clip most). On two sets of eight clips (`python bench/operations.py --only
# extend_backward` and `--only extend_forward extend_backward`, `--backward-hold 0 1` against the
# default) the seam went 1.08x -> 0.63x and 1.08x -> 0.72x the clip's median frame change, clips
# within 2x 7 -> 8 and 6 -> 7 of 8, colour kept 8 -> 8 and 6 -> 7 of 8.
BACKWARD_HOLD = 0.7
BACKWARD_HOLD_DECAY = 0.7


def splice(decoded: np.ndarray, pixels: np.ndarray, keep: np.ndarray,
           fade: int = SEAM_FADE_FRAMES) -> np.ndarray:
    """Decoded frames (T, H, W, 3) uint8 with the kept frames replaced by `pixels`, seams blended.

    At a kept frame next to generated ones, the residual r = original - decoded is the VAE's error
    there (decoded texture is softer than the original). Generated frames take r, fading to zero
    over `fade` frames, so the cut from decoded to original frames is as smooth as the decoded
    video itself. A gap of at most 2 * fade generated frames between two kept runs takes the
    linear blend of both residuals (the 1-D harmonic fill), which meets each side exactly."""
    if decoded.shape != pixels.shape or keep.shape != (len(decoded),):
        raise ValueError(f"splice: decoded {decoded.shape}, pixels {pixels.shape}, keep {keep.shape} disagree")
    out = decoded.copy()
    out[keep] = pixels[keep]
    kept = np.flatnonzero(keep)
    if len(kept) == 0 or len(kept) == len(keep) or fade < 1:
        return out
    residual = {}
    def r(i):  # (H, W, 3) float32, computed once per boundary frame
        if i not in residual:
            residual[i] = pixels[i].astype(np.float32) - decoded[i].astype(np.float32)
        return residual[i]
    for i in np.flatnonzero(~keep):
        left = kept[kept < i]
        right = kept[kept > i]
        L = int(left[-1]) if len(left) else None
        R = int(right[0]) if len(right) else None
        if L is not None and R is not None and R - L - 1 <= 2 * fade:
            n = R - L
            corr = r(L) * ((R - i) / n) + r(R) * ((i - L) / n)
        else:
            corr = np.zeros(decoded.shape[1:], np.float32)
            for b, d in ((L, None if L is None else i - L), (R, None if R is None else R - i)):
                if b is not None and d <= fade:
                    corr += r(b) * (1.0 - (d - 1) / fade)
        out[i] = np.clip(decoded[i].astype(np.float32) + corr, 0, 255).round().astype(np.uint8)
    return out


def frame_changes(frames: np.ndarray) -> np.ndarray:
    """Mean absolute change (T - 1,) between neighbouring frames of (T, H, W, 3), in 0-255 levels."""
    return np.abs(np.diff(frames.astype(np.float32), axis=0)).mean(axis=(1, 2, 3))


# Interpolation without a length asked for (Engine.interpolate) makes its transition long enough
# that an even crossfade from A's last frame to B's first changes each frame by at most
# TRANSITION_PACE times the clips' own median frame change. The generated, retimed transition's
# largest step runs about 1.3x to 1.9x that crossfade's, so this aims under the bench's 2.5x. On
# three sets of eight pairs the largest jump went from 1.70x / 1.62x / 2.31x the clips' median at
# a fixed 3 s to 1.63x / 1.60x / 1.86x, pairs within 2.5x 7 / 7 / 4 -> 7 / 8 / 8 of 8, at 2 to 6 s
# (median 3.2 / 2.8 / 4.3 s) (`python bench/operations.py --only interpolate [--seed 7]`, and
# `--only animate extend_forward extend_backward loop interpolate`; docs/model-notes.md).
TRANSITION_PACE = 1.25
# Clips that hardly move (a still held as a clip) have no pace of their own: their median frame
# change counts as at least this many levels.
STILL_CHANGE = 0.5


def transition_gaps(a: np.ndarray, b: np.ndarray, pace: float = TRANSITION_PACE) -> float:
    """Frame changes (a fraction; the caller rounds) that a transition from a's last frame to b's
    first needs for an even crossfade to change each frame by at most `pace` times the median
    frame change inside a and b ((T, H, W, 3) uint8, the frames next to the transition)."""
    if pace <= 0:
        raise ValueError(f"pace must be positive, got {pace}")
    inside = np.concatenate([frame_changes(a), frame_changes(b)])
    own = max(float(np.median(inside)) if inside.size else 0.0, STILL_CHANGE)
    return float(frame_changes(np.stack([a[-1], b[0]]))[0]) / (pace * own)


def even_pace(frames: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Frames (T, H, W, 3) uint8 with each generated run between two kept frames retimed so that
    every frame-to-frame change along it is the same size; kept frames are unchanged.

    Along a run from kept frame L to kept frame R, d_k is the mean absolute change from frame k
    to k + 1 and c the cumulative change. Output frame j (L < j < R) sits where c reaches
    (j - L) / (R - L) of its total: the blend of the two frames around that point, by how far
    between them it lies. A blend of two frames changes from each in proportion to its weight,
    so no step is larger than the run's total change over its number of steps: a transition that
    the model spends on a few frames keeps its pictures but no longer lurches. Where change is
    quick, neighbouring generated frames are mixed (a frame blend), never frames across a cut.
    Runs touching either end of the clip have one kept side and are left as they are."""
    if keep.shape != (len(frames),):
        raise ValueError(f"even_pace: {len(frames)} frames but keep is {keep.shape}")
    out = frames.copy()
    kept = np.flatnonzero(keep)
    for L, R in zip(kept[:-1], kept[1:]):
        if R - L < 3:                     # one generated frame (or none): nothing to retime
            continue
        run = frames[L:R + 1].astype(np.float32)                        # (n + 1, H, W, 3)
        d = frame_changes(run)                                          # (n,) change per step
        c = np.concatenate([[0.0], np.cumsum(d)])                       # (n + 1,)
        n = R - L
        for j in range(1, n):
            target = c[-1] * j / n
            k = int(np.clip(np.searchsorted(c, target, side="right") - 1, 0, n - 1))
            a = 0.0 if d[k] <= 0 else float(np.clip((target - c[k]) / d[k], 0.0, 1.0))
            out[L + j] = np.clip((1 - a) * run[k] + a * run[k + 1], 0, 255).round().astype(np.uint8)
    return out


# Restyle puts back RESTYLE_DETAIL * (1 - strength) of the input's detail that the VAE loses, where
# the result kept the input's content (restore_detail). On panning clips of the bench's six
# photographs, PSNR to the input at strength 0.1 rose from 22.0 to 23.0 dB, and on eight world clips
# at 0.3 from 24.0 to 24.7 dB, the new colour unchanged (`python bench/operations.py --only restyle
# [--restyle-detail 0]`; docs/model-notes.md).
RESTYLE_DETAIL = 1.0
# Levels of change (0-255) at which a pixel counts as redrawn: agreement exp(-(d / tau)^2) is 0.78
# at 6 levels, 0.37 at 12 and 0.02 at 24.
DETAIL_TAU = 12.0


def restore_detail(frames: np.ndarray, pixels: np.ndarray, reconstructed: np.ndarray,
                   weight: float | np.ndarray, tau: float = DETAIL_TAU,
                   exact: np.ndarray | None = None) -> np.ndarray:
    """Put back the input's detail that the VAE loses, where an edit kept the input's content.

    frames: the edit's decoded result; pixels: the input; reconstructed: the input's own latent
    decoded (all (T, H, W, 3) uint8). r = pixels - reconstructed is what the VAE's round trip
    loses (texture, fine edges: a photograph comes back at about 25 dB). Where the result still
    agrees with the reconstruction (change d, a pixel's largest over its channels, smoothed), that
    part was not redrawn, and the result takes weight * exp(-(d / tau)^2) * r: a light restyle of
    footage keeps its detail, while redrawn parts get none (no ghost of the old content).
    weight: one share, or a share per pixel (T, H, W). exact (T, H, W) in [0, 1]: at least this
    share is put back whatever the result shows (an object held exactly: its decode differs from
    the input's round trip only because the decoder also reads the redrawn cells around it)."""
    if not frames.shape == pixels.shape == reconstructed.shape:
        raise ValueError(f"restore_detail: {frames.shape}, {pixels.shape}, {reconstructed.shape} disagree")
    weight = np.asarray(weight, np.float32)
    if weight.ndim and weight.shape != frames.shape[:3]:
        raise ValueError(f"detail weights {weight.shape} do not match frames {frames.shape[:3]}")
    if weight.size == 0 or not np.all((weight >= 0.0) & (weight <= 1.0)):    # NaN fails too
        raise ValueError("detail weights must be in [0, 1]")
    if exact is not None and (exact.shape != frames.shape[:3] or not np.all((exact >= 0.0) & (exact <= 1.0))):
        raise ValueError(f"exact detail weights must be (T, H, W) {frames.shape[:3]} in [0, 1]")
    if float(weight.max()) == 0.0 and (exact is None or float(exact.max()) == 0.0):
        return frames
    out = np.empty_like(frames)
    for i in range(len(frames)):   # frame by frame: three float copies of one frame, not of the clip
        f, rec = frames[i].astype(np.float32), reconstructed[i].astype(np.float32)
        d = cv2.GaussianBlur(np.abs(f - rec).max(axis=2), (5, 5), 0)
        agree = (weight[i] if weight.ndim else weight) * np.exp(-(d / tau) ** 2)
        agree = (agree if exact is None else np.maximum(agree, exact[i]))[..., None]
        out[i] = np.clip(f + agree * (pixels[i].astype(np.float32) - rec), 0, 255).round().astype(np.uint8)
    return out


# Restyle holds the cells of an object it recoloured (engine/recolour.py) at RECOLOUR_HOLD times
# (1 - strength), at most 1: fully up to strength 0.6, then less, so strength 1 still ignores the
# input. On eight clips at 0.6 the new colour, the object's place and its motion were kept together
# in 3 of 8 not held, 5 of 8 at 1.0. At 2.5 the object's size no longer drifts under the model's
# refinement: its class of motion was kept in 5 -> 7 of 8 (1.5: 6) and 6 -> 6 of 8 on two sets,
# colour and place unchanged, PSNR to the input within 0.1 dB at every strength (`python
# bench/operations.py --only restyle [--seed 7] [--recolour-hold H]`; docs/model-notes.md).
RECOLOUR_HOLD = 2.5


def pixel_frames(num_latent: int, f: int) -> int:
    return 1 + f * (num_latent - 1)


def latent_groups(num_latent: int, f: int) -> list[slice]:
    """The pixel frames each latent frame codes (causal VAE): frame 0 alone, then groups of f."""
    return [slice(0, 1)] + [slice(1 + f * i, 1 + f * (i + 1)) for i in range(num_latent - 1)]


def generate_plan(latent_shape: tuple[int, int, int, int]) -> ConditioningPlan:
    """Text to video: every latent frame (C, t, h, w) starts from noise."""
    return ConditioningPlan(shape=latent_shape)


def image_plan(latent_shape: tuple[int, int, int, int]) -> ConditioningPlan:
    """Text to image: a one-latent-frame video, since the VAE codes the first frame alone."""
    if latent_shape[1] != 1:
        raise ValueError(f"an image is one latent frame, got {latent_shape[1]}")
    return ConditioningPlan(shape=latent_shape)


def _blank(C, t, h, w, f, H, W):
    known = torch.zeros(C, t, h, w)
    mask = torch.zeros(t)
    T = pixel_frames(t, f)
    return known, mask, np.zeros((T, H, W, 3), np.uint8), np.zeros(T, bool)


def _check(latent: torch.Tensor, pixels: np.ndarray, f: int, what: str) -> None:
    if latent.dim() != 4 or pixels.ndim != 4 or pixels.shape[0] != pixel_frames(latent.shape[1], f):
        raise ValueError(f"{what}: latents {tuple(latent.shape)} do not match "
                         f"{pixels.shape[0]} pixel frames")


def animate_edit(image_latent: torch.Tensor, image: np.ndarray, num_latent: int, f: int) -> Edit:
    """The image is latent frame 0, known exactly; the rest follows the prompt.
    image_latent (C, 1, h, w); image (H, W, 3)."""
    if num_latent < 2:
        raise ValueError("animate needs a clip longer than one frame")
    C, _, h, w = image_latent.shape
    known, mask, pixels, keep = _blank(C, num_latent, h, w, f, *image.shape[:2])
    known[:, 0], mask[0] = image_latent[:, 0], 1.0
    pixels[0], keep[0] = image, True
    return Edit(ConditioningPlan(tuple(known.shape), known, mask), pixels, keep)


def outpaint_plan(image_latent: torch.Tensor, size: tuple[int, int], at: tuple[int, int]) -> ConditioningPlan:
    """A still larger than an image: the image known at latent cell `at` (y, x), the rest drawn
    around it (a known region, engine/sampler.py). image_latent (C, 1, h, w); size (h, w) cells."""
    C, t, h, w = image_latent.shape
    y, x = at
    if t != 1 or not (0 <= y and 0 <= x and y + h <= size[0] and x + w <= size[1]):
        raise ValueError(f"an image latent {tuple(image_latent.shape)} at {at} does not fit a still of {size}")
    known = torch.zeros(C, 1, *size)
    region = torch.zeros(1, *size)
    known[:, :, y:y + h, x:x + w], region[:, y:y + h, x:x + w] = image_latent, 1.0
    return ConditioningPlan(tuple(known.shape), known, region=region)


def camera_edit(move_latent: torch.Tensor, move: np.ndarray, hold: float, f: int,
                keep_first: bool = False) -> Edit:
    """A camera move laid over a still (engine/camera.py), refined by the model: latent frame 0
    known exactly, every later one known at mask `hold`, so it is refined from flow time
    1 - hold. The frames are decoded (the move is a guide, not the result), except the first
    with keep_first (animate: it is the input image). move_latent (C, t, h, w);
    move (1 + f*(t-1), H, W, 3)."""
    return _guide_edit(move_latent, move, hold, f, "a camera move", first_exact=True, keep_first=keep_first)


# The object motion plan keeps its moved objects as they were drawn: their latent cells are a known
# region at OBJECT_HOLD (1: on the moved frames' own path at every step), and MOTION_DETAIL of what
# the VAE's round trip loses is put back where the result kept the moved frames (restore_detail).
# Refined freely, an animated image's object came out smaller and off its colour (a yellow
# triangle at night turned olive; the VAE alone keeps a fifth of its pixels at the frame's edge),
# and the detector read "shrink". `python bench/operations.py --only animate draft_to_render
# [--object-hold 0 --motion-detail 0]`: animate's motion 8 of 8 (5 of 8 without), draft to render
# colour and motion 8 of 8 (8 and 6); worldbench full size, seeds 3000: motion 100% (87.0%),
# persistence 96.8% (93.0%) (docs/model-notes.md).
OBJECT_HOLD = 1.0
MOTION_DETAIL = 1.0


def motion_edit(move_latent: torch.Tensor, move: np.ndarray, hold: float, f: int,
                keep_first: bool = False, cover: np.ndarray | None = None, object_hold: float = 0.0,
                detail: float = 0.0) -> Edit:
    """Objects moved over a still (engine/motion.py), refined by the model: every latent frame
    known at mask `hold`, so it is refined from flow time 1 - hold (the first frame too: a
    mover's start may be moved and its hole filled); with keep_first (animate) latent frame 0 is
    known exactly and frame 0 is the input image. move_latent (C, t, h, w);
    move (1 + f*(t-1), H, W, 3).

    cover, object_hold, detail: as hold_objects."""
    edit = _guide_edit(move_latent, move, hold, f, "object motion", first_exact=keep_first,
                       keep_first=keep_first)
    return hold_objects(edit, cover, f, object_hold, detail)


def hold_objects(edit: Edit, cover: np.ndarray | None, f: int, object_hold: float, detail: float,
                 exact: bool = False) -> Edit:
    """An edit that keeps objects as its pixels have them: a guide's moved objects (motion_edit,
    camera_edit) or restyle's recoloured ones (Engine._restyle_edit, which passes its own detail).
    cover (1 + f*(t-1), H, W) in [0, 1]: where the moved objects lie in each frame; their latent
    cells (latent_cells) are a known region at object_hold, pulled that share of the way back
    onto the guide's own path at every step (1: kept exactly; engine/sampler.py), so the
    refinement draws around them and keeps their size and colour. detail: the share of what the
    VAE's round trip loses put back where the result kept the guide (restore_detail); in the held
    cells' pixels at least object_hold of it (held_detail), so a cell kept exactly comes back as
    the guide drew it, not as the VAE redraws it (a fast bounce's four places in one latent frame
    leave ghosts of the object in the round trip). That share is put back only where the result
    agrees with the round trip, and where the cells around an object are redrawn (restyle at 0.6)
    the decoder, which reads them too, greys it: a fast white box came back at a mean of 158 of
    the painted 171. exact: the object's own pixels (cover, times object_hold) take the share
    whatever the result shows (Edit.object_detail); restyle's recoloured objects do, and that box
    comes back at 170. Motion and camera edits do not: their held objects are not measured so."""
    if not 0.0 <= object_hold <= 1.0:
        raise ValueError(f"object_hold must be in [0, 1], got {object_hold}")
    edit = replace(edit, detail=detail)
    if cover is None or object_hold == 0.0:
        return edit
    region = latent_cells(cover, tuple(edit.plan.shape[1:]), f) * object_hold
    T, H, W = cover.shape
    t, h, w = region.shape
    cells = region.numpy().repeat(H // h, axis=1).repeat(W // w, axis=2)           # (t, H, W)
    held = np.empty((T, H, W), np.float32)
    for i, group in enumerate(latent_groups(t, f)):
        held[group] = cells[i]
    own = (np.clip(cover, 0.0, 1.0) * np.float32(object_hold)).astype(np.float32) if exact else None
    return replace(edit, plan=replace(edit.plan, region=region), held_detail=held, object_detail=own)


def latent_cells(cover: np.ndarray, latent: tuple[int, int, int], f: int) -> torch.Tensor:
    """Pixel coverage (1 + f*(t-1), H, W) in [0, 1] -> the latent cells it touches (t, h, w): the
    most of it in each cell's pixels, over the frames of each latent frame (frame 0 alone,
    then groups of f)."""
    t, h, w = latent
    if cover.ndim != 3 or len(cover) != 1 + f * (t - 1):
        raise ValueError(f"cover {cover.shape} does not match {t} latent frames of {f}")
    T, H, W = cover.shape
    if H % h or W % w:
        raise ValueError(f"cover {H}x{W} is not a whole number of {h}x{w} cells")
    most = np.stack([cover[g].max(0) for g in latent_groups(t, f)])                # (t, H, W)
    cells = most.reshape(t, h, H // h, w, W // w).max(axis=(2, 4))               # (t, h, w)
    return torch.from_numpy(np.clip(cells, 0.0, 1.0).astype(np.float32))


def _guide_edit(latent: torch.Tensor, pixels: np.ndarray, hold: float, f: int, what: str, *,
                first_exact: bool, keep_first: bool) -> Edit:
    """Frames laid out in pixels (a guide) known at mask `hold`; latent frame 0 exactly with
    first_exact, and pixel frame 0 kept from the guide with keep_first."""
    _check(latent, pixels, f, what)
    if latent.shape[1] < 2:
        raise ValueError(f"{what} needs a clip longer than one frame")
    if not 0.0 < hold < 1.0:
        raise ValueError(f"hold must be in (0, 1), got {hold}")
    mask = torch.full((latent.shape[1],), float(hold))
    if first_exact:
        mask[0] = 1.0
    keep = np.zeros(len(pixels), bool)
    keep[0] = keep_first
    return Edit(ConditioningPlan(tuple(latent.shape), latent.clone(), mask), pixels.copy(), keep)


def extend_edit(clip_latent: torch.Tensor, clip: np.ndarray, new_latent: int, f: int,
                direction: str, hold: float = 0.0, hold_decay: float = 1.0,
                decode_phases: int | None = None) -> Edit:
    """The clip unchanged, then (forward) or before it (backward) new_latent latent frames of new
    material. clip_latent (C, 1+m, h, w); clip (1+f*m, H, W, 3).

    hold in [0, 1): the new latent frame i frames from the clip starts from the clip's nearest
    latent frame (forward: its last; backward: its first group, latent 1), known at mask
    hold * hold_decay ** i (partly noised, like SDEdit), so the new material leaves from (or
    arrives at) where the clip is. decode_phases: how the result decodes (None: the card's)."""
    _check(clip_latent, clip, f, "extend")
    if new_latent < 1:
        raise ValueError("extend needs at least one new latent frame")
    _check_hold(hold, hold_decay)
    C, t_clip, h, w = clip_latent.shape
    if direction == "forward":
        known, mask, pixels, keep = _blank(C, t_clip + new_latent, h, w, f, *clip.shape[1:3])
        known[:, :t_clip], mask[:t_clip] = clip_latent, 1.0
        if hold > 0:
            known[:, t_clip:] = clip_latent[:, -1:]
            mask[t_clip:] = hold * hold_decay ** torch.arange(new_latent, dtype=mask.dtype)
        pixels[:len(clip)], keep[:len(clip)] = clip, True
    elif direction == "backward":
        m = t_clip - 1
        known, mask, pixels, keep = _blank(C, new_latent + m, h, w, f, *clip.shape[1:3])
        if m:
            known[:, new_latent:], mask[new_latent:] = clip_latent[:, 1:], 1.0
        if hold > 0:
            known[:, :new_latent] = clip_latent[:, min(1, m):min(1, m) + 1]
            mask[:new_latent] = hold * hold_decay ** torch.arange(new_latent - 1, -1, -1, dtype=mask.dtype)
        pixels[-len(clip):], keep[-len(clip):] = clip, True
    else:
        raise ValueError(f"direction must be 'forward' or 'backward', got {direction!r}")
    return Edit(ConditioningPlan(tuple(known.shape), known, mask), pixels, keep,
                decode_phases=decode_phases)


# An extension whose clip moves (engine/continuation.py reads a camera or a mover at its edge)
# knows the motion laid on from the clip's edge at mask CONTINUE_HOLD * CONTINUE_HOLD_DECAY ** i
# for its i-th latent frame from the clip, and the movers' cells at OBJECT_HOLD, as the motion
# plan holds its moved objects: the model refines the continuation from flow time 1 - hold. The
# plain hold above (EXTEND_HOLD, BACKWARD_HOLD) is for extend's continue_motion=False.
CONTINUE_HOLD = 0.7
CONTINUE_HOLD_DECAY = 1.0
CONTINUE_MOTION = True   # Engine.extend's default (continue_motion=False: the plain hold)
# Where nothing is read to move at the clip's edge (a still clip, or motion the reader cannot
# explain), the guide is the edge frame held still, known the same way (CONTINUE_HOLD, with
# MOTION_DETAIL of the VAE's lost detail put back where the result kept it). The plain hold's
# decay let the model draw the later frames freely, and this model fills them with its own
# texture. On the 8 such clips of two sets (`python bench/still_guide.py`): the new frames' token
# seams 1.54 -> 1.33 (the clips' own 0.98), lower on every clip; flicker 0.98 -> 0.63 levels;
# the object's persistence 0.68 -> 0.75; colour the same (docs/model-notes.md).
CONTINUE_STILL = True


def continue_edit(latent: torch.Tensor, pixels: np.ndarray, keep: np.ndarray, f: int, hold: float,
                  hold_decay: float = 1.0, cover: np.ndarray | None = None, object_hold: float = 0.0,
                  detail: float = 0.0, decode_phases: int | None = None) -> Edit:
    """An extension that carries its clip's motion on. pixels (1 + f*(t-1), H, W, 3): the clip's
    frames and the guide laid on after (or before) them (engine/continuation.py); latent
    (C, t, h, w): their encoding together; keep: the clip's frames, which come back unchanged.
    A latent frame whose pixel frames are all the clip's is known exactly; one i latent frames
    from the nearest of those at mask hold * hold_decay ** i. cover (like pixels, (T, H, W) in
    [0, 1]): where the guide's movers lie, held at object_hold (hold_objects); detail: the share
    of the VAE's lost detail put back where the result kept the guide."""
    _check(latent, pixels, f, "extend")
    if keep.shape != (len(pixels),) or not keep.any() or keep.all():
        raise ValueError(f"extend: keep {keep.shape} must mark some but not all of {len(pixels)} frames")
    if not 0.0 < hold < 1.0 or not 0.0 <= hold_decay <= 1.0:
        raise ValueError(f"hold must be in (0, 1) and hold_decay in [0, 1], got {hold}, {hold_decay}")
    t = latent.shape[1]
    known = np.array([bool(keep[g].all()) for g in latent_groups(t, f)])     # (t,)
    if not known.any():
        raise ValueError("extend: the clip covers no whole latent frame")
    idx = np.flatnonzero(known)
    mask = torch.ones(t)
    for j in np.flatnonzero(~known):
        mask[j] = hold * hold_decay ** (int(np.abs(idx - j).min()) - 1)
    edit = Edit(ConditioningPlan(tuple(latent.shape), latent.clone(), mask), pixels.copy(), keep.copy(),
                decode_phases=decode_phases)
    return hold_objects(edit, cover, f, object_hold, detail)


def _check_hold(hold: float, hold_decay: float) -> None:
    if not (0.0 <= hold < 1.0 and 0.0 <= hold_decay <= 1.0):
        raise ValueError(f"hold must be in [0, 1) and hold_decay in [0, 1], got {hold}, {hold_decay}")


def interpolate_edit(a_latent: torch.Tensor, a: np.ndarray, b_latent: torch.Tensor, b: np.ndarray,
                     mid_latent: int, f: int, guide: float = 0.0, hold: float = 0.0,
                     hold_decay: float = 1.0, even_pace: bool = False) -> Edit:
    """A unchanged, a generated transition of mid_latent latent frames, then B unchanged.
    Both clips must share the frame size.

    guide in [0, 1): the transition starts from a latent crossfade of A's last and B's first
    latent frame, known with that mask (partly noised, like SDEdit), so the model refines a
    smooth blend rather than free-running until it must cut to B; 0 leaves it to the model.
    hold in [0, 1), hold_decay in [0, 1]: the crossfade frame k frames from the nearer end is
    known at least at mask hold * hold_decay ** k, so the model cannot spend the whole change on
    the transition's first frames. even_pace: the decoded transition is retimed to an even pace
    of change (even_pace, the function). A transition longer than one generation is made in
    windows, each planned with crossfade_guide and transition_edit (Engine._transition_windows)."""
    _check(b_latent, b, f, "interpolate (second)")
    if mid_latent < 1:
        raise ValueError("interpolate needs at least one generated latent frame")
    start, end = a_latent[:, -1], b_latent[:, min(1, b_latent.shape[1] - 1)]
    known, mask = crossfade_guide(start, end, range(mid_latent), mid_latent, guide, hold, hold_decay)
    return replace(transition_edit(a_latent, a, known, mask, f, b_latent, b), even_pace=even_pace)


def crossfade_guide(start: torch.Tensor, end: torch.Tensor, part: range, total: int,
                    guide: float = 0.0, hold: float = 0.0,
                    hold_decay: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """(known (C, n, h, w), mask (n,)): the frames `part` (n of them) of a transition of `total`
    latent frames that starts from the latent crossfade of start and end (C, h, w), as
    interpolate_edit explains guide and hold. Frame i is the blend at (i + 1) / (total + 1) and
    is known at mask max(guide, hold * hold_decay ** (frames to the transition's nearer end));
    with neither, nothing is known."""
    mask = crossfade_mask(part, total, guide, hold, hold_decay)
    known = torch.zeros((start.shape[0], len(part)) + tuple(start.shape[1:]))
    if guide > 0 or hold > 0:
        for j, i in enumerate(part):
            s = (i + 1) / (total + 1)
            known[:, j] = (1 - s) * start + s * end
    return known, mask


def crossfade_mask(part: range, total: int, guide: float = 0.0, hold: float = 0.0,
                   hold_decay: float = 1.0) -> torch.Tensor:
    """crossfade_guide's mask (n,) alone: how strongly each frame of `part` is known."""
    if not 0.0 <= guide < 1.0:
        raise ValueError(f"guide must be in [0, 1), got {guide}")
    _check_hold(hold, hold_decay)
    if not (len(part) and 0 <= part[0] and part[-1] < total and part.step == 1):
        raise ValueError(f"part {part} is not a run of the transition's {total} latent frames")
    if not (guide > 0 or hold > 0):
        return torch.zeros(len(part))
    return torch.tensor([max(guide, hold * hold_decay ** min(i, total - 1 - i)) for i in part])


def transition_edit(a_latent: torch.Tensor, a: np.ndarray, mid_known: torch.Tensor,
                    mid_mask: torch.Tensor, f: int, b_latent: torch.Tensor | None = None,
                    b: np.ndarray | None = None) -> Edit:
    """A (known exactly; the first clip's end, or the frames a previous window of a long
    transition made), the generated frames mid (known at mid_mask: crossfade_guide), then B (its
    latents 1.. as a target, B's pixels kept), or, in a window that does not reach B, nothing."""
    _check(a_latent, a, f, "interpolate (first)")
    if (b_latent is None) != (b is None):
        raise ValueError("pass both the second clip's latents and its pixels, or neither")
    if b is not None and a.shape[1:] != b.shape[1:]:
        raise ValueError(f"both clips must have one frame size, got {a.shape[1:3]} and {b.shape[1:3]}")
    C, ta, h, w = a_latent.shape
    mid = mid_known.shape[1]
    if mid < 1 or mid_known.shape != (C, mid, h, w) or mid_mask.shape != (mid,):
        raise ValueError(f"the transition's guide {tuple(mid_known.shape)} and mask "
                         f"{tuple(mid_mask.shape)} do not fit latents {(C, ta, h, w)}")
    mb = 0 if b_latent is None else b_latent.shape[1] - 1
    known, mask, pixels, keep = _blank(C, ta + mid + mb, h, w, f, *a.shape[1:3])
    known[:, :ta], mask[:ta] = a_latent, 1.0
    known[:, ta:ta + mid], mask[ta:ta + mid] = mid_known, mid_mask
    if mb:
        known[:, ta + mid:], mask[ta + mid:] = b_latent[:, 1:], 1.0
    pixels[:len(a)], keep[:len(a)] = a, True
    if b is not None:
        pixels[-len(b):], keep[-len(b):] = b, True
    # Decoded with every phase: a scene change goes from one latent frame to the next, and the
    # causal VAE puts such a change on the first pixel frames of a group. A pixel dissolve between
    # two world scenes, encoded and decoded once, jumps 2.7x as far as the dissolve itself; with
    # all f phases (VideoVAE.decode), 1.3x (`python bench/latent_noise.py --dissolves 3`). It
    # costs f decodes of the plan; interpolate's largest jump fell 12.5x -> 6.0x the clips' median
    # change on eight pairs (docs/model-notes.md). loop_edit keeps the card's decode (see there).
    return Edit(ConditioningPlan(tuple(known.shape), known, mask), pixels, keep, decode_phases=f)


def loop_edit(end_latent: torch.Tensor, end: np.ndarray, head_latent: torch.Tensor, head: np.ndarray,
              mid_latent: int, f: int, guide: float = 0.0, hold: float = 0.0,
              hold_decay: float = 1.0) -> Edit:
    """The end of a clip, then a generated transition that leads back into the clip's own start,
    so the clip repeats seamlessly. The plan ends with the clip's opening `head` (its latents
    1.. as a target); those frames, and the frame that stands for the clip's first frame, are cut
    from the output, so on repeat the transition flows into frame 0. The caller puts the rest of
    the clip before the result."""
    edit = interpolate_edit(end_latent, end, head_latent, head, mid_latent, f, guide, hold, hold_decay)
    total = edit.keep.shape[0]
    # one scene joined to itself: every phase raised the wrap 1.08x -> 1.45x on eight clips. Nor is
    # it retimed (even_pace): that raised its held transition's wrap 0.83x -> 1.33x (`python
    # bench/operations.py --only loop`)
    return replace(edit, output=slice(0, total - len(head)), decode_phases=None)


def restyle_edit(clip_latent: torch.Tensor, clip: np.ndarray, strength: float, f: int,
                 context_latent: int = 0, shift: float = 1.0) -> Edit:
    """SDEdit (Meng et al. 2021): every latent frame is re-noised to one flow time and denoised
    under the new prompt. Strength 0 returns the input, strength 1 ignores it.

    Strength is the fraction of the sampling schedule that is run again (the img2img convention
    of SD3 and Flux pipelines): the flow time is shift_time(strength, shift), with the shift the
    sampler uses for this grid. A larger grid keeps more of its signal at a given t, which is why
    the sampler shifts its times; reading strength through the same shift makes one strength
    change a clip about as much at draft and at full size.

    context_latent: the first latent frames are already-restyled material (a long clip is
    restyled window by window) and are known exactly; their pixel frames are kept."""
    _check(clip_latent, clip, f, "restyle")
    t = clip_latent.shape[1]
    if not 0 <= context_latent < t:
        raise ValueError(f"context_latent must leave frames to restyle: {context_latent} of {t}")
    level = noise_level(strength, shift)
    mask = torch.full((t,), 1.0 - level)
    mask[:context_latent] = 1.0
    keep = np.full(len(clip), strength == 0.0)
    if context_latent:
        keep[:pixel_frames(context_latent, f)] = True
    return Edit(ConditioningPlan(tuple(clip_latent.shape), clip_latent.clone(), mask), clip.copy(), keep,
                notes={"noise_level": round(level, 4)}, detail=RESTYLE_DETAIL * (1.0 - strength))


def noise_level(strength: float, shift: float) -> float:
    """The flow time a restyle at `strength` re-noises to on a grid sampled with `shift`."""
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must be between 0 and 1, got {strength}")
    return float(shift_time(torch.tensor(float(strength), dtype=torch.float64), shift))


OPERATIONS = ("generate", "image", "animate", "extend", "loop", "interpolate", "restyle")
