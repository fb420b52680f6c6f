#!/usr/bin/env bash
# A sharded `overfit sweep` on a one-node Slurm cluster started on this machine.
#
# Installs Debian's slurm-wlm and munge, writes a one-node slurm.conf, starts munged, slurmctld
# and slurmd in the background (no systemd), submits the sweep as a job array twice (the tasks
# sharing one runs-dir, then one runs-dir each with an array that does not start at 1), runs the
# same sweep unsharded, and checks that `overfit results --json` gives the same groups for all
# three on every field but those that measure time or memory. Prints PASS or FAIL; exits 1 on FAIL.
# Stops the daemons it started on exit.
#
# Needs root and Debian (apt-get). Run from anywhere; it works from the repo root:
#   OVERFIT_BIN=target/release/overfit scripts/slurm-demo.sh
# SLURM_DEMO_DIR: where configs, logs and runs go [default: a new folder under /tmp].
set -euo pipefail

cd "$(dirname "$0")/.."
BIN=${OVERFIT_BIN:-target/release/overfit}
[[ -x $BIN ]] || { echo "no overfit binary at $BIN (set OVERFIT_BIN)" >&2; exit 2; }
BIN=$(realpath "$BIN")
WORK=${SLURM_DEMO_DIR:-$(mktemp -d /tmp/slurm-demo.XXXXXX)}
mkdir -p "$WORK"
WORK=$(realpath "$WORK")
RUNS=$WORK/runs
# 3 heads × 2 learning rates × 2 seeds = 12 runs; 4 shards of 3 runs each.
SWEEP=(sweep --grid head=flatten,tied,causal --grid lr=1e-3,3e-3 --seeds 0,1 --steps 200 --quiet)
SHARDS=4

say() { printf '\n== %s\n' "$*"; }

say "installing slurm-wlm and munge"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >"$WORK/apt.log" 2>&1
apt-get install -y -qq --no-install-recommends slurm-wlm munge >>"$WORK/apt.log" 2>&1 \
    || { tail -20 "$WORK/apt.log"; exit 1; }
echo "$(slurmd -V) (package $(dpkg-query -W -f='${Version}' slurm-wlm)), munge $(dpkg-query -W -f='${Version}' munge), $(uname -srm)"
echo "overfit: $BIN ($("$BIN" --version 2>/dev/null || echo '?'))"
echo "work dir: $WORK"

say "writing slurm.conf"
mkdir -p "$WORK/etc" "$WORK/log" "$WORK/state" "$WORK/spool"
HOST=$(hostname -s)
# slurmd -C prints this node's real CPUs, sockets, cores and RealMemory.
NODE=$(slurmd -C | head -1)
export SLURM_CONF=$WORK/etc/slurm.conf
cat >"$SLURM_CONF" <<EOF
ClusterName=overfit-demo
SlurmctldHost=$HOST
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$WORK/state
SlurmdSpoolDir=$WORK/spool
SlurmctldPidFile=$WORK/slurmctld.pid
SlurmdPidFile=$WORK/slurmd.pid
SlurmctldLogFile=$WORK/log/slurmctld.log
SlurmdLogFile=$WORK/log/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
MpiDefault=none
# No cgroups needed: track processes through /proc, bind no tasks.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MailProg=/bin/true
$NODE State=UNKNOWN
PartitionName=demo Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
cat "$SLURM_CONF"

PIDS=()
VERDICT=
cleanup() {
    local rc=$?
    [[ $rc == 0 || -n $VERDICT ]] || echo "FAIL: the demo stopped early (exit status $rc)"
    say "stopping the daemons"
    scancel --user="$(id -un)" 2>/dev/null || true
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        kill "${PIDS[i]}" 2>/dev/null && echo "stopped pid ${PIDS[i]}" || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    exit "$rc"
}
trap cleanup EXIT

say "starting munged, slurmctld, slurmd"
if [[ ! -s /etc/munge/munge.key ]]; then
    mungekey --create --keyfile=/etc/munge/munge.key
fi
chown munge:munge /etc/munge/munge.key
chmod 0400 /etc/munge/munge.key
mkdir -p /run/munge /var/log/munge /var/lib/munge
chown munge:munge /run/munge /var/log/munge /var/lib/munge
if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    echo "munged already running"
else
    setpriv --reuid=munge --regid=munge --init-groups \
        /usr/sbin/munged --foreground >"$WORK/log/munged.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.2; done
    munge -n | unmunge | grep -E '^STATUS'
fi
/usr/sbin/slurmctld -D -i -f "$SLURM_CONF" >"$WORK/log/slurmctld.out" 2>&1 &
PIDS+=($!)
/usr/sbin/slurmd -D -f "$SLURM_CONF" >"$WORK/log/slurmd.out" 2>&1 &
PIDS+=($!)

say "waiting for the node to be idle"
state=
for _ in $(seq 60); do
    state=$(sinfo -h -N -n "$HOST" -o '%T' 2>/dev/null || true)
    [[ $state == idle ]] && break
    sleep 1
