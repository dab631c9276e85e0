"""Tests for engine/io/: tiny synthetic media, real ffmpeg, a few seconds in all."""

import importlib
import importlib.util
import json
import os
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sound import loudness, with_tone

try:
    eio = importlib.import_module("engine.io")
except ImportError:  # engine/__init__.py may import modules not written yet: load the file directly
    _spec = importlib.util.spec_from_file_location(
        "engine_io_under_test", Path(__file__).resolve().parents[1] / "engine" / "io.py")
    eio = importlib.util.module_from_spec(_spec)
    sys.modules[_spec.name] = eio  # dataclasses look their module up here
    _spec.loader.exec_module(eio)

MediaError = eio.MediaError
posix_only = pytest.mark.skipif(os.name != "posix", reason="fake ffmpeg is a shell script")


def smooth_clip(num_frames=13, height=48, width=64):
    """(T, H, W, 3) uint8 gradients that drift over time: easy for H.264, so errors stay small."""
    t, y, x = np.meshgrid(np.arange(num_frames), np.arange(height), np.arange(width), indexing="ij")
    r = x * 3 + t * 4
    g = y * 4 + t * 2
    b = 128 + (x + y) + t
    return np.stack([r, g, b], axis=-1).clip(0, 255).astype(np.uint8)  # (T, H, W, 3)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name)


@pytest.fixture(scope="module")
def clip_file(tmp_path_factory):
    frames = smooth_clip()
    path = eio.write_video(frames, tmp_path_factory.mktemp("clip") / "clip.mp4", fps=12)
    return path, frames


# ------------------------------------------------------------------------------------------- writing


def test_write_probe_read_round_trip(clip_file):
    path, frames = clip_file
    info = eio.probe_video(path)
    assert (info.codec, info.pix_fmt) == ("h264", "yuv420p")
    assert (info.num_frames, info.width, info.height, info.fps) == (13, 64, 48, 12.0)
    assert info.duration_s == pytest.approx(13 / 12)
    decoded, fps = eio.read_video(path)
    assert decoded.shape == frames.shape and decoded.dtype == np.uint8 and fps == 12.0
    assert np.abs(decoded.astype(int) - frames).mean() < 6
    assert eio.read_video(path, max_frames=4)[0].shape == (4, 48, 64, 3)


def test_colours_survive_bt709_round_trip(tmp_path):
    # A matrix mismatch between writer and reader (BT.601 vs BT.709) shifts saturated colours by ~20.
    frames = np.zeros((2, 16, 64, 3), np.uint8)
    for i, colour in enumerate([(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)]):
        frames[:, :, 16 * i:16 * (i + 1)] = colour
    decoded, _ = eio.read_video(eio.write_video(frames, tmp_path / "sat.mp4", fps=24, crf=0))
    centres = (decoded.astype(int) - frames)[:, 4:12, [4, 20, 36, 52]]
    assert np.abs(centres).max() <= 4


def test_odd_size_is_padded_by_repeating_the_edge_and_fraction_fps_is_exact(tmp_path):
    frames = smooth_clip(5, 47, 63)
    assert eio.encoded_size(47, 63) == (48, 64)
    path = eio.write_video(frames, tmp_path / "odd.mp4", fps=30000 / 1001)
    info = eio.probe_video(path)
    assert (info.width, info.height, info.num_frames) == (64, 48, 5)
    assert info.fps == pytest.approx(30000 / 1001, abs=1e-6)
    decoded, _ = eio.read_video(path)
    assert np.abs(decoded[:, :47, :63].astype(int) - frames).mean() < 6
    assert np.abs(decoded[:, :47, 63].astype(int) - frames[:, :, 62]).mean() < 6  # edge, not black


def test_faststart_puts_moov_before_mdat(clip_file):
    data = clip_file[0].read_bytes()
    assert 0 <= data.find(b"moov") < data.find(b"mdat")


