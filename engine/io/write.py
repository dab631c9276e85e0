"""Writers: H.264 video and PNG/JPEG/WebP images, always atomically."""
from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from engine.io.ffmpeg import _Ffmpeg, _input_args, _tail
from engine.io.read import SCALED_MAX_PIXELS
from engine.io.files import atomic_path

_VIDEO_SUFFIXES = {".mp4", ".m4v", ".mov"}  # containers for H.264 where +faststart means something
_IMAGE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}
_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium")


def encoded_size(height: int, width: int) -> tuple[int, int]:
    """(H, W) that write_video stores for frames of (height, width): odd sides grow by one pixel."""
    return height + height % 2, width + width % 2


def _fps_fraction(fps: float | Fraction) -> Fraction:
    # Exact for integers, 12.5 -> 25/2, 30000/1001 as a float -> 30000/1001.
    if isinstance(fps, bool) or not isinstance(fps, (int, float, Fraction, np.integer, np.floating)):
        raise ValueError(f"fps must be a number, got {type(fps).__name__}")
    if not np.isfinite(float(fps)) or fps <= 0:
        raise ValueError(f"fps must be finite and > 0, got {fps}")
    frac = fps if isinstance(fps, Fraction) else Fraction(float(fps)).limit_denominator(1001)
    if frac <= 0 or abs(float(frac) - float(fps)) > 1e-6 * float(fps):
        frac = Fraction(float(fps)).limit_denominator(1_000_000)
    return frac


@dataclass(frozen=True)
class AudioTrack:
    """A source file's sound, `length_s` long from `from_s` of the file's time (where its first
    video frame is: io.source_info's video_start_s), placed at `at_s` in the video written."""
    path: Path
    at_s: float
    length_s: float
    from_s: float = 0.0


def _audio_args(tracks: Sequence[AudioTrack], duration_s: float) -> list[str]:
    """Inputs 1.. and the filter graph that lays each track at its place (AAC, silence between;
    a sound that starts after its video keeps that gap)."""
    args, chains = [], []
    for k, track in enumerate(tracks):
        placed = all(0 <= v < float("inf") for v in (track.at_s, track.from_s))
        if not placed or not 0 < track.length_s < float("inf"):
            raise ValueError(f"an audio track needs a place >= 0 and a positive length: {track}")
        args += _input_args(Path(track.path), SCALED_MAX_PIXELS)
        chains.append(f"[{k + 1}:a:0]atrim=start={track.from_s:.6f}:duration={track.length_s:.6f},"
                      f"asetpts=PTS-{track.from_s:.6f}/TB,aresample=async=1:first_pts=0,"
                      f"adelay={round(track.at_s * 1000)}:all=1[a{k}]")
    mix = "".join(f"[a{k}]" for k in range(len(tracks)))
    graph = ";".join(chains) + f";{mix}amix=inputs={len(tracks)}:normalize=0:duration=longest,apad[aout]"
    return args + ["-filter_complex", graph, "-map", "0:v:0", "-map", "[aout]", "-c:a", "aac",
                   "-b:a", "160k", "-t", f"{duration_s:.6f}"]


def write_video(frames: np.ndarray, path: str | os.PathLike, fps: float, crf: int = 18, *,
                preset: str = "medium", timeout_s: float = 600.0,
                audio: Sequence[AudioTrack] = ()) -> Path:
    """Encode (T, H, W, 3) RGB uint8 frames to an H.264 MP4/MOV at `path`, atomically.

    The file holds `encoded_size(H, W)` pixels (odd sides padded by repeating the edge).
    audio: sound from other files, each laid at its place (AAC; silence where none plays; as long
    as the video). Empty: video only.
    """
    if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8:
        raise ValueError(f"frames must be a uint8 numpy array, got {getattr(frames, 'dtype', type(frames))}")
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be (T, H, W, 3) RGB, got shape {frames.shape}")
    T, H, W, _ = frames.shape
    if T < 1 or H < 1 or W < 1:
        raise ValueError(f"frames must hold at least one non-empty frame, got shape {frames.shape}")
    rate = _fps_fraction(fps)
    if isinstance(crf, bool) or not isinstance(crf, (int, np.integer)) or not 0 <= crf <= 51:
        raise ValueError(f"crf must be an int in [0, 51], got {crf!r}")
    if preset not in _PRESETS:
        raise ValueError(f"preset must be one of {_PRESETS}, got {preset!r}")
    path = Path(path)
    if path.suffix.lower() not in _VIDEO_SUFFIXES:
        raise ValueError(f"video path must end in one of {sorted(_VIDEO_SUFFIXES)}: {path}")
    pad_h, pad_w = H % 2, W % 2
    out_h, out_w = encoded_size(H, W)
    rate_arg = f"{rate.numerator}/{rate.denominator}" if rate.denominator != 1 else str(rate.numerator)
    with atomic_path(path) as tmp:
        args = [
            "-y", "-v", "error",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{out_w}x{out_h}", "-r", rate_arg, "-i", "pipe:0",
            *(_audio_args(audio, T / float(rate)) if audio else ["-an"]),
            "-c:v", "libx264", "-preset", preset, "-crf", str(int(crf)),
            # Convert with the BT.709 matrix and say so, so players do not guess between 601 and 709.
            "-vf", "scale=out_color_matrix=bt709:out_range=tv,format=yuv420p",
            "-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709", "-color_range", "tv",
            "-pix_fmt", "yuv420p", "-r", rate_arg, "-movflags", "+faststart", str(tmp),
        ]
        with _Ffmpeg(args, timeout_s, stdin=subprocess.PIPE) as job:
            try:
                for frame in frames:
                    if pad_h or pad_w:
                        frame = np.pad(frame, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
                    job.proc.stdin.write(np.ascontiguousarray(frame).data)
                job.proc.stdin.close()
            except (BrokenPipeError, OSError):
                pass  # ffmpeg exited early; its exit status and stderr say why
            rc, err = job.wait()
        if job.timed_out:
            raise RuntimeError(f"ffmpeg did not finish encoding {path} within {timeout_s} s")
        if rc != 0:
            raise RuntimeError(f"ffmpeg failed to encode {path} (exit {rc}): {_tail(err)}")
    return path


def write_image(image: np.ndarray, path: str | os.PathLike) -> Path:
    """Save an (H, W, 3) RGB uint8 image as PNG, JPEG or WebP (chosen by suffix), atomically."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise ValueError(f"image must be a uint8 numpy array, got {getattr(image, 'dtype', type(image))}")
    if image.ndim != 3 or image.shape[-1] != 3 or image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"image must be (H, W, 3) RGB, got shape {image.shape}")
    path = Path(path)
    fmt = _IMAGE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"image path must end in one of {sorted(_IMAGE_FORMATS)}: {path}")
    options = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}
    with atomic_path(path) as tmp:
        Image.fromarray(np.ascontiguousarray(image)).save(tmp, format=fmt, **options)
    return path
