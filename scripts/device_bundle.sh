#!/usr/bin/env bash
# Prepares .device/ (ignored by git) for a lent GPU machine, which has CUDA 13.0 and its driver,
# PyTorch, CMake and ninja, but no Debian -dev libraries and no package registry:
#   .device/bin/    dartgolf (the nvcc build), dartgolf_gpu_tests (every gpu test in one binary),
#                   ptx_probe_dump_emu (the emulator's run of the PTX probes, for comparison)
#   .device/lib/    the shared libraries those need that are neither glibc, nor the GPU driver, nor
#                   the CUDA toolkit (which the GPU machine has): OpenBLAS, sentencepiece, ...
#   .device/data/   a small prepared dataset (the shards scripts/setup.sh prepared) and its tokenizer
#   .device/peer/   the challenge's train_gpt.py, when given with --train-gpt (never committed)
#   .device/scripts/device_check.sh
# and packs it as .device.tar.xz, what the device tool carries (64 MiB at most with the repository).
# Then `scripts/device_bundle.sh --dry-run` unpacks that archive and runs it here as the GPU machine
# would: every program must start and report that there is no GPU, cleanly.
#
#   scripts/device_bundle.sh [--build DIR] [--train-gpt FILE] [--dry-run]
set -euo pipefail
cd "$(dirname "$0")/.."

build=build train_gpt="" dry_run=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --train-gpt) train_gpt=$2; shift 2 ;;
    --dry-run) dry_run=1; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "device_bundle.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

grep -q "DG_CUDA_IMPL:.*dartgolf_cuda$\|dartgolf binary links dartgolf_cuda$" "$build/CMakeCache.txt" 2>/dev/null ||
  grep -q "^DARTGOLF_CUDA:STRING=\(AUTO\|ON\)" "$build/CMakeCache.txt" ||
  { echo "device_bundle.sh: $build is not a CUDA (nvcc) build; run scripts/setup.sh on a machine with nvcc" >&2; exit 1; }
echo "== bundle: building dartgolf, dartgolf_gpu_tests, ptx_probe_dump_emu in $build"
cmake --build "$build" -j"$(nproc)" --target dartgolf dartgolf_gpu_tests ptx_probe_dump_emu

rm -rf .device
mkdir -p .device/bin .device/lib .device/data .device/peer .device/scripts
cp "$build/dartgolf" "$build/tests/dartgolf_gpu_tests" "$build/tests/ptx_probe_dump_emu" .device/bin/
strip --strip-unneeded .device/bin/* 2>/dev/null || true
cp scripts/device_check.sh .device/scripts/

# Libraries: everything the binaries load except glibc's own, the driver (libcuda, libnvidia-*)
# and the CUDA toolkit's (libcudart, libcublas*: the GPU machine has CUDA 13.0); libnccl (218 MB, over
# the 64 MiB a run carries) comes from the GPU machine's PyTorch wheel (device_check.sh finds it).
skip='^(linux-vdso|ld-linux|libc\.so|libm\.so|libpthread|libdl\.so|librt\.so|libcuda\.so|libnvidia|libcudart|libcublas|libnccl)'
for bin in .device/bin/*; do
  ldd "$bin" | awk '/=> \// {print $1, $3}' | while read -r name path; do
    [[ "$name" =~ $skip ]] && continue
    [[ -f .device/lib/$name ]] || cp -L "$path" .device/lib/"$name"
  done
done
strip --strip-unneeded .device/lib/* 2>/dev/null || true

data=$(readlink -f data/datasets/default 2>/dev/null || true)
[[ -n "$data" && -d "$data" ]] || { echo "device_bundle.sh: no prepared data (run scripts/setup.sh first)" >&2; exit 1; }
cp "$data"/fineweb_*.bin "$data"/prepare.json .device/data/
cp "$(readlink -f data/tokenizers/default.model)" .device/data/fineweb_1024_bpe.model
# The shards' manifest names the tokenizer by path and checksum: point it at the bundled copy.
python3 - .device/data/prepare.json <<'PY'
import json, sys
path = sys.argv[1]
m = json.load(open(path))
m["tokenizer"]["path"] = "fineweb_1024_bpe.model"
json.dump(m, open(path, "w"), indent=2)
PY

if [[ -n "$train_gpt" ]]; then cp "$train_gpt" .device/peer/train_gpt.py; fi
echo "== bundle: $(du -sh .device | cut -f1) in .device/ ($(ls .device/lib | wc -l) libraries)"
# The device tool carries at most 64 MiB with the working tree, and Debian's OpenBLAS alone is 36 MB:
# what travels is the xz archive of .device/, unpacked there before the check.
XZ_OPT="-9 -T$(nproc)" tar -cJf .device.tar.xz .device
size=$(( $(stat -c %s .device.tar.xz) / 1048576 ))
echo "== bundle: .device.tar.xz is $(stat -c %s .device.tar.xz) bytes"
[[ $size -lt 56 ]] || { echo "device_bundle.sh: .device.tar.xz is ${size} MiB; the device tool carries at most 64 MiB with the repository" >&2; exit 1; }
echo "   device run: carry [\".device.tar.xz\"], command \"tar -xJf .device.tar.xz && bash .device/scripts/device_check.sh\""

if [[ $dry_run -eq 1 ]]; then
  echo "== bundle: dry run from the unpacked archive (no GPU here: every program must say so and exit cleanly)"
  there=$(mktemp -d)
  tar -xJf .device.tar.xz -C "$there"
  export LD_LIBRARY_PATH=$there/.device/lib
  "$there"/.device/bin/dartgolf --version
  out=$("$there"/.device/bin/dartgolf bench --device cuda --steps 1 2>&1) && { echo "expected --device cuda to fail without a GPU" >&2; exit 1; }
  echo "dartgolf bench --device cuda: $out"
  [[ "$out" == *"no usable CUDA device"* || "$out" == *"no CUDA device"* ]] || { echo "unexpected message" >&2; exit 1; }
  "$there"/.device/bin/dartgolf_gpu_tests --gtest_brief=1 2>&1 | tail -3
  OUT=$(mktemp -d) DEVICE_CHECK_DRY_RUN=1 bash "$there"/.device/scripts/device_check.sh
  rm -rf "$there"
fi
