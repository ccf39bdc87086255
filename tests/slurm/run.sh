#!/usr/bin/env bash
# `runner sweep --slurm` against a real Slurm: a one-node cluster on localhost (tests/slurm/cluster.sh).
#  1. a 2-variant x 2-seed sweep as a job array, then the summary job: 4 summary.json and the table;
#  2. `scontrol requeue` of a running task: it resumes from its checkpoint and ends with the same
#     parameters as an uninterrupted run;
#  3. `scancel --batch --signal=USR1` (Slurm's time-limit warning) to a running task: it
#     checkpoints, requeues itself, resumes, and ends with the same parameters too;
#  4. the daemons are stopped by their pids.
# Skipped, with the reason printed, only when slurm-wlm and munge cannot be installed.
# Usage: tests/slurm/run.sh [RUNNER]   (default: target/debug/runner, built if missing)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
runner=${1:-$root/target/debug/runner}
[ -x "$runner" ] || (cd "$root" && cargo build --quiet --bin runner)
runner=$(realpath "$runner")

# shellcheck source=tests/slurm/cluster.sh
source "$here/cluster.sh"
if [ "$(id -u)" -ne 0 ]; then
    echo "tests/slurm: SKIPPED: needs root (to install Slurm and run munged as the munge user)"
    exit 0
fi
if ! cluster_install; then
    echo "tests/slurm: SKIPPED: slurm-wlm and munge are not installed and apt-get could not install them"
    exit 0
fi
work=$(mktemp -d)
chmod 755 "$work" # munged, as the munge user, must reach its files below it
trap 'cluster_stop; rm -rf "$work"' EXIT
cluster_start "$work/cluster"
echo "tests/slurm: cluster up ($(sinfo -h -o '%N %C %T'))"

fail() {
    echo "tests/slurm: FAILED: $*" >&2
    for f in "$work"/runs/*/slurm/*.out; do
        [ -f "$f" ] && { echo "--- $f" >&2; tail -n 15 "$f" >&2; }
    done
    exit 1
}

# Waits until job $1 has left the queue (finished, failed or cancelled), at most $2 seconds.
wait_gone() {
    for _ in $(seq 1 $(($2 * 4))); do
        [ -z "$(squeue -h -j "$1" 2>/dev/null)" ] && return 0
        sleep 0.25
    done
    fail "job $1 still queued after $2 s: $(squeue -h -j "$1")"
}

# Waits until run folder $1 has logged at least $2 updates, at most 60 seconds.
wait_rows() {
    for _ in $(seq 1 240); do
        local n
        n=$( (wc -l < "$1/metrics.csv") 2>/dev/null || echo 0)
        [ "$n" -gt "$2" ] && return 0
        sleep 0.25
    done
    fail "$1 logged fewer than $2 updates in 60 s"
}

# Waits until task $1 is pending again after a requeue, then lets it start at once.
restart_now() {
    for _ in $(seq 1 240); do
        if scontrol show job "$1" 2>/dev/null | grep -q 'JobState=PENDING'; then
            scontrol update JobId="$1" StartTime=now
            return 0
        fi
        sleep 0.25
    done
    fail "task $1 was not requeued: $(scontrol show job "$1" | grep -E 'JobState|Restarts')"
}

# Whether two safetensors files hold the same tensors, bit for bit (their headers' key order may
# differ between writes).
same_params() {
    python3 - "$1" "$2" <<'PY'
import json, struct, sys
def tensors(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    return {k: (v["dtype"], v["shape"], body[v["data_offsets"][0]:v["data_offsets"][1]])
            for k, v in header.items() if k != "__metadata__"}
a, b = tensors(sys.argv[1]), tensors(sys.argv[2])
sys.exit(0 if a == b and a else 1)
PY
}

job_ids() { python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print(j['array'], j['summary'])" "$1"; }

recipe() { # name seeds total_env_steps [sweep]
    cat > "$work/$1.toml" <<RECIPE
version = 1
[experiment]
name = "$1"
seeds = $2
total_env_steps = $3
output_dir = "$work/runs"
[env]
task = "flat"
num_envs = 2
horizon = 12
domain_randomization = false
[env.depth]
width = 40
height = 40
[encoder]
hidden_shapes = [16]
visual_dim = 16
[sequence]
model = "transformer"
layers = [[2, 32]]
[head]
hidden_shapes = [16]
[ppo]
rollout_steps = 16
minibatch_size = 8
epochs = 2
[logging]
checkpoint_interval = 1
eval_interval = 0
${4:-}
RECIPE
}

final_model() { # run folder -> its last checkpoint's model
    local latest
    latest=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['checkpoint'])" "$1/checkpoints/latest.json" 2>/dev/null || true)
    if [ -n "$latest" ] && [ -f "$1/checkpoints/$latest/model.safetensors" ]; then
        echo "$1/checkpoints/$latest/model.safetensors"
    else
        ls -d "$1"/checkpoints/update-* | sort | tail -n 1 | sed 's|$|/model.safetensors|'
    fi
}

# 1. The sweep as an array and the summary after it.
recipe grid "[0, 1]" 64 $'[sweep]\n"sequence.model" = ["transformer", "mamba"]'
"$runner" sweep "$work/grid.toml" --slurm --array-parallelism 2 --time 00:10:00
read -r array summary < <(job_ids "$work/runs/grid/slurm/jobs.json")
wait_gone "$summary" 180
n=$(ls "$work"/runs/grid/*/seed-*/summary.json | wc -l)
[ "$n" -eq 4 ] || fail "expected 4 summary.json, found $n"
table=$work/runs/grid/summary.md
grep -q "4 of 4 runs finished" "$table" || fail "summary.md: $(cat "$table")"
grep -q "| model-transformer | 2 |" "$table" || fail "no transformer row: $(cat "$table")"
grep -q "| model-mamba | 2 |" "$table" || fail "no mamba row: $(cat "$table")"
echo "tests/slurm: 1. array $array of 4 tasks and summary job $summary: 4 runs summarised"

