#!/usr/bin/env bash
# The paper's experiments (arXiv 2602.19409) as one staged recipe, from raw data to the tables.
#
#   ./auditoryhum_tests.sh --help                                   # the stages and every option
#   ./auditoryhum_tests.sh --model_dir models                       # everything, the paper's datasets
#   ./auditoryhum_tests.sh --stage 11 --stop_stage 14               # re-cluster and re-report only
#   ./auditoryhum_tests.sh --dry_run true                           # each step's command, and whether it would run
#
# The stages, each stage's steps and the folder layout are defined once, in auditoryhum/recipe.py and
# auditoryhum/experiment.py; the models and clustering algorithms come from the package's registries
# (auditoryhum/models.py, auditoryhum/clustering.py), so a model or an algorithm added there is run
# here too. One process plans and checks every step: a step is done when the run record beside its
# output (<output>.run.json) says the same command made it from inputs that still match the files
# on disk; otherwise it runs again, and so does what depends on it. Beside each output are also the
# exact command that made it (<output>.cmd, to re-run one step by hand) and what it printed
# (<output>.log).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# The interpreter: --python if given, else this checkout's .venv (setup.sh), else python3.
python=""
previous=""
for arg in "$@"; do
    case $arg in
        --python=*) python=${arg#--python=} ;;
        *) [[ $previous == --python ]] && python=$arg ;;
    esac
    previous=$arg
done
if [[ -z $python ]]; then
    if [[ -x $root/.venv/bin/python ]]; then python=$root/.venv/bin/python; else python=python3; fi
fi
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
"$python" -c "import auditoryhum" 2>/dev/null \
    || { echo "error: cannot import auditoryhum with $python (run ./setup.sh, or pass --python)" >&2; exit 2; }
exec "$python" -m auditoryhum.scripts.recipe_support run --python "$python" "$@"
