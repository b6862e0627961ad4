#!/usr/bin/env bash
# Installs what is missing, builds, prepares the test data and runs the whole suite through ctest.
#
#   scripts/test.sh [--quick] [ctest arguments...]
#     --quick   skip the tests labelled "slow" (whole CLI training runs) and the fuzzing
# GPU tests (label "gpu") run everywhere and skip visibly when no GPU is present.
set -euo pipefail
cd "$(dirname "$0")/.."

ctest_args=() quick=0
for a in "$@"; do
  if [[ "$a" == "--quick" ]]; then ctest_args+=(-LE slow); quick=1; else ctest_args+=("$a"); fi
done

corpus_args=()
if [[ -f ../shared/data/tinyshakespeare.txt && -f ../shared/data/fineweb_1024_bpe.model ]]; then
  corpus_args=(--corpus ../shared/data/tinyshakespeare.txt --tokenizer ../shared/data/fineweb_1024_bpe.model)
fi
scripts/setup.sh "${corpus_args[@]}"

echo "== test: ctest"
ctest --test-dir build --output-on-failure -j"$(nproc)" "${ctest_args[@]}"

if [[ $quick -eq 0 ]]; then
  echo "== test: fuzzing every reader of user files for ${FUZZ_SECONDS:-30} s each (ASan, UBSan; scripts/fuzz.sh)"
  scripts/fuzz.sh --seconds "${FUZZ_SECONDS:-30}" --no-install
fi
