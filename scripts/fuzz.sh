#!/usr/bin/env bash
# Runs every fuzz target of the modules (but bench) for FUZZTIME (default 10s) each.
# Each new interesting input is minimized for at most FUZZMINIMIZETIME
# (default 2s): go test's default of 60s per input stalls a short run on
# targets whose inputs are long (FuzzBulkDecode sat at 0 execs/s).
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-10s}
minimize=${FUZZMINIMIZETIME:-2s}
n=0
while IFS= read -r file; do
  pkg=./$(dirname "$file")
  for target in $(grep -oE '^func Fuzz[A-Za-z0-9_]+' "$file" | sed 's/^func //'); do
    echo "fuzz: $pkg $target ($fuzztime)"
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -fuzzminimizetime "$minimize" "$pkg"
    n=$((n + 1))
  done
done < <(git ls-files '*_test.go' | grep -v '^bench/' | xargs -r grep -l '^func Fuzz' || true)
echo "fuzz: ran $n targets"
