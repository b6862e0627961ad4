#!/usr/bin/env bash
# Starts a data-parallel dartgolf job without PyTorch: one process per rank on this machine, with the
# environment torchrun gives its workers (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, GROUP_RANK,
# MASTER_ADDR, MASTER_PORT).
#
#   scripts/launch.sh --nproc-per-node N [--nnodes K --node-rank R --master-addr A --master-port P] -- COMMAND...
#
#   scripts/launch.sh --nproc-per-node 2 -- build/dartgolf train --preset tiny
#
# One rank per local GPU: LOCAL_RANK picks the device. Several machines: run it on each with the same
# --nnodes, --master-addr (the machine of node rank 0) and --master-port, and its own --node-rank
# (docs/distributed.md). Rank 0's output is passed through as it is; the other ranks' lines get a
# "[rank R] " prefix. SIGINT and SIGTERM are forwarded to every rank once (dartgolf then stops all
# ranks at the same step with a resumable checkpoint). When a rank fails, the others are stopped
# (SIGTERM, then SIGKILL after --grace seconds) and launch.sh exits with that rank's exit code,
# naming it. Exit code: 0 when every rank succeeded, 3 when they stopped on a signal, else the
# first failing rank's code.
set -uo pipefail

usage() { sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; }
die() { echo "launch.sh: $*" >&2; exit 2; }

nproc="" nnodes=1 node_rank=0 master_addr="" master_port="" grace=10
while [[ $# -gt 0 ]]; do
  case "$1" in
    --nproc-per-node|--nproc_per_node) nproc=${2-}; shift 2 || die "$1 needs a value" ;;
    --nnodes) nnodes=${2-}; shift 2 || die "--nnodes needs a value" ;;
    --node-rank|--node_rank) node_rank=${2-}; shift 2 || die "--node-rank needs a value" ;;
    --master-addr|--master_addr) master_addr=${2-}; shift 2 || die "--master-addr needs a value" ;;
    --master-port|--master_port) master_port=${2-}; shift 2 || die "--master-port needs a value" ;;
    --grace) grace=${2-}; shift 2 || die "--grace needs a value" ;;
    -h|--help) usage; exit 0 ;;
    --) shift; break ;;
    *) die "unknown option '$1' (the command to run goes after --; see --help)" ;;
  esac
done
[[ $# -gt 0 ]] || die "no command: scripts/launch.sh --nproc-per-node N -- build/dartgolf train ..."
is_count() { [[ $1 =~ ^[0-9]+$ ]] && (( 10#$1 >= $2 )); }
is_count "$nproc" 1 || die "--nproc-per-node '$nproc' must be a positive integer"
is_count "$nnodes" 1 || die "--nnodes '$nnodes' must be a positive integer"
is_count "$node_rank" 0 && (( 10#$node_rank < 10#$nnodes )) || die "--node-rank '$node_rank' must be in [0, --nnodes=$nnodes)"
is_count "$grace" 0 || die "--grace '$grace' must be a whole number of seconds"
nproc=$((10#$nproc)) nnodes=$((10#$nnodes)) node_rank=$((10#$node_rank))

# True when nothing on this machine listens on TCP port $1 (from /proc: no ss or python needed).
port_free() {
  local hex
  hex=$(printf '%04X' "$1")
  ! awk -v p=":$hex" 'NR > 1 && $4 == "0A" && substr($2, length($2) - 4) == p { found = 1 } END { exit !found }' \
    /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

if [[ $nnodes -gt 1 ]]; then
  [[ -n $master_addr ]] || die "--nnodes $nnodes needs --master-addr (the machine of node rank 0, reachable from every node)"
  [[ -n $master_port ]] || die "--nnodes $nnodes needs --master-port (the same free port on every node)"
fi
master_addr=${master_addr:-127.0.0.1}
if [[ -z $master_port ]]; then
  # One machine: a free port, as torchrun --standalone picks one.
  for _ in $(seq 1 100); do
    master_port=$((20000 + RANDOM % 40000))
    port_free "$master_port" && port_free $((master_port + 1)) && break
  done
fi
[[ $master_port =~ ^[0-9]+$ ]] && (( master_port >= 1 && master_port <= 65535 )) || die "--master-port '$master_port' is not a TCP port"

world=$((nnodes * nproc))
declare -A rank_of=()  # pid -> global rank, for the ranks still running
pids=()

# Job control gives every rank a process group of its own, so a Ctrl-C on the terminal reaches
# launch.sh alone, which forwards it exactly once (a second SIGINT would end dartgolf at once).
set -m
for ((local_rank = 0; local_rank < nproc; ++local_rank)); do
  rank=$((node_rank * nproc + local_rank))
  if [[ $rank -eq 0 ]]; then
    RANK=$rank WORLD_SIZE=$world LOCAL_RANK=$local_rank LOCAL_WORLD_SIZE=$nproc GROUP_RANK=$node_rank \
      MASTER_ADDR=$master_addr MASTER_PORT=$master_port "$@" &
  else
    RANK=$rank WORLD_SIZE=$world LOCAL_RANK=$local_rank LOCAL_WORLD_SIZE=$nproc GROUP_RANK=$node_rank \
      MASTER_ADDR=$master_addr MASTER_PORT=$master_port "$@" > >(sed -u "s/^/[rank $rank] /") 2>&1 &
  fi
  rank_of[$!]=$rank
  pids+=("$!")
done
set +m

signal_all() {  # signal_all SIGNAL: to every rank still running
  local pid
  for pid in "${!rank_of[@]}"; do kill -s "$1" "$pid" 2>/dev/null; done
}
trap 'signal_all INT' INT
trap 'signal_all TERM' TERM

# After a failure: SIGTERM to the others, SIGKILL to whoever is left --grace seconds later.
stop_the_others() {
  signal_all TERM
  ( sleep "$grace"
    echo "launch.sh: ranks still running ${grace} s after rank $failed_rank failed: killing them" >&2
    signal_all KILL ) &
  local killer=$! pid
  for pid in "${!rank_of[@]}"; do wait "$pid" 2>/dev/null; done
  kill "$killer" 2>/dev/null
  rank_of=()
}

exit_code=0 failed_rank=""
while [[ ${#rank_of[@]} -gt 0 ]]; do
  pid=""
  wait -n -p pid "${!rank_of[@]}"
  code=$?
  [[ -z ${pid:-} ]] && continue  # a forwarded signal interrupted the wait
  rank=${rank_of[$pid]}
  unset "rank_of[$pid]"
  if [[ $code -eq 0 || $code -eq 3 ]]; then
    # 3: stopped on a signal with a checkpoint; the ranks agreed on it and stop together.
    [[ $code -eq 3 ]] && exit_code=3
    continue
  fi
  how="exited with code $code"
  (( code > 128 )) && how="$how (killed by SIG$(kill -l $((code - 128)) 2>/dev/null || echo "nal $((code - 128))"))"
  echo "launch.sh: rank $rank (pid $pid) $how; stopping the other ranks" >&2
  exit_code=$code failed_rank=$rank
  stop_the_others
done
wait 2>/dev/null  # the output prefixers
[[ -n $failed_rank ]] && echo "launch.sh: the job failed: rank $failed_rank exited with code $exit_code" >&2
exit "$exit_code"
