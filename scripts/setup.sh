#!/usr/bin/env bash
# Install what webserv needs on Debian 12 (as root) and the project into .venv.
# Idempotent: a second run installs nothing that is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(python3-venv chromium fonts-dejavu-core redis-server docker.io btrfs-progs debootstrap)
missing=()
for pkg in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    echo "installing system packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
    # compat mode puts the checkout on sys.path, so the development commands of
    # benchmarks/ (not shipped in the wheel) are found by `webserv bench`.
    .venv/bin/pip install -q --disable-pip-version-check -e '.[dev]' \
        --config-settings editable_mode=compat
    rm -f .venv/.installed-*
    touch "$stamp"
fi

# WebArena's own evaluation harness, for the parity tests (tests/test_tasks_parity.py) only.
# Its declared dependencies (transformers, datasets, flask...) are not needed to import the
# evaluators, so it is installed without them, plus the two its import chain lacks here.
parity=(libwebarena==0.0.5 beartype==0.12.0 aiolimiter==1.3.0)
parity_stamp=".venv/.parity-$(echo "${parity[*]}" | sha256sum | cut -c1-16)"
if [ ! -f "$parity_stamp" ]; then
    .venv/bin/pip install -q --disable-pip-version-check --no-deps "${parity[@]}"
    rm -f .venv/.parity-*
    touch "$parity_stamp"
fi
