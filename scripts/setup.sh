#!/usr/bin/env bash
# Install what webserv needs on Debian 12 (as root) and the project into .venv.
# Idempotent: a second run installs nothing that is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

# python3-doc: the HTML documentation `webserv bench observe` serves as pages it did not write.
# chromium-headless-shell: the lighter build sessions use by default; chromium: with a window.
packages=(python3-venv chromium chromium-headless-shell fonts-dejavu-core redis-server docker.io btrfs-progs debootstrap
    python3-doc)
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
    .venv/bin/pip install -q --disable-pip-version-check -e '.[dev,cluster,skyrl]' \
        --config-settings editable_mode=compat
    rm -f .venv/.installed-*
    touch "$stamp"
fi

# Development only: WebArena's own evaluation harness and task file (libwebarena), for the
# parity tests, and WebArena-Verified (its dataset and evaluators, which webserv uses to score
# Verified tasks). Their declared dependencies pin or pull far more than their code needs
# here (transformers, an older pydantic), so they go in without them, plus what their
# imports need.
parity=(libwebarena==0.0.5 beartype==0.12.0 aiolimiter==1.3.0 webarena-verified==1.2.3)
verified_deps=(beautifulsoup4==4.14.2 compact-json==1.8.1 geographiclib==2.1 geopy==2.4.1
    jsonpath-ng==1.7.0 pint==0.25 price-parser==0.5.0 python-dateutil==2.9.0.post0
    pytimeparse2==1.7.1 "thefuzz>=0.22.1" unidecode==1.4.0 url-normalize==2.2.1 us==3.2.0
    usaddress-scourgify==0.6.0 usaddress==0.5.16 word2number==1.1)
parity_stamp=".venv/.parity-$(echo "${parity[*]} ${verified_deps[*]}" | sha256sum | cut -c1-16)"
if [ ! -f "$parity_stamp" ]; then
    .venv/bin/pip install -q --disable-pip-version-check --no-deps "${parity[@]}"
    .venv/bin/pip install -q --disable-pip-version-check "${verified_deps[@]}"
    rm -f .venv/.parity-*
    touch "$parity_stamp"
fi
