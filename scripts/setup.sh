#!/usr/bin/env bash
# Installs what dartgolf needs (Debian/Ubuntu packages), builds it into build/, and prepares data.
#
#   scripts/setup.sh [--corpus FILE [--tokenizer MODEL]] [--skip-data] [--no-install] [--cuda AUTO|ON|OFF]
#
# Data: when data/datasets/fineweb10B_sp1024 holds no shards, it first tries the official FineWeb
# export (scripts/fetch_fineweb.sh); if that fails (offline) it prepares a local corpus instead:
# --corpus FILE, or ../shared/data/tinyshakespeare.txt when present. With --corpus it never goes
# online. The chosen DATA_PATH and TOKENIZER_PATH are written to build/data.env and linked as
# data/datasets/default and data/tokenizers/default.model (what `--preset tiny` reads by default).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

corpus="" tokenizer="" skip_data=0 install=1 cuda=AUTO
while [[ $# -gt 0 ]]; do
  case "$1" in
    --corpus) corpus=$2; shift 2 ;;
    --tokenizer) tokenizer=$2; shift 2 ;;
    --skip-data) skip_data=1; shift ;;
    --no-install) install=0; shift ;;
    --cuda) cuda=$2; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

log() { echo "== setup: $*"; }

# ---- 1. packages -----------------------------------------------------------------------------
PACKAGES=(cmake ninja-build g++ pkg-config ccache libgtest-dev libcli11-dev libsentencepiece-dev
          nlohmann-json3-dev libopenblas-dev zlib1g-dev libzstd-dev liblzma-dev libbrotli-dev libgloo-dev
          tar xz-utils zstd brotli
          libboost-context-dev gnuplot-nox clang libclang-rt-dev libomp-dev
          python3 python3-torch python3-numpy python3-sentencepiece)
if [[ $install -eq 1 ]]; then
  missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  if [[ ${#missing[@]} -gt 0 ]]; then
    log "installing ${missing[*]}"
    SUDO=""
    if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    log "all packages present"
  fi
fi

# ---- 2. build -------------------------------------------------------------------------------
if [[ "$cuda" != "OFF" && -z "$(command -v nvcc || true)" && -x /usr/local/cuda/bin/nvcc ]]; then
  export PATH=/usr/local/cuda/bin:$PATH
fi
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache); fi
log "configuring build/ (DARTGOLF_CUDA=$cuda)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DDARTGOLF_CUDA="$cuda" "${launcher[@]}" >build-configure.log 2>&1 ||
  { cat build-configure.log; exit 1; }
grep -E "dartgolf: CUDA backend" build-configure.log || true
rm -f build-configure.log
log "building"
cmake --build build -j"$(nproc)"

# ---- 3. data --------------------------------------------------------------------------------
[[ $skip_data -eq 1 ]] && exit 0
# Records the prepared data: build/data.env for scripts, and the links data/datasets/default and
# data/tokenizers/default.model that the `tiny` preset reads by default.
write_env() {
  printf 'DATA_PATH=%s\nTOKENIZER_PATH=%s\n' "$1" "$2" > build/data.env
  mkdir -p "$ROOT/data/datasets" "$ROOT/data/tokenizers"
  ln -sfn "$1" "$ROOT/data/datasets/default"
  ln -sfn "$2" "$ROOT/data/tokenizers/default.model"
  log "data ready: DATA_PATH=$1 TOKENIZER_PATH=$2 (also data/datasets/default, data/tokenizers/default.model)"
}
prepare_corpus() {
  local input=$1 tok=$2
  [[ -f "$input" ]] || { echo "setup.sh: corpus $input not found" >&2; exit 1; }
  local name; name=$(basename "${input%.*}")
  local out="$ROOT/data/datasets/${name}_sp1024"
  if [[ -z "$tok" ]]; then
    tok=$(dirname "$input")/fineweb_1024_bpe.model
    [[ -f "$tok" ]] || tok="$ROOT/data/tokenizers/fineweb_1024_bpe.model"
  fi
  [[ -f "$tok" ]] || { echo "setup.sh: tokenizer $tok not found (give --tokenizer MODEL)" >&2; exit 1; }
  tok=$(realpath "$tok")
  if compgen -G "$out/fineweb_val_*.bin" >/dev/null && [[ -f "$out/prepare.json" ]] && grep -qF "$tok" "$out/prepare.json"; then
    log "using prepared $out"
  else
    log "preparing $input -> $out"
    build/dartgolf prepare --input "$input" --out "$out" --tokenizer "$tok" --force
  fi
  write_env "$out" "$tok"
}

if [[ -n "$corpus" ]]; then
  prepare_corpus "$corpus" "$tokenizer"
elif compgen -G "$ROOT/data/datasets/fineweb10B_sp1024/fineweb_val_*.bin" >/dev/null; then
  write_env "$ROOT/data/datasets/fineweb10B_sp1024" "$ROOT/data/tokenizers/fineweb_1024_bpe.model"
elif scripts/fetch_fineweb.sh --train-shards 1; then
  write_env "$ROOT/data/datasets/fineweb10B_sp1024" "$ROOT/data/tokenizers/fineweb_1024_bpe.model"
elif [[ -f "$ROOT/../shared/data/tinyshakespeare.txt" ]]; then
  log "FineWeb is unreachable; preparing the local tinyshakespeare corpus instead"
  prepare_corpus "$ROOT/../shared/data/tinyshakespeare.txt" "$tokenizer"
else
  echo "setup.sh: no data: FineWeb could not be fetched and no --corpus FILE was given" >&2
  exit 1
fi
