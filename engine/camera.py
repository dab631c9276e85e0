"""Camera moves as plans: the model draws a still, the move is laid over it, the model refines it.

The shipped DiT never learned to move its camera: every pan and zoom prompt of bench/worldbench.py
came out static (docs/model-notes.md). A pan or a zoom is geometry, not content, so a move the
prompt names becomes a conditioning plan for the one sampler, as in training-free camera control
(CamTrol, Hou et al. 2024, renders a point cloud of the first frame along the camera path and
re-noises the renders):

1. the sampler draws the first frame as a still (a one-frame video) of the prompt; where the
   move reveals more (a pan's travel, a zoom out's ZOOM_MAX), the model outpaints it to
   `still_size` around the first frame, which sits at `placement` (Engine._move_over), so a move
   shows content the model drew and never repeats an edge or magnifies a blur;
2. `move_frames` lays the move over it in pixels: a window sliding `pan_pixels` across the
   still (pans) or scaling about the first frame's centre (zooms), one frame per output frame;
3. those frames are encoded and known at mask `hold` (latent frame 0 exactly), so every frame is
   refined by the model from flow time 1 - hold under the prompt (operations.camera_edit).

The speeds are the world's (engine/world/scene.py), the moves its captions were written for.
Pure numpy and OpenCV; no torch.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from engine.world.scene import MAX_PAN, PAN_PER_SECOND, ZOOM_MAX

MOVES = ("pan_left", "pan_right", "zoom_in", "zoom_out")


def _check(move: str) -> None:
    if move not in MOVES:
        raise ValueError(f"unknown camera move {move!r}; expected one of {', '.join(MOVES)}")


def pan_travel(seconds: float) -> float:
    """How far a pan travels over a clip, in frame widths (the world's pace, capped)."""
    if not seconds > 0:
        raise ValueError(f"seconds must be positive, got {seconds}")
    return min(PAN_PER_SECOND * seconds, MAX_PAN)


def pan_pixels(seconds: float, width: int) -> int:
    """How many pixels a pan's window slides over a clip `width` pixels wide."""
    return round(pan_travel(seconds) * width)


def still_size(move: str, width: int, height: int, seconds: float, multiple: int) -> tuple[int, int]:
    """(width, height) of the still a move is made from, its margins whole multiples of the
    grid (so the first frame sits on latent cells): a pan's is wider by its travel; a zoom-in's
    is the frame; a zoom-out's at least ZOOM_MAX times the frame, so the move starts on its
    centre at full sharpness and ends on nearly all of it. One frame, so it may exceed the
    card's largest clip by that margin."""
    _check(move)
    if width < 1 or height < 1 or multiple < 1:
        raise ValueError(f"need a frame and a grid of at least 1 pixel, got {width}x{height}, {multiple}")
    def up(x):
        return math.ceil(x / multiple - 1e-9) * multiple
    if move in ("pan_left", "pan_right"):
        return width + up(pan_pixels(seconds, width)), height
    if move == "zoom_out":
        return width + 2 * up((ZOOM_MAX - 1) * width / 2), height + 2 * up((ZOOM_MAX - 1) * height / 2)
    return width, height


def placement(move: str, width: int, height: int, still_w: int, still_h: int) -> tuple[int, int]:
    """(x, y) of the still's pixel at the first frame's top-left corner: the first frame is
    still[y:y + height, x:x + width] exactly (pans start at an end, zooms on the centre)."""
    _check(move)
    if still_w < width or still_h < height:
        raise ValueError(f"the still {still_w}x{still_h} is smaller than the frame {width}x{height}")
    y = (still_h - height) // 2
    if move == "pan_right":
        return 0, y
    if move == "pan_left":
        return still_w - width, y
    return (still_w - width) // 2, y


def move_frames(still: np.ndarray, move: str, width: int, height: int, num_frames: int,
                travel: int | None = None) -> np.ndarray:
    """The move over `still` (Hs, Ws, 3) uint8 -> (T, height, width, 3) uint8, at constant speed;
    over a scene that changes, `still` (T, Hs, Ws, 3) gives frame k its own still k (objects
    moving in it: Engine._move_over).

    pan_right: the window starts at the still's left edge and slides `travel` pixels right
    (content travels left on screen; None: to the still's right edge); pan_left the reverse.
    Zooms scale about the first frame's centre by ZOOM_MAX ** u (in) or ZOOM_MAX ** -u (out), u
    from 0 to 1 over the clip; the first frame is the still at `placement`, pixel for pixel."""
    _check(move)
    if width < 1 or height < 1:
        raise ValueError(f"the frame must be at least 1x1 pixels, got {width}x{height}")
    if still.ndim not in (3, 4) or still.shape[-1] != 3 or still.dtype != np.uint8:
        raise ValueError(f"expected a still (H, W, 3) or stills (T, H, W, 3) uint8, got {still.dtype} {still.shape}")
    if num_frames < 2:
        raise ValueError(f"a camera move needs at least 2 frames, got {num_frames}")
    if still.ndim == 4 and len(still) != num_frames:
        raise ValueError(f"{len(still)} stills for a move of {num_frames} frames")
    hs, ws = still.shape[-3:-1]
    placement(move, width, height, ws, hs)            # refuses a still smaller than the frame
    if move == "zoom_out" and (ws < width * ZOOM_MAX - 0.5 or hs < height * ZOOM_MAX - 0.5):
        raise ValueError(f"a zoom out needs a still {ZOOM_MAX}x the frame, got {ws}x{hs} for {width}x{height}")
    travel = ws - width if travel is None else int(travel)
    if not 0 <= travel <= ws - width:
        raise ValueError(f"a pan of {travel} pixels does not fit a still {ws} wide for a frame {width} wide")
    frames = np.empty((num_frames, height, width, 3), np.uint8)
    for k, matrix in enumerate(_windows(move, width, height, ws, hs, num_frames, travel)):
        scene = still[k] if still.ndim == 4 else still
        frames[k] = cv2.warpAffine(scene, matrix, (width, height), flags=cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_REPLICATE)
    return frames


def move_cover(cover: np.ndarray, move: str, width: int, height: int, travel: int | None = None) -> np.ndarray:
    """Where things lie in each of the still's frames, (T, Hs, Ws) float in [0, 1] (objects moving
    in it: Engine._move_over), seen through the move as move_frames sees the still ->
    (T, height, width) float32; nothing comes in from past the still's edges."""
    _check(move)
    if cover.ndim != 3 or len(cover) < 2:
        raise ValueError(f"expected a cover (T, H, W) of at least 2 frames, got {cover.shape}")
    T, hs, ws = cover.shape
    travel = ws - width if travel is None else int(travel)
    out = np.empty((T, height, width), np.float32)
    for k, matrix in enumerate(_windows(move, width, height, ws, hs, T, travel)):
        out[k] = cv2.warpAffine(cover[k].astype(np.float32), matrix, (width, height), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return out


def _windows(move: str, width: int, height: int, ws: int, hs: int, num_frames: int,
             travel: int) -> list[np.ndarray]:
    """The move's affine map from the still (ws x hs) to each frame (width x height), at
    constant speed: (2, 3) float32 per frame."""
    x0, y0 = placement(move, width, height, ws, hs)
    out = []
    for k in range(num_frames):
        u = k / (num_frames - 1)
        if move in ("pan_left", "pan_right"):
            x = x0 + travel * u * (1.0 if move == "pan_right" else -1.0)
            out.append(np.array([[1.0, 0.0, -x], [0.0, 1.0, -y0]], np.float32))
        else:
            z = ZOOM_MAX ** (u if move == "zoom_in" else -u)
            cx, cy = x0 + width / 2, y0 + height / 2  # the first frame's centre stays put
            out.append(np.array([[z, 0.0, width / 2 - z * cx], [0.0, z, height / 2 - z * cy]], np.float32))
    return out


def main(argv=None) -> int:
    """Lay a move over an image file and write the frames as an MP4, without the model:
    python -m engine.camera IMAGE pan_left OUT.mp4 [--seconds 2] [--fps 12]."""
    import argparse

    from engine import io
    p = argparse.ArgumentParser(description=main.__doc__.split("\n")[0])
    p.add_argument("image")
    p.add_argument("move", choices=MOVES)
    p.add_argument("out")
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--fps", type=float, default=12.0)
    args = p.parse_args(argv)
    still = io.read_image(args.image)
    h, w = still.shape[:2]
    travel = pan_travel(args.seconds) if args.move.startswith("pan") else 0.0
    shrink = ZOOM_MAX if args.move == "zoom_out" else 1.0
    width = int(w / (1 + travel) / shrink) // 2 * 2      # the frame the image makes that move for
    height = int(h / shrink) // 2 * 2
    frames = move_frames(still, args.move, width, height, max(2, round(args.seconds * args.fps)))
    io.write_video(frames, args.out, fps=args.fps)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
