#!/usr/bin/env bash
# The table a competitor chooses a quantization scheme with: for each trained checkpoint and each
# scheme (quantizer, width, clip rule), the artifact's bytes under every codec and the round-trip
# val_bpb with its gap to the fp32 model's.
#
#   scripts/bench/quant_table.sh --data DIR --tokenizer MODEL [--threads 1] [--out DIR]
#       [--pack-args "--source-root TREE --build-dir BUILD"] [--only REGEX] CHECKPOINT...
#
# Each scheme is packed once per codec (`dartgolf pack`; GPTQ calibrates on DIR's training shards
# every time, and its time is printed) and scored once (`dartgolf eval --artifact`, the whole
# validation split of DIR). Prints one markdown row per checkpoint and scheme.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
dartgolf=${DARTGOLF:-$root/build/dartgolf}
data="" tokenizer="" threads=1 out=${TMPDIR:-/tmp}/quant_table pack_args="" only=""
checkpoints=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --data) data=$2; shift 2 ;;
    --tokenizer) tokenizer=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --pack-args) pack_args=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    -*) echo "quant_table.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    *) checkpoints+=("$1"); shift ;;
  esac
done
[[ -n "$data" && -n "$tokenizer" && ${#checkpoints[@]} -gt 0 ]] || { sed -n '2,12p' "$0"; exit 2; }
mkdir -p "$out"

# name|pack flags
schemes=(
  "RTN int8 (challenge)|--bits 8"
  "GPTQ int8 percentile|--bits 8 --set artifact_quantizer=gptq"
  "RTN int6 percentile|--bits 6"
  "RTN int6 sdclip k=12.85|--bits 6 --set artifact_clip=sdclip"
  "GPTQ int6 percentile|--bits 6 --set artifact_quantizer=gptq"
  "GPTQ int6 sdclip k=12.85|--bits 6 --set artifact_quantizer=gptq --set artifact_clip=sdclip"
  "GPTQ int6 sdclip k=4|--bits 6 --set artifact_quantizer=gptq --set artifact_clip=sdclip --set artifact_sdclip_k=4"
  "GPTQ int6 percentile, int8 embedding|--bits 6 --set artifact_quantizer=gptq --set artifact_embed_bits=8"
  "RTN int5 percentile|--bits 5"
  "GPTQ int5 percentile|--bits 5 --set artifact_quantizer=gptq"
  "GPTQ int5 percentile, int8 embedding|--bits 5 --set artifact_quantizer=gptq --set artifact_embed_bits=8"
  "GPTQ int5 sdclip k=12.85|--bits 5 --set artifact_quantizer=gptq --set artifact_clip=sdclip"
  "GPTQ int5 sdclip k=8|--bits 5 --set artifact_quantizer=gptq --set artifact_clip=sdclip --set artifact_sdclip_k=8"
)
codecs=(zlib zstd lzma brotli)
common="--set threads=$threads --set data_path=$data --set tokenizer_path=$tokenizer --allow-oversize $pack_args"

echo "| checkpoint | scheme | zlib | zstd | lzma | brotli | val_bpb | gap | GPTQ calibration |"
echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for ckpt in "${checkpoints[@]}"; do
  tag=$(basename "$(dirname "$ckpt")")
  for entry in "${schemes[@]}"; do
    name=${entry%%|*} flags=${entry#*|}
    [[ -n "$only" && ! "$name" =~ $only ]] && continue
    sizes=() calib="—"
    for codec in "${codecs[@]}"; do
      art="$out/$tag.$codec.art"
      log=$("$dartgolf" pack --checkpoint "$ckpt" --out "$art" --codec "$codec" $flags $common)
      sizes+=("$(stat -c %s "$art")")
      c=$(sed -n 's/^gptq_calibration .* time:\([0-9]*\)ms$/\1 ms/p' <<<"$log")
      [[ -n "$c" ]] && calib=$c
    done
    eval_log=$("$dartgolf" eval --artifact "$art" --data "$data" --tokenizer "$tokenizer" --set threads="$threads")
    bpb=$(sed -n 's/.*_roundtrip_exact val_loss:[0-9.]* val_bpb:\([0-9.]*\)$/\1/p' <<<"$eval_log" | tail -1)
    pre=$(sed -n 's/^meta val_bpb: //p' <<<"$("$dartgolf" inspect "$art")")
    gap=$(awk -v a="$bpb" -v b="$pre" 'BEGIN { printf "%+.5f", a - b }')
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$tag" "$name" "${sizes[@]}" "$bpb" "$gap" "$calib"
  done
done
