#!/bin/bash
# The floors: what any proxy can reach on this machine, measured with the smallest C programs that do the job.
#   bench/floor/run.sh latency   ping-pong p50/p99: same core, across cores, and through a minimal relay (poll, busy-poll)
#   bench/floor/run.sh socks     the load generator against socksfloor, a minimal epoll SOCKS5 relay (throughput, tunnels, latency, UDP)
# Results: docs/performance-journal.md (the floors of 2026-11-25 and 2026-12-04); how to read them:
# docs/performance-notes.md, "Reading the figures on this 2-core VM".
set -euo pipefail
cd "$(dirname "$0")/../.."
out=artifacts/floor
mkdir -p "$out"
gcc -O2 -Wall -Wextra -Werror -o "$out/pingpong" bench/floor/pingpong.c
gcc -O2 -Wall -Wextra -Werror -o "$out/socksfloor" bench/floor/socksfloor.c

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

case "${1:-latency}" in
latency)
  same=$(free_port); cross=$(free_port); relay=$(free_port); busy=$(free_port)
  pids=()
  taskset -c 1 "$out/pingpong" echo "$same" & pids+=($!)
  taskset -c 0 "$out/pingpong" echo "$cross" & pids+=($!)
  taskset -c 0 "$out/pingpong" relay "$relay" "$same" 0 & pids+=($!)
  taskset -c 0 "$out/pingpong" relay "$busy" "$same" 1 & pids+=($!)
  trap 'kill "${pids[@]}" 2>/dev/null' EXIT
  sleep 0.5
  for run in 1 2 3; do
    echo "run $run"
    echo "  direct, client and echo on CPU 1:         $(taskset -c 1 "$out/pingpong" ping "$same" 20000)"
    echo "  direct, client on CPU 1, echo on CPU 0:   $(taskset -c 1 "$out/pingpong" ping "$cross" 20000)"
    echo "  relay on CPU 0 waiting in poll(2):        $(taskset -c 1 "$out/pingpong" ping "$relay" 20000)"
    echo "  relay on CPU 0 busy-polling (one core):   $(taskset -c 1 "$out/pingpong" ping "$busy" 20000)"
  done
  ;;
socks)
  shift
  dotnet run -c Release --project bench/Sockeye.Bench -- --pin --variants splice --sockeye "$out/socksfloor" \
    --scenarios throughput,tunnels,latency,udp --output "$out/socksfloor.md" "$@"
  ;;
*)
  echo "usage: bench/floor/run.sh latency|socks [bench options]" >&2
  exit 2
  ;;
esac
