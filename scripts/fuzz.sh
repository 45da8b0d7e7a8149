#!/usr/bin/env bash
# Runs every fuzz target of the root module for FUZZTIME (default 10s) each.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-10s}
n=0
while IFS= read -r file; do
  pkg=./$(dirname "$file")
  for target in $(grep -oE '^func Fuzz[A-Za-z0-9_]+' "$file" | sed 's/^func //'); do
    echo "fuzz: $pkg $target ($fuzztime)"
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg"
    n=$((n + 1))
  done
done < <(git ls-files '*_test.go' | grep -v '^bench/' | xargs -r grep -l '^func Fuzz' || true)
echo "fuzz: ran $n targets"
