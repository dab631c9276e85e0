"""One compute thread: the engine loads in it, lazily and once; jobs run in it one at a time.

A job is a function of a JobContext. The context hands it the engine, a progress callback for the
engine (step, total, preview frames) and a cancel check that the sampler polls every step (the
engine raises Cancelled), so Cancel stops compute within one sampler step. A job saves its
results only after all of its compute is done, so a cancelled job saves nothing.

Handlers in the page watch a job through `Job.wait` and render its snapshot: this is the
"progress | file | end" queue of FramePack, with the page polling instead of a socket.
"""
from __future__ import annotations

import itertools
import queue
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
FINISHED = (DONE, FAILED, CANCELLED)


class JobCancelled(Exception):
    """Raised inside a job when its cancel flag is set between engine calls."""


@dataclass
class Job:
    id: int
    kind: str                      # "draft", "render", "extend", ...
    label: str                     # what the queue shows
    fn: Callable[["JobContext"], Any]
    status: str = QUEUED
    stage: str = ""                # e.g. "variation 2 of 4"
    step: int = 0
    total: int = 0
    started: Optional[float] = None
    finished: Optional[float] = None
    preview: Optional[np.ndarray] = None   # (H, W, 3) uint8 strip of preview frames
    result: Any = None
    error: str = ""
    cancel_flag: threading.Event = field(default_factory=threading.Event)
    _changed: threading.Condition = field(default_factory=threading.Condition)

    @property
    def done(self) -> bool:
        return self.status in FINISHED

    def elapsed(self) -> float:
        if self.started is None:
            return 0.0
        return (self.finished or time.monotonic()) - self.started

    def touch(self) -> None:
        with self._changed:
            self._changed.notify_all()

    def wait(self, timeout: float) -> None:
        """Return when the job changes (a step, an end) or after `timeout` seconds."""
        with self._changed:
            if not self.done:
                self._changed.wait(timeout)


class JobContext:
    def __init__(self, worker: "Worker", job: Job):
        self._worker, self.job = worker, job

    @property
    def engine(self):
        return self._worker.engine()

    def cancelled(self) -> bool:
        return self.job.cancel_flag.is_set()

    def check(self) -> None:
        if self.cancelled():
            raise JobCancelled()

    def stage(self, text: str) -> None:
        self.job.stage, self.job.step, self.job.total = text, 0, 0
        self.job.touch()

    def progress(self, p) -> None:
        """The engine's progress callback: Progress(step, total, elapsed_s, preview (t,h,w,3))."""
        self.job.step, self.job.total = p.step, p.total
        if p.preview is not None:
            self.job.preview = preview_strip(p.preview)
        self.job.touch()


class Worker:
    """The one compute thread. `engine_factory` runs in it, once, on the first job."""

    def __init__(self, engine_factory: Callable[[], Any]):
        self._factory = engine_factory
        self._engine = None
        self.engine_status = "not loaded"
        self.engine_error = ""
        self._jobs: dict[int, Job] = {}
        self._queue: "queue.Queue[Optional[Job]]" = queue.Queue()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="tessera-worker", daemon=True)
        self._thread.start()

    # -- the engine, in the worker thread only ------------------------------------------------------
    def engine(self):
        if self._engine is None:
            if threading.current_thread() is not self._thread:
                raise RuntimeError("the engine is only used from the worker thread")
            self.engine_status = "loading"
            try:
                engine = self._factory()
                engine.modules  # noqa: B018  (weights load now, not in the middle of a job's timing)
            except Exception as e:
                self.engine_status, self.engine_error = "failed", f"{type(e).__name__}: {e}"
                raise
            self._engine, self.engine_status = engine, "ready"
        return self._engine

    def preload(self) -> Job:
        return self.submit("load", "Load the model", lambda ctx: ctx.engine and None)

    # -- jobs --------------------------------------------------------------------------------------
    def submit(self, kind: str, label: str, fn: Callable[[JobContext], Any]) -> Job:
        job = Job(next(self._ids), kind, label, fn)
        with self._lock:
            self._jobs[job.id] = job
            self._forget_old()
        self._queue.put(job)
        return job

    def cancel(self, job_id: int) -> bool:
        """Cancel a queued job (it never starts) or a running one (stops within one step)."""
        job = self._jobs.get(int(job_id))
        if job is None or job.done:
            return False
        job.cancel_flag.set()
        if job.status == QUEUED:
            self._finish(job, CANCELLED, error="cancelled before it started")
        return True

    def jobs(self) -> list[Job]:
        with self._lock:
            return list(self._jobs.values())

    def get(self, job_id: int) -> Optional[Job]:
        return self._jobs.get(int(job_id))

    def position(self, job: Job) -> int:
        """How many unfinished jobs are ahead of this one."""
        return sum(1 for j in self.jobs() if j.id < job.id and not j.done)

    def stop(self) -> None:
        for job in self.jobs():
            self.cancel(job.id)
        self._queue.put(None)
        self._thread.join(timeout=30)

    def _forget_old(self) -> None:
        finished = [j for j in self._jobs.values() if j.done]
        for j in finished[:-50]:             # keep the last 50 finished jobs for the queue view
            del self._jobs[j.id]

    def _finish(self, job: Job, status: str, result=None, error: str = "") -> None:
        job.result, job.error, job.finished = result, error, time.monotonic()
        job.status = status
        job.touch()

    def _loop(self) -> None:
        from engine.sampler import Cancelled
        while True:
            job = self._queue.get()
            if job is None:
                return
            if job.done:                        # cancelled while it waited
                continue
            job.status, job.started = RUNNING, time.monotonic()
            job.touch()
            try:
                result = job.fn(JobContext(self, job))
            except (Cancelled, JobCancelled):
                self._finish(job, CANCELLED, error=f"cancelled at step {job.step} of {job.total}; "
                                                   "nothing was saved")
            except Exception as e:  # noqa: BLE001 (every failure becomes a message in the page)
                message = readable(e)
                if message.startswith("internal error"):
                    traceback.print_exc(file=sys.stderr)
                del e                           # drop the traceback: an OOM keeps tensors alive in it
                self._finish(job, FAILED, error=message)
            else:
                self._finish(job, DONE, result=result)


def exception_text(e: BaseException) -> str:
    """str(e), with a KeyError's key shown as itself (str() of a KeyError is the key's repr).
    Quotes are never stripped from other messages: "'x' is not a valid name" keeps its first."""
    return (str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)).strip()


def readable(e: BaseException) -> str:
    """A message a creator can read: ours and the engine's errors say what to change."""
    name = type(e).__name__
    if "OutOfMemory" in name:
        return "out of GPU memory: try a draft, a shorter clip or fewer variations"
    if isinstance(e, (ValueError, FileNotFoundError, KeyError)):
        return exception_text(e) or name
    return f"internal error ({name}: {e}); the details are in the studio's log"


def preview_strip(frames: np.ndarray, height: int = 160, most: int = 4) -> np.ndarray:
    """(t, h, w, 3) preview -> (height, W, 3): up to `most` frames side by side, nearest upscale."""
    picks = np.linspace(0, len(frames) - 1, min(most, len(frames))).round().astype(int)
    strip = np.concatenate([frames[i] for i in picks], axis=1)
    scale = max(1, height // strip.shape[0])
    return strip.repeat(scale, axis=0).repeat(scale, axis=1)
