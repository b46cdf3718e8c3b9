#!/usr/bin/env bash
# A fuzzing campaign on one target: fuzz/run.sh TARGET MINUTES (fuzz/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?usage: fuzz/run.sh TARGET MINUTES}
minutes=${2:-10}
command -v afl-fuzz >/dev/null || { echo "afl-fuzz is missing: apt-get install afl++" >&2; exit 2; }
export PATH="$PATH:$HOME/.dotnet/tools"
command -v sharpfuzz >/dev/null || dotnet tool install --global SharpFuzz.CommandLine

out=fuzz/bin
# A fresh output each time: sharpfuzz refuses a library it has already instrumented.
rm -rf "$out"
dotnet publish fuzz/Sockeye.Fuzz -c Release -o "$out" >/dev/null
# Instrument the library under test, not the harness: AFL then sees the parser's branches.
sharpfuzz "$out/Sockeye.Protocol.dll"

mkdir -p "fuzz/findings/$target"
# The dotnet host is not instrumented, the library it loads is: AFL's check of the binary would refuse it.
export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_SKIP_BIN_CHECK=1 AFL_NO_UI=1
timeout "$((minutes * 60))" afl-fuzz -i "fuzz/Sockeye.Fuzz/Corpus/$target" -o "fuzz/findings/$target" -t 5000 -m none \
  -- dotnet "$out/Sockeye.Fuzz.dll" "$target" || true
# A campaign that never started (afl-fuzz refused to run) must not pass for one that found nothing.
stats=$(find "fuzz/findings/$target" -name fuzzer_stats | head -1)
[ -n "$stats" ] || { echo "$target: afl-fuzz did not run (no fuzzer_stats)" >&2; exit 1; }
grep -E '^(execs_done|paths_total|corpus_count|saved_crashes)' "$stats" || true
crashes=$(find "fuzz/findings/$target" -path '*crashes/id*' | wc -l)
echo "$target: $crashes crashing input(s) in fuzz/findings/$target"
[ "$crashes" -eq 0 ]
