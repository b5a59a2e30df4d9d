#!/usr/bin/env bash
# Start what the docker- and btrfs-marked tests need: a Docker engine and a btrfs
# file system on a loop file. Idempotent: what is already up is checked and left running.
# Redis is started by the tests themselves.
#
# Docker's storage driver is overlay2 on the root file system: measured here against the
# btrfs driver (data-root on the btrfs loop fs), overlay2 starts containers as fast and
# removes them 7x faster (btrfs deletes a subvolume per container). The instances' data
# dirs are bind-mounted snapshot clones either way, so their copy-on-write is the
# snapshot driver's. WEBSERV_DOCKER_STORAGE_DRIVER overrides; vfs is the fallback.
set -euo pipefail

btrfs_root="${WEBSERV_BTRFS_ROOT:-/mnt/webserv-btrfs}"
btrfs_image="${WEBSERV_BTRFS_IMAGE:-/var/lib/webserv-btrfs.img}"
btrfs_size="${WEBSERV_BTRFS_SIZE:-40G}"
storage_driver="${WEBSERV_DOCKER_STORAGE_DRIVER:-overlay2}"
dockerd_log="${WEBSERV_DOCKERD_LOG:-/var/log/webserv-dockerd.log}"

die() {
    echo "services.sh: $*" >&2
    exit 1
}

mount_btrfs() {
    mountpoint -q "$btrfs_root" && return
    mkdir -p "$btrfs_root" "$(dirname "$btrfs_image")"
    if [ ! -s "$btrfs_image" ]; then
        truncate -s "$btrfs_size" "$btrfs_image"  # sparse: takes disk only as it fills
        mkfs.btrfs -q -f "$btrfs_image"
    fi
    mount -o loop "$btrfs_image" "$btrfs_root" ||
        die "cannot mount $btrfs_image at $btrfs_root (not btrfs? delete it to recreate)"
}

docker_up() {
    docker info >/dev/null 2>&1
}

# Start dockerd with one storage driver; succeed once the engine answers, fail if it exits.
start_dockerd() {
    local driver="$1" pid
    echo "starting dockerd (storage driver $driver, log $dockerd_log)"
    mkdir -p "$(dirname "$dockerd_log")"
    nohup dockerd --storage-driver="$driver" >>"$dockerd_log" 2>&1 &
    pid=$!
    for _ in $(seq 1 120); do
        docker_up && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.5
    done
    kill "$pid" 2>/dev/null || true
    return 1
}

# The default bridge's interface can vanish under a running engine (another dockerd
# started with --bridge=none deletes docker0); containers then fail to start.
repair_bridge() {
    ip link show docker0 >/dev/null 2>&1 && return
    docker network inspect bridge >/dev/null 2>&1 || return 0
    local subnet gateway
    subnet=$(docker network inspect bridge -f '{{(index .IPAM.Config 0).Subnet}}')
    gateway=$(docker network inspect bridge -f '{{(index .IPAM.Config 0).Gateway}}')
    [ -n "$gateway" ] || gateway="${subnet%.*/*}.1"
    echo "recreating the docker0 bridge ($gateway/${subnet#*/})"
    ip link add docker0 type bridge
    ip addr add "$gateway/${subnet#*/}" dev docker0
    ip link set docker0 up
}

mount_btrfs

if ! docker_up; then
    command -v dockerd >/dev/null || die "dockerd not found (apt-get install docker.io)"
    start_dockerd "$storage_driver" || {
        echo "dockerd did not start with $storage_driver; falling back to vfs" >&2
        start_dockerd vfs || die "dockerd did not start; see $dockerd_log"
    }
fi
repair_bridge
echo "docker: $(docker info -f '{{.Driver}} storage, root {{.DockerRootDir}}, server {{.ServerVersion}}')"
echo "btrfs: $btrfs_root ($(df -h --output=avail "$btrfs_root" | tail -1 | tr -d ' ') free)"