def test_successful_writes_leave_no_temp_files(tmp_path):
    eio.write_video(smooth_clip(2), tmp_path / "a.mp4", fps=8)
    eio.write_image(smooth_clip(1)[0], tmp_path / "a.png")
    eio.write_json_atomic({"seed": 7, "prompt": "fox"}, tmp_path / "a.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "a.mp4", "a.png"]
    assert json.loads((tmp_path / "a.json").read_text()) == {"seed": 7, "prompt": "fox"}


@pytest.mark.parametrize("frames, fps, name", [
    (smooth_clip(2).astype(np.float32), 8, "float frames"),
    (smooth_clip(2)[0], 8, "missing time axis"),
    (np.zeros((2, 8, 8, 4), np.uint8), 8, "RGBA"),
    (np.zeros((0, 8, 8, 3), np.uint8), 8, "no frames"),
    (smooth_clip(2), 0, "fps 0"),
    (smooth_clip(2), -3, "negative fps"),
    (smooth_clip(2), float("nan"), "nan fps"),
])
def test_bad_video_input_is_refused_and_leaves_the_destination_alone(tmp_path, frames, fps, name):
    dest = tmp_path / "out.mp4"
    dest.write_bytes(b"previous take")
    with pytest.raises(ValueError):
        eio.write_video(frames, dest, fps=fps)
    assert dest.read_bytes() == b"previous take" and leftovers(tmp_path) == []
    with pytest.raises(ValueError):
        eio.write_video(frames, tmp_path / "new.mp4", fps=fps)
    assert not (tmp_path / "new.mp4").exists() and leftovers(tmp_path) == []


@posix_only
def test_encoder_failure_removes_the_partial_file_and_reports_stderr(tmp_path, monkeypatch):
    fake = tmp_path / "bin" / "ffmpeg"
    fake.parent.mkdir()
    # Writes a partial output, then dies without reading its input (so our writes hit a broken pipe).
    fake.write_text('#!/bin/sh\nfor last; do :; done\necho junk > "$last"\n'
                    'echo "simulated encoder failure" >&2\nexit 1\n')
    fake.chmod(0o755)
    monkeypatch.setattr(importlib.import_module("engine.io.ffmpeg"), "ffmpeg_exe", lambda: str(fake))
    out = tmp_path / "out"
    out.mkdir()
    (out / "kept.mp4").write_bytes(b"previous take")
    for name in ("kept.mp4", "new.mp4"):
        with pytest.raises(RuntimeError, match="simulated encoder failure"):
            eio.write_video(smooth_clip(20, 96, 128), out / name, fps=12)
    assert sorted(p.name for p in out.iterdir()) == ["kept.mp4"]
    assert (out / "kept.mp4").read_bytes() == b"previous take"


def test_failed_json_write_keeps_the_old_file(tmp_path):
    dest = eio.write_json_atomic({"v": 1}, tmp_path / "project.json")
    with pytest.raises(ValueError):
        eio.write_json_atomic({"v": float("nan")}, dest)
    assert json.loads(dest.read_text()) == {"v": 1} and leftovers(tmp_path) == []


def test_write_image_round_trip(tmp_path):
    image = smooth_clip(1, 31, 45)[0]
    assert np.array_equal(eio.read_image(eio.write_image(image, tmp_path / "x.png")), image)
    for suffix in (".jpg", ".webp"):
        back = eio.read_image(eio.write_image(image, tmp_path / f"x{suffix}"))
        assert back.shape == image.shape and np.abs(back.astype(int) - image).mean() < 4
    with pytest.raises(ValueError):
        eio.write_image(image, tmp_path / "x.bmp")
    with pytest.raises(ValueError):
        eio.write_image(image[..., :2], tmp_path / "y.png")
    assert leftovers(tmp_path) == []


# ------------------------------------------------------------------------------------- reading video


def test_ffmpeg_messages_lose_their_component_prefixes():
    from engine.io.ffmpeg import _tail
    err = "[in#0 @ 0x55d0c0a1b2c0] Error opening input: Invalid data\n[h264 @ 0xab12] [vist#0:0 @ 0x1] bad\n"
    assert _tail(err) == "Error opening input: Invalid data | bad"


def test_broken_files_raise_media_error_fast(clip_file, tmp_path):
    data = clip_file[0].read_bytes()
    cases = {
        "half.mp4": data[: len(data) // 2],  # moov is intact (faststart); frames are missing
        "head.mp4": data[:300],
        "random.mp4": np.random.default_rng(0).bytes(4000),
        "empty.mp4": b"",
        "playlist.mp4": b"#EXTM3U\n#EXTINF:1,\nfile:///etc/hostname\n",  # must not be followed
    }
    start = time.monotonic()
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        for reader in (eio.read_video, eio.probe_video):
            with pytest.raises(MediaError, match=name):
                reader(tmp_path / name)
    with pytest.raises(MediaError, match="no such file"):
        eio.read_video(tmp_path / "missing.mp4")
    assert time.monotonic() - start < 10


def test_animated_gif_gives_every_frame(tmp_path):
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255), (0, 0, 0)]
    frames = [Image.new("RGB", (20, 12), c) for c in colours]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    decoded, fps = eio.read_video(tmp_path / "a.gif")
    assert decoded.shape == (5, 12, 20, 3) and fps == pytest.approx(10)
    assert np.array_equal(decoded[:, 0, 0], np.array(colours, np.uint8))


