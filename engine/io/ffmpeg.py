"""ffmpeg plumbing: the executable, a supervised process with a kill timer, and the input sandbox."""
from __future__ import annotations

import re
import subprocess
import threading
from functools import lru_cache
from pathlib import Path

DEFAULT_TIMEOUT_S = 60.0
# ffmpeg demuxer names we accept; anything else (hls, concat, tty, ...) is refused before it opens.
# Containers of one file each; mpegts and mpeg for camcorder (.mts, .m2ts) and DVD-era (.mpg, .vob)
# footage. Never a playlist or concat demuxer, which would open other files.
_DEMUXERS = "mov,matroska,gif,apng,webp_anim,avi,mpegts,mpeg,png_pipe,jpeg_pipe,webp_pipe"
CONTAINERS = "MP4/MOV, MKV/WebM, AVI, MPEG-TS (.mts), MPEG (.mpg), GIF, APNG, animated WebP"


class MediaError(ValueError):
    """A media file that cannot be read as asked: missing, empty, corrupt, truncated, too large, too slow."""


@lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    import imageio_ffmpeg  # imported lazily: only media paths need it

    return imageio_ffmpeg.get_ffmpeg_exe()


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
    """ffmpeg's last lines, without its "[component @ 0x55d...]" prefixes, for an error message."""
    kept = [re.sub(r"^(\[[^\]]* @ 0x[0-9a-f]+\]\s*)+", "", line.strip())
            for line in text.strip().splitlines() if line.strip()][-lines:]
    return " | ".join(line for line in kept if line) or "(no message)"


def _input_args(path: Path, max_pixels: int) -> list[str]:
    # "file:" keeps a name like "-x.mp4" or "concat:a|b" from being read as an option or protocol.
    return ["-protocol_whitelist", "file", "-format_whitelist", _DEMUXERS, "-max_pixels", str(max_pixels),
            "-i", f"file:{path.resolve()}"]
