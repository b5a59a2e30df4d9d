#!/usr/bin/env bash
# Start what the docker- and btrfs-marked tests need: a Docker engine and a btrfs
# file system on a loop file. Idempotent. Redis is started by the tests themselves.
set -euo pipefail

btrfs_root="${WEBSERV_BTRFS_ROOT:-/mnt/webserv-btrfs}"
btrfs_image="${WEBSERV_BTRFS_IMAGE:-/var/lib/webserv-btrfs.img}"

if ! mountpoint -q "$btrfs_root"; then
    mkdir -p "$btrfs_root" "$(dirname "$btrfs_image")"
    if [ ! -f "$btrfs_image" ]; then
        truncate -s 40G "$btrfs_image"
        mkfs.btrfs -q "$btrfs_image"
    fi
    mount -o loop "$btrfs_image" "$btrfs_root"
fi

if ! docker info >/dev/null 2>&1; then
    mkdir -p /var/log
    nohup dockerd >/var/log/webserv-dockerd.log 2>&1 &
    for _ in $(seq 1 60); do
        docker info >/dev/null 2>&1 && break
        sleep 1
    done
    docker info >/dev/null 2>&1 || { echo "dockerd did not start; see /var/log/webserv-dockerd.log" >&2; exit 1; }
fi
