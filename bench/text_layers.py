"""Which of the text encoder's layers keep a caption's words apart?

Swaps one word of a caption (a colour, a shape, a direction, a speed) and prints, for each of
MiniLM's hidden states (0: the token embeddings, 6: the last layer), how far the swap moves the
changed word's state and the other tokens' (relative to their norms) and the pooled caption
(one minus the cosine). A DiT reads the layers named in DiTConfig.text_layers; a word whose swap
barely moves them gives the DiT little to learn from (docs/model-notes.md).

    python bench/text_layers.py [--caption TEXT]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CAPTION = "A red ball moves slowly to the left on green grass under a blue sky. The camera is static."
SWAPS = (("red", "blue"), ("ball", "box"), ("left", "right"), ("slowly", "quickly"))


def hidden_states(encoder, text: str) -> tuple[torch.Tensor, ...]:
    """Every hidden state of one caption, as the DiT would get it: (M, 384) per layer, from the
    token embeddings to the last layer (encoder reads them all)."""
    from engine.text import TEXT_DIM
    return encoder.encode_each([text])[0].states[0].split(TEXT_DIM, dim=-1)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--caption", default=CAPTION)
    args = p.parse_args(argv)
    from engine.text import TEXT_DEPTH, TextEncoder
    encoder = TextEncoder(layers=tuple(range(TEXT_DEPTH + 1)))
    base = hidden_states(encoder, args.caption)
    print("swap: per layer, the changed word's state / the other tokens' (relative change) / pooled (1 - cos)")
    for old, new in SWAPS:
        if f" {old} " not in f" {args.caption} ":
            continue
        swapped = hidden_states(encoder, f" {args.caption} ".replace(f" {old} ", f" {new} ").strip())
        if swapped[0].shape != base[0].shape:
            print(f"{old} -> {new}: tokenised to another length, skipped")
            continue
        cells = []
        for layer, (a, b) in enumerate(zip(base, swapped)):
            change = (b - a).norm(dim=-1) / a.norm(dim=-1)                      # (M,)
            word = int(change.argmax())
            rest = torch.cat([change[:word], change[word + 1:]]).mean()
            pooled = 1 - torch.nn.functional.cosine_similarity(a.mean(0), b.mean(0), dim=0)
            cells.append(f"L{layer} {change[word]:.2f}/{rest:.2f}/{pooled:.4f}")
        print(f"{old + ' -> ' + new:18}" + "  ".join(cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