# The uninterrupted run that the requeued ones must match.
recipe reference "[0]" 1600
"$runner" train "$work/reference.toml" >/dev/null
reference=$(final_model "$work/runs/reference/base/seed-0")

# 2. scontrol requeue of a running task.
recipe requeued "[0]" 1600
"$runner" sweep "$work/requeued.toml" --slurm
read -r array summary < <(job_ids "$work/runs/requeued/slurm/jobs.json")
run=$work/runs/requeued/base/seed-0
wait_rows "$run" 5
scontrol requeue "${array}_0"
restart_now "${array}_0"
wait_gone "$summary" 180
log=$work/runs/requeued/slurm/${array}_0.out
grep -q "resumed from" "$log" || fail "task did not resume: $(tail -n 5 "$log")"
[ -f "$run/summary.json" ] || fail "requeued run did not finish"
same_params "$reference" "$(final_model "$run")" || fail "requeued run ended with other parameters"
echo "tests/slurm: 2. scontrol requeue: resumed ($(grep -m1 'resumed from' "$log" | sed 's/.*checkpoints\///')) and matched the uninterrupted run"

# 3. The time-limit warning (SIGUSR1): the task checkpoints and requeues itself.
recipe warned "[0]" 1600
"$runner" sweep "$work/warned.toml" --slurm
read -r array summary < <(job_ids "$work/runs/warned/slurm/jobs.json")
run=$work/runs/warned/base/seed-0
wait_rows "$run" 5
# scancel retries for a while on a job that requeues itself: in the background.
scancel --batch --signal=USR1 "${array}_0" >/dev/null 2>&1 &
restart_now "${array}_0"
wait_gone "$summary" 180
log=$work/runs/warned/slurm/${array}_0.out
grep -q "SIGUSR1" "$log" || fail "no SIGUSR1 in the task's log: $(tail -n 5 "$log")"
grep -q "task requeued" "$log" || fail "the task did not requeue itself: $(tail -n 5 "$log")"
grep -q "resumed from" "$log" || fail "task did not resume: $(tail -n 5 "$log")"
same_params "$reference" "$(final_model "$run")" || fail "warned run ended with other parameters"
echo "tests/slurm: 3. SIGUSR1: checkpointed, requeued itself, resumed and matched the uninterrupted run"
wait
echo "tests/slurm: passed"
