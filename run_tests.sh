#!/usr/bin/env bash
# Sets up the environment if needed, then runs the whole test suite (about 10 minutes on 2 cores).
set -euo pipefail
cd "$(dirname "$0")"
./setup.sh
exec .venv/bin/python -m pytest -q -n 2 "$@"
