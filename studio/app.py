"""Build and launch the studio: `python launch.py [--host --port --device --workspace --share]`.

Launch settings follow /work/shared/RELIABILITY.md: binds 127.0.0.1 unless told otherwise (and
then requires --auth), no share link unless asked, an upload size limit, /monitoring off, files
served only from the workspace's media and export folders, and Gradio's temp folder inside the
workspace (GRADIO_TEMP_DIR), so wiping Gradio's cache never touches the library.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Callable, Optional

from studio.config import LOCAL_HOSTS, StudioConfig

REPO_ROOT = Path(__file__).resolve().parent.parent


def parse_args(argv=None) -> StudioConfig:
    p = argparse.ArgumentParser(prog="python launch.py", description="Tessera studio")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default)")
    p.add_argument("--workspace", default=str(REPO_ROOT / "workspace"),
                   help="folder for the library, projects and exports (default ./workspace)")
    p.add_argument("--checkpoint", help="model folder (default: the shipped assets/default)")
    p.add_argument("--share", action="store_true", help="also make a public gradio.live link (off by default)")
    p.add_argument("--auth", help="USER:PASSWORD, required with a --host other than this machine")
    p.add_argument("--max-upload-mb", type=int, default=200, help="largest upload accepted (default 200 MB)")
    a = p.parse_args(argv)
    auth = None
    if a.auth:
        user, sep, password = a.auth.partition(":")
        if not sep or not user or not password:
            p.error("--auth must be USER:PASSWORD")
        auth = (user, password)
    try:
        return StudioConfig(workspace=Path(a.workspace), host=a.host, port=a.port, device=a.device,
                            checkpoint=a.checkpoint, share=a.share, auth=auth,
                            max_upload_mb=a.max_upload_mb)
    except ValueError as e:
        p.error(str(e))


def create(config: StudioConfig, engine_factory: Optional[Callable] = None):
    """(studio, demo): the studio on its workspace and the page, not yet launched."""
    from studio.actions import Studio
    studio = Studio(config, engine_factory)
    # Gradio reads GRADIO_TEMP_DIR when it stores an upload or an output: point it into the
    # workspace before the page exists.
    os.environ["GRADIO_TEMP_DIR"] = str(studio.ws.tmp)
    try:
        from studio.ui import build_app
        demo = build_app(studio)
    except BaseException:
        studio.close()
        raise
    return studio, demo


def launch_kwargs(studio, config: StudioConfig) -> dict:
    return dict(server_name=config.host, server_port=config.port, share=config.share,
                auth=config.auth, max_file_size=f"{config.max_upload_mb}mb",
                enable_monitoring=False, allowed_paths=[str(studio.ws.media), str(studio.ws.exports)],
                show_error=True, strict_cors=True, app_kwargs=app_kwargs(config))


def app_kwargs(config: StudioConfig) -> dict:
    """On this machine only, refuse any Host header but 127.0.0.1 or localhost: Gradio's CORS
    check protects nothing when a page on another name (DNS rebinding) reaches the server.
    A LAN studio (--host with --auth) or a share link must accept other names."""
    if config.share or config.host not in LOCAL_HOSTS:
        return {}
    from starlette.middleware import Middleware
    from starlette.middleware.trustedhost import TrustedHostMiddleware
    return {"middleware": [Middleware(TrustedHostMiddleware, allowed_hosts=["127.0.0.1", "localhost"])]}


def main(argv=None) -> int:
    config = parse_args(argv)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from studio.workspace import WorkspaceBusy
    try:
        studio, demo = create(config)
    except WorkspaceBusy as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"Tessera studio: workspace {studio.ws.root}", flush=True)
    try:
        # quiet: Gradio's own lines tell a user to "set share=True in launch()"; ours name our flags.
        _, local_url, share_url = demo.queue(default_concurrency_limit=None).launch(
            prevent_thread_lock=True, quiet=True, **launch_kwargs(studio, config))
        print(ready_message(config, local_url, share_url), flush=True)
        demo.block_thread()
    finally:
        studio.close()
    return 0


def ready_message(config: StudioConfig, local_url: str, share_url: str | None) -> str:
    lines = [f"Tessera studio: open {local_url} in a browser (Ctrl+C stops it)"]
    if share_url:
        lines.append(f"public link: {share_url}")
    elif config.host in LOCAL_HOSTS:
        lines.append("this machine only; --host 0.0.0.0 --auth USER:PASS serves the LAN, --share a public link")
    return "\n".join(lines)
