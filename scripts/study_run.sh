#!/usr/bin/env bash
# The study on tinyshakespeare (REPORT.md §3–§9), resumable: rerun it and finished runs are
# skipped. Wall time per invocation goes to study/tinyshakespeare/wall.log.
#   scripts/study_run.sh [BINARY]      (JOBS=2)
set -euo pipefail
bin=${1:-target/release/overfit}
out=study/tinyshakespeare
mkdir -p "$out"
start=$(date +%s)
"$bin" study --data ../shared/data/tinyshakespeare.txt --jobs "${JOBS:-2}" --out "$out" --quiet || rc=$?
echo "study, jobs ${JOBS:-2}: $(( $(date +%s) - start )) s, exit ${rc:-0} ($(date -u +%FT%TZ))" >> "$out/wall.log"
