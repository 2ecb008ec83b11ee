#!/usr/bin/env bash
# The paper's experiments (arXiv 2602.19409) as one staged recipe, from raw data to the tables.
#
#   ./auditoryhum_tests.sh --help
#   ./auditoryhum_tests.sh --model_dir models                       # everything, paper datasets
#   ./auditoryhum_tests.sh --stage 11 --stop_stage 14               # re-cluster and re-report only
#
# Every stage works per dataset (data/<dataset>/, exp/<dataset>/<mllm>/<clap>/<st>/...), skips an
# output that already exists (--overwrite true to redo it), and leaves beside each output the
# exact command that made it (<output>.cmd) and what that command printed (<output>.log).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# ---------------------------------------------------------------------------------------------
# options: --name value (or --name=value); boolean options take true/false
stage=1
stop_stage=14
datasets="advance ahead_ds tau2019"
mllms="qwen2a qwen2_5o gemma3n"
model_dir=models
clap_model="human-clap-wsce-mse-mae"
st_model="all-mpnet-base-v2"
qwen2a_model="Qwen2-Audio-7B-Instruct"
qwen2_5o_model="Qwen2.5-Omni-3B"
qwen3o_model="Qwen3-Omni-30B-A3B-Instruct"
gemma3n_model="gemma-3n-E2B-it-unsloth-bnb-4bit"
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

stage_names=("" fetch resample label clap score annotate merge rescore boost embed sweep compare composite report)
stage_help=(""
    "download, verify and unpack each dataset, and the authors' supplementary data (CPU, network)"
    "convert every WAV in place to 16 kHz, 16-bit, mono (util_resample.py)"
    "label every file with each MLLM (label_<mllm>.py) - needs a GPU for the real models"
    "CLAP audio embeddings (features_clap.py) - a GPU helps"
    "score the MLLM labels against the audio: best label and µc / µ1% (features_clap_text.py)"
    "human annotations: the authors' published ones, else a review sheet of the lowest-scoring files"
    "merge the annotations into the MLLM labels (util_merge_csv.py)"
    "score the merged labels (features_clap_text.py)"
    "HITL boost: mean score of the annotated rows before and after (util_score_boost.py)"
    "sentence embeddings of the best labels, before the review as published (features_st.py)"
    "adjusted-silhouette k sweep, chosen k (cluster_sweep.py)"
    "Ward, k-means and spectral at the chosen k and --compare_k; HDBSCAN (cluster_*.py)"
    "composite statistics of every partition, composite labels of the chosen one (composite_*.py)"
    "the paper's tables as markdown and CSV, sweep curves side by side (python -m auditoryhum.report)")
