#!/usr/bin/env bash
# fetch_dataset_here.sh DATASET [--dry_run]: one dataset of the registry, its WAVs into the current
# folder (the layout of the authors' tau2019.sh / tau2021.sh), with this checkout's environment.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
python=python3
[[ -x $root/.venv/bin/python ]] && python=$root/.venv/bin/python
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
dataset=$1
shift
exec "$python" -m auditoryhum.scripts.fetch_data --datasets "$dataset" --data_dir data --wav_dir . "$@"