done
sinfo -N -l
if [[ $state != idle ]]; then
    echo "node not idle (state: '${state:-none}'); logs:" >&2
    tail -n 30 "$WORK"/log/*.log "$WORK"/log/*.out >&2 || true
    exit 1
fi

# The array job: each task runs the shard Slurm's SLURM_ARRAY_TASK_* give it (no --shard).
# $1: runs-dir, where {K} becomes the task's shard number.
write_job() {
    cat <<EOF
#!/bin/bash
#SBATCH --job-name=overfit-sweep
#SBATCH --cpus-per-task=1
#SBATCH --output=$WORK/log/task-%A_%a.out
set -euo pipefail
K=\$((SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN + 1))
echo "array task \$SLURM_ARRAY_TASK_ID (\$SLURM_ARRAY_TASK_MIN..\$SLURM_ARRAY_TASK_MAX, \$SLURM_ARRAY_TASK_COUNT tasks) on \$(hostname): shard \$K/\$SLURM_ARRAY_TASK_COUNT"
"$BIN" ${SWEEP[*]} --threads "\${SLURM_CPUS_PER_TASK:-1}" --runs-dir "${1//\{K\}/\$K}"
EOF
}

run_array() { # $1: --array range, $2: runs-dir pattern
    write_job "$2" >"$WORK/sweep-$1.sbatch"
    echo "--- $WORK/sweep-$1.sbatch"
    cat "$WORK/sweep-$1.sbatch"
    echo "--- sbatch --array=$1 --wait"
    local t0=$SECONDS
    sbatch --array="$1" --wait "$WORK/sweep-$1.sbatch"
    echo "array done in $((SECONDS - t0)) s; task outputs:"
    for f in "$WORK"/log/task-*.out; do sed "s|^|  $(basename "$f"): |" "$f"; done
    rm -f "$WORK"/log/task-*.out
}

say "job array 1-$SHARDS, the tasks sharing one runs-dir"
run_array "1-$SHARDS" "$RUNS/shared"

say "job array 3-$((SHARDS + 2)), one runs-dir per task"
run_array "3-$((SHARDS + 2))" "$RUNS/split/shard-{K}"
for d in "$RUNS"/split/shard-*; do echo "$(basename "$d"): $(ls "$d" | tr '\n' ' ')"; done

say "the same sweep unsharded"
"$BIN" "${SWEEP[@]}" --runs-dir "$RUNS/whole"

say "gathering"
"$BIN" results "$RUNS/shared" --json >"$WORK/shared.json"
"$BIN" results "$RUNS"/split/shard-* --json >"$WORK/split.json"
"$BIN" results "$RUNS/whole" --json >"$WORK/whole.json"
"$BIN" results "$RUNS/shared"

say "checking that the sharded groups equal the unsharded ones"
set +e
python3 - "$RUNS" "$WORK/whole.json" "$WORK/shared.json" "$WORK/split.json" <<'EOF'
import json, os, sys

# Fields that measure time or memory differ from run to run; every other one must be equal.
SKIP = {"wall_seconds", "eval_seconds", "samples_per_sec", "peak_rss_bytes", "rss_anon_bytes"}
runs_dir, whole_path, others = sys.argv[1], sys.argv[2], sys.argv[3:]
ok = True

def fail(msg):
    global ok
    ok = False
    print("  MISMATCH:", msg)

def groups(path):
    d = json.load(open(path))
    return {json.dumps(g["key"], sort_keys=True): g for g in d["groups"]}, d["runs"]

whole, whole_runs = groups(whole_path)
names = sorted(os.listdir(os.path.join(runs_dir, "whole")))
for path in others:
    name = os.path.basename(path)
    got, runs = groups(path)
    compared = 0
    if len(runs) != len(whole_runs):
        fail(f"{name}: {len(runs)} runs, unsharded {len(whole_runs)}")
    if sorted(os.path.basename(r["dir"]) for r in runs) != names:
        fail(f"{name}: the run folders differ from the unsharded sweep's")
    if set(got) != set(whole):
        fail(f"{name}: group keys {sorted(got)} vs {sorted(whole)}")
    for key in sorted(set(got) & set(whole)):
        a, b = got[key], whole[key]
        if a["n"] != b["n"]:
            fail(f"{name} {key}: n {a['n']} vs {b['n']}")
        if set(a["metrics"]) != set(b["metrics"]):
            fail(f"{name} {key}: metrics {sorted(set(a['metrics']) ^ set(b['metrics']))} in one only")
        for m in sorted(set(a["metrics"]) & set(b["metrics"]) - SKIP):
            compared += 1
            if a["metrics"][m] != b["metrics"][m]:
                fail(f"{name} {key} {m}: {a['metrics'][m]} vs {b['metrics'][m]}")
    print(f"  {name}: {len(runs)} runs, {len(got)} groups, {compared} group metrics compared "
          f"(skipped: {', '.join(sorted(SKIP))})")

split = sorted(os.listdir(os.path.join(runs_dir, "split")))
per = [sorted(os.listdir(os.path.join(runs_dir, "split", s))) for s in split]
flat = [r for p in per for r in p]
if sorted(flat) != names or len(set(flat)) != len(flat):
    fail("the per-task runs-dirs do not partition the plan")
# The plan's order (first axis slowest, seeds fastest): shard K of N holds runs K, K+N, K+2N, …
plan = [f"head={h},lr={lr},seed={s}" for h in ("flatten", "tied", "causal")
        for lr in ("0.001", "0.003") for s in (0, 1)]
if sorted(plan) != names:
    fail(f"the unsharded folders are not the plan {plan}")
for s, p in zip(split, per):
    k = int(s.split("-")[1])
    want = sorted(plan[k - 1::len(split)])
    print(f"  {s}: {', '.join(p)}")
    if p != want:
        fail(f"{s} holds {p}, not every {len(split)}th run from run {k}: {want}")
print("PASS" if ok else "FAIL")
sys.exit(0 if ok else 1)
EOF
rc=$?
set -e
VERDICT=$rc
exit $rc
