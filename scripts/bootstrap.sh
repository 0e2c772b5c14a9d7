#!/usr/bin/env bash
# Create (or update) the project's virtual environment in .venv: torch first, pinned to the CPU
# build, then mcc-hf with its extras. Safe to run again; it only reinstalls when setup.py changed.
#
#   MCC_HF_VENV=path   where to create the environment (default: .venv in the repository)
#   MCC_HF_EXTRAS=...  extras to install (default: dev = train, metrics, face, demo and test tools)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${MCC_HF_VENV:-$root/.venv}"
extras="${MCC_HF_EXTRAS:-dev}"
python="${PYTHON:-python3.11}"
command -v "$python" >/dev/null 2>&1 || python=python3

stamp="$venv/.mcc-hf-installed"
want="$(cat "$root/setup.py" | sha256sum | cut -c1-16)-$extras"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi

echo "setting up $venv (torch 2.13.0 CPU first, then mcc-hf[$extras]) ..." >&2
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
# torch must come first and pinned: anything else would pull an unpinned (CUDA) torch.
"$venv/bin/python" -m pip install --quiet "torch==2.13.0"
"$venv/bin/python" -m pip install --quiet -e "$root[$extras]"
echo "$want" > "$stamp"
echo "environment ready: $venv" >&2
