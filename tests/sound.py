"""Sound for the tests of audio kept under its frames: a tone muxed into a clip, and a file's
loudness sample by sample."""
import subprocess

import numpy as np

from engine.io import ffmpeg_exe


def with_tone(video, out, seconds: float, quiet_s: float = 0.0):
    """`video` with a 440 Hz tone `seconds` long muxed in (silent for its first quiet_s); -> out."""
    tone = f"sine=frequency=440:duration={seconds}" + (f",volume=enable='lt(t,{quiet_s})':volume=0" if quiet_s else "")
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(video), "-f", "lavfi", "-i", tone,
                    "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac", str(out)], check=True, timeout=60)
    return out


def loudness(path, rate: int = 8000):
    """|sample| of a file's sound, mono at `rate` Hz (float array; empty if it has none)."""
    pcm = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-vn", "-ac", "1", "-ar", str(rate),
                          "-f", "s16le", "-"], capture_output=True, check=True, timeout=60).stdout
    return np.abs(np.frombuffer(pcm, np.int16).astype(float))
