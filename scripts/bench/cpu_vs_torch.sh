#!/usr/bin/env bash
# Training throughput of dartgolf's CPU backend against the PyTorch peer (the reference model in
# scripts/reference/, fp32 on CPU) on the same configuration and thread count, interleaved in one
# run, printing the median of each and their ratio.
#
#   scripts/bench/cpu_vs_torch.sh [--preset tiny] [--threads 2] [--steps 10] [--rounds 3] [--set key=value]...
set -euo pipefail
cd "$(dirname "$0")/../.."

preset=tiny threads=2 steps=10 rounds=3 sets=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --preset) preset=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --set) sets+=(--set "$2"); shift 2 ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "cpu_vs_torch.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[[ -x build/dartgolf ]] || { echo "cpu_vs_torch.sh: build/dartgolf missing: run scripts/setup.sh first" >&2; exit 1; }
/usr/bin/python3 -c "import torch" 2>/dev/null || { echo "cpu_vs_torch.sh: needs Debian's python3-torch" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
build/dartgolf train --preset "$preset" --set threads="$threads" "${sets[@]}" --print-config --json > "$tmp/config.json"
for ((r = 1; r <= rounds; r++)); do
  build/dartgolf bench --preset "$preset" --set threads="$threads" "${sets[@]}" --steps "$steps" --json >> "$tmp/dartgolf.jsonl"
  OMP_NUM_THREADS=$threads /usr/bin/python3 scripts/bench/torch_cpu_bench.py --config "$tmp/config.json" \
    --threads "$threads" --steps "$steps" >> "$tmp/torch.jsonl"
done
/usr/bin/python3 - "$tmp" "$preset" "$threads" <<'PY'
import json, statistics, sys
tmp, preset, threads = sys.argv[1:]
def load(name):
    return [json.loads(line) for line in open(f"{tmp}/{name}.jsonl")]
ours, peer = load("dartgolf"), load("torch")
med = lambda rows: statistics.median(r["tokens_per_second"] for r in rows)
print(f"preset {preset}, {threads} threads, {len(ours)} interleaved rounds of {ours[0]['steps']} steps "
      f"({ours[0]['tokens_per_step']} tokens/step, {ours[0]['parameters']} parameters)")
for label, rows in (("dartgolf cpu", ours), (peer[0]["backend"], peer)):
    tps = sorted(r["tokens_per_second"] for r in rows)
    print(f"  {label:24s} tokens/s median {med(rows):9.0f}   (min {tps[0]:.0f}, max {tps[-1]:.0f})")
print(f"ratio dartgolf / pytorch: {med(ours) / med(peer):.2f}x")
PY
