#!/usr/bin/env bash
# One process against two data-parallel ranks on this machine's CPU, same global batch and steps:
# tokens/s of training (train_time, validation excluded) and whether the losses agree.
#
#   scripts/bench/dist_cpu.sh [--data DIR] [--tokenizer MODEL] [--preset tiny] [--steps 60]
#       [--rounds 3] [--out runs/dist_cpu] [-- extra train arguments]
#
# Variants, interleaved round by round so machine load hits each alike:
#   one_t2  1 process, threads=2, grad_accum_steps=2 (both cores for one process)
#   two_t1  2 ranks (scripts/launch.sh), threads=1 each, grad_accum_steps=1 (a core per rank)
#   one_t1  1 process, threads=1, grad_accum_steps=2 (one core: what each rank has)
# Prints one line per run and the median tokens/s of each variant.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
dartgolf=${DARTGOLF:-$root/build/dartgolf}
data=$root/data/datasets/default tokenizer=$root/data/tokenizers/default.model
preset=tiny steps=60 rounds=3 out=runs/dist_cpu
while [[ $# -gt 0 ]]; do
  case "$1" in
    --data) data=$2; shift 2 ;;
    --tokenizer) tokenizer=$2; shift 2 ;;
    --preset) preset=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "dist_cpu.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[[ -x $dartgolf ]] || { echo "dist_cpu.sh: $dartgolf is not built (cmake --build build)" >&2; exit 2; }

common=(train --preset "$preset" --set data_path="$data" --set tokenizer_path="$tokenizer" --set iterations="$steps"
        --set val_loss_every=0 --set train_log_every=0 --set val_max_tokens=16384 --set max_wallclock_seconds=0 "$@")

# tokens/s from a run folder: the last train record's step and train_time_ms.
tokens_per_s() {
  python3 - "$1" <<'EOF'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1] + "/metrics.jsonl")]
train = [r for r in recs if r.get("event") == "train"]
batch = next(r for r in recs if r.get("event") == "run_start")["config"]["train_batch_tokens"]
last = train[-1]
print(f'{last["step"] * batch / (last["train_time_ms"] / 1000):.0f} {last["train_loss"]:.6f}')
EOF
}

declare -A results
for ((round = 1; round <= rounds; ++round)); do
  for variant in one_t2 two_t1 one_t1; do
    dir=$out/r${round}_$variant
    case $variant in
      one_t2) "$dartgolf" "${common[@]}" --set threads=2 --set grad_accum_steps=2 --out "$dir" --overwrite >/dev/null ;;
      one_t1) "$dartgolf" "${common[@]}" --set threads=1 --set grad_accum_steps=2 --out "$dir" --overwrite >/dev/null ;;
      two_t1) "$root/scripts/launch.sh" --nproc-per-node 2 -- \
                "$dartgolf" "${common[@]}" --set threads=1 --set grad_accum_steps=1 --out "$dir" --overwrite >/dev/null ;;
    esac
    read -r tps loss < <(tokens_per_s "$dir")
    echo "round $round $variant: $tps tokens/s, last train_loss $loss"
    results[$variant]+="$tps "
  done
done
for variant in one_t2 two_t1 one_t1; do
  # shellcheck disable=SC2086
  median=$(printf '%s\n' ${results[$variant]} | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
  echo "median $variant: $median tokens/s"
done
