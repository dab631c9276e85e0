"""Readers: probe and decode video through ffmpeg, images through Pillow, under the policies in
engine/io/__init__.py (size checked before decoding, timeouts, corrupt input is a MediaError)."""
from __future__ import annotations

import os
import re
import subprocess
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from engine.io.ffmpeg import CONTAINERS, DEFAULT_TIMEOUT_S, MediaError, _Ffmpeg, _input_args, _run, _tail

STILL_IMAGE_FPS = 25.0  # ffmpeg's rate for a single image; a 1-frame video needs some rate
# Edits conform every input onto a grid of at most a few hundred pixels: decode no larger than
# this (ffmpeg scales while decoding): a long 1080p clip needs 1/14 of the memory, 4K 1/56.
EDIT_LONG_SIDE = 512
SCALED_MAX_PIXELS = 8192 * 4352  # DCI 8K: phones record 7680x4320, decoded scaled down
IMAGE_MAX_PIXELS = 50_000_000  # a still: 24 MP phones and cameras, 48 MP phone photos (8064x6048)
_ALPHA_PIX_FMT = re.compile(r"^(yuva|gbrap|ya\d|rgba|bgra|argb|abgr|pal8)")


@dataclass(frozen=True)
class VideoInfo:
    width: int  # display size, after rotation metadata is applied
    height: int
    num_frames: int  # frames that actually decode, not what the header claims
    fps: float  # the stream's average frame rate
    codec: str  # ffmpeg's codec name, e.g. "h264"
    pix_fmt: str  # e.g. "yuv420p"
    duration_s: float  # num_frames / fps


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
    width: int  # display size (sample aspect ratio and rotation applied)
    height: int
    fps: float
    codec: str
    pix_fmt: str
    sar: float = 1.0  # stored pixels are this wide; != 1 means frames must be scaled to display size
    timed: bool = False  # fps is the stream's average rate, so frames can be placed on it by timestamp
    duration_s: float | None = None  # the container's, when it states one
    audio: bool = False  # the file also holds a sound track


def _header(path: Path, max_pixels: int, timeout_s: float) -> _Header:
    """Read the first video stream's header with `ffmpeg -i PATH` (no output, so nothing is decoded
    beyond what ffmpeg needs to identify the stream) and refuse frames over max_pixels."""
    _, _, err = _run(_input_args(path, max_pixels), path, timeout_s, "read the header")
    if "Format not on whitelist" in err:
        raise MediaError(f"{path}: a kind of file the studio does not open (videos: {CONTAINERS}; "
                         "images: PNG, JPEG, WebP, TIFF, BMP)")
    if "Input #0" not in err:
        raise MediaError(f"{path}: not a readable video or image ({_tail(err, 4)})")
    m = re.search(r"Stream #0:\d+\S*: Video: (.*)", err)
    if m is None:
        raise MediaError(f"{path}: holds no video stream (an audio file?)")
    if "(attached pic)" in m.group(1):
        raise MediaError(f"{path}: holds no video, only a cover picture (an audio file?)")
    parts = _split_top(m.group(1))
    size = next((s for p in parts if (s := re.match(r"(\d+)x(\d+)\b", p))), None)
    if re.search(r"^(\[[^\]]*\] )+Picture size \d+x\d+ (exceeds|is invalid)", err, re.MULTILINE):
        # ffmpeg refused the frame size (-max_pixels); say the stream's own
        said = f"{size[1]}x{size[2]}" if size and int(size[1]) * int(size[2]) else "larger frames"
        raise MediaError(f"{path}: frames of {said} exceed max_pixels={max_pixels}")
    if size is None:
        raise MediaError(f"{path}: ffmpeg found no frame size for the video stream ({_tail(err, 3)})")
    width, height = int(size[1]), int(size[2])
    if width * height > max_pixels:
        raise MediaError(f"{path}: frames of {width}x{height} exceed max_pixels={max_pixels}")
    # The codec's "[SAR a:b DAR c:d]", then the container's "SAR a:b DAR c:d" where it differs (MKV
    # display size, MOV pasp): ffmpeg displays with the last.
    sars = re.findall(r"SAR (\d+):(\d+) DAR", m.group(1))
    sar = int(sars[-1][0]) / int(sars[-1][1]) if sars and int(sars[-1][0]) and int(sars[-1][1]) else 1.0
    sar = 1.0 if abs(sar - 1.0) <= 1e-3 else sar
    if sar != 1.0:  # anamorphic (HDV 1440x1080, DV/DVD 720x480): square the pixels
        width = max(2, round(width * sar / 2) * 2)
    rot = re.search(r"rotation of (-?[\d.]+) degrees", err, re.IGNORECASE)
    if rot and round(float(rot[1])) % 180 == 90:  # ffmpeg autorotates: a quarter turn swaps the sides
        width, height = height, width
    fps, timed = _rate(parts, "fps"), True
    if parts[0].startswith("webp_anim"):  # ffmpeg guesses (or gives only its 1 kHz time base)
        fps = _animated_rate(path) or fps  # decodes the frames once more in Pillow
    if not fps:
        fps, timed = _rate(parts, "tbr"), False
    if not fps:
        raise MediaError(f"{path}: ffmpeg reports no frame rate for the video stream")
    pix = re.match(r"[a-z][a-z0-9_]*", parts[1]) if len(parts) > 1 else None
    codec, pix_fmt = parts[0].split()[0], pix[0] if pix else "unknown"
    if codec in ("vp8", "vp9") and re.search(r"^\s*alpha_mode\s*:\s*1\s*$", err, re.MULTILINE):
        pix_fmt = "yuva420p"  # ffmpeg's native VP8/9 decoders drop the alpha plane; libvpx keeps it
    dur = re.search(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)", err)
    duration = int(dur[1]) * 3600 + int(dur[2]) * 60 + float(dur[3]) if dur else None
    audio = re.search(r"^\s*Stream #0:\d+\S*: Audio:", err, re.MULTILINE) is not None   # not a comment's text
    return _Header(width, height, _exact_fps(fps), codec, pix_fmt, sar, timed, duration, audio)