def test_animated_webp_alpha_is_composited_over_black(tmp_path):
    rgba = np.zeros((2, 16, 16, 4), np.uint8)
    rgba[0, ..., :3], rgba[1, ..., :3] = 200, 100
    rgba[:, :, 8:, 3] = 255  # right half opaque, left half transparent
    frames = [Image.fromarray(f) for f in rgba]
    frames[0].save(tmp_path / "a.webp", save_all=True, append_images=frames[1:], duration=100,
                   lossless=True)
    decoded, _ = eio.read_video(tmp_path / "a.webp")
    assert decoded.shape == (2, 16, 16, 3)
    assert decoded[:, :, :8].max() == 0
    assert decoded[0, :, 8:].min() == decoded[0, :, 8:].max() == 200 and decoded[1, :, 8:].min() == 100


def test_still_png_is_a_one_frame_video(tmp_path):
    image = smooth_clip(1, 10, 14)[0]
    Image.fromarray(image).save(tmp_path / "still.png")
    decoded, fps = eio.read_video(tmp_path / "still.png")
    assert np.array_equal(decoded, image[None]) and fps == eio.STILL_IMAGE_FPS


def test_variable_frame_rate_places_frames_by_their_timestamps(tmp_path):
    # Dark for one second at 30 fps, then bright at every 4th frame (7.5 fps) for two: 30 + 15
    # frames. Spread evenly at the average rate, the dark part would last two seconds.
    path = tmp_path / "vfr.mp4"
    subprocess.run([eio.ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i",
                    "color=c=black:s=32x24:r=30,geq=lum='if(lt(T\\,1)\\,40\\,200)':cb=128:cr=128,"
                    "select='lt(t\\,1)+not(mod(n\\,4))'", "-t", "3",
                    "-fps_mode", "vfr", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)], check=True)
    decoded, fps = eio.read_video(path)
    assert eio.probe_video(path).num_frames == 45
    assert 15 < fps < 18  # the average rate, not 30
    assert abs(len(decoded) / fps - 3.0) < 0.2  # the duration is kept
    dark = int((decoded.mean(axis=(1, 2, 3)) < 120).sum())
    assert abs(dark / fps - 1.0) < 0.15  # the first second stays one second


