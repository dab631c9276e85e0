import os
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))  # the bench scripts, by name
os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(scope="session")
def text_encoder():
    from engine.text import TextEncoder
    return TextEncoder("cpu")


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """A tiny, untrained checkpoint written and read through the real checkpoint code."""
    from engine import checkpoint as ckpt
    from engine.recipes import build
    directory = tmp_path_factory.mktemp("tiny_ckpt")
    vae, dit, card = build("tiny", seed=0)
    # Give the final layer small non-zero weights so the velocity is not identically zero and
    # seed/mask tests see real model output.
    with torch.no_grad():
        g = torch.Generator().manual_seed(0)
        dit.final.weight.copy_(torch.randn(dit.final.weight.shape, generator=g) * 0.02)
        for block in dit.blocks:
            block.ada[1].weight.copy_(torch.randn(block.ada[1].weight.shape, generator=g) * 0.02)
    ckpt.save(directory, vae, dit, card)
    return directory


@pytest.fixture(scope="session")
def tiny_engine(tiny_checkpoint):
    from engine.runtime import Engine
    return Engine.load(tiny_checkpoint, device="cpu")

