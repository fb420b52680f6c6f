#!/usr/bin/env bash
# Issue 24's capacity grid at saturation: one command per model size (each size has one step budget,
# the same for every head measured at it), then one report per folder.
# Resumable: rerun it and every finished run is skipped; shard it across machines with SHARD=k/n.
# Wall time per command goes to $OUT/wall.log.
#   scripts/capacity_grid.sh [BINARY]      (JOBS=2 SHARD=1/2 OUT=capacity/main CAUSAL_OUT=capacity/causal
#                                           SEED_ID4_OUT=capacity/seed-id4-causal)
#
# Why these budgets (capacity/PROBES.md): a point certifies (2× the steps changes its bits by < 2%)
# after about 2,000 passes over its 4 bits/parameter dataset. A window head sees one target per
# sample, so its dataset has L = 32× the samples of a causal one and needs 32× the steps: 2,000
# epochs of last's dataset at batch 32, rounded up to a multiple of 65,536, is 65,536 steps at d 4
# and 131,072 at d 8 (×1.5 and ×2 at d 12 and d 16).
#
# How the compute per head stays comparable: the window heads (last, tied) are measured at the
# small widths d 4–16 (1.3K–15K parameters), where their budgets are affordable; causal shares their
# d 4 budget and is measured alone at d 24, 40 and 64 (11K–44K parameters; widths no window head
# uses, so that every size keeps one budget), each with 2,000 epochs of its own 4 bits/parameter
# dataset rounded up to a multiple of 8,192 steps. Its d 4 runs are the main folder's, and its d 16
# runs (8,192 steps, the same rule) are seed-id4's from capacity/seed-id4-causal (its own command,
# run here first: seed-id4's default grid of 7 datasets × 3 seeds, of which causal's report uses 4
# datasets × 2 seeds): both are linked into its own folder, so that one report covers every causal
# size and its fits span them.
#
# Not in this script: tied at d 12 and causal at d 40 were tuned again on the 4 and 6 bits/parameter
# datasets (--tune-data-bits 4,6), after their knee-tuned rates collapsed or stalled on the grid;
# last at d 16 and 24 ran with commands of their own (datasets from 3 and 4 bits/parameter on), and so did tied at
# d 16 and causal at d 8 and 12 (--tune-data-bits 4,6; 8,192 steps, causal's rule at the window
# heads' widths, so those two widths have two budgets, one per kind of head). Their commands:
# capacity/PROBES.md and
# REPORT.md.
set -euo pipefail
bin=${1:-target/release/overfit}
out=${OUT:-capacity/main}
causal_out=${CAUSAL_OUT:-capacity/causal}
seed_id4_out=${SEED_ID4_OUT:-capacity/seed-id4-causal}
jobs=${JOBS:-1}
shard=${SHARD:+--shard $SHARD}
mkdir -p "$out" "$causal_out" "$seed_id4_out"
timed() { # name command...
  local name=$1 start=$(date +%s); shift
  "$@" > "$name.txt" || true
  echo "$(basename "$name") $*: $(( $(date +%s) - start )) s ($(date -u +%FT%TZ))" >> "$(dirname "$name")/wall.log"
}
window() { # d steps heads
  timed "$out/d$1" "$bin" capacity --heads "$3" --sizes "$1" --steps "$2" --data-bits 1,2,3,4,6 \
    --seeds 0,1 --certify --jobs "$jobs" $shard --out "$out"
}
causal_sizes=(4 16 24 40 64)
causal_steps=65536,8192,16384,24576,49152
causal() { # every causal size, smallest first (d 4's and d 16's runs are found finished)
  timed "$causal_out/causal" "$bin" capacity --heads causal --sizes "$(IFS=,; echo "${causal_sizes[*]}")" \
    --steps-per-size "$causal_steps" --data-bits 2,3,4,6 --seeds 0,1 --certify --jobs "$jobs" $shard \
    --out "$causal_out"
}
link_causal() { # FOLDER MODEL: another folder's causal runs and tuning of one size, seen from causal's
  for kind in grid tune; do
    mkdir -p "$causal_out/$kind/causal"
    local target=$1/$kind/causal/$2 link=$causal_out/$kind/causal/$2
    if [ -L "$link" ] || [ -e "$link" ]; then continue; fi
    # Not there yet (another shard's, still waiting on the tuning): causal runs it in its own
    # folder instead, the same config and so the same bits.
    if [ -d "$target" ]; then ln -s "$(realpath "$target")" "$link"; else echo "not linked yet: $target" >&2; fi
  done
}
window 4 65536 causal,last,tied
link_causal "$out" L32-d4-N1-h2-F4
timed "$seed_id4_out/seed-id4" "$bin" capacity --preset seed-id4 --heads causal --certify --jobs "$jobs" $shard \
  --out "$seed_id4_out"
link_causal "$seed_id4_out" L32-d16-N1-h2-F16
causal
window 8 131072 last,tied
window 12 196608 last,tied
window 16 262144 last,tied
# The window heads' sizes in one report (capacity.json, capacity.md, the plots, the fits across
# sizes): every run is finished by now, so this trains nothing. causal's report is its command's.
timed "$out/all" "$bin" capacity --heads last,tied --sizes 4,8,12,16 \
  --steps-per-size 65536,131072,196608,262144 --data-bits 1,2,3,4,6 --seeds 0,1 --certify --jobs "$jobs" \
  --out "$out"
