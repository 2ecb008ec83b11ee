#!/usr/bin/env bash
# TAU Urban Audio-Visual Scenes 2021, development set (its 8 audio archives), as the authors'
# tau2021.sh gets it: downloaded from Zenodo (interrupted downloads resume), checked against the
# published MD5 and size, unpacked, and its WAVs moved into the current folder. The sources and
# checksums are the suite's dataset registry (auditoryhum/datasets.py); the archives are kept under
# data/tau2021/download/ until unpacked.
#
#   ./tau2021.sh              # WAVs into this folder
#   ./tau2021.sh --dry_run    # what would be downloaded, with sizes and checksums
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/env/fetch_dataset_here.sh" tau2021 "$@"
