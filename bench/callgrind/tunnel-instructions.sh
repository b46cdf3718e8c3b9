#!/usr/bin/env bash
# How many user-space instructions the NativeAOT server spends on a tunnel, counted by callgrind (valgrind), one
# tunnel at a time. Unlike a CPU-time figure on a shared VM this count repeats to a few instructions in a thousand, so
# a change to the session path can be measured by it alone (docs/performance-notes.md).
#
# usage: bench/callgrind/tunnel-instructions.sh [TUNNELS] [SOCKEYE_BINARY]
#   TUNNELS         tunnels counted, after WARM (default 3 000) that are not; default 2 000
#   SOCKEYE_BINARY  a NativeAOT sockeye published with -p:StripSymbols=false; without it the script publishes src/Sockeye
#
# Needs valgrind (apt-get install valgrind) and python3. Prints the instructions per tunnel and the functions that
# spend the most of them; the whole profile stays in the folder it names, for callgrind_annotate.
set -euo pipefail

tunnels=${1:-2000}
binary=${2:-}
warm=${WARM:-3000}
here=$(cd "$(dirname "$0")" && pwd)
repository=$(cd "$here/../.." && pwd)
work=$(mktemp -d /tmp/sockeye-callgrind.XXXXXX)

if [[ -z "$binary" ]]; then
  echo "publishing src/Sockeye (NativeAOT, with its symbol table) to $work/publish ..." >&2
  dotnet publish "$repository/src/Sockeye" -c Release -r linux-x64 -p:PublishAot=true -p:StripSymbols=false \
    -o "$work/publish" > "$work/publish.log"
  binary="$work/publish/sockeye"
fi

# valgrind cannot read the DWARF of a NativeAOT binary; without it, the symbol table still names every function.
cp "$binary" "$work/sockeye"
strip --strip-debug "$work/sockeye"

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.out" \
  "$work/sockeye" --listen "127.0.0.1:$port" --log-level warning > "$work/valgrind.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT

for _ in $(seq 1 120); do
  if python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), timeout=1).close()" 2>/dev/null; then
    break
  fi
  sleep 0.5
done

python3 "$here/tunnel_client.py" "127.0.0.1:$port" "$warm"
callgrind_control --zero "$server" > /dev/null 2>&1
python3 "$here/tunnel_client.py" "127.0.0.1:$port" "$tunnels"
callgrind_control --dump "$server" > /dev/null 2>&1
kill "$server"
wait "$server" 2>/dev/null || true
trap - EXIT

profile=$(ls "$work"/callgrind.out.* | head -1)
callgrind_annotate --inclusive=no --threshold=100 "$profile" > "$work/annotate.txt" 2>/dev/null
python3 - "$work/annotate.txt" "$tunnels" <<'PY'
import re
import sys

path, tunnels = sys.argv[1], int(sys.argv[2])
total = None
functions = []
for line in open(path):
    match = re.match(r"\s*([\d,]+)\s+\(\s*([\d.]+)%\)\s+(.*)", line)
    if not match:
        continue
    instructions = int(match.group(1).replace(",", ""))
    name = match.group(3)
    if "PROGRAM TOTALS" in name:
        total = instructions
    elif float(match.group(2)) < 50:  # the thread's entry frames carry everything: not a function's own work
        functions.append((instructions, name))

# glibc clears large blocks with rep stosb, which callgrind counts once per byte: a few cycles of a real CPU per 64 bytes.
zeroing = sum(instructions for instructions, name in functions if "memset" in name)
print(f"user-space instructions per tunnel: {total / tunnels:.0f}, "
      f"of which memset {zeroing / tunnels:.0f} (counted per byte), the rest {(total - zeroing) / tunnels:.0f}")
for instructions, name in sorted(functions, reverse=True)[:25]:
    print(f"{instructions / tunnels:8.0f}  {name[:150]}")
PY
echo "profile: $profile" >&2
