"""Reading and writing video and images: the one place in Tessera that touches media files.

Frames are always RGB uint8, (T, H, W, 3) for video and (H, W, 3) for an image.

Policies (each is tested in tests/test_io.py):
- Writes are atomic (`atomic_path`): a temp file in the destination folder, fsync, `os.replace`, fsync of
  the folder. A failed write leaves no temp file and never touches an existing destination. A process
  killed mid-write can leave a hidden `.NAME.tmp-XXXXXXXX.SUFFIX` file, never a broken NAME.
- Video is written as H.264 (libx264), yuv420p, BT.709 tagged, `+faststart`: plays in every browser.
  yuv420p subsamples chroma 2x2, so an odd width or height is padded by one pixel that repeats the last
  column/row; `encoded_size(h, w)` says what the file will hold.
- Alpha is composited over black (premultiplied) by both readers, so a transparent pixel reads as black.
- 16-bit input is rescaled to 8 bits (x * 255 / 65535, rounded), never clipped.
- Animated input: `read_image` returns the first frame; `read_video` returns every frame.
- Still images (PNG/JPEG/WebP) given to `read_video` are read by `read_image` (same policy) and come back as
  a 1-frame video at `STILL_IMAGE_FPS`.
- Rotation metadata is applied (ffmpeg autorotate; EXIF orientation for images): sizes are display sizes.
- Variable frame rate: frames come back as decoded, with no resampling; fps is the stream's average rate.
- Size is checked before decoding, and ffmpeg is also told `-max_pixels`. Every subprocess has a timeout.
  Any error-level message from ffmpeg while decoding (a truncated file, a corrupt packet) is a MediaError:
  we trust decoded frames, not headers, and never return half a clip silently.
- ffmpeg may only open local files (`-protocol_whitelist file`) with the demuxers in `_DEMUXERS`, so a
  playlist or concat file posing as a video cannot make it read other files.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

__all__ = [
    "MediaError", "VideoInfo", "STILL_IMAGE_FPS", "ffmpeg_exe", "atomic_path", "write_json_atomic",
    "encoded_size", "write_video", "write_image", "probe_video", "read_video", "read_image",
]

STILL_IMAGE_FPS = 25.0  # ffmpeg's rate for a single image; a 1-frame video needs some rate
DEFAULT_TIMEOUT_S = 60.0
_VIDEO_SUFFIXES = {".mp4", ".m4v", ".mov"}  # containers for H.264 where +faststart means something
_IMAGE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}
_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium")
# ffmpeg demuxer names we accept; anything else (hls, concat, tty, ...) is refused before it opens.
_DEMUXERS = "mov,matroska,gif,apng,webp_anim,avi,png_pipe,jpeg_pipe,webp_pipe"
_ALPHA_PIX_FMT = re.compile(r"^(yuva|gbrap|ya\d|rgba|bgra|argb|abgr|pal8)")


class MediaError(ValueError):
    """A media file that cannot be read as asked: missing, empty, corrupt, truncated, too large, too slow."""


@dataclass(frozen=True)
class VideoInfo:
    width: int  # display size, after rotation metadata is applied
    height: int
    num_frames: int  # frames that actually decode, not what the header claims
    fps: float  # the stream's average frame rate
    codec: str  # ffmpeg's codec name, e.g. "h264"
    pix_fmt: str  # e.g. "yuv420p"
    duration_s: float  # num_frames / fps


@lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    import imageio_ffmpeg  # imported lazily: only media paths need it

    return imageio_ffmpeg.get_ffmpeg_exe()


# ---------------------------------------------------------------------------------------------------
# Atomic writes


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path beside `path` (same suffix); on success it replaces `path` atomically.

    The caller writes the temp file completely (by name, e.g. ffmpeg or Pillow); on a clean exit it is
    fsynced, renamed over `path` and the folder is fsynced. On any exception it is removed and `path`
    is left as it was.
    """
    path = Path(path)
    folder = path.parent
    if not folder.is_dir():
        raise FileNotFoundError(f"cannot write {path}: folder {folder} does not exist")
    while True:  # O_EXCL with a random name: the mode then follows the umask, unlike mkstemp's 0600
        tmp = folder / f".{path.name}.tmp-{secrets.token_hex(4)}{path.suffix}"
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            break
        except FileExistsError:
            continue
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, path)
        if os.name != "nt":  # Windows cannot open a folder to fsync it
            _fsync(folder)  # makes the rename itself durable
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json_atomic(obj, path: str | os.PathLike) -> Path:
    """Write `obj` as UTF-8 JSON, atomically. NaN and infinity are refused (they are not JSON)."""
    text = json.dumps(obj, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


# ---------------------------------------------------------------------------------------------------
# Writers


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


def write_video(frames: np.ndarray, path: str | os.PathLike, fps: float, crf: int = 18, *,
                preset: str = "medium", timeout_s: float = 600.0) -> Path:
    """Encode (T, H, W, 3) RGB uint8 frames to an H.264 MP4/MOV at `path`, atomically.

    The file holds `encoded_size(H, W)` pixels (odd sides padded by repeating the edge).
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
            "-an", "-c:v", "libx264", "-preset", preset, "-crf", str(int(crf)),
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


# ---------------------------------------------------------------------------------------------------
# ffmpeg plumbing


class _Ffmpeg:
    """A running ffmpeg with stderr drained in a thread and a kill timer; always reaped on exit."""

    def __init__(self, args: list[str], timeout_s: float, *, stdin=subprocess.DEVNULL,
                 stdout=subprocess.DEVNULL):
        self.proc = subprocess.Popen([ffmpeg_exe(), "-hide_banner", *args], stdin=stdin, stdout=stdout,
                                     stderr=subprocess.PIPE)
        self.timed_out = False
        self._err: list[bytes] = []
        self._reader = threading.Thread(target=lambda: self._err.append(self.proc.stderr.read()), daemon=True)
        self._reader.start()
        self._timer = threading.Timer(timeout_s, self._kill)
        self._timer.daemon = True
        self._timer.start()

    def _kill(self) -> None:
        if self.proc.poll() is None:  # a process that finished in time is not "timed out"
            self.timed_out = True
            self.proc.kill()

    def wait(self) -> tuple[int, str]:
        rc = self.proc.wait()
        self._reader.join()
        return rc, b"".join(self._err).decode("utf-8", "replace")

    def __enter__(self) -> _Ffmpeg:
        return self

    def __exit__(self, *exc) -> None:
        self._timer.cancel()
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                if pipe is not None:
                    pipe.close()
            except OSError:  # unflushed input to an ffmpeg that already exited
                pass


def _run(args: list[str], path: Path, timeout_s: float, what: str) -> tuple[int, str, str]:
    try:
        done = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", *args], stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise MediaError(f"{path}: ffmpeg took longer than {timeout_s} s to {what}") from None
    return done.returncode, done.stdout.decode("utf-8", "replace"), done.stderr.decode("utf-8", "replace")


def _tail(text: str, lines: int = 8) -> str:
    kept = [line.strip() for line in text.strip().splitlines() if line.strip()][-lines:]
    return " | ".join(kept) or "(no message)"


def _input_args(path: Path, max_pixels: int) -> list[str]:
    # "file:" keeps a name like "-x.mp4" or "concat:a|b" from being read as an option or protocol.
    return ["-protocol_whitelist", "file", "-format_whitelist", _DEMUXERS, "-max_pixels", str(max_pixels),
            "-i", f"file:{path.resolve()}"]


def _require_file(path: str | os.PathLike) -> Path:
    path = Path(path)
    if not path.exists():
        raise MediaError(f"{path}: no such file")
    if not path.is_file():
        raise MediaError(f"{path}: not a regular file")
    if path.stat().st_size == 0:
        raise MediaError(f"{path}: file is empty")
    return path


def _split_top(text: str) -> list[str]:
    """Split an ffmpeg stream description on commas that are not inside () or []."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return parts


def _rate(parts: list[str], unit: str) -> float | None:
    for part in parts:
        m = re.fullmatch(rf"([\d.]+)(k?) {unit}", part)
        if m:
            return float(m.group(1)) * (1000 if m.group(2) else 1)
    return None


def _exact_fps(printed: float) -> float:
    # ffmpeg prints rates with two decimals; 29.97 means 30000/1001, 23.98 means 24000/1001.
    ntsc = round(printed * 1.001) / 1.001
    return ntsc if not printed.is_integer() and abs(ntsc - printed) < 0.006 else printed


@dataclass(frozen=True)
class _Header:
    width: int  # display size (rotation applied)
    height: int
    fps: float
    codec: str
    pix_fmt: str


def _header(path: Path, max_pixels: int, timeout_s: float) -> _Header:
    """Read the first video stream's header with `ffmpeg -i PATH` (no output, so nothing is decoded
    beyond what ffmpeg needs to identify the stream) and refuse frames over max_pixels."""
    _, _, err = _run(_input_args(path, max_pixels), path, timeout_s, "read the header")
    if "Input #0" not in err:
        raise MediaError(f"{path}: not a readable video or image ({_tail(err, 4)})")
    m = re.search(r"Stream #0:\d+\S*: Video: (.*)", err)
    if m is None:
        raise MediaError(f"{path}: contains no readable video stream ({_tail(err, 2)})")
    big = re.search(r"Picture size (\d+)x(\d+) is invalid", err)
    if big:
        raise MediaError(f"{path}: frames of {big[1]}x{big[2]} exceed max_pixels={max_pixels}")
    parts = _split_top(m.group(1))
    size = next((s for p in parts if (s := re.match(r"(\d+)x(\d+)\b", p))), None)
    if size is None:
        raise MediaError(f"{path}: ffmpeg found no frame size for the video stream ({_tail(err, 3)})")
    width, height = int(size[1]), int(size[2])
    if width * height > max_pixels:
        raise MediaError(f"{path}: frames of {width}x{height} exceed max_pixels={max_pixels}")
    rot = re.search(r"rotation of (-?[\d.]+) degrees", err, re.IGNORECASE)
    if rot and round(float(rot[1])) % 180 == 90:  # ffmpeg autorotates: a quarter turn swaps the sides
        width, height = height, width
    fps = _rate(parts, "fps") or _rate(parts, "tbr")
    if not fps:
        raise MediaError(f"{path}: ffmpeg reports no frame rate for the video stream")
    pix = re.match(r"[a-z][a-z0-9_]*", parts[1]) if len(parts) > 1 else None
    return _Header(width, height, _exact_fps(fps), parts[0].split()[0], pix[0] if pix else "unknown")


# ---------------------------------------------------------------------------------------------------
# Readers


def probe_video(path: str | os.PathLike, *, timeout_s: float = DEFAULT_TIMEOUT_S,
                max_pixels: int = 4096 * 4096) -> VideoInfo:
    """Describe the first video stream; num_frames counts the frames that really decode (a full decode)."""
    path = _require_file(path)
    head = _header(path, max_pixels, timeout_s)
    args = ["-v", "error", "-progress", "pipe:1", "-nostats", *_input_args(path, max_pixels),
            "-map", "0:v:0", "-fps_mode", "passthrough", "-f", "null", "-"]
    rc, out, err = _run(args, path, timeout_s, "count the frames")
    counts = re.findall(r"^frame=(\d+)", out, re.MULTILINE)
    if rc != 0 or err.strip():
        raise MediaError(f"{path}: truncated or corrupt ({counts[-1] if counts else 0} frames decoded "
                         f"before ffmpeg reported: {_tail(err, 3)})")
    num_frames = int(counts[-1]) if counts else 0
    if num_frames == 0:
        raise MediaError(f"{path}: no frames decode")
    return VideoInfo(head.width, head.height, num_frames, head.fps, head.codec, head.pix_fmt,
                     num_frames / head.fps)


def _is_still_image(path: Path) -> bool:
    """PNG, JPEG or WebP holding one frame (APNG and animated WebP go to ffmpeg, as GIF does)."""
    with open(path, "rb") as f:
        magic = f.read(16)
    if magic.startswith(b"\xff\xd8\xff"):
        return True
    if not (magic.startswith(b"\x89PNG\r\n\x1a\n") or (magic[:4] == b"RIFF" and magic[8:12] == b"WEBP")):
        return False
    with _bomb_guard(path), Image.open(path) as im:  # reads the header only
        return getattr(im, "n_frames", 1) == 1


def read_video(path: str | os.PathLike, max_frames: int | None = None, max_pixels: int = 4096 * 4096,
               timeout_s: float = 120.0) -> tuple[np.ndarray, float]:
    """Decode every frame (or the first max_frames) to (T, H, W, 3) RGB uint8, and the average fps.

    MP4, MOV, MKV/WebM, AVI, GIF, APNG and animated WebP are decoded by ffmpeg; a still PNG/JPEG/WebP
    becomes a 1-frame video at STILL_IMAGE_FPS. See the module docstring for the policies.
    """
    if max_frames is not None and (isinstance(max_frames, bool) or not isinstance(max_frames, int)
                                   or max_frames < 1):
        raise ValueError(f"max_frames must be a positive int or None, got {max_frames!r}")
    path = _require_file(path)
    if _is_still_image(path):
        return read_image(path, max_pixels=max_pixels)[None], STILL_IMAGE_FPS
    head = _header(path, max_pixels, timeout_s)
    channels = 4 if _ALPHA_PIX_FMT.match(head.pix_fmt) else 3
    frame_bytes = head.height * head.width * channels
    args = ["-nostdin", "-v", "error", *_input_args(path, max_pixels), "-map", "0:v:0",
            "-fps_mode", "passthrough", *(["-frames:v", str(max_frames)] if max_frames else []),
            "-f", "rawvideo", "-pix_fmt", "rgba" if channels == 4 else "rgb24", "pipe:1"]
    frames: list[np.ndarray] = []
    with _Ffmpeg(args, timeout_s, stdout=subprocess.PIPE) as job:
        while len(buf := job.proc.stdout.read(frame_bytes)) == frame_bytes:
            frame = np.frombuffer(buf, np.uint8).reshape(head.height, head.width, channels)
            frames.append(_over_black(frame) if channels == 4 else frame)
        rc, err = job.wait()
    if job.timed_out:
        raise MediaError(f"{path}: decoding took longer than {timeout_s} s ({len(frames)} frames read)")
    if rc != 0 or err.strip() or buf:
        raise MediaError(f"{path}: truncated or corrupt ({len(frames)} frames decoded before ffmpeg "
                         f"reported: {_tail(err, 3)})")
    if not frames:
        raise MediaError(f"{path}: no frames decode")
    return np.stack(frames), head.fps


def _over_black(rgba: np.ndarray) -> np.ndarray:
    """(..., 4) uint8 -> (..., 3) uint8, composited over black: rgb * alpha / 255, rounded."""
    rgb = rgba[..., :3].astype(np.uint16) * rgba[..., 3:].astype(np.uint16)
    return ((rgb + 127) // 255).astype(np.uint8)


@contextmanager
def _bomb_guard(path: Path) -> Iterator[None]:
    """Turn Pillow's decompression-bomb warning into an error and every decode failure into MediaError."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            yield
        except MediaError:
            raise
        except (Image.DecompressionBombWarning, Image.DecompressionBombError) as e:
            raise MediaError(f"{path}: refused by Pillow's decompression-bomb limit "
                             f"(Image.MAX_IMAGE_PIXELS={Image.MAX_IMAGE_PIXELS}): {e}") from None
        except UnidentifiedImageError:
            raise MediaError(f"{path}: not a readable image") from None
        except (OSError, SyntaxError, ValueError, EOFError) as e:  # Pillow's ways of saying "corrupt"
            raise MediaError(f"{path}: corrupt or truncated image: {e}") from None


def read_image(path: str | os.PathLike, max_pixels: int = 40_000_000) -> np.ndarray:
    """Read an image as (H, W, 3) RGB uint8; the size is checked before any pixel is decoded.

    Any mode becomes 8-bit RGB: alpha over black, 16-bit rescaled, palette/grey/CMYK converted; EXIF
    orientation is applied; an animated file gives its first frame. Float images are refused.
    """
    path = _require_file(path)
    with _bomb_guard(path), Image.open(path) as im:
        width, height = im.size
        if width * height > max_pixels:
            raise MediaError(f"{path}: {width}x{height} = {width * height} pixels exceeds "
                             f"max_pixels={max_pixels}")
        im.load()
        im = ImageOps.exif_transpose(im)
        return _to_rgb8(im, path)


def _to_rgb8(im: Image.Image, path: Path) -> np.ndarray:
    mode = im.mode
    if mode == "I" or mode.startswith("I;16"):  # 16-bit grey (Pillow may hold it as 32-bit "I")
        wide = np.clip(np.asarray(im).astype(np.int64), 0, 65535)
        grey = ((wide * 255 + 32767) // 65535).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    if mode == "F":
        raise MediaError(f"{path}: floating-point images have no agreed range; refusing to guess")
    if mode in ("RGBA", "RGBa", "LA", "La", "PA") or "transparency" in im.info:
        return _over_black(np.asarray(im.convert("RGBA")))
    return np.array(im.convert("RGB"), dtype=np.uint8)
