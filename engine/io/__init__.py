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
- Still images (PNG/JPEG/WebP/TIFF/BMP) given to `read_video` are read by `read_image` (same policy)
  and come back as a 1-frame video at `STILL_IMAGE_FPS`.
- Rotation metadata is applied (ffmpeg autorotate; EXIF orientation for images): sizes are display sizes.
- Variable frame rate: frames come back at the stream's average rate, each placed by its timestamp
  (ffmpeg's fps filter), so a phone clip's timing and duration are kept; fps is that average. An
  audio file's cover picture is not a video.
- Anamorphic video (a sample aspect ratio other than 1:1) is scaled to square pixels: display size.
- `read_video(long_side=N)` has ffmpeg scale frames while decoding, so a long 1080p or 4K clip
  costs the memory of its edit size (`EDIT_LONG_SIDE`), not of its source size.
- Still images may hold up to `IMAGE_MAX_PIXELS` (camera and phone photos); a video frame 4096x4096,
  or 8K (`SCALED_MAX_PIXELS`) where `long_side` has ffmpeg scale it down while decoding.
- Size is checked before decoding, and ffmpeg is also told `-max_pixels`. Every subprocess has a timeout.
  Any error-level message from ffmpeg while decoding (a truncated file, a corrupt packet) is a MediaError:
  we trust decoded frames, not headers, and never return half a clip silently.
- Sound: the readers return frames only; `source_info` says whether a file has a sound track and
  where its first video frame is, and `write_video(audio=[AudioTrack...])` lays such sound under
  the frames it belongs to (edits keep an input's sound under the input's own frames).
- ffmpeg may only open local files (`-protocol_whitelist file`) with the demuxers in `_DEMUXERS`, so a
  playlist or concat file posing as a video cannot make it read other files.

Layout: files.py (atomic writes), ffmpeg.py (the process and its sandbox), write.py, read.py.
"""

from engine.io.ffmpeg import DEFAULT_TIMEOUT_S, MediaError, ffmpeg_exe
from engine.io.files import atomic_path, write_json_atomic
from engine.io.read import (EDIT_LONG_SIDE, STILL_IMAGE_FPS, VideoInfo, is_image_file, probe_video, read_image,
                             read_video, source_info)
from engine.io.write import AudioTrack, encoded_size, write_image, write_video

__all__ = [
    "MediaError", "VideoInfo", "STILL_IMAGE_FPS", "EDIT_LONG_SIDE", "DEFAULT_TIMEOUT_S", "ffmpeg_exe",
    "atomic_path", "write_json_atomic", "encoded_size", "write_video", "write_image", "probe_video",
    "read_video", "read_image", "source_info", "is_image_file", "AudioTrack",
]