def test_source_info_is_the_files_own_and_conform_notes_stay_truthful(clip_file, tmp_path):
    """What an edit reports as its source: the file's display size (a big clip is decoded
    smaller), and for a still no frame rate and nothing dropped."""
    from engine.conform import resample_frames
    path, frames = clip_file
    assert eio.source_info(path) == {"size": [frames.shape[2], frames.shape[1]], "audio": False}
    small, _ = eio.read_video(path, long_side=32)
    assert small.shape[2] == 32 and eio.source_info(path)["size"] == [frames.shape[2], frames.shape[1]]
    photo = tmp_path / "turned.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6                                            # stored 60x20, shown 20x60
    Image.new("RGB", (60, 20)).save(photo, exif=exif)
    assert eio.source_info(photo)["size"] == [20, 60] == list(eio.read_image(photo).shape[1::-1])
    voiced = with_tone(path, tmp_path / "voiced.mp4", 2)      # a sound track is seen in the header
    assert eio.source_info(voiced)["audio"] and eio.read_video(voiced)[0].shape == frames.shape
    _, note = resample_frames(frames[:1], 25.0, 12.0, 4)
    assert "from_fps" not in note and "dropped_s" not in note and note["to_frames"] == 1
    _, note = resample_frames(frames[:2], 25.0, 12.0, 4)       # 0.08 s: one frame, nothing dropped
    assert note["to_frames"] == 1 and note["dropped_s"] >= 0


def test_a_clip_already_on_the_grid_is_not_copied_and_cannot_be_written_through():
    from engine.conform import resample_frames
    clip = np.random.default_rng(0).integers(0, 256, (9, 4, 6, 3), dtype=np.uint8)
    same, note = resample_frames(clip, 12.0, 12.0, 1)
    assert np.shares_memory(same, clip) and note["to_frames"] == 9 and note["dropped_s"] == 0
    with pytest.raises(ValueError, match="read-only"):
        same[0, 0, 0] = 1
    assert clip.flags.writeable                                  # the caller's own array is untouched
    cut, _ = resample_frames(clip, 12.0, 12.0, 4)                # 9 = 1 + 2 * 4: still the same frames
    assert np.shares_memory(cut, clip)
    slower, _ = resample_frames(clip, 24.0, 12.0, 1)             # resampled: a new array
    assert not np.shares_memory(slower, clip) and len(slower) == 4


def test_audio_tracks_are_laid_in_place_and_end_with_the_video(clip_file, tmp_path):
    path, frames = clip_file
    voiced = with_tone(path, tmp_path / "voiced.mp4", 5)
    out = eio.write_video(frames, tmp_path / "out.mp4", fps=12, audio=[eio.AudioTrack(voiced, 0.5, 4.0)])
    sound = loudness(out)
    assert len(sound) / 8000 == pytest.approx(len(frames) / 12, abs=0.05)    # cut at the video's end
    assert np.flatnonzero(sound > 1000)[0] / 8000 == pytest.approx(0.5, abs=0.05)
    assert np.array_equal(eio.read_video(out)[0].shape, frames.shape)
    with pytest.raises(ValueError, match="audio track"):
        eio.write_video(frames, tmp_path / "bad.mp4", fps=12, audio=[eio.AudioTrack(voiced, -1.0, 1.0)])
    assert not (tmp_path / "bad.mp4").exists()


def test_sound_follows_a_video_that_starts_late_in_its_file(clip_file, tmp_path):
    """Frame 0 is the video's first frame, 0.5 s into the file: the sound under it is the file's
    at 0.5 s (the tone that starts at 1 s of the file plays from 0.5 s of the result)."""
    path, frames = clip_file
    tone = with_tone(path, tmp_path / "tone.mp4", 3, quiet_s=1.0)
    late = tmp_path / "late.mp4"
    subprocess.run([eio.ffmpeg_exe(), "-v", "error", "-itsoffset", "0.5", "-i", str(path), "-i", str(tone),
                    "-map", "0:v", "-map", "1:a", "-c", "copy", str(late)], check=True, timeout=60)
    info = eio.source_info(late)
    assert info["audio"] and info["video_start_s"] == pytest.approx(0.5, abs=0.01)
    got, fps = eio.read_video(late)
    out = eio.write_video(got, tmp_path / "out.mp4", fps=fps,
                          audio=[eio.AudioTrack(late, 0.0, len(got) / fps, info["video_start_s"])])
    assert np.flatnonzero(loudness(out) > 1000)[0] / 8000 == pytest.approx(0.5, abs=0.05)


