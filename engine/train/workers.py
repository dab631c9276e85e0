"""Render training clips in worker processes, so an accelerator is not left waiting on the CPU.

The world renders in numpy on one core: a VAE batch takes ~0.16 s and a DiT clip ~0.02 s on
this project's CPUs, more than a GPU step of either. With `--workers N` (N > 0) each stage pulls
its data from N processes instead of drawing it in the training process. Worker w draws from
np.random.default_rng([seed, w]), so a run is reproducible for a given worker count and resume
point (the stream's seed is drawn from the training loop's own generator, which a resume restores); the in-process path (N = 0) stays bit-for-bit resumable.
"""
from __future__ import annotations

import signal
from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info


class _Draws(IterableDataset):
    """An endless stream of make(rng) from each worker's own generator."""

    def __init__(self, make: Callable[[np.random.Generator], object], seed: int):
        self.make, self.seed = make, seed

    def __iter__(self):
        info = get_worker_info()
        if info is not None:   # Ctrl-C is the trainer's (it saves, then stops): not each worker's
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        worker = info.id if info is not None else 0
        torch.set_num_threads(1)  # N renderers on N cores; the trainer keeps its own threads
        rng = np.random.default_rng([self.seed, worker])
        while True:
            yield self.make(rng)


def stream(make: Callable[[np.random.Generator], object], workers: int, seed: int,
           prefetch: int = 4) -> Iterator:
    """make(rng) results, rendered by `workers` processes (make must pickle: a module-level
    function or a functools.partial of one)."""
    if workers < 1:
        raise ValueError(f"stream needs at least one worker, got {workers}")
    loader = DataLoader(_Draws(make, seed), batch_size=None, num_workers=workers,
                        prefetch_factor=prefetch, persistent_workers=True)
    return iter(loader)
