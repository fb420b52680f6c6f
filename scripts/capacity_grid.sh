#!/usr/bin/env bash
# Issue 24's capacity grid at saturation, one model size per command (each size has its own step
# budget, the same for every head), smallest first, then one command that reports them all.
# Resumable: rerun it and every finished run is skipped; shard it across machines with SHARD=k/n.
# Wall time per command goes to $OUT/wall.log.
#   scripts/capacity_grid.sh [BINARY]      (JOBS=2 SHARD=1/2 OUT=capacity/main)
#
# Why these budgets: a window head sees one target per sample, so at 4 bits/parameter its dataset
# has 32× the samples of a causal one, and it certifies (2× the steps changes its bits by < 2%)
# only after about 2,000 passes over its data (last, d 8: 65K → 262K steps +1.6%; d 16: +4.2%;
# capacity/PROBES.md). Steps per size are sized for that: 2,000 epochs of the last head's
# 4 bits/parameter dataset at batch 32, rounded up to a multiple of 65,536.
set -euo pipefail
bin=${1:-target/release/overfit}
out=${OUT:-capacity/main}
jobs=${JOBS:-1}
shard=${SHARD:+--shard $SHARD}
mkdir -p "$out"
point() { # d steps heads
  local start=$(date +%s)
  "$bin" capacity --heads "$3" --sizes "$1" --steps "$2" --data-bits 1,2,3,4,6 --seeds 0,1 \
    --certify --jobs "$jobs" $shard --out "$out" > "$out/d$1.txt" || true
  echo "d$1 steps $2 heads $3: $(( $(date +%s) - start )) s ($(date -u +%FT%TZ))" >> "$out/wall.log"
}
point 4 65536 causal,last,tied
point 8 131072 causal,last,tied
point 12 196608 causal,last,tied
point 16 262144 causal,last,tied
# Every size in one report (capacity.json, capacity.md, the plots, the fits across sizes): every
# run is finished by now, so this trains nothing.
"$bin" capacity --heads causal,last,tied --sizes 4,8,12,16 --steps-per-size 65536,131072,196608,262144 \
  --data-bits 1,2,3,4,6 --seeds 0,1 --certify --jobs "$jobs" --out "$out" > "$out/all.txt" || true
