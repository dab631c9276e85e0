"""Split a safetensors file into shards under a size limit, or join shards back into one file.

A lent GPU machine returns files of at most 16 MiB each (scripts/gpu_train.sh), and a checkpoint's
weights in fp32 are larger; the joined file holds exactly the same tensors.

    python scripts/shards.py split runs/x/checkpoint/model.safetensors OUTDIR [--mib 15]
    python scripts/shards.py join OUTDIR/model-*.safetensors runs/x/checkpoint/model.safetensors
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from safetensors.torch import load_file, save_file

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from engine.io import atomic_path  # noqa: E402


def split(path: Path, out: Path, limit_mib: float) -> list[Path]:
    tensors = load_file(str(path))
    limit = int(limit_mib * 2**20)
    shards: list[dict] = [{}]
    size = 0
    for name in sorted(tensors):
        n = tensors[name].numel() * tensors[name].element_size()
        if n > limit:
            raise SystemExit(f"{name} alone is {n / 2**20:.1f} MiB, over the {limit_mib} MiB limit")
        if size + n > limit and shards[-1]:
            shards.append({})
            size = 0
        shards[-1][name] = tensors[name]
        size += n
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, shard in enumerate(shards):
        dest = out / f"{path.stem}-{i}-of-{len(shards)}.safetensors"
        with atomic_path(dest) as tmp:
            save_file(shard, str(tmp))
        paths.append(dest)
    return paths


def join(parts: list[Path], dest: Path) -> None:
    tensors: dict = {}
    for part in parts:
        shard = load_file(str(part))
        clash = tensors.keys() & shard.keys()
        if clash:
            raise SystemExit(f"{part} repeats tensors {sorted(clash)[:3]}")
        tensors.update(shard)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(dest) as tmp:
        save_file(tensors, str(tmp))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("split")
    s.add_argument("file", type=Path)
    s.add_argument("out", type=Path)
    s.add_argument("--mib", type=float, default=15.0)
    j = sub.add_parser("join")
    j.add_argument("parts", type=Path, nargs="+")
    j.add_argument("dest", type=Path)
    args = p.parse_args(argv)
    if args.cmd == "split":
        for path in split(args.file, args.out, args.mib):
            print(path)
    else:
        join(args.parts, args.dest)
        print(args.dest)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
