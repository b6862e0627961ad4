#!/usr/bin/env bash
# DART with and without each pluggable block at each site (docs/blocks.md), on CPU, at equal
# wall-clock or equal steps: one `dartgolf train` per variant, then a table of steps reached,
# parameters, int8+zlib artifact bytes and val_bpb (the fp32 model's, final_val_exact).
#
#   scripts/bench/blocks_ablation.sh --data DIR --tokenizer MODEL [--seconds 120 | --steps 120]
#       [--seed 1337] [--jobs 2] [--out runs/blocks] [--only NAME,NAME]
#
# Every run uses one thread; --jobs runs that many variants side by side (one per core keeps the
# comparison fair: each run then has a core of its own). The base model is preset `dart` at
# d = 128 (docs/results.md, "DART on CPU").
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
dartgolf=${DARTGOLF:-$root/build/dartgolf}
data="" tokenizer="" seconds=120 steps=0 seed=1337 jobs=2 out=runs/blocks only=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --data) data=$2; shift 2 ;;
    --tokenizer) tokenizer=$2; shift 2 ;;
    --seconds) seconds=$2; steps=0; shift 2 ;;
    --steps) steps=$2; seconds=0; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "blocks_ablation.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[[ -n $data && -n $tokenizer ]] || { echo "blocks_ablation.sh: --data DIR and --tokenizer MODEL are required" >&2; exit 2; }
[[ -x $dartgolf ]] || { echo "blocks_ablation.sh: $dartgolf is not built (cmake --build build)" >&2; exit 2; }

# name|blocks setting
variants=(
  'none|[]'
  'tau_loop_input|[{"type":"tau_fusion","site":"loop_input","hidden":16}]'
  'tau_loop_output|[{"type":"tau_fusion","site":"loop_output","hidden":16}]'
  'head_gate|[{"type":"head_gate","site":"attn_output"}]'
  'daam_attn_output|[{"type":"daam","site":"attn_output"}]'
  'daam_mlp_input|[{"type":"daam","site":"mlp_input"}]'
  'daam_block_output|[{"type":"daam","site":"block_output","residual":true}]'
)

base=(--preset dart --set "data_path=$data" --set "tokenizer_path=$tokenizer" --set model_dim=128 --set num_heads=4
  --set num_kv_heads=2 --set train_seq_len=256 --set train_batch_tokens=4096 --set grad_accum_steps=1 --set threads=1
  --set val_loss_every=0 --set warmup_steps=0 --set muon_momentum_warmup_steps=50 --set "seed=$seed")
if [[ $steps -gt 0 ]]; then
  base+=(--set max_wallclock_seconds=0 --set "iterations=$steps" --set "warmdown_iters=$((steps / 4))")
else
  # Wall-clock warmdown: the last quarter of the steps a 120 s preset-dart run reaches (~280).
  base+=(--set "max_wallclock_seconds=$seconds" --set iterations=100000 --set warmdown_iters=70)
fi

mkdir -p "$out"
running=0
for v in "${variants[@]}"; do
  name=${v%%|*} blocks=${v#*|}
  [[ -z $only || ",$only," == *",$name,"* ]] || continue
  "$dartgolf" train "${base[@]}" --set "blocks=$blocks" --out "$out/$name" >"$out/$name.out" 2>&1 &
  running=$((running + 1))
  if [[ $running -ge $jobs ]]; then wait -n; running=$((running - 1)); fi
done
wait

printf '| variant | params | steps | int8+zlib bytes | val_bpb |\n| --- | ---: | ---: | ---: | ---: |\n'
for v in "${variants[@]}"; do
  name=${v%%|*}
  log=$out/$name.out
  [[ -f $log ]] || continue
  params=$(grep -o 'model_params:[0-9]*' "$log" | head -1 | cut -d: -f2)
  reached=$(grep -o '^step:[0-9]*' "$log" | tail -1 | cut -d: -f2)
  bytes=$(grep -o 'Serialized model int8+zlib: [0-9]*' "$log" | grep -o '[0-9]*$')
  bpb=$(grep -o 'final_val_exact val_loss:[0-9.]* val_bpb:[0-9.]*' "$log" | grep -o '[0-9.]*$')
  printf '| %s | %s | %s | %s | %s |\n' "$name" "${params:-?}" "${reached:-?}" "${bytes:-?}" "${bpb:-failed: see $log}"
done
