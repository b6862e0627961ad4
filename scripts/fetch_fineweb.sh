#!/usr/bin/env bash
# Downloads the challenge's published sp1024 FineWeb export -- the full validation split, the first
# N training shards and the tokenizer -- from its Hugging Face dataset repository, into the same
# layout the challenge's data/cached_challenge_fineweb.py produces:
#   data/manifest.json
#   data/datasets/fineweb10B_sp1024/fineweb_{val,train}_NNNNNN.bin
#   data/tokenizers/fineweb_1024_bpe.{model,vocab}
# Files already present are kept. Every file lands under its final name only once complete.
#
# Environment (same names as the challenge's downloader):
#   MATCHED_FINEWEB_REPO_ID             dataset repo   (default willdepueoai/parameter-golf)
#   MATCHED_FINEWEB_REMOTE_ROOT_PREFIX  folder in repo (default datasets)
#   HF_ENDPOINT                         hub address    (default https://huggingface.co)
#   HF_TOKEN                            sent as a bearer token when set
set -euo pipefail

usage() {
  cat <<'EOF'
usage: scripts/fetch_fineweb.sh [--train-shards N]

Downloads the challenge's sp1024 FineWeb export into data/: every validation shard, the first N
training shards (default 80, i.e. 8B tokens; 0 fetches only val) and the tokenizer.
EOF
}

fail() {
  echo "fetch_fineweb.sh: $*" >&2
  exit 1
}

train_shards=80
while [[ $# -gt 0 ]]; do
  case "$1" in
    --train-shards)
      [[ $# -ge 2 ]] || fail "--train-shards needs a number"
      train_shards="$2"
      shift 2
      ;;
    --train-shards=*)
      train_shards="${1#*=}"
      shift
      ;;
    -h | --help)
      usage
      exit 0
      ;;
    *)
      usage >&2
      fail "unknown argument: $1"
      ;;
  esac
done
[[ "$train_shards" =~ ^[0-9]+$ ]] || fail "--train-shards must be a non-negative integer, got '$train_shards'"

command -v curl >/dev/null || fail "curl is required (apt-get install curl)"

# read_manifest FILE DATASET: prints files_val, files_train and the tokenizer's files, one per line.
read_manifest() {
  if command -v jq >/dev/null; then
    jq -r --arg name "$2" '
      (.datasets[] | select(.name == $name)) as $d
      | ($d.stats.files_val // "null"), ($d.stats.files_train // "null"),
        (.tokenizers[] | select(.name == $d.tokenizer_name) | (.model_path, .vocab_path, .path) | select(. != null))
    ' "$1"
  elif command -v python3 >/dev/null; then
    python3 - "$1" "$2" <<'PY'
import json, sys
manifest = json.load(open(sys.argv[1], encoding="utf-8"))
dataset = next((d for d in manifest.get("datasets", []) if d.get("name") == sys.argv[2]), {})
stats = dataset.get("stats") or {}
print(stats.get("files_val", "null"))
print(stats.get("files_train", "null"))
for tokenizer in manifest.get("tokenizers", []):
    if tokenizer.get("name") == dataset.get("tokenizer_name"):
        for key in ("model_path", "vocab_path", "path"):
            if tokenizer.get(key):
                print(tokenizer[key])
PY
  else
    fail "jq or python3 is required to read the export's manifest.json"
  fi
}

repo_id="${MATCHED_FINEWEB_REPO_ID:-willdepueoai/parameter-golf}"
remote_root="${MATCHED_FINEWEB_REMOTE_ROOT_PREFIX:-datasets}"
endpoint="${HF_ENDPOINT:-https://huggingface.co}"
dataset_name="fineweb10B_sp1024"

repo_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
data_dir="$repo_dir/data"

curl_args=(--fail --location --connect-timeout 10)
if [[ -n "${HF_TOKEN:-}" ]]; then curl_args+=(--header "Authorization: Bearer $HF_TOKEN"); fi

# Remote path (inside the repo's root folder) -> local path, as the challenge's downloader maps them.
local_path_for() {
  local remote="$1"
  case "$remote" in
    datasets/*) echo "$data_dir/datasets/${remote#datasets/}" ;;
    tokenizers/*) echo "$data_dir/tokenizers/${remote#tokenizers/}" ;;
    *) echo "$data_dir/$remote" ;;
  esac
}

# get REMOTE_PATH: downloads unless present; a partial download never takes the final name.
get() {
  local remote="$1"
  local destination
  destination="$(local_path_for "$remote")"
  if [[ -s "$destination" ]]; then
    echo "have $remote"
    return 0
  fi
  mkdir -p "$(dirname "$destination")"
  local url="$endpoint/datasets/$repo_id/resolve/main/$remote_root/$remote"
  local partial="$destination.part.$$"
  echo "get  $remote"
  local show=(--silent --show-error)
  if [[ -t 2 ]]; then show=(--progress-bar); fi
  if ! curl "${curl_args[@]}" "${show[@]}" --retry 3 --retry-delay 2 -o "$partial" "$url"; then
    rm -f "$partial"
    fail "download failed: $url"
  fi
  mv -f "$partial" "$destination"
}

# Reachability first, so an offline machine fails at once with one clear line.
manifest_url="$endpoint/datasets/$repo_id/resolve/main/$remote_root/manifest.json"
manifest="$data_dir/manifest.json"
if [[ ! -s "$manifest" ]]; then
  mkdir -p "$data_dir"
  probe_error="$(curl "${curl_args[@]}" --silent --show-error --max-time 60 -o "$manifest.part.$$" "$manifest_url" 2>&1)" || {
    rm -f "$manifest.part.$$"
    fail "cannot download $manifest_url (offline or blocked?): ${probe_error//$'\n'/ }"
  }
  mv -f "$manifest.part.$$" "$manifest"
fi

manifest_lines="$(read_manifest "$manifest" "$dataset_name")" || {
  rm -f "$manifest"  # so the next run downloads it again
  fail "$manifest is not valid JSON (removed)"
}
files_val="$(sed -n 1p <<<"$manifest_lines")"
files_train="$(sed -n 2p <<<"$manifest_lines")"
tokenizer_files="$(sed -n '3,$p' <<<"$manifest_lines")"
[[ "$files_val" =~ ^[0-9]+$ && "$files_train" =~ ^[0-9]+$ ]] ||
  fail "$manifest does not describe $dataset_name (files_val='$files_val', files_train='$files_train')"
[[ -n "$tokenizer_files" ]] || fail "$manifest names no tokenizer files for $dataset_name"
((train_shards <= files_train)) || fail "$dataset_name has only $files_train training shards, asked for $train_shards"

for ((i = 0; i < files_val; i++)); do get "$(printf 'datasets/%s/fineweb_val_%06d.bin' "$dataset_name" "$i")"; done
for ((i = 0; i < train_shards; i++)); do get "$(printf 'datasets/%s/fineweb_train_%06d.bin' "$dataset_name" "$i")"; done
while IFS= read -r tokenizer_file; do
  if [[ -n "$tokenizer_file" && "$tokenizer_file" != null ]]; then get "$tokenizer_file"; fi
done <<<"$tokenizer_files"

echo "done: $files_val val + $train_shards train shard(s) in $data_dir/datasets/$dataset_name, tokenizer in $data_dir/tokenizers"
