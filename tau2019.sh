#!/usr/bin/env bash
# TAU Urban Acoustic Scenes 2019, development set, as the authors' tau2019.sh gets it: every archive
# downloaded from Zenodo (interrupted downloads resume), checked against its published MD5, unpacked,
# and its WAVs moved into the current folder (where the README's `--filedir="*.wav"` finds them). The
# sources and checksums are the suite's dataset registry (auditoryhum/datasets.py); the archives are
# kept under data/tau2019/download/ until unpacked.
#
#   ./tau2019.sh              # WAVs into this folder
#   ./tau2019.sh --dry_run    # what would be downloaded, with sizes and checksums
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/env/fetch_dataset_here.sh" tau2019 "$@"
