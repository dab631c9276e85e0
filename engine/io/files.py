"""Atomic file writes: a temp file beside the destination, fsync, rename, fsync of the folder."""
from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


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
    mode = os.stat(tmp).st_mode & 0o777  # what the umask gave
    try:
        yield tmp
        # a writer that recreates the file keeps its own mode: safetensors' save_file left
        # every checkpoint 0600, unreadable to other users while its config.json was 0644
        if os.stat(tmp).st_mode & 0o777 != mode:
            try:
                os.chmod(tmp, mode)
            except OSError:   # a file system without modes (vfat, some network mounts)
                pass
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