last_stage=$(( ${#stage_names[@]} - 1 ))
# stage -> the earlier stages whose outputs it reads
stage_needs=("" "" "1" "2" "2" "3 4" "5" "3 6" "4 7" "5 6 8" "8" "10" "10 11" "8 11" "5 8 11 12")

declare -A mllm_script=([qwen2a]=label_qwen2a [qwen2_5o]=label_qwen2_5o [qwen3o]=label_qwen3o
    [gemma3n]=label_gemma3n [gemini]=label_google_gen_ai_cloud)
declare -A clone_url=(
    [Qwen2-Audio-7B-Instruct]=https://huggingface.co/Qwen/Qwen2-Audio-7B-Instruct
    [Qwen2.5-Omni-3B]=https://huggingface.co/Qwen/Qwen2.5-Omni-3B
    [Qwen2.5-Omni-7B]=https://huggingface.co/Qwen/Qwen2.5-Omni-7B
    [Qwen3-Omni-30B-A3B-Instruct]=https://huggingface.co/Qwen/Qwen3-Omni-30B-A3B-Instruct
    [gemma-3n-E2B-it-unsloth-bnb-4bit]=https://huggingface.co/unsloth/gemma-3n-E2B-it-unsloth-bnb-4bit
    [human-clap-wsce-mse-mae]=https://huggingface.co/sarulab-speech/human-clap-wsce-mse-mae
    [clap-htsat-fused]=https://huggingface.co/laion/clap-htsat-fused
    [all-mpnet-base-v2]=https://huggingface.co/sentence-transformers/all-mpnet-base-v2
    [all-MiniLM-L6-v2]=https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2
)

usage() {
    cat <<EOF
Usage: $0 [--stage N] [--stop_stage M] [--datasets "..."] [--mllms "..."] [options]

The AuditoryHuM experiments as a staged recipe. Each stage skips outputs that exist, so a run
resumes where it stopped; <output>.cmd and <output>.log beside each output say how it was made.

Stages:
EOF
    local s
    for (( s = 1; s <= last_stage; s++ )); do
        printf '  %2d  %-10s %s\n' "$s" "${stage_names[$s]}" "${stage_help[$s]}"
    done
    cat <<EOF

Options (current value in brackets):
  --stage N, --stop_stage M   run stages N..M [$stage..$stop_stage]
  --datasets "A B"            advance ahead_ds tau2019 tau2021 (the published sources), example (the
                              bundled example recordings), or any NAME whose WAVs you put in
                              <data_dir>/NAME/wav/ [$datasets]
  --mllms "A B"               qwen2a qwen2_5o qwen3o gemma3n gemini [$mllms]
  --model_dir DIR             folder holding the git-cloned models [$model_dir]
  --clap_model "A B"          CLAP model folder(s); every one is scored and reported [$clap_model]
  --st_model NAME             sentence-transformer folder [$st_model]
  --qwen2a_model, --qwen2_5o_model, --qwen3o_model, --gemma3n_model
                              MLLM folders [$qwen2a_model, $qwen2_5o_model, $qwen3o_model, $gemma3n_model]
  --genai_id ID               Gemini model for --mllms gemini; key from GEMINI_API_KEY [$genai_id]
  --llm_model NAME            chat LLM folder naming the clusters (stage 13); empty: only the
                              prompts are written [${llm_model:-none}]
                              (a model value is a folder name under --model_dir, or a path
                              with a /)
  --data_dir, --exp_dir       where data and results go [$data_dir, $exp_dir]
  --python PATH               interpreter [${python:-.venv/bin/python if present, else python3}]
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
  --review_fraction F         share of files, lowest CLAP score first, put on the review sheet [$review_fraction]
  --simulate_annotations auto|true|false
                              with no published annotations, fill the review sheet from the file
                              names instead of a person; auto: only for datasets not in the
                              registry (example, your own) [$simulate_annotations]
  --use_provided_labels true|false
                              take the authors' published labels from the supplementary data
                              instead of running the MLLMs (no GPU needed) [$use_provided_labels]
  --overwrite true|false      redo outputs that exist [$overwrite]
  --dry_run true|false        only print what stage 1 would download, then stop [$dry_run]

A GPU is needed by stage 3 with the real MLLMs (3B-30B parameters, loaded 4-bit on CUDA as
published); stages 4, 5, 8, 10 and 13 run on a CPU, faster on a GPU; the rest is CPU.
EOF
}

log() { echo "$(date '+%Y-%m-%d %H:%M:%S') [auditoryhum_tests] $*" >&2; }
die() { log "error: $*"; exit 2; }

while (( $# )); do
    arg=$1; shift
    case $arg in
        -h|--help) usage; exit 0 ;;
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
# Stage 10 embeds the labels scored in stage 5 (MLLM) or, after the review, in stage 8.
if [[ $cluster_labels == reviewed ]]; then
    cluster_scores=top_label_scores_with_annotations.csv; cluster_scores_stage=8
else
    cluster_scores=top_label_scores.csv; cluster_scores_stage=5
fi
stage_needs[10]=$cluster_scores_stage
stage_needs[13]="$cluster_scores_stage 12"
[[ $stage =~ ^[0-9]+$ && $stop_stage =~ ^[0-9]+$ ]] || die "--stage and --stop_stage take stage numbers (see --help)"
(( 1 <= stage && stage <= stop_stage && stop_stage <= last_stage )) \
    || die "--stage $stage --stop_stage $stop_stage: need 1 <= stage <= stop_stage <= $last_stage"
[[ -n $datasets ]] || die "--datasets is empty"
[[ -n $mllms ]] || die "--mllms is empty"
[[ -n $clap_model ]] || die "--clap_model is empty"

if [[ -z $python ]]; then
    if [[ -x $root/.venv/bin/python ]]; then python=$root/.venv/bin/python; else python=python3; fi
fi
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"

# Registry datasets (auditoryhum/datasets.py) fetch from the published sources; "example" comes
# from auditoryhum.example_data; any other name is a local folder of WAVs.
registry=$("$python" -c 'from auditoryhum.datasets import DATASETS; print(" ".join(n for n, d in DATASETS.items() if not d.is_supplementary))') \
    || die "cannot import auditoryhum with $python (run ./setup.sh, or pass --python)"
in_list() { [[ " $2 " == *" $1 "* ]]; }
dataset_kind() {
    if in_list "$1" "$registry"; then echo registry
    elif [[ $1 == example ]]; then echo example
    else echo local
    fi
}
wav_dir() { echo "$data_dir/$1/wav"; }
has_wavs() { compgen -G "$(wav_dir "$1")/*.wav" >/dev/null; }

for ds in $datasets; do
    if [[ $(dataset_kind "$ds") == local ]] && ! has_wavs "$ds"; then
        die "unknown dataset '$ds': use one of $registry example, or put your WAV files in $(wav_dir "$ds")/"
    fi
done
for mllm in $mllms; do
    [[ -v mllm_script[$mllm] ]] || die "unknown MLLM '$mllm' in --mllms: use some of ${!mllm_script[*]}"
done

if [[ $dry_run == true ]]; then
    for ds in $datasets; do
        case $(dataset_kind "$ds") in
            registry) "$python" -m auditoryhum.fetch --datasets "$ds" --data_dir "$data_dir" --dry_run ;;
            example) echo "example: python -m auditoryhum.example_data --out $(wav_dir example)" ;;
            local) echo "$ds: local dataset in $(wav_dir "$ds"), nothing to fetch" ;;
        esac
    done
    "$python" -m auditoryhum.fetch --datasets supplementary --data_dir "$data_dir" --dry_run
    exit 0
fi

# A model option is a folder name under --model_dir, or a path (anything with a /).
model_path() { if [[ $1 == */* ]]; then echo "$1"; else echo "$model_dir/$1"; fi; }
model_name() { basename "$1"; }
require_model() {  # value, option, what for
    local path
    path=$(model_path "$1")
    [[ -d $path ]] && return 0
    local url=${clone_url[$(model_name "$1")]:-}
    die "model folder $path not found (--$2, $3): ${url:+git clone $url $path, or }set --$2 or --model_dir"
}
runs_stage() { (( stage <= $1 && $1 <= stop_stage )); }

supplementary_file() {  # dataset mllm kind
    echo "$data_dir/supplementary/$("$python" -c 'import sys; from auditoryhum.datasets import supplementary_name; print(supplementary_name(*sys.argv[1:]))' "$@")"
}
if runs_stage 3; then
    for ds in $datasets; do
        for mllm in $mllms; do
            if [[ $use_provided_labels == true ]]; then
                provided=$(supplementary_file "$ds" "$mllm" labels)
                runs_stage 1 || [[ -f $provided ]] \
                    || die "--use_provided_labels true: no published labels $provided (stage 1 fetches them where the authors published some); drop the option to label with $mllm"
            elif [[ $mllm == gemini ]]; then
                [[ -n ${GEMINI_API_KEY:-}${GOOGLE_API_KEY:-} ]] \
                    || die "--mllms gemini needs an API key: export GEMINI_API_KEY=<key> (stage 3)"
            else
                var=${mllm}_model
                require_model "${!var}" "$var" "stage 3 labels with $mllm"
            fi
        done
    done
fi
if runs_stage 4 || runs_stage 5 || runs_stage 8; then
    for clap in $clap_model; do require_model "$clap" clap_model "stages 4, 5 and 8 score with CLAP"; done
fi
if runs_stage 10; then require_model "$st_model" st_model "stage 10 embeds the labels"; fi
if runs_stage 13 && [[ -n $llm_model ]]; then require_model "$llm_model" llm_model "stage 13 names the clusters"; fi

# ---------------------------------------------------------------------------------------------
# where every output lives

mllm_dir() { echo "$exp_dir/$1/$2"; }                                       # dataset mllm
clap_npy() { echo "$exp_dir/$1/clap/$(model_name "$2")/clap.npy"; }        # dataset clap
clap_dir() { echo "$exp_dir/$1/$2/$(model_name "$3")"; }                    # dataset mllm clap
st_suffix=""; [[ $cluster_labels == reviewed ]] && st_suffix=.reviewed
st_dir() { echo "$(clap_dir "$@")/$(model_name "$st_model")$st_suffix"; }   # dataset mllm clap
first_clap() { set -- $clap_model; echo "$1"; }

# The outputs of a stage (one per line) for every dataset x MLLM x CLAP model: what a later
# stage started on its own needs to find.
products() {
    local ds mllm clap
    for ds in $datasets; do
        case $1 in
            1) wav_dir "$ds" ;;
            2) echo "$data_dir/$ds/resample.done" ;;
            4) for clap in $clap_model; do clap_npy "$ds" "$clap"; done ;;
            *) for mllm in $mllms; do
                case $1 in
                    3) echo "$(mllm_dir "$ds" "$mllm")/text_labels.csv" ;;
                    6) echo "$(mllm_dir "$ds" "$mllm")/human_annotations.csv" ;;
                    7) echo "$(mllm_dir "$ds" "$mllm")/text_labels_with_annotations.csv" ;;
                    *) for clap in $clap_model; do
                        case $1 in
                            5) echo "$(clap_dir "$ds" "$mllm" "$clap")/top_label_scores.csv" ;;
                            8) echo "$(clap_dir "$ds" "$mllm" "$clap")/top_label_scores_with_annotations.csv" ;;
                            9) echo "$(clap_dir "$ds" "$mllm" "$clap")/score_boost.txt" ;;
                            10) echo "$(st_dir "$ds" "$mllm" "$clap")/st.npy" ;;
                            11) echo "$(st_dir "$ds" "$mllm" "$clap")/sweep/sweep.csv" ;;
                            12) echo "$(st_dir "$ds" "$mllm" "$clap")/compare/ag_k2.csv" ;;
                        esac
                    done ;;
                esac
            done ;;
        esac
    done
}

for (( s = stage; s <= stop_stage; s++ )); do
    for needed in ${stage_needs[$s]}; do
        (( needed < stage )) || continue
        while read -r path; do
            [[ -e $path ]] || die "stage $s (${stage_names[$s]}) needs $path from stage $needed (${stage_names[$needed]}), which does not exist: run from --stage $needed"
        done < <(products "$needed")
    done
done

# ---------------------------------------------------------------------------------------------
# steps

steps_run=0
steps_skipped=0

skip_existing() {  # output -> true when it exists and is kept
    if [[ -e $1 && $overwrite != true ]]; then
        log "  skipped (exists): $1"
        steps_skipped=$(( steps_skipped + 1 ))
        return 0
    fi
    return 1
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

# step OUTPUT COMMAND...: run COMMAND (which writes OUTPUT) unless OUTPUT exists.
step() {
    local output=$1; shift
    skip_existing "$output" && return 0
    begin_step "$output" "$@"
    "$@" > "$output.log" 2>&1 || step_failed "$output" "$output.log" $?
    [[ -e $output ]] || die "stage $current_stage: '$*' succeeded but wrote no $output (log: $output.log)"
    show_result "$output.log"
}

# capture_step OUTPUT COMMAND...: COMMAND's printout becomes OUTPUT (for commands whose result is
# what they print, or that work in place); OUTPUT appears only when COMMAND succeeded.
capture_step() {
    local output=$1; shift
    skip_existing "$output" && return 0
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

script() { echo "$root/$1.py"; }
device_args=(--device="$device")
# An interrupted labelling run continues where it stopped; --overwrite starts it afresh.
resume_args=()
[[ $overwrite == true ]] || resume_args=(--resume)
label_args=(--device="$device" --dtype="$mllm_dtype" --batch_size="$label_batch_size" "${resume_args[@]}")
[[ $load_in_4bit == true ]] && label_args+=(--load_in_4bit)

# ---------------------------------------------------------------------------------------------
# stages

stage_fetch() {
    local ds needs_supplementary=false
    for ds in $datasets; do
        case $(dataset_kind "$ds") in
            registry) needs_supplementary=true
                capture_step "$data_dir/$ds/fetch.done" "$python" -m auditoryhum.fetch --datasets "$ds" --data_dir "$data_dir" ;;
            example) capture_step "$data_dir/$ds/fetch.done" "$python" -m auditoryhum.example_data --out "$(wav_dir "$ds")" ;;
            local) log "  $ds: local dataset, $(compgen -G "$(wav_dir "$ds")/*.wav" | wc -l) WAV files in $(wav_dir "$ds"), nothing to fetch" ;;
        esac
    done
    if [[ $needs_supplementary == true || $use_provided_labels == true ]]; then
        capture_step "$data_dir/supplementary/fetch.done" "$python" -m auditoryhum.fetch --datasets supplementary --data_dir "$data_dir"
    fi
}

# A recording ffmpeg cannot convert stays as it is and is carried as unreadable (blank label,
# NaN rows); only a dataset where no file can be converted stops here.
stage_resample() {
    local ds
    for ds in $datasets; do
        capture_step "$data_dir/$ds/resample.done" "$python" "$(script util_resample)" \
            --filedir="$(wav_dir "$ds")/*.wav" --sampling_rate=16000 --bits=s16 --channels=1 --allow_failures
    done
}

stage_label() {
    local ds mllm out var provided
    for ds in $datasets; do
        for mllm in $mllms; do
            out=$(mllm_dir "$ds" "$mllm")/text_labels.csv
            if [[ $use_provided_labels == true ]]; then
                provided=$(supplementary_file "$ds" "$mllm" labels)
                [[ -f $provided ]] || die "stage 3: the supplementary data has no labels for $ds with $mllm ($provided); drop --use_provided_labels to label with $mllm"
                step "$out" cp "$provided" "$out"
            elif [[ $mllm == gemini ]]; then
                step "$out" "$python" "$(script "${mllm_script[$mllm]}")" --filedir="$(wav_dir "$ds")/*.wav" \
                    --genai_id="$genai_id" --text_label_csv="$out" "${resume_args[@]}"
            else
                var=${mllm}_model
                step "$out" "$python" "$(script "${mllm_script[$mllm]}")" --filedir="$(wav_dir "$ds")/*.wav" \
                    --"$var"="$(model_path "${!var}")" --text_label_csv="$out" "${label_args[@]}"
            fi
        done
    done
}

stage_clap() {
    local ds clap
    for ds in $datasets; do
        for clap in $clap_model; do
            step "$(clap_npy "$ds" "$clap")" "$python" "$(script features_clap)" --filedir="$(wav_dir "$ds")/*.wav" \
                --clap_model="$(model_path "$clap")" --clap_npy="$(clap_npy "$ds" "$clap")" "${device_args[@]}"
        done
    done
}

score_labels() {  # labels CSV name, scores CSV name
    local ds mllm clap
    for ds in $datasets; do
        for mllm in $mllms; do
            for clap in $clap_model; do
                step "$(clap_dir "$ds" "$mllm" "$clap")/$2" "$python" "$(script features_clap_text)" \
                    --filedir="$(wav_dir "$ds")/*.wav" --clap_model="$(model_path "$clap")" \
                    --clap_npy="$(clap_npy "$ds" "$clap")" --text_label_csv="$(mllm_dir "$ds" "$mllm")/$1" \
                    --top_label_scores_csv="$(clap_dir "$ds" "$mllm" "$clap")/$2" "${device_args[@]}"
            done
        done
    done
}

stage_score() { score_labels text_labels.csv top_label_scores.csv; }

# The authors' annotations where published; otherwise the paper's HITL step: the lowest-scoring
# files (by the first CLAP model) go on a review sheet, filled by a person (or, for the example
# and local datasets, from the file names), which becomes the annotations CSV.
stage_annotate() {
    local ds mllm dir published simulate
    for ds in $datasets; do
        for mllm in $mllms; do
            dir=$(mllm_dir "$ds" "$mllm")
            published=$(supplementary_file "$ds" "$mllm" labels_annotations)
            if [[ -f $published ]]; then
                step "$dir/human_annotations.csv" cp "$published" "$dir/human_annotations.csv"
                continue
            fi
            simulate=()
            if [[ $simulate_annotations == true || ( $simulate_annotations == auto && $(dataset_kind "$ds") != registry ) ]]; then
                simulate=(--simulate_from_filenames)
            fi
            step "$dir/human_annotations.csv" "$python" "$(script util_review_sheet)" \
                --top_label_scores_csv="$(clap_dir "$ds" "$mllm" "$(first_clap)")/top_label_scores.csv" \
                --review_csv="$dir/review_sheet.csv" --annotations_csv="$dir/human_annotations.csv" \
                --fraction="$review_fraction" "${simulate[@]}"
        done
    done
}

stage_merge() {
    local ds mllm dir
    for ds in $datasets; do
        for mllm in $mllms; do
            dir=$(mllm_dir "$ds" "$mllm")
            step "$dir/text_labels_with_annotations.csv" "$python" "$(script util_merge_csv)" \
                --csv1="$dir/text_labels.csv" --csv2="$dir/human_annotations.csv" --csv3="$dir/text_labels_with_annotations.csv"
        done
    done
}

stage_rescore() { score_labels text_labels_with_annotations.csv top_label_scores_with_annotations.csv; }

# for_each_run FUNCTION: call FUNCTION dataset mllm clap for every combination
for_each_run() {
    local ds mllm clap
    for ds in $datasets; do
        for mllm in $mllms; do
            for clap in $clap_model; do "$1" "$ds" "$mllm" "$clap"; done
        done
    done
}

boost_run() {
    local dir
    dir=$(clap_dir "$@")
    capture_step "$dir/score_boost.txt" "$python" "$(script util_score_boost)" --csv1="$dir/top_label_scores.csv" \
        --csv2="$dir/top_label_scores_with_annotations.csv" --csv3="$(mllm_dir "$1" "$2")/human_annotations.csv"
}

embed_run() {
    step "$(st_dir "$@")/st.npy" "$python" "$(script features_st)" --st_model="$(model_path "$st_model")" \
        --label_csv="$(clap_dir "$@")/$cluster_scores" --st_npy="$(st_dir "$@")/st.npy" "${device_args[@]}"
}

sweep_run() {
    local dir
    dir=$(st_dir "$@")
    capture_step "$dir/unique_labels.txt" "$python" -c \
        'import sys; from auditoryhum.report import unique_label_count; print(unique_label_count(sys.argv[1]))' \
        "$(clap_dir "$@")/$cluster_scores"
    step "$dir/sweep/sweep.csv" "$python" "$(script cluster_sweep)" --cluster_npy="$dir/st.npy" \
        ${penalty:+--penalty="$penalty"} ${k_max:+--k_max="$k_max"} \
        --sweep_csv="$dir/sweep/sweep.csv" --label_csv="$dir/sweep/cluster_ids.csv" \
        --png_plot="$dir/sweep/sweep.png" --tsne_png="$dir/sweep/tsne.png"
}

# The k values the algorithms are compared at: the chosen k and --compare_k (U = distinct labels).
compared_ks() {  # st_dir
    local chosen unique k
    chosen=$(sed -n 's/^Chosen k: \([0-9]*\)$/\1/p' "$1/sweep/sweep.csv.log")
    [[ -n $chosen ]] || die "$1/sweep/sweep.csv.log: no 'Chosen k:' line; redo stage 11 with --overwrite true"
    unique=$(cat "$1/unique_labels.txt")
    for k in $chosen $compare_k; do
        if [[ $k == U ]]; then echo "$unique"; else echo "$k"; fi
    done | sort -nu
}

compare_run() {
    local dir k alg
    dir=$(st_dir "$@")
    for k in $(compared_ks "$dir"); do
        for alg in ag kmeans spectral; do
            step "$dir/compare/${alg}_k$k.csv" "$python" "$(script "cluster_$alg")" --cluster_npy="$dir/st.npy" \
                --n_clusters="$k" --label_csv="$dir/compare/${alg}_k$k.csv" --png_plot="$dir/compare/${alg}_k$k.png"
        done
    done
    step "$dir/compare/hdbscan.csv" "$python" "$(script cluster_hdbscan)" --cluster_npy="$dir/st.npy" \
        --min_cluster_size="$min_cluster_size" --label_csv="$dir/compare/hdbscan.csv" --png_plot="$dir/compare/hdbscan.png"
}

# Composite statistics of the chosen partition and of every compared one (as the published runs
# printed them for k = 2, the paper's k and U), composite labels of the chosen one.
composite_run() {
    local dir scores out k alg
    dir=$(st_dir "$@")
    scores=$(clap_dir "$@")/$cluster_scores
    step "$dir/composite/stats.json" "$python" "$(script composite_label_stats)" --label_csv="$dir/sweep/cluster_ids.csv" \
        --top_label_scores_csv="$scores" --json_out="$dir/composite/stats.json"
    for k in $(compared_ks "$dir"); do
        for alg in ag kmeans spectral; do
            capture_step "$dir/compare/${alg}_k${k}_stats.txt" "$python" "$(script composite_label_stats)" \
                --label_csv="$dir/compare/${alg}_k$k.csv" --top_label_scores_csv="$scores"
        done
    done
    if [[ -n $llm_model ]]; then
        out=$dir/composite/composite_labels.csv
        step "$out" "$python" "$(script composite_labels)" --label_csv="$dir/sweep/cluster_ids.csv" \
            --top_label_scores_csv="$scores" --llm_model="$(model_path "$llm_model")" --composite_csv="$out" \
            --prompts_txt="$dir/composite/composite_prompts.txt" "${device_args[@]}"
    else
        out=$dir/composite/composite_prompts.txt
        step "$out" "$python" "$(script composite_labels)" --label_csv="$dir/sweep/cluster_ids.csv" \
            --top_label_scores_csv="$scores" --prompts_txt="$out"
    fi
}

# The report gathers everything under exp/: it is remade when any result is newer than it.
stage_report() {
    local report=$exp_dir/report.md
    if [[ -e $report && $overwrite != true ]] \
        && [[ -z $(find "$exp_dir" -path "$exp_dir/report*" -prune -o -type f -newer "$report" -print -quit) ]]; then
        log "  skipped (up to date): $report"
        steps_skipped=$(( steps_skipped + 1 ))
        return 0
    fi
    begin_step "$report" "$python" -m auditoryhum.report --exp_dir="$exp_dir" --out="$report"
    "$python" -m auditoryhum.report --exp_dir="$exp_dir" --out="$report" > "$report.log" 2>&1 \
        || step_failed "$report" "$report.log" $?
    show_result "$report.log"
}

stage_boost() { for_each_run boost_run; }
stage_embed() { for_each_run embed_run; }
stage_sweep() { for_each_run sweep_run; }
stage_compare() { for_each_run compare_run; }
stage_composite() { for_each_run composite_run; }

log "datasets: $datasets; MLLMs: $mllms; CLAP: $clap_model; sentence model: $st_model"
for (( current_stage = stage; current_stage <= stop_stage; current_stage++ )); do
    log "stage $current_stage: ${stage_names[$current_stage]} - ${stage_help[$current_stage]}"
    "stage_${stage_names[$current_stage]}"
done
log "finished stages $stage..$stop_stage: $steps_run steps run, $steps_skipped skipped"