def test_rotation_metadata_is_applied(clip_file, tmp_path):
    rotated = tmp_path / "rotated.mp4"
    subprocess.run([eio.ffmpeg_exe(), "-v", "error", "-display_rotation", "90", "-i", str(clip_file[0]),
                    "-c", "copy", str(rotated)], check=True)
    assert eio.read_video(rotated)[0].shape == (13, 64, 48, 3)
    assert (eio.probe_video(rotated).width, eio.probe_video(rotated).height) == (48, 64)


def test_frames_fill_one_array_grown_past_a_wrong_estimate():
    from engine.io.read import _Frames
    frames = _Frames(2, 4, 5)  # room for two; five come
    clip = smooth_clip(5, 4, 5)
    for frame in clip:
        frames.append(frame)
    assert len(frames) == 5 and np.array_equal(frames.array(), clip)


def test_long_side_scales_frames_while_decoding(clip_file):
    decoded, fps = eio.read_video(clip_file[0], long_side=32)
    assert decoded.shape == (13, 24, 32, 3) and fps == 12
    full, _ = eio.read_video(clip_file[0], long_side=640)        # never scaled up
    assert full.shape == (13, 48, 64, 3)
    half = full.reshape(13, 24, 2, 32, 2, 3).astype(float).mean(axis=(2, 4))
    assert np.abs(decoded - half).mean() < 3


