#!/usr/bin/env bash
# Installs Python packages the tests use, only when missing (idempotent).
set -euo pipefail
command -v python3 >/dev/null || { echo "python3 is not on PATH" >&2; exit 1; }
for pkg in "$@"; do
    if ! python3 -c "import ${pkg}" >/dev/null 2>&1; then
        python3 -m pip install -q "${pkg}" >/dev/null 2>&1 || python3 -m pip install -q --break-system-packages "${pkg}"
    fi
done