def _animated_rate(path: Path) -> float | None:
    """An animated image's average rate from its frame durations (Pillow reads them from headers)."""
    try:
        with _bomb_guard(path), Image.open(path) as im:
            durations = []
            for i in range(getattr(im, "n_frames", 1)):
                im.seek(i)
                im.load()  # WebP sets a frame's duration when it decodes it
                durations.append(im.info.get("duration", 0))
    except MediaError:
        return None
    total = sum(durations)
    return round(len(durations) * 1000 / total, 4) if total > 0 else None


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


def source_info(path: str | os.PathLike) -> dict:
    """What an edit notes of an input file, from its header: "size" [width, height] as displayed,
    before any scaling on decode (read_video(long_side=...) may decode it smaller), and "audio",
    whether it holds a sound track; with sound, "video_start_s", the file time of its first video
    frame (frame 0 of read_video), where the sound under that frame is."""
    path = _require_file(path)
    if _is_still_image(path):
        with _bomb_guard(path), Image.open(path) as im:
            w, h = im.size
            turned = im.getexif().get(0x0112, 1) in (5, 6, 7, 8)     # EXIF orientation: a quarter turn
        return {"size": [h, w] if turned else [w, h], "audio": False}
    head = _header(path, SCALED_MAX_PIXELS, DEFAULT_TIMEOUT_S)
    info = {"size": [head.width, head.height], "audio": head.audio}
    if head.audio:
        info["video_start_s"] = _video_start(path)
    return info


def is_image_file(path: str | os.PathLike) -> bool:
    """Whether Pillow reads the file as an image: a still, or an animated GIF, WebP or PNG (an
    image file gives its first frame where a video gives all: read_image). Header only."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path):
                return True
    except (OSError, ValueError, Image.DecompressionBombError):
        return False


def _video_start(path: Path) -> float:
    """The first video frame's time in the file, from one decoded frame (showinfo)."""
    args = [*_input_args(path, SCALED_MAX_PIXELS), "-map", "0:v:0", "-frames:v", "1", "-vf", "showinfo",
            "-f", "null", "-"]
    _, _, err = _run(args, path, DEFAULT_TIMEOUT_S, "find the first video frame")
    found = re.search(r"pts_time:\s*(-?[\d.]+)", err)
    if found is None:
        raise MediaError(f"{path}: no video frame decodes ({_tail(err, 2)})")
    return max(0.0, float(found[1]))


def _is_still_image(path: Path) -> bool:
    """JPEG, TIFF, BMP, or PNG or WebP holding one frame (APNG and animated WebP go to ffmpeg, as
    GIF does; a multi-page TIFF gives its first page, as read_image does)."""
    with open(path, "rb") as f:
        magic = f.read(16)
    if magic.startswith((b"\xff\xd8\xff", b"II*\x00", b"MM\x00*", b"BM")):
        return True
    if not (magic.startswith(b"\x89PNG\r\n\x1a\n") or (magic[:4] == b"RIFF" and magic[8:12] == b"WEBP")):
        return False
    with _bomb_guard(path), Image.open(path) as im:  # reads the header only
        return getattr(im, "n_frames", 1) == 1


