"""What an edit's record says of an input file, and where the file's sound goes in the result.

The engine edits frames; a file's size before decoding and its sound track are known only to the
caller that read it (the CLI, the studio). They read `io.source_info(path)` before sampling (a
file that cannot be probed fails before minutes of work) and call `note_source` after it."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from engine import io


def note_source(result, key: str, path: str | Path, info: dict, frames: np.ndarray,
                at_end: bool) -> io.AudioTrack | None:
    """Add to result.notes[key] the file's own size where it was decoded smaller than it holds
    (`file_size`), and where its sound goes (`audio`). An input's sound plays under its own frames:
    from the result's start, or where they end it (at_end: after a backward extension's new frames,
    B of a blend); new frames are silent. Returns that track for io.write_video, or None.
    info: io.source_info(path)."""
    note = result.notes.get(key)
    if not isinstance(note, dict):
        raise KeyError(f"the {result.request.operation} result has no note {key!r} for its input {path}")
    if info["size"] != [frames.shape[2], frames.shape[1]]:
        note["file_size"] = info["size"]
    if not info["audio"]:
        return None
    fps, own = result.request.fps, note["to_frames"]    # the input's frames, all of them, in the result
    at = (len(result.frames) - own) / fps if at_end else 0.0
    silent = " (the new frames are silent)" if len(result.frames) > own else ""
    note["audio"] = f"kept, from {at:.3f} s for {own / fps:.3f} s{silent}"
    return io.AudioTrack(Path(path), at, own / fps, info["video_start_s"])


def main(argv=None) -> int:
    """`python -m engine.sources FILE`: what an edit would note of FILE (size, sound)."""
    import argparse
    import json
    parser = argparse.ArgumentParser(prog="python -m engine.sources", description="what an edit notes of a file")
    parser.add_argument("file")
    args = parser.parse_args(argv)
    print(json.dumps(io.source_info(args.file)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
