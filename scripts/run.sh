#!/usr/bin/env bash
# The main job on the embedded default: install what is missing, build, prepare data, train the
# `tiny` preset on CPU, score the result over the whole validation split, then pack the int8+zlib
# artifact and score its round trip.
#
#   scripts/run.sh [--preset NAME] [setup.sh options...] [-- extra `dartgolf train` arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

preset=tiny setup_args=() train_args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --preset) preset=$2; shift 2 ;;
    --) shift; train_args=("$@"); break ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) setup_args+=("$1"); shift ;;
  esac
done

scripts/setup.sh "${setup_args[@]}"
set -a; source build/data.env; set +a  # DATA_PATH and TOKENIZER_PATH of the data setup.sh prepared

run_dir=runs/${preset}-$(date +%Y%m%d-%H%M%S)
echo "== run: training preset $preset into $run_dir"
build/dartgolf train --preset "$preset" --out "$run_dir" "${train_args[@]}"
echo "== run: scoring $run_dir/final_model.safetensors on the full validation split"
build/dartgolf eval --checkpoint "$run_dir/final_model.safetensors" --data "$DATA_PATH" --tokenizer "$TOKENIZER_PATH"
echo "== run: packing the int8+zlib artifact and scoring its round trip"
build/dartgolf pack --checkpoint "$run_dir/final_model.safetensors" --out "$run_dir/model.int8.zlib" --allow-oversize
build/dartgolf eval --artifact "$run_dir/model.int8.zlib" --data "$DATA_PATH" --tokenizer "$TOKENIZER_PATH"
