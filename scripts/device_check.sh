#!/usr/bin/env bash
# The device check: ONE command for a lent GPU machine, finishing in under 8 minutes (its steps' caps
# add up to 465 s), that writes its summary to $OUT. Run from the repository root with the bundle
# scripts/device_bundle.sh made:
#
#   device run:  carry [".device.tar.xz"], command "tar -xJf .device.tar.xz && bash .device/scripts/device_check.sh",
#                timeout_s 540 (leaves time to rerun within the 15-minute budget)
#
# Steps (each bounded, each result a line in $OUT/summary.txt; a failing step does not stop the rest):
#   1. nvidia-smi: the GPU, driver and memory;
#   2. the gpu test binary (every cross-backend op test, the whole-step tests, the PTX wrappers
#      against the emulator): $OUT/gpu_tests.txt;
#   3. compute-sanitizer memcheck on the op tests (works on Firecracker machines, not on gVisor);
#   4. a 200-step `gpt` run at seq 1024 on the GPU: its loss curve in $OUT/dartgolf_gpt.log;
#   5. the same 200 steps with the challenge's train_gpt.py on the same shards (when the bundle
#      carries it): $OUT/train_gpt.log, for the first side-by-side tokens/s and loss curves;
#   6. dartgolf bench for gpt, pr345 and dart: tokens/s, step ms, peak memory.
# DEVICE_CHECK_DRY_RUN=1 (scripts/device_bundle.sh --dry-run) runs it where there is no GPU: every
# step must then report that cleanly.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bundle=$root/.device
OUT=${OUT:?device_check.sh writes its results to \$OUT}
export LD_LIBRARY_PATH=$bundle/lib:${LD_LIBRARY_PATH:-}
# dartgolf links NCCL, which is not part of the CUDA toolkit and too large to carry (218 MB): the GPU
# machine has it in PyTorch's nvidia-nccl wheel. Used only where no libnccl.so.2 is found already.
if ! ldconfig -p 2>/dev/null | grep -q 'libnccl\.so\.2'; then
  nccl_lib=$(python3 -c 'import nvidia.nccl, os; print(os.path.join(list(nvidia.nccl.__path__)[0], "lib"))' 2>/dev/null || true)
  [[ -n "$nccl_lib" && -d "$nccl_lib" ]] && export LD_LIBRARY_PATH=$LD_LIBRARY_PATH:$nccl_lib
fi
export DG_PTX_PROBE_EMU=$bundle/bin/ptx_probe_dump_emu
dartgolf=$bundle/bin/dartgolf
summary=$OUT/summary.txt
data=$bundle/data tokenizer=$bundle/data/fineweb_1024_bpe.model
: >"$summary"
say() { echo "$*" | tee -a "$summary"; }
step() {  # step NAME TIMEOUT_S COMMAND...: runs it, records ok/FAILED with its time
  local name=$1 limit=$2; shift 2
  local t0=$SECONDS
  if timeout "$limit" "$@"; then say "ok      $name ($((SECONDS - t0)) s)"; else say "FAILED  $name (exit $?, $((SECONDS - t0)) s)"; fi
}

say "== dartgolf device check $(date -u +%FT%TZ)"
nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used,clocks.sm,clocks.max.sm --format=csv >"$OUT/nvidia_smi.csv" 2>&1 &&
  say "gpu: $(tail -1 "$OUT/nvidia_smi.csv")" || say "gpu: nvidia-smi failed ($(head -1 "$OUT/nvidia_smi.csv"))"
"$dartgolf" --version | tee -a "$summary"

cd "$bundle/bin"  # the gpu tests find dartgolf and ptx_probe_dump_emu beside them
step "gpu tests" 80 bash -c "./dartgolf_gpu_tests --gtest_output=xml:$OUT/gpu_tests.xml >$OUT/gpu_tests.txt 2>&1"
# The totals only ("[  PASSED  ] 60 tests." ...); each failing or skipped test is in gpu_tests.txt.
say "        $(grep -E '^\[  (PASSED|FAILED|SKIPPED) +\] [0-9]+ tests?[,.]' "$OUT/gpu_tests.txt" | tr '\n' ' ')"
if command -v compute-sanitizer >/dev/null && [[ -z "${DEVICE_CHECK_DRY_RUN:-}" ]]; then
  step "compute-sanitizer memcheck (op tests)" 60 bash -c \
    "compute-sanitizer --tool memcheck --error-exitcode 9 ./dartgolf_gpu_tests --gtest_filter='Cuda*Ops*:Cuda*Attention*:Cuda*Loss*:Cuda*Optim*' >$OUT/memcheck.txt 2>&1"
  say "        $(grep -E 'ERROR SUMMARY' "$OUT/memcheck.txt" | tail -1)"
else
  say "skip    compute-sanitizer (not on this machine, or a dry run)"
fi
cd "$root"

common=(--set data_path="$data" --set tokenizer_path="$tokenizer" --set iterations=200 --set train_seq_len=1024
        --set train_batch_tokens=131072 --set val_loss_every=100 --set train_log_every=10 --set max_wallclock_seconds=0
        --set val_max_tokens=65536 --set warmdown_iters=50)
step "dartgolf gpt 200 steps" 100 bash -c \
  "'$dartgolf' train --preset gpt --device cuda --out '$OUT/run_gpt' ${common[*]} >$OUT/dartgolf_gpt.log 2>&1"
grep -E '^step:200/200|tokens|device:' "$OUT/dartgolf_gpt.log" | tail -3 | tee -a "$summary"

if [[ -f "$bundle/peer/train_gpt.py" && -z "${DEVICE_CHECK_DRY_RUN:-}" ]]; then
  step "train_gpt.py gpt 200 steps" 150 bash -c \
    "cd '$OUT' && DATA_PATH='$data' TOKENIZER_PATH='$tokenizer' ITERATIONS=200 TRAIN_SEQ_LEN=1024 TRAIN_BATCH_TOKENS=131072 \
     VAL_LOSS_EVERY=100 TRAIN_LOG_EVERY=10 MAX_WALLCLOCK_SECONDS=0 WARMDOWN_ITERS=50 PYTHONUNBUFFERED=1 \
     python3 '$bundle/peer/train_gpt.py' >$OUT/train_gpt.log 2>&1"
  grep -E '^step:200/200' "$OUT/train_gpt.log" | tail -2 | tee -a "$summary"
else
  say "skip    train_gpt.py side by side (no .device/peer/train_gpt.py, or a dry run)"
fi

for preset in gpt pr345 dart; do
  step "bench $preset" 25 bash -c "'$dartgolf' bench --preset $preset --device cuda --steps 10 --json >$OUT/bench_$preset.json 2>&1"
  tail -1 "$OUT/bench_$preset.json" | tee -a "$summary"
done
say "== done in $SECONDS s"