def read_video(path: str | os.PathLike, max_frames: int | None = None, max_pixels: int | None = None,
               timeout_s: float = 120.0, long_side: int | None = None) -> tuple[np.ndarray, float]:
    """Decode every frame (or the first max_frames) to (T, H, W, 3) RGB uint8, and the average fps.

    MP4, MOV, MKV/WebM, AVI, GIF, APNG and animated WebP are decoded by ffmpeg; a still PNG/JPEG/WebP
    becomes a 1-frame video at STILL_IMAGE_FPS. See the module docstring for the policies.
    long_side: ffmpeg scales video frames down to at most this many pixels on the long side while
    decoding (stills come back at full size).
    max_pixels: the largest frame accepted; by default 4096x4096, or 8K (8192x4352) when long_side
    has ffmpeg scale the frames down as they are decoded.
    """
    if max_pixels is None:
        max_pixels = SCALED_MAX_PIXELS if long_side is not None else 4096 * 4096
    if max_frames is not None and (isinstance(max_frames, bool) or not isinstance(max_frames, int)
                                   or max_frames < 1):
        raise ValueError(f"max_frames must be a positive int or None, got {max_frames!r}")
    path = _require_file(path)
    if _is_still_image(path):  # one frame: read_image's own limit, not a per-video-frame one
        return read_image(path, max_pixels=max(max_pixels, IMAGE_MAX_PIXELS))[None], STILL_IMAGE_FPS
    head = _header(path, max_pixels, timeout_s)
    channels = 4 if _ALPHA_PIX_FMT.match(head.pix_fmt) else 3
    out_w, out_h, filters = head.width, head.height, []
    if long_side is not None and max(out_w, out_h) > long_side:  # scaled by ffmpeg, after autorotate
        ratio = long_side / max(out_w, out_h)
        out_w, out_h = max(2, round(out_w * ratio / 2) * 2), max(2, round(out_h * ratio / 2) * 2)
    if (out_w, out_h) != (head.width, head.height) or head.sar != 1.0:
        filters.append(f"scale={out_w}:{out_h}:flags=area,setsar=1")
    if head.timed:
        # Constant frame rate at the stream's average rate, each frame placed by its timestamp: a
        # phone's variable-rate clip keeps its timing instead of being stretched. As a filter it
        # starts at the first frame (the output option pads a late video start with copies of it).
        rate = Fraction(head.fps).limit_denominator(1001)
        filters.append(f"fps={rate.numerator}/{rate.denominator}")
    frame_bytes = out_h * out_w * channels
    libvpx = (["-c:v", "libvpx-vp9" if head.codec == "vp9" else "libvpx"]
              if head.pix_fmt == "yuva420p" and head.codec in ("vp8", "vp9") else [])
    args = ["-nostdin", "-v", "error", *libvpx, *_input_args(path, max_pixels), "-map", "0:v:0",
            *(["-vf", ",".join(filters)] if filters else []), "-fps_mode", "passthrough",
            *(["-frames:v", str(max_frames)] if max_frames else []),
            "-f", "rawvideo", "-pix_fmt", "rgba" if channels == 4 else "rgb24", "pipe:1"]
    # Frames go straight into one array sized from the stated duration with a tenth to spare (grown
    # if that is short), so a long clip is held once, not as a list of frames and a stacked copy.
    # The duration is the container's (audio may run longer), so the first array is at most 1 GiB.
    expected = int(head.duration_s * head.fps * 1.1) + 16 if head.duration_s and head.timed else 64
    expected = min(expected, max_frames or expected, max(64, (1 << 30) // frame_bytes))
    frames = _Frames(expected, out_h, out_w)
    with _Ffmpeg(args, timeout_s, stdout=subprocess.PIPE) as job:
        while len(buf := job.proc.stdout.read(frame_bytes)) == frame_bytes:
            frame = np.frombuffer(buf, np.uint8).reshape(out_h, out_w, channels)
            frames.append(_over_black(frame) if channels == 4 else frame)
        rc, err = job.wait()
    if job.timed_out:
        raise MediaError(f"{path}: decoding took longer than {timeout_s} s ({len(frames)} frames read)")
    if rc != 0 or err.strip() or buf:
        raise MediaError(f"{path}: truncated or corrupt ({len(frames)} frames decoded before ffmpeg "
                         f"reported: {_tail(err, 3)})")
    if not len(frames):
        raise MediaError(f"{path}: no frames decode")
    return frames.array(), head.fps


class _Frames:
    """(T, H, W, 3) uint8 frames appended into one preallocated array, grown by half when full.
    Rows never written are never touched, so the operating system gives them no memory."""

    def __init__(self, capacity: int, height: int, width: int):
        self._buf = np.empty((max(1, capacity), height, width, 3), np.uint8)
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def append(self, frame: np.ndarray) -> None:
        if self._n == len(self._buf):
            grown = np.empty((len(self._buf) * 3 // 2 + 16, *self._buf.shape[1:]), np.uint8)
            grown[:self._n] = self._buf
            self._buf = grown
        self._buf[self._n] = frame
        self._n += 1

    def array(self) -> np.ndarray:
        """The frames written, a view (no copy)."""
        return self._buf[:self._n]


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
            size = re.search(r"\((\d+) pixels\)", str(e))     # Pillow refuses before our own check
            said = f" ({size[1]} pixels)" if size else ""
            raise MediaError(f"{path}: too large an image to open{said}; photos of up to "
                             f"{IMAGE_MAX_PIXELS // 1_000_000} megapixels are read") from None
        except UnidentifiedImageError:
            raise MediaError(f"{path}: not a readable image") from None
        except (OSError, SyntaxError, ValueError, EOFError) as e:  # Pillow's ways of saying "corrupt"
            raise MediaError(f"{path}: corrupt or truncated image: {e}") from None


def read_image(path: str | os.PathLike, max_pixels: int = IMAGE_MAX_PIXELS) -> np.ndarray:
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
