#!/usr/bin/env bash
# Fuzzes every reader of user files for a bounded time under ASan and UBSan (libFuzzer, clang):
# shards, checkpoints (safetensors + train_state), artifacts, --config JSON with blocks, .jsonl corpora.
#
#   scripts/fuzz.sh [--seconds N] [--no-install] [TARGET...]     (targets: shard checkpoint artifact config jsonl)
#
# Builds build-fuzz/ with clang, writes the seed corpus with dartgolf's own writers, runs each target
# for N seconds (default 30) on build-fuzz/corpus/TARGET (kept between runs, so coverage builds up),
# prints executions, exec/s and coverage per target, and exits 1 when any target found an input that
# crashes (saved under build-fuzz/findings/TARGET/, with the command that reproduces it).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=30 install=1 targets=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --no-install) install=0; shift ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    shard|checkpoint|artifact|config|jsonl) targets+=("$1"); shift ;;
    *) echo "fuzz.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[[ ${#targets[@]} -gt 0 ]] || targets=(shard checkpoint artifact config jsonl)

if [[ $install -eq 1 ]] && ! command -v clang++ >/dev/null; then
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends clang libclang-rt-dev libomp-dev >/dev/null
fi
command -v clang++ >/dev/null || { echo "fuzz.sh: clang++ not found (apt-get install clang libclang-rt-dev libomp-dev)" >&2; exit 1; }

launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
echo "== fuzz: building build-fuzz/ (clang, ASan, UBSan, libFuzzer)"
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE=-O1 -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DDARTGOLF_FUZZ=ON -DDARTGOLF_CUDA=OFF -DDARTGOLF_BUILD_TESTS=OFF "${launcher[@]}" >build-fuzz.log 2>&1 ||
  { cat build-fuzz.log; exit 1; }
rm -f build-fuzz.log
cmake --build build-fuzz -j"$(nproc)" --target make_fuzz_seeds $(printf 'fuzz_%s ' "${targets[@]}")

rm -rf build-fuzz/seeds
build-fuzz/tests/fuzz/make_fuzz_seeds build-fuzz/seeds
status=0
printf '%-11s %12s %10s %8s %8s  %s\n' target executions exec/s cov ft result
for t in "${targets[@]}"; do
  corpus=build-fuzz/corpus/$t findings=build-fuzz/findings/$t
  mkdir -p "$corpus" "$findings"
  cp -n build-fuzz/seeds/"$t"/* "$corpus"/ 2>/dev/null || true
  log=build-fuzz/fuzz-$t.log
  set +e
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    build-fuzz/tests/fuzz/fuzz_"$t" "$corpus" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 \
    -rss_limit_mb=2048 -max_len=262144 -artifact_prefix="$findings/" >"$log" 2>&1
  rc=$?
  set -e
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo "?")
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo "?")
  if [[ $rc -eq 0 ]]; then result="no finding"; else
    result="FOUND: $(ls -t "$findings" | head -1) (reproduce: build-fuzz/tests/fuzz/fuzz_$t $findings/$(ls -t "$findings" | head -1); log $log)"
    status=1
  fi
  printf '%-11s %12s %10s %8s %8s  %s\n' "$t" "$runs" "$rate" "$cov" "$ft" "$result"
done
exit $status
