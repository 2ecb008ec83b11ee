#!/usr/bin/env bash
# Sets up the environment if needed, then runs the whole test suite (about 10 minutes on 2 cores).
set -euo pipefail
cd "$(dirname "$0")"
./setup.sh --with-browser
# loadgroup: the tests of one xdist_group (the Ray tests, sharing one local cluster) run in one worker.
exec .venv/bin/python -m pytest -q -n 2 --dist loadgroup "$@"
