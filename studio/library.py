"""The clip library: every result is a media file, a thumbnail and its full settings, indexed in SQLite.

Order of a save (so a crash never leaves a row without its file): write the media, the thumbnail
and the settings JSON atomically into media/, then insert and commit the row. A delete removes the
row first, then the files. SQLite runs in WAL mode with a busy timeout; all writes go through one
lock (one writer). The JSON beside each file holds the same settings, so the index can be rebuilt.
"""
from __future__ import annotations

import json
import re
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine import io
from studio.workspace import Workspace

ID = re.compile(r"^[0-9a-f]{12}$")
THUMB_LONG_SIDE = 256
SCHEMA = """
CREATE TABLE IF NOT EXISTS clips (
    id TEXT PRIMARY KEY, created REAL NOT NULL, operation TEXT NOT NULL, prompt TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('video', 'image')), seconds REAL NOT NULL,
    width INTEGER NOT NULL, height INTEGER NOT NULL, seed INTEGER, draft INTEGER NOT NULL,
    parents TEXT NOT NULL, settings TEXT NOT NULL)
"""


@dataclass(frozen=True)
class Entry:
    id: str
    created: float
    operation: str
    prompt: str
    kind: str              # "video" (MP4) or "image" (PNG)
    seconds: float
    width: int
    height: int
    seed: int | None
    draft: bool
    parents: tuple[str, ...]
    settings: dict         # the full record: operation, prompt, caption, seed, size, steps, ...
    file: Path
    thumb: Path

    def title(self) -> str:
        what = "draft" if self.draft else self.operation
        prompt = self.prompt if len(self.prompt) <= 48 else self.prompt[:47] + "…"
        return f"{self.id} · {what} · {prompt}"


class Library:
    def __init__(self, workspace: Workspace):
        self.ws = workspace
        self._write = threading.Lock()
        self._db = sqlite3.connect(workspace.database, check_same_thread=False, timeout=10.0,
                                   isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.execute(SCHEMA)
        ok = self._db.execute("PRAGMA integrity_check").fetchone()[0]
        if ok != "ok":
            raise RuntimeError(f"the library index {workspace.database} is damaged: {ok}")

    def close(self) -> None:
        with self._write:
            self._db.close()

    # -- paths: every id from the page goes through here ---------------------------------------
    def _check_id(self, clip_id: str) -> str:
        if not isinstance(clip_id, str) or not ID.fullmatch(clip_id.strip()):
            raise ValueError(f"{clip_id!r} is not a library clip id")
        return clip_id.strip()

    def _paths(self, clip_id: str, kind: str) -> tuple[Path, Path, Path]:
        suffix = ".mp4" if kind == "video" else ".png"
        return (self.ws.inside("media", clip_id + suffix), self.ws.inside("media", clip_id + ".thumb.jpg"),
                self.ws.inside("media", clip_id + ".json"))

    # -- writing -----------------------------------------------------------------------------------
    def add(self, frames: np.ndarray, fps: float, settings: dict, parents=(), audio=()) -> Entry:
        """Save frames (T, H, W, 3) uint8 (one frame: an image) with their settings record; audio:
        io.AudioTrack sound laid under a video (its inputs')."""
        if frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) < 1:
            raise ValueError(f"expected frames (T, H, W, 3), got {frames.shape}")
        parents = tuple(self._check_id(p) for p in parents)
        kind = "image" if len(frames) == 1 else "video"
        clip_id = secrets.token_hex(6)
        file, thumb, meta = self._paths(clip_id, kind)
        created = time.time()
        record = {**settings, "id": clip_id, "parents": list(parents), "created": created,
                  "file": file.name, "kind": kind}
        try:
            if kind == "video":
                io.write_video(frames, file, fps=fps, audio=audio)
            else:
                io.write_image(frames[0], file)
            io.write_image(thumbnail(frames[len(frames) // 2]), thumb)
            io.write_json_atomic(record, meta)
            seconds = len(frames) / fps if kind == "video" else 0.0
            row = (clip_id, created, str(settings.get("operation", "?")),
                   str(settings.get("user_prompt") or settings.get("prompt") or ""), kind, seconds,
                   frames.shape[2], frames.shape[1], settings.get("seed"),
                   int(bool(settings.get("draft"))), json.dumps(list(parents)),
                   json.dumps(record, ensure_ascii=False))
            with self._write:
                self._db.execute("INSERT INTO clips VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", row)
        except BaseException:
            for p in (file, thumb, meta):
                p.unlink(missing_ok=True)
            raise
        return self.get(clip_id)

    def delete(self, clip_id: str) -> None:
        entry = self.get(clip_id)
        with self._write:
            self._db.execute("DELETE FROM clips WHERE id = ?", (entry.id,))
        for p in (entry.file, entry.thumb, self.ws.inside("media", entry.id + ".json")):
            p.unlink(missing_ok=True)

    # -- reading -----------------------------------------------------------------------------------
    def get(self, clip_id: str) -> Entry:
        clip_id = self._check_id(clip_id)
        row = self._db.execute("SELECT * FROM clips WHERE id = ?", (clip_id,)).fetchone()
        if row is None:
            raise ValueError(f"clip {clip_id} is not in the library (deleted?)")
        return self._entry(row)

    def entries(self, query: str = "", limit: int = 200) -> list[Entry]:
        """Newest first; `query` filters on prompt or operation text (literally: % and _ are
        characters to find, not SQL wildcards)."""
        escaped = query.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        like = f"%{escaped}%"
        rows = self._db.execute(
            "SELECT * FROM clips WHERE prompt LIKE ? ESCAPE '\\' OR operation LIKE ? ESCAPE '\\' "
            "ORDER BY created DESC LIMIT ?", (like, like, int(limit))).fetchall()
        return [e for e in map(self._entry, rows) if e.file.is_file()]

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM clips").fetchone()[0]

    def _entry(self, row) -> Entry:
        (clip_id, created, operation, prompt, kind, seconds, width, height, seed, draft,
         parents, settings) = row
        file, thumb, _ = self._paths(clip_id, kind)
        return Entry(clip_id, created, operation, prompt, kind, seconds, width, height, seed,
                     bool(draft), tuple(json.loads(parents)), json.loads(settings), file, thumb)

    def frames(self, clip_id: str) -> tuple[np.ndarray, float]:
        """(frames (T, H, W, 3), fps) of a clip; an image is one frame."""
        entry = self.get(clip_id)
        if entry.kind == "image":
            return io.read_image(entry.file)[None], float(entry.settings.get("fps") or io.STILL_IMAGE_FPS)
        return io.read_video(entry.file)


def thumbnail(frame: np.ndarray) -> np.ndarray:
    """(H, W, 3) -> the same picture with its long side at most THUMB_LONG_SIDE."""
    from PIL import Image
    h, w = frame.shape[:2]
    scale = min(1.0, THUMB_LONG_SIDE / max(h, w))
    if scale == 1.0:
        return frame
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(frame).resize(size, Image.BILINEAR))
