#!/usr/bin/env bash
# The behaviour battery of a refactor that must change no result (issue 26): run it with the binary
# before and after, then `diff -r` the two output folders.
#   scripts/bit_identity.sh BINARY OUT
# It writes OUT/{train,compare,sweep,study,capacity}/ and OUT/help/ (every --help), then OUT/digest:
# one line per metrics.jsonl, report.json, capacity.json, figure and exported weights, hashed with the
# wall-clock fields removed (times, dates, host, commit, paths are not behaviour).
set -euo pipefail
out=$(realpath -m "$2")
# The binary's path is in every --help and every run's provenance: run both binaries from one path.
bin=/tmp/bit-identity/overfit
mkdir -p "$(dirname "$bin")"; cp "$1" "$bin"
rm -rf "$out"; mkdir -p "$out/help"
cd "$out"
"$bin" --help > help/overfit.txt
for c in train compare sweep results capacity summary generate eval export import bench study; do
  "$bin" "$c" --help > "help/$c.txt"
done
q="--quiet"
"$bin" train --steps 300 --seed 7 --runs-dir train $q > /dev/null
"$bin" compare --steps 60 --runs-dir compare > compare.txt
"$bin" sweep --grid head=causal,last --seeds 1,2 --steps 40 --jobs 2 --runs-dir sweep $q > /dev/null
"$bin" study --quick --out study --jobs 2 --quiet > /dev/null
"$bin" capacity --quick --out capacity --jobs 2 > /dev/null
for ck in $(find . -name checkpoint.bin | sort); do
  "$bin" export --checkpoint "$ck" --out "${ck%.bin}.safetensors" > /dev/null
done
# Times and provenance are not behaviour: drop them before hashing.
strip='walk(if type == "object" then with_entries(select(.key | test("time|seconds|_at$|date|host|commit|elapsed|rss|path|dir|started|ended|finished|per_sec|ms") | not)) else . end)'
{
  for f in $(find . \( -name report.json -o -name capacity.json -o -name summary.json \) | sort); do
    echo "$(jq -S "$strip" "$f" | sha256sum | cut -c1-16) $f"
  done
  for f in $(find . -name metrics.jsonl | sort); do
    echo "$(jq -cS "$strip" "$f" | sha256sum | cut -c1-16) $f"
  done
  # study/length.svg plots milliseconds per step: a time, so left out.
  for f in $(find . \( -name '*.safetensors' -o -name '*.svg' \) ! -name length.svg | sort); do
    echo "$(sha256sum < "$f" | cut -c1-16) $f"
  done
} > digest
wc -l < digest
