#!/usr/bin/env bash
# The paper's experiments (arXiv 2602.19409) as one staged recipe, from raw data to the tables.
#
#   ./auditoryhum_tests.sh --help
#   ./auditoryhum_tests.sh --model_dir models                       # everything, paper datasets
#   ./auditoryhum_tests.sh --stage 11 --stop_stage 14               # re-cluster and re-report only
#
# Every stage works per dataset (data/<dataset>/, exp/<dataset>/<mllm>/<clap>/<st>/...). A step is
# done when the run record beside its output (<output>.run.json, written by the script when it
# finished) says it was made with the same command from inputs that still match the files on disk;
# otherwise it runs again (--overwrite true redoes everything). Beside each output are also the
# exact command that made it (<output>.cmd) and what that command printed (<output>.log).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

log() { echo "$(date '+%Y-%m-%d %H:%M:%S') [auditoryhum_tests] $*" >&2; }
die() { log "error: $*"; exit 2; }

# ---------------------------------------------------------------------------------------------
# the stages: each is defined once here (name, the stages whose outputs it reads, what it does);
# its outputs_<name> and stage_<name> functions are further down, side by side.

stage_names=("")
declare -A stage_number stage_needs stage_help
define_stage() {  # name "needed stage names" help
    stage_names+=("$1")
    stage_number[$1]=$(( ${#stage_names[@]} - 1 ))
    stage_needs[$1]=$2
    stage_help[$1]=$3
}
define_stage fetch     ""                "download, verify and unpack each dataset, and the authors' supplementary data (CPU, network)"
define_stage resample  "fetch"           "convert every WAV in place to 16 kHz, 16-bit, mono (util_resample.py)"
define_stage label     "resample"        "label every file with each MLLM (label_<mllm>.py) - needs a GPU for the real models"
define_stage clap      "resample"        "CLAP audio embeddings (features_clap.py) - a GPU helps"
define_stage score     "label clap"      "score the MLLM labels against the audio: best label and µc / µ1% (features_clap_text.py)"
define_stage annotate  "score"           "human annotations: the authors' published ones, else a review sheet (label-less files, then the lowest-scoring)"
define_stage merge     "label annotate"  "merge the annotations into the MLLM labels (util_merge_csv.py)"
define_stage rescore   "clap merge"      "score the merged labels (features_clap_text.py)"
define_stage boost     "score annotate rescore" "HITL boost: mean score of the annotated rows before and after (util_score_boost.py)"
define_stage embed     "score"           "sentence embeddings of the best labels, before the review as published (features_st.py)"
define_stage sweep     "embed"           "adjusted-silhouette k sweep, chosen k (cluster_sweep.py)"
define_stage compare   "embed sweep"     "Ward, k-means and spectral at the chosen k and --compare_k; HDBSCAN (cluster_*.py)"
define_stage composite "score compare"   "composite statistics of every partition, composite labels and the taxonomy page (composite_*.py, taxonomy_report.py)"
define_stage report    "score rescore boost sweep compare" "the paper's tables as markdown and CSV, sweep curves side by side (report)"
last_stage=$(( ${#stage_names[@]} - 1 ))

# ---------------------------------------------------------------------------------------------
# options: --name value (or --name=value); boolean options take true/false

stage=1
stop_stage=$last_stage
datasets="advance ahead_ds tau2019"
mllms="qwen2a qwen2_5o gemma3n"
model_dir=models
clap_model="human-clap-wsce-mse-mae"
st_model="all-mpnet-base-v2"
qwen2a_model=""
qwen2_5o_model=""
qwen3o_model=""
gemma3n_model=""
genai_id="gemini-2.5-flash"
llm_model=""
data_dir=data
exp_dir=exp
python=""
device=auto
mllm_dtype=auto
load_in_4bit=false
label_batch_size=1
cluster_labels=mllm
penalty=""
k_max=""
compare_k="2 U"
min_cluster_size=5
review_fraction=0.01
simulate_annotations=auto
use_provided_labels=false
overwrite=false
dry_run=false

option_names=(stage stop_stage datasets mllms model_dir clap_model st_model qwen2a_model qwen2_5o_model
    qwen3o_model gemma3n_model genai_id llm_model data_dir exp_dir python device mllm_dtype load_in_4bit
    label_batch_size cluster_labels penalty k_max compare_k min_cluster_size review_fraction
    simulate_annotations use_provided_labels overwrite dry_run)
boolean_options=" load_in_4bit use_provided_labels overwrite dry_run "

show_help=false
while (( $# )); do
    arg=$1; shift
    case $arg in
        -h|--help) show_help=true; continue ;;
        --*=*) name=${arg%%=*}; value=${arg#*=} ;;
        --*) name=$arg
            if [[ $boolean_options == *" ${name#--} "* ]] && { (( $# == 0 )) || [[ $1 == --* ]]; }; then
                value=true
            else
                (( $# )) || die "$name needs a value (see --help)"
                value=$1; shift
            fi ;;
        *) die "unexpected argument '$arg' (options are --name value; see --help)" ;;
    esac
    name=${name#--}
    [[ " ${option_names[*]} " == *" $name "* ]] || die "unknown option --$name (see --help)"
    printf -v "$name" '%s' "$value"
done

if [[ -z $python ]]; then
    if [[ -x $root/.venv/bin/python ]]; then python=$root/.venv/bin/python; else python=python3; fi
fi
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
support() { "$python" -m auditoryhum.scripts.recipe_support "$@"; }

# What the package knows: the registry's datasets, each MLLM's script, flag and default folder,
# and where the authors' workflow clones each model from (auditoryhum/datasets.py, models.py).
description=$(support describe) || die "cannot import auditoryhum with $python (run ./setup.sh, or pass --python)"
registry=""
declare -A mllm_script mllm_flag clone_url
while read -r kind a b c d; do
    case $kind in
        dataset) registry="${registry:+$registry }$a" ;;
        mllm) mllm_script[$a]=$b; mllm_flag[$a]=$c
              [[ -n ${!c} ]] || printf -v "$c" '%s' "$d" ;;
        clone) clone_url[$a]=$b ;;
    esac
done <<< "$description"

usage() {
    cat <<EOF
Usage: $0 [--stage N] [--stop_stage M] [--datasets "..."] [--mllms "..."] [options]

The AuditoryHuM experiments as a staged recipe. A step whose output was made by a finished run of
the same command, from inputs that have not changed since, is skipped, so a run resumes where it
stopped; <output>.run.json, .cmd and .log beside each output say how it was made.

Stages:
EOF
    local s
    for (( s = 1; s <= last_stage; s++ )); do
        printf '  %2d  %-10s %s\n' "$s" "${stage_names[$s]}" "${stage_help[${stage_names[$s]}]}"
    done
    cat <<EOF

Options (current value in brackets):
  --stage N, --stop_stage M   run stages N..M [$stage..$stop_stage]
  --datasets "A B"            $registry (the published sources), example (the
                              bundled example recordings), or any NAME whose WAVs you put in
                              <data_dir>/NAME/wav/ [$datasets]
  --mllms "A B"               ${!mllm_script[*]} gemini [$mllms]
  --model_dir DIR             folder holding the git-cloned models [$model_dir]
  --clap_model "A B"          CLAP model folder(s); every one is scored and reported [$clap_model]
  --st_model NAME             sentence-transformer folder [$st_model]
  --qwen2a_model, --qwen2_5o_model, --qwen3o_model, --gemma3n_model
                              MLLM folders [$qwen2a_model, $qwen2_5o_model, $qwen3o_model, $gemma3n_model]
  --genai_id ID               Gemini model for --mllms gemini; key from GEMINI_API_KEY [$genai_id]
  --llm_model NAME            chat LLM (a folder, or a .gguf file) naming the clusters (stage 13);
                              empty: only the prompts are written [${llm_model:-none}]
                              (a model value is a folder name under --model_dir, or a path
                              with a /)
  --data_dir, --exp_dir       where data and results go [$data_dir, $exp_dir]
  --python PATH               interpreter [${python}]
  --device D                  auto, cpu, cuda, cuda:N for the model stages [$device]
  --mllm_dtype D              MLLM weights: auto (on CUDA 4-bit NF4 as the published runs, on CPU
                              float32), bfloat16, float16 or float32 [$mllm_dtype]
  --load_in_4bit true|false   insist on 4-bit MLLMs (what auto gives on CUDA) [$load_in_4bit]
  --label_batch_size N        files per MLLM generate() call [$label_batch_size]
  --cluster_labels mllm|reviewed
                              which best labels are embedded, swept and described: the MLLM's,
                              before the human review (as published), or the reviewed ones
                              (results in <st>.reviewed/) [$cluster_labels]
  --penalty L                 lambda of S_adj(k) = S(k) - lambda*k; empty: 1/U [${penalty:-1/U}]
  --k_max K                   largest k of the sweep; empty: U (840 is the published range) [${k_max:-U}]
  --compare_k "K ..."         k values the algorithms are compared at, besides the chosen k; U
                              stands for the number of distinct labels (published: "2 152 668"
                              for ADVANCE) [$compare_k]
  --min_cluster_size N        HDBSCAN's smallest cluster [$min_cluster_size]
  --review_fraction F         share of the scored files, lowest CLAP score first, put on the
                              review sheet after the files without a label [$review_fraction]
  --simulate_annotations auto|true|false
                              with no published annotations, fill the review sheet from the file
                              names instead of a person; auto: only for datasets not in the
                              registry (example, your own) [$simulate_annotations]
  --use_provided_labels true|false
                              take the authors' published labels from the supplementary data
                              instead of running the MLLMs (no GPU needed) [$use_provided_labels]
  --overwrite true|false      redo every step, finished or not [$overwrite]
  --dry_run true|false        only print what stage 1 would download, then stop [$dry_run]

A GPU is needed by stage 3 with the real MLLMs (3B-30B parameters, loaded 4-bit on CUDA as
published); stages 4, 5, 8, 10 and 13 run on a CPU, faster on a GPU; the rest is CPU.
EOF
}
if [[ $show_help == true ]]; then usage; exit 0; fi

# ---------------------------------------------------------------------------------------------
# checks made before any work

for name in $boolean_options; do
    [[ ${!name} == true || ${!name} == false ]] || die "--$name=${!name}: expected true or false"
done
[[ $simulate_annotations =~ ^(auto|true|false)$ ]] || die "--simulate_annotations=$simulate_annotations: expected auto, true or false"
[[ $cluster_labels =~ ^(mllm|reviewed)$ ]] || die "--cluster_labels=$cluster_labels: expected mllm or reviewed"
[[ $mllm_dtype =~ ^(auto|bfloat16|float16|float32)$ ]] || die "--mllm_dtype=$mllm_dtype: expected auto, bfloat16, float16 or float32"
[[ -z $k_max || $k_max =~ ^[0-9]+$ ]] || die "--k_max=$k_max: expected a number of clusters (empty: U)"
for k in $compare_k; do
    [[ $k == U || $k =~ ^[0-9]+$ ]] || die "--compare_k: '$k' is not a number of clusters or U"
done
[[ $stage =~ ^[0-9]+$ && $stop_stage =~ ^[0-9]+$ ]] || die "--stage and --stop_stage take stage numbers (see --help)"
(( 1 <= stage && stage <= stop_stage && stop_stage <= last_stage )) \
    || die "--stage $stage --stop_stage $stop_stage: need 1 <= stage <= stop_stage <= $last_stage"
[[ -n $datasets ]] || die "--datasets is empty"
[[ -n $mllms ]] || die "--mllms is empty"
[[ -n $clap_model ]] || die "--clap_model is empty"

# The taxonomy is built from the labels scored in stage 5 (the MLLM's, as published) or, with
# --cluster_labels reviewed, in stage 8.
if [[ $cluster_labels == reviewed ]]; then
    cluster_scores=top_label_scores_with_annotations.csv; cluster_scores_stage=rescore
else
    cluster_scores=top_label_scores.csv; cluster_scores_stage=score
fi
stage_needs[embed]=$cluster_scores_stage
stage_needs[composite]="$cluster_scores_stage compare"

in_list() { [[ " $2 " == *" $1 "* ]]; }
dataset_kind() {
    if in_list "$1" "$registry"; then echo registry
    elif [[ $1 == example ]]; then echo example
    else echo local
    fi
}
wav_dir() { echo "$data_dir/$1/wav"; }
wav_glob() { echo "$(wav_dir "$1")/*.wav"; }
has_wavs() { compgen -G "$(wav_glob "$1")" >/dev/null; }

for ds in $datasets; do
    if [[ $(dataset_kind "$ds") == local ]] && ! has_wavs "$ds"; then
        die "unknown dataset '$ds': use one of $registry example, or put your WAV files in $(wav_dir "$ds")/"
    fi
done
for mllm in $mllms; do
    [[ -v mllm_script[$mllm] || $mllm == gemini ]] \
        || die "unknown MLLM '$mllm' in --mllms: use some of ${!mllm_script[*]} gemini"
done

if [[ $dry_run == true ]]; then
    for ds in $datasets; do
        case $(dataset_kind "$ds") in
            registry) "$python" -m auditoryhum.scripts.fetch_data --datasets "$ds" --data_dir "$data_dir" --dry_run ;;
            example) echo "example: python -m auditoryhum.scripts.example_data --out $(wav_dir example)" ;;
            local) echo "$ds: local dataset in $(wav_dir "$ds"), nothing to fetch" ;;
        esac
    done
    "$python" -m auditoryhum.scripts.fetch_data --datasets supplementary --data_dir "$data_dir" --dry_run
    exit 0
fi

# A model option is a folder name under --model_dir, or a path (anything with a /).
model_path() { if [[ $1 == */* ]]; then echo "$1"; else echo "$model_dir/$1"; fi; }
model_name() { basename "$1"; }
require_model() {  # value, option, what for
    local path
    path=$(model_path "$1")
    [[ -e $path ]] && return 0
    local url=${clone_url[$(model_name "$1")]:-}
    die "model folder $path not found (--$2, $3): ${url:+git clone $url $path, or }set --$2 or --model_dir"
}
runs_stage() { (( stage <= ${stage_number[$1]} && ${stage_number[$1]} <= stop_stage )); }

supplementary_file() { echo "$data_dir/supplementary/$(support supplementary "$@")"; }  # dataset mllm kind
if runs_stage label; then
    for ds in $datasets; do
        for mllm in $mllms; do
            if [[ $use_provided_labels == true ]]; then
                provided=$(supplementary_file "$ds" "$mllm" labels)
                runs_stage fetch || [[ -f $provided ]] \
                    || die "--use_provided_labels true: no published labels $provided (stage 1 fetches them where the authors published some); drop the option to label with $mllm"
            elif [[ $mllm == gemini ]]; then
                [[ -n ${GEMINI_API_KEY:-}${GOOGLE_API_KEY:-} ]] \
                    || die "--mllms gemini needs an API key: export GEMINI_API_KEY=<key> (stage 3)"
            else
                var=${mllm_flag[$mllm]}
                require_model "${!var}" "$var" "stage 3 labels with $mllm"
            fi
        done
    done
fi
if runs_stage clap || runs_stage score || runs_stage rescore; then
    for clap in $clap_model; do require_model "$clap" clap_model "stages 4, 5 and 8 score with CLAP"; done
fi
if runs_stage embed; then require_model "$st_model" st_model "stage 10 embeds the labels"; fi
if runs_stage composite && [[ -n $llm_model ]]; then require_model "$llm_model" llm_model "stage 13 names the clusters"; fi

# ---------------------------------------------------------------------------------------------
# where every output lives

mllm_dir() { echo "$exp_dir/$1/$2"; }                                       # dataset mllm
clap_npy() { echo "$exp_dir/$1/clap/$(model_name "$2")/clap.npy"; }        # dataset clap
clap_dir() { echo "$exp_dir/$1/$2/$(model_name "$3")"; }                    # dataset mllm clap
st_suffix=""; [[ $cluster_labels == reviewed ]] && st_suffix=.reviewed
st_dir() { echo "$(clap_dir "$@")/$(model_name "$st_model")$st_suffix"; }   # dataset mllm clap
first_clap() { set -- $clap_model; echo "$1"; }

# for_each_run FUNCTION: call FUNCTION dataset mllm clap for every combination
for_each_run() {
    local ds mllm clap
    for ds in $datasets; do
        for mllm in $mllms; do
            for clap in $clap_model; do "$1" "$ds" "$mllm" "$clap"; done
        done
    done
}
for_each_mllm() {  # FUNCTION: call FUNCTION dataset mllm
    local ds mllm
    for ds in $datasets; do
        for mllm in $mllms; do "$1" "$ds" "$mllm"; done
    done
}

# ---------------------------------------------------------------------------------------------
# steps

steps_run=0
steps_skipped=0
script() { echo "$root/$1.py"; }

skip() {  # output why
    log "  skipped ($2): $1"
    steps_skipped=$(( steps_skipped + 1 ))
}

begin_step() {  # output command... -> writes output.cmd, runnable from any folder
    local output=$1; shift
    mkdir -p "$(dirname "$output")"
    { printf 'cd %q && ' "$PWD"; printf '%q ' "$@" | sed 's/ $//'; echo; } > "$output.cmd"
    log "  making $output"
    steps_run=$(( steps_run + 1 ))
}

step_failed() {  # output log status: show the end of the log, stop with the command's status
    grep -av $'\r' "$2" | tail -n 15 | sed 's/^/    | /' >&2 || true
    log "error: stage $current_stage (${stage_names[$current_stage]}) failed making $1; log: $2, command: $1.cmd"
    exit "$3"
}

show_result() {  # what the command printed, without progress bars
    grep -av $'\r' "$1" | grep -av -E '^(INFO|DEBUG):|^\s*$' | tail -n 6 | sed 's/^/    /' >&2 || true
}

# run_step OUTPUT SCRIPT ARG...: run one of the suite's scripts (which writes OUTPUT and its run
# record) unless the record says the same command finished from the inputs that are there now.
run_step() {
    local output=$1 name=$2; shift 2
    local why
    if [[ $overwrite != true ]] && why=$(support up_to_date "$output" "$@"); then
        skip "$output" "done"
        return 0
    fi
    [[ -e $output && $overwrite != true ]] && log "  redoing $output: $why"
    begin_step "$output" "$python" "$(script "$name")" "$@"
    "$python" "$(script "$name")" "$@" > "$output.log" 2>&1 || step_failed "$output" "$output.log" $?
    [[ -e $output ]] || die "stage $current_stage: '$name' succeeded but wrote no $output (log: $output.log)"
    show_result "$output.log"
}

# once_step OUTPUT COMMAND...: for commands that keep no run record (downloads, a copy): run
# COMMAND, whose printout becomes OUTPUT, unless OUTPUT exists; OUTPUT appears only on success.
once_step() {
    local output=$1; shift
    if [[ -e $output && $overwrite != true ]]; then skip "$output" "exists"; return 0; fi
    begin_step "$output" "$@"
    local status=0
    "$@" > "$output.tmp" 2> "$output.log" || status=$?
    if (( status )); then
        cat "$output.tmp" >> "$output.log"
        rm -f "$output.tmp"
        step_failed "$output" "$output.log" "$status"
    fi
    mv "$output.tmp" "$output"
    show_result "$output"
}

# copy_step OUTPUT SOURCE: a published file taken as it is (complete or not at all); a copy that
# no longer equals its source (the source was fetched again) is made again, and the run records
# of the steps that read it then see the change.
copy_step() {
    local output=$1 source=$2
    if [[ -e $output && $overwrite != true ]] && cmp -s "$source" "$output"; then
        skip "$output" "same as $source"
        return 0
    fi
    begin_step "$output" cp "$source" "$output"
    cp "$source" "$output.tmp" && mv "$output.tmp" "$output"
}

device_args=(--device="$device")
# An interrupted labelling run continues where it stopped; --overwrite starts it afresh.
resume_args=()
[[ $overwrite == true ]] || resume_args=(--resume)
label_args=(--device="$device" --dtype="$mllm_dtype" --batch_size="$label_batch_size" "${resume_args[@]}")
[[ $load_in_4bit == true ]] && label_args+=(--load_in_4bit)

# ---------------------------------------------------------------------------------------------
# the stages: outputs_<name> prints what a stage makes (one path per line, what a later stage
# started on its own needs to find), stage_<name> makes it

outputs_fetch() { local ds; for ds in $datasets; do wav_dir "$ds"; done; }
stage_fetch() {
    local ds needs_supplementary=false
    for ds in $datasets; do
        case $(dataset_kind "$ds") in
            registry) needs_supplementary=true
                once_step "$data_dir/$ds/fetch.done" "$python" -m auditoryhum.scripts.fetch_data --datasets "$ds" --data_dir "$data_dir" ;;
            example) once_step "$data_dir/$ds/fetch.done" "$python" -m auditoryhum.scripts.example_data --out "$(wav_dir "$ds")" ;;
            local) log "  $ds: local dataset, $(compgen -G "$(wav_glob "$ds")" | wc -l) WAV files in $(wav_dir "$ds"), nothing to fetch" ;;
        esac
    done
    if [[ $needs_supplementary == true || $use_provided_labels == true ]]; then
        once_step "$data_dir/supplementary/fetch.done" "$python" -m auditoryhum.scripts.fetch_data --datasets supplementary --data_dir "$data_dir"
    fi
}

# A recording ffmpeg cannot convert stays as it is and is carried as unreadable (blank label,
# NaN rows); only a dataset where no file can be converted stops here.
outputs_resample() { local ds; for ds in $datasets; do echo "$data_dir/$ds/resample.done"; done; }
stage_resample() {
    local ds
    for ds in $datasets; do
        run_step "$data_dir/$ds/resample.done" util_resample --filedir="$(wav_glob "$ds")" --sampling_rate=16000 \
            --bits=s16 --channels=1 --allow_failures --summary_txt="$data_dir/$ds/resample.done"
    done
}

outputs_label() { for_each_mllm label_output; }
label_output() { echo "$(mllm_dir "$1" "$2")/text_labels.csv"; }
label_one() {
    local out var
    out=$(label_output "$1" "$2")
    mkdir -p "$(dirname "$out")"
    if [[ $use_provided_labels == true ]]; then
        local provided
        provided=$(supplementary_file "$1" "$2" labels)
        [[ -f $provided ]] || die "stage 3: the supplementary data has no labels for $1 with $2 ($provided); drop --use_provided_labels to label with $2"
        copy_step "$out" "$provided"
    elif [[ $2 == gemini ]]; then
        run_step "$out" label_google_gen_ai_cloud --filedir="$(wav_glob "$1")" --genai_id="$genai_id" \
            --text_label_csv="$out" "${resume_args[@]}"
    else
        var=${mllm_flag[$2]}
        run_step "$out" "${mllm_script[$2]}" --filedir="$(wav_glob "$1")" --"$var"="$(model_path "${!var}")" \
            --text_label_csv="$out" "${label_args[@]}"
    fi
}
stage_label() { for_each_mllm label_one; }

outputs_clap() { local ds clap; for ds in $datasets; do for clap in $clap_model; do clap_npy "$ds" "$clap"; done; done; }
stage_clap() {
    local ds clap out
    for ds in $datasets; do
        for clap in $clap_model; do
            out=$(clap_npy "$ds" "$clap")
            mkdir -p "$(dirname "$out")"
            run_step "$out" features_clap --filedir="$(wav_glob "$ds")" --clap_model="$(model_path "$clap")" \
                --clap_npy="$out" "${device_args[@]}"
        done
    done
}

score_run() {  # dataset mllm clap labels-csv-name scores-csv-name
    local out
    out=$(clap_dir "$1" "$2" "$3")/$5
    mkdir -p "$(dirname "$out")"
    run_step "$out" features_clap_text --filedir="$(wav_glob "$1")" --clap_model="$(model_path "$3")" \
        --clap_npy="$(clap_npy "$1" "$3")" --text_label_csv="$(mllm_dir "$1" "$2")/$4" \
        --top_label_scores_csv="$out" "${device_args[@]}"
}

outputs_score() { for_each_run scores_output; }
scores_output() { echo "$(clap_dir "$@")/top_label_scores.csv"; }
score_mllm_labels() { score_run "$@" text_labels.csv top_label_scores.csv; }
stage_score() { for_each_run score_mllm_labels; }

# The authors' annotations where published; otherwise the paper's HITL step: the label-less and
# lowest-scoring files (by the first CLAP model) go on a review sheet, filled by a person (or, for
# the example and local datasets, from the file names), which becomes the annotations CSV.
outputs_annotate() { for_each_mllm annotations_output; }
annotations_output() { echo "$(mllm_dir "$1" "$2")/human_annotations.csv"; }
annotate_one() {
    local dir published simulate=()
    dir=$(mllm_dir "$1" "$2")
    published=$(supplementary_file "$1" "$2" labels_annotations)
    if [[ -f $published ]]; then
        copy_step "$dir/human_annotations.csv" "$published"
        return 0
    fi
    if [[ $simulate_annotations == true || ( $simulate_annotations == auto && $(dataset_kind "$1") != registry ) ]]; then
        simulate=(--simulate_from_filenames)
    fi
    run_step "$dir/human_annotations.csv" util_review_sheet \
        --top_label_scores_csv="$(clap_dir "$1" "$2" "$(first_clap)")/top_label_scores.csv" \
        --review_csv="$dir/review_sheet.csv" --annotations_csv="$dir/human_annotations.csv" \
        --fraction="$review_fraction" "${simulate[@]}"
}
stage_annotate() { for_each_mllm annotate_one; }

outputs_merge() { for_each_mllm merged_output; }
merged_output() { echo "$(mllm_dir "$1" "$2")/text_labels_with_annotations.csv"; }
merge_one() {
    local dir
    dir=$(mllm_dir "$1" "$2")
    run_step "$dir/text_labels_with_annotations.csv" util_merge_csv --csv1="$dir/text_labels.csv" \
        --csv2="$dir/human_annotations.csv" --csv3="$dir/text_labels_with_annotations.csv"
}
stage_merge() { for_each_mllm merge_one; }

outputs_rescore() { for_each_run rescored_output; }
rescored_output() { echo "$(clap_dir "$@")/top_label_scores_with_annotations.csv"; }
score_merged_labels() { score_run "$@" text_labels_with_annotations.csv top_label_scores_with_annotations.csv; }
stage_rescore() { for_each_run score_merged_labels; }

outputs_boost() { for_each_run boost_output; }
boost_output() { echo "$(clap_dir "$@")/score_boost.txt"; }
boost_run() {
    local dir
    dir=$(clap_dir "$@")
    run_step "$dir/score_boost.txt" util_score_boost --csv1="$dir/top_label_scores.csv" \
        --csv2="$dir/top_label_scores_with_annotations.csv" --csv3="$(mllm_dir "$1" "$2")/human_annotations.csv" \
        --summary_txt="$dir/score_boost.txt"
}
stage_boost() { for_each_run boost_run; }

outputs_embed() { for_each_run st_output; }
st_output() { echo "$(st_dir "$@")/st.npy"; }
embed_run() {
    mkdir -p "$(st_dir "$@")"
    run_step "$(st_dir "$@")/st.npy" features_st --st_model="$(model_path "$st_model")" \
        --label_csv="$(clap_dir "$@")/$cluster_scores" --st_npy="$(st_dir "$@")/st.npy" "${device_args[@]}"
}
stage_embed() { for_each_run embed_run; }

outputs_sweep() { for_each_run sweep_output; }
sweep_output() { echo "$(st_dir "$@")/sweep/sweep.csv"; }
sweep_run() {
    local dir
    dir=$(st_dir "$@")
    mkdir -p "$dir/sweep"
    run_step "$dir/sweep/sweep.csv" cluster_sweep --cluster_npy="$dir/st.npy" \
        ${penalty:+--penalty="$penalty"} ${k_max:+--k_max="$k_max"} \
        --sweep_csv="$dir/sweep/sweep.csv" --label_csv="$dir/sweep/cluster_ids.csv" \
        --png_plot="$dir/sweep/sweep.png" --tsne_png="$dir/sweep/tsne.png"
}
stage_sweep() { for_each_run sweep_run; }

# The k values the algorithms are compared at: the chosen k (from the sweep's run record) and
# --compare_k, where U is the number of distinct labels embedded (from the embeddings' record).
compared_ks() {  # st_dir
    local chosen unique k
    chosen=$(support result "$1/sweep/sweep.csv" chosen_k) \
        || die "$1/sweep/sweep.csv: no finished sweep; redo stage 11 (sweep)"
    unique=$(support result "$1/st.npy" distinct_labels) || die "$1/st.npy: no finished embedding; redo stage 10 (embed)"
    for k in $chosen $compare_k; do
        if [[ $k == U ]]; then echo "$unique"; else echo "$k"; fi
    done | sort -nu
}

outputs_compare() { for_each_run hdbscan_output; }
hdbscan_output() { echo "$(st_dir "$@")/compare/hdbscan.csv"; }
compare_run() {
    local dir k alg
    dir=$(st_dir "$@")
    mkdir -p "$dir/compare"
    for k in $(compared_ks "$dir"); do
        for alg in ag kmeans spectral; do
            run_step "$dir/compare/${alg}_k$k.csv" "cluster_$alg" --cluster_npy="$dir/st.npy" \
                --n_clusters="$k" --label_csv="$dir/compare/${alg}_k$k.csv" --png_plot="$dir/compare/${alg}_k$k.png"
        done
    done
    run_step "$dir/compare/hdbscan.csv" cluster_hdbscan --cluster_npy="$dir/st.npy" \
        --min_cluster_size="$min_cluster_size" --label_csv="$dir/compare/hdbscan.csv" --png_plot="$dir/compare/hdbscan.png"
}
stage_compare() { for_each_run compare_run; }

# Composite statistics of the chosen partition and of every compared one (as the published runs
# printed them for k = 2, the paper's k and U), composite labels of the chosen one, and the page
# to explore the taxonomy (exp/ and data/ side by side: it plays the clips by relative path).
outputs_composite() { for_each_run taxonomy_output; }
taxonomy_output() { echo "$(st_dir "$@")/taxonomy.html"; }
composite_run() {
    local dir scores composite k alg
    dir=$(st_dir "$@")
    scores=$(clap_dir "$@")/$cluster_scores
    mkdir -p "$dir/composite"
    run_step "$dir/composite/stats.json" composite_label_stats --label_csv="$dir/sweep/cluster_ids.csv" \
        --top_label_scores_csv="$scores" --json_out="$dir/composite/stats.json" --report_txt="$dir/composite/stats.txt"
    for k in $(compared_ks "$dir"); do
        for alg in ag kmeans spectral; do
            run_step "$dir/compare/${alg}_k${k}_stats.txt" composite_label_stats --label_csv="$dir/compare/${alg}_k$k.csv" \
                --top_label_scores_csv="$scores" --report_txt="$dir/compare/${alg}_k${k}_stats.txt"
        done
    done
    if [[ -n $llm_model ]]; then
        composite=$dir/composite/composite_labels.csv
        run_step "$composite" composite_labels --label_csv="$dir/sweep/cluster_ids.csv" \
            --top_label_scores_csv="$scores" --llm_model="$(model_path "$llm_model")" --composite_csv="$composite" \
            --prompts_txt="$dir/composite/composite_prompts.txt" "${device_args[@]}"
    else
        composite=""
        run_step "$dir/composite/composite_prompts.txt" composite_labels --label_csv="$dir/sweep/cluster_ids.csv" \
            --top_label_scores_csv="$scores" --prompts_txt="$dir/composite/composite_prompts.txt"
    fi
    run_step "$dir/taxonomy.html" taxonomy_report --filedir="$(wav_glob "$1")" --top_label_scores_csv="$scores" \
        --st_npy="$dir/st.npy" --cluster_ids_csv="$dir/sweep/cluster_ids.csv" --sweep_csv="$dir/sweep/sweep.csv" \
        ${composite:+--composite_csv="$composite"} --out_html="$dir/taxonomy.html" \
        --title="AuditoryHuM taxonomy: $1, $2, $(model_name "$3")"
}
stage_composite() { for_each_run composite_run; }

# The report gathers everything under exp/: it is remade when any result is newer than it.
outputs_report() { echo "$exp_dir/report.md"; }
stage_report() {
    local report=$exp_dir/report.md
    if [[ -e $report && $overwrite != true ]] \
        && [[ -z $(find "$exp_dir" -path "$exp_dir/report*" -prune -o -type f -newer "$report" -print -quit) ]]; then
        skip "$report" "up to date"
        return 0
    fi
    begin_step "$report" "$python" -m auditoryhum.scripts.report --exp_dir="$exp_dir" --out="$report"
    "$python" -m auditoryhum.scripts.report --exp_dir="$exp_dir" --out="$report" > "$report.log" 2>&1 \
        || step_failed "$report" "$report.log" $?
    show_result "$report.log"
}

# ---------------------------------------------------------------------------------------------
# a stage started on its own needs what the stages before --stage made

for (( s = stage; s <= stop_stage; s++ )); do
    for needed in ${stage_needs[${stage_names[$s]}]}; do
        (( ${stage_number[$needed]} < stage )) || continue
        while read -r path; do
            [[ -e $path ]] || die "stage $s (${stage_names[$s]}) needs $path from stage ${stage_number[$needed]} ($needed), which does not exist: run from --stage ${stage_number[$needed]}"
        done < <("outputs_$needed")
    done
done

log "datasets: $datasets; MLLMs: $mllms; CLAP: $clap_model; sentence model: $st_model"
for (( current_stage = stage; current_stage <= stop_stage; current_stage++ )); do
    name=${stage_names[$current_stage]}
    log "stage $current_stage: $name - ${stage_help[$name]}"
    "stage_$name"
done
log "finished stages $stage..$stop_stage: $steps_run steps run, $steps_skipped skipped"
