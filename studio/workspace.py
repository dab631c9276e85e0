"""The workspace folder the studio owns, and the one helper that maps names to paths.

    WORKSPACE/
      library.sqlite     the clip index (studio/library.py)
      media/             ID.mp4 | ID.png, ID.thumb.jpg, ID.json (full settings)
      projects/          timeline projects, NAME.json (atomic writes, autosave)
      exports/           exported timelines
      styles.json        the user's style presets
      tmp/               GRADIO_TEMP_DIR: uploads and Gradio's cache (may be wiped; nothing kept here)
      studio.lock        one running studio per workspace

Every id or name that arrives from the page becomes a path only through `Workspace.inside`,
which checks the name's characters, resolves symlinks and checks containment with
Path.is_relative_to (a `startswith` check lets /media_evil through for /media).
"""
from __future__ import annotations

import os
import re
from pathlib import Path

SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
FOLDERS = ("media", "projects", "exports", "tmp")


class WorkspaceBusy(RuntimeError):
    """Another studio already runs on this workspace."""


class Workspace:
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).expanduser().resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        for name in FOLDERS:
            (self.root / name).mkdir(exist_ok=True)
        self._lock_fd = None

    # -- folders -------------------------------------------------------------------------------
    @property
    def media(self) -> Path:
        return self.root / "media"

    @property
    def projects(self) -> Path:
        return self.root / "projects"

    @property
    def exports(self) -> Path:
        return self.root / "exports"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    @property
    def database(self) -> Path:
        return self.root / "library.sqlite"

    # -- the one path helper ---------------------------------------------------------------------
    def inside(self, folder: str, name: str) -> Path:
        """FOLDER/NAME as a real path, or ValueError. `name` is a plain file name (no separators,
        no leading dot); the resolved path must lie inside the resolved folder."""
        if folder not in FOLDERS:
            raise ValueError(f"unknown workspace folder {folder!r}")
        if not isinstance(name, str) or not SAFE_NAME.fullmatch(name) or ".." in name:
            raise ValueError(f"{name!r} is not a valid name (letters, digits, . _ - only)")
        base = (self.root / folder).resolve()
        path = (base / name).resolve()
        if not path.is_relative_to(base) or path == base:
            raise ValueError(f"{name!r} points outside the workspace")
        return path

    # -- one studio per workspace ------------------------------------------------------------------
    def lock(self) -> None:
        """Hold studio.lock for the life of the process (released on close or exit)."""
        if self._lock_fd is not None:
            return
        fd = os.open(self.root / "studio.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            import fcntl
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # Windows: no flock; rely on SQLite's own locking
            pass
        except BlockingIOError:
            os.close(fd)
            raise WorkspaceBusy(f"another Tessera studio is already running on {self.root}; "
                                "close it or pick another --workspace") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock_fd = fd

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)   # closing the descriptor releases the flock
            self._lock_fd = None
