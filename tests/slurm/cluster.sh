#!/usr/bin/env bash
# A one-node Slurm cluster on localhost as plain processes, for tests/slurm/run.sh:
#   source tests/slurm/cluster.sh; cluster_install || skip; cluster_start DIR; ...; cluster_stop
# munged runs as the munge user; slurmctld and slurmd as root, with proctrack/linuxproc and
# task/none (cgroups fail in containers), no accounting, state under DIR.

cluster_install() {
    if command -v sbatch >/dev/null && command -v slurmctld >/dev/null && command -v munged >/dev/null; then
        return 0
    fi
    command -v apt-get >/dev/null || return 1
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        slurm-wlm munge >/dev/null 2>&1 || return 1
}

cluster_start() {
    local dir=$1
    CLUSTER_DIR=$dir
    mkdir -p "$dir"
    chmod 755 "$dir"
    mkdir -p "$dir/state" "$dir/spool" "$dir/munge/run" "$dir/munge/log" "$dir/munge/lib" "$dir/munge/etc"
    chown -R munge:munge "$dir/munge"
    chmod 700 "$dir/munge/etc" "$dir/munge/lib" "$dir/munge/log"
    chmod 755 "$dir/munge/run"
    runuser -u munge -- mungekey --create --keyfile="$dir/munge/etc/munge.key" --force
    MUNGE_SOCKET=$dir/munge/run/munge.socket
    runuser -u munge -- munged --key-file="$dir/munge/etc/munge.key" \
        --socket="$MUNGE_SOCKET" --pid-file="$dir/munge/run/munged.pid" \
        --log-file="$dir/munge/log/munged.log" --seed-file="$dir/munge/lib/munged.seed"
    local cpus memory
    cpus=$(nproc)
    memory=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
    cat > "$dir/slurm.conf" <<CONF
ClusterName=locomamba-ci
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
SlurmctldPort=16817
SlurmdPort=16818
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
ReturnToService=2
MaxArraySize=1001
KillWait=30
MinJobAge=600
NodeName=localhost CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
CONF
    export SLURM_CONF=$dir/slurm.conf
    slurmctld -i
    slurmd
    for _ in $(seq 1 50); do
        if sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
            return 0
        fi
        sleep 0.2
    done
    echo "slurm did not come up; logs:" >&2
    tail -n 20 "$dir/slurmctld.log" "$dir/slurmd.log" >&2
    return 1
}

cluster_stop() {
    local dir=$CLUSTER_DIR pids=() pid
    for pidfile in "$dir/slurmd.pid" "$dir/slurmctld.pid" "$dir/munge/run/munged.pid"; do
        if [ -f "$pidfile" ]; then
            pid=$(cat "$pidfile")
            kill "$pid" 2>/dev/null && pids+=("$pid")
        fi
    done
    # The daemons save their state as they stop: wait (at most 10 s each) until they are gone, so
    # that the caller's cleanup does not race their last writes ("Directory not empty").
    for pid in "${pids[@]}"; do
        for _ in $(seq 1 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
    done
}
