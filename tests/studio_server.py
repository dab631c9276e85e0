"""The studio launched in this test process exactly as `python launch.py` launches it, on a free
port, with a tiny engine (shared by the end-to-end and browser tests)."""
import socket

from studio.app import create, launch_kwargs
from studio.config import StudioConfig


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Running:
    def __init__(self, workspace, engine, client: bool = True):
        self.config = StudioConfig(workspace=workspace, port=free_port(), preload=False)
        self.studio, self.demo = create(self.config, engine_factory=lambda: engine)
        self.demo.queue(default_concurrency_limit=None).launch(
            prevent_thread_lock=True, quiet=True, **launch_kwargs(self.studio, self.config))
        self.url = f"http://127.0.0.1:{self.config.port}/"
        self.client = None
        if client:
            import gradio_client
            self.client = gradio_client.Client(self.url, verbose=False)

    def close(self):
        if self.client is not None:
            self.client.close()
        self.demo.close()
        self.studio.close()
