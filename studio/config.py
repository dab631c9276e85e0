"""The studio's settings: one frozen dataclass, built from the command line in app.main()."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class StudioConfig:
    workspace: Path
    host: str = "127.0.0.1"
    port: int = 7860
    device: str = "auto"
    checkpoint: Optional[str] = None      # None: the shipped assets/default
    share: bool = False
    auth: Optional[tuple[str, str]] = None
    max_upload_mb: int = 200              # Gradio's default is no limit at all
    preload: bool = True                  # start loading the model in the worker at launch

    def __post_init__(self):
        if not (0 < self.port < 65536):
            raise ValueError(f"port must be 1-65535, got {self.port}")
        if self.max_upload_mb < 1:
            raise ValueError("max_upload_mb must be at least 1")
        if self.host not in LOCAL_HOSTS and self.auth is None:
            # Gradio's CORS check only protects localhost; on a LAN anyone could drive the GPU.
            raise ValueError(f"--host {self.host} opens the studio to other machines: "
                             "also give --auth USER:PASSWORD")