def test_anamorphic_video_comes_back_in_square_pixels(clip_file, tmp_path):
    wide = tmp_path / "anamorphic.mp4"  # stored 64x48 with pixels twice as wide as high: 128x48 on screen
    subprocess.run([eio.ffmpeg_exe(), "-v", "error", "-i", str(clip_file[0]), "-vf", "setsar=2/1",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", str(wide)], check=True)
    assert eio.read_video(wide)[0].shape == (13, 48, 128, 3)
    assert (eio.probe_video(wide).width, eio.probe_video(wide).height) == (128, 48)
    assert eio.read_video(wide, long_side=64)[0].shape == (13, 24, 64, 3)
    for suffix in (".mkv", ".mov"):  # the container says it (MKV display size, MOV pasp)
        boxed = tmp_path / f"container{suffix}"
        subprocess.run([eio.ffmpeg_exe(), "-v", "error", "-i", str(clip_file[0]), "-c", "copy",
                        "-aspect", "8:3", str(boxed)], check=True)
        assert eio.read_video(boxed)[0].shape == (13, 48, 128, 3)


def test_video_that_starts_after_its_audio_gains_no_frames(clip_file, tmp_path):
    late = tmp_path / "late.mp4"  # the video's first frame at 0.5 s, the audio from 0
    subprocess.run([eio.ffmpeg_exe(), "-v", "error", "-itsoffset", "0.5", "-i", str(clip_file[0]),
                    "-f", "lavfi", "-i", "sine=d=2", "-map", "0:v", "-map", "1:a", "-c:v", "copy",
                    "-shortest", str(late)], check=True)
    decoded, _ = eio.read_video(late)
    assert np.abs(decoded.astype(int) - clip_file[1]).mean() < 3  # the 13 frames, none repeated


def test_audio_with_a_cover_picture_is_refused_as_no_video(tmp_path):
    cover, song = tmp_path / "cover.png", tmp_path / "song.mp4"
    Image.new("RGB", (32, 32), (200, 30, 30)).save(cover)
    subprocess.run([eio.ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "sine=d=30", "-i", str(cover),
                    "-map", "0:a", "-map", "1:v", "-c:v", "png", "-disposition:v", "attached_pic",
                    str(song)], check=True)
    with pytest.raises(MediaError, match="cover picture"):
        eio.read_video(song)


def test_vp9_alpha_is_composited_over_black(tmp_path):
    path = tmp_path / "alpha.webm"
    made = subprocess.run([eio.ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i",
                           "color=c=red@0.0:s=32x24:r=10:d=0.5,format=yuva420p", "-c:v", "libvpx-vp9",
                           "-pix_fmt", "yuva420p", str(path)], capture_output=True)
    if made.returncode != 0:
        pytest.skip("this ffmpeg has no libvpx-vp9 encoder")
    decoded, _ = eio.read_video(path)
    assert decoded.max() <= 8  # transparent everywhere: black, not the hidden red


@pytest.mark.parametrize("suffix", [".tif", ".bmp"])
def test_tiff_and_bmp_read_as_one_frame_videos(tmp_path, suffix):
    image = smooth_clip(1, 10, 14)[0]
    Image.fromarray(image).save(tmp_path / f"still{suffix}")
    decoded, fps = eio.read_video(tmp_path / f"still{suffix}")
    assert np.array_equal(decoded, image[None]) and fps == eio.STILL_IMAGE_FPS


def test_camera_photo_reads_as_a_one_frame_video(tmp_path):
    photo = tmp_path / "camera.png"  # 24 Mpx, more than a video frame may hold (4096 x 4096)
    Image.new("RGB", (6000, 4000), (10, 20, 30)).save(photo)
    frames, _ = eio.read_video(photo)
    assert frames.shape == (1, 4000, 6000, 3)


def test_camcorder_containers_read_and_others_are_named(clip_file, tmp_path):
    """MPEG-TS (.mts) and MPEG-PS (.mpg) footage reads; a refused container gets a plain message."""
    path, frames = clip_file
    for name, fmt in (("clip.mts", "mpegts"), ("clip.mpg", "mpeg")):
        out = tmp_path / name
        subprocess.run([eio.ffmpeg_exe(), "-v", "error", "-i", str(path), "-c:v", "mpeg2video", "-q:v", "2",
                        "-f", fmt, str(out)], check=True, timeout=60)
        got, fps = eio.read_video(out)
        assert got.shape == frames.shape and abs(fps - 12) < 0.1, name
    text = tmp_path / "notes.png"
    text.write_text("not a picture")
    with pytest.raises(MediaError, match="does not open") as e:
        eio.read_video(text)
    assert "whitelist" not in str(e.value)


def test_oversized_video_is_refused_before_decoding(clip_file):
    frames, _ = eio.read_video(clip_file[0])
    size = f"{frames.shape[2]}x{frames.shape[1]}"           # the refusal names the stream's real size
    with pytest.raises(MediaError, match=f"frames of {size} exceed max_pixels=1000"):
        eio.read_video(clip_file[0], max_pixels=1000)


@posix_only
@pytest.mark.parametrize("stage", ["header", "decode"])
def test_stalled_decoder_is_killed_at_the_timeout(clip_file, tmp_path, monkeypatch, stage):
    # The fake ffmpeg hangs on every call ("header"), or only once frames are piped out ("decode").
    real = eio.ffmpeg_exe()
    script = {"header": "exec sleep 30\n",
              "decode": f'case "$*" in *pipe:1*) exec sleep 30;; *) exec "{real}" "$@";; esac\n'}[stage]
    fake = tmp_path / "ffmpeg"
    fake.write_text("#!/bin/sh\n" + script)
    fake.chmod(0o755)
    monkeypatch.setattr(importlib.import_module("engine.io.ffmpeg"), "ffmpeg_exe", lambda: str(fake))
    start = time.monotonic()
    with pytest.raises(MediaError, match="longer than 0.5 s"):
        eio.read_video(clip_file[0], timeout_s=0.5)
    assert time.monotonic() - start < 5


# ------------------------------------------------------------------------------------- reading images


def png_header_only(path: Path, width: int, height: int) -> Path:
    """A few hundred bytes that claim a huge 1-bit PNG; decoding it would fail as truncated."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                     + chunk(b"IDAT", zlib.compress(bytes(1000))) + chunk(b"IEND", b""))
    return path


def make_image(kind: str, path: Path) -> tuple[Path, np.ndarray]:
    """Write a small image of the given kind; return it and the RGB the policy says it reads as."""
    h, w = 6, 8
    if kind == "rgba":
        rgba = np.full((h, w, 4), 200, np.uint8)
        rgba[..., 3] = [0, 128, 255, 255, 0, 128, 255, 255]
        Image.fromarray(rgba).save(path)
        expected = np.repeat(((200 * rgba[..., 3:].astype(int) + 127) // 255), 3, axis=2)
    elif kind == "grey16":
        grey = np.tile(np.array([0, 257 * 100, 65535, 32767], np.uint16), (h, 2))
        Image.fromarray(grey).save(path)  # mode I;16, saved as a 16-bit PNG
        expected = np.repeat(np.tile(np.array([0, 100, 255, 127]), (h, 2))[..., None], 3, axis=2)
    elif kind == "palette":
        im = Image.new("P", (w, h), 1)
        im.putpalette([0, 0, 0, 10, 20, 30] + [0] * 762)
        im.save(path)
        expected = np.broadcast_to(np.array([10, 20, 30]), (h, w, 3))
    elif kind == "cmyk":
        Image.new("CMYK", (w, h), (0, 0, 0, 0)).save(path, quality=100)  # no ink: white
        expected = np.full((h, w, 3), 255)
    elif kind == "grey_alpha":
        Image.new("LA", (w, h), (90, 0)).save(path)
        expected = np.zeros((h, w, 3))
    else:  # 1-bit
        Image.new("1", (w, h), 1).save(path)
        expected = np.full((h, w, 3), 255)
    return path, expected


@pytest.mark.parametrize("kind, suffix", [("rgba", ".png"), ("grey16", ".png"), ("palette", ".png"),
                                          ("cmyk", ".jpg"), ("grey_alpha", ".png"), ("bilevel", ".png")])
def test_every_image_mode_becomes_rgb8(tmp_path, kind, suffix):
    path, expected = make_image(kind, tmp_path / f"{kind}{suffix}")
    image = eio.read_image(path)
    assert image.shape == (6, 8, 3) and image.dtype == np.uint8
    assert np.abs(image.astype(int) - expected).max() <= (2 if suffix == ".jpg" else 0)


def test_image_bombs_are_refused_before_decoding(tmp_path):
    # 9000 x 9000 = 81 Mpx: below Pillow's own limit, above ours (50); a decode would say "truncated".
    with pytest.raises(MediaError, match="exceeds max_pixels=50000000"):
        eio.read_image(png_header_only(tmp_path / "big.png", 9000, 9000))
    huge = png_header_only(tmp_path / "huge.png", 20000, 20000)  # 400 Mpx: Pillow refuses at open
    with pytest.raises(MediaError, match=r"too large an image to open \(400000000 pixels\)"):
        eio.read_image(huge, max_pixels=10**9)
    with pytest.raises(MediaError):
        eio.read_video(huge)
    small, _ = make_image("palette", tmp_path / "small.png")
    with pytest.raises(MediaError, match="max_pixels=10"):
        eio.read_image(small, max_pixels=10)


def test_corrupt_images_raise_media_error(tmp_path):
    noise = np.random.default_rng(2).integers(0, 256, (40, 40, 3), dtype=np.uint8)
    data = eio.write_image(noise, tmp_path / "ok.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    (tmp_path / "noise.png").write_bytes(np.random.default_rng(1).bytes(500))
    (tmp_path / "empty.jpg").write_bytes(b"")
    for name in ("cut.png", "noise.png", "empty.jpg", "missing.png"):
        with pytest.raises(MediaError, match=name):
            eio.read_image(tmp_path / name)


def test_animated_image_gives_first_frame(tmp_path):
    frames = [Image.new("RGB", (8, 6), c) for c in [(255, 0, 0), (0, 0, 255)]]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:], duration=100)
    assert np.array_equal(eio.read_image(tmp_path / "a.gif")[0, 0], [255, 0, 0])
