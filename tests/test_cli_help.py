"""Every published script exists as a top-level wrapper, a console command and an in-process
``main``, and its --help lists the upstream flags and ends with a copy-paste example."""

import importlib
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

UPSTREAM_FLAGS = {
    "util_resample": ["--filedir", "--sampling_rate", "--bits", "--channels"],
    "label_qwen2a": ["--filedir", "--qwen2a_model", "--annotations", "--text_label_csv"],
    "label_qwen2_5o": ["--filedir", "--qwen2_5o_model", "--annotations", "--text_label_csv"],
    "label_qwen3o": ["--filedir", "--qwen3o_model", "--annotations", "--text_label_csv"],
    "label_gemma3n": ["--filedir", "--gemma3n_model", "--annotations", "--text_label_csv"],
    "label_google_gen_ai_cloud": ["--filedir", "--genai_id", "--api_key", "--annotations", "--text_label_csv"],
    "features_mfcc": ["--filedir", "--mfcc_npy"],
    "features_soundnet": ["--filedir", "--soundnet_npy"],
    "features_ast": ["--filedir", "--ast_model", "--ast_npy"],
    "features_qwen2a": ["--filedir", "--qwen2a_model", "--qwen2a_npy"],
    "features_gemma3n": ["--filedir", "--gemma3n_model", "--gemma3n_npy"],
    "features_clap": ["--filedir", "--clap_model", "--clap_npy"],
    "features_clap_text": ["--filedir", "--clap_model", "--clap_npy", "--text_label_csv", "--top_label_scores_csv"],
    "features_st": ["--st_model", "--label_csv", "--st_npy"],
    "cluster_ag": ["--cluster_npy", "--n_clusters", "--label_csv", "--png_plot"],
    "cluster_kmeans": ["--cluster_npy", "--n_clusters", "--label_csv", "--png_plot"],
    "cluster_spectral": ["--cluster_npy", "--n_clusters", "--label_csv", "--png_plot"],
    "cluster_hdbscan": ["--cluster_npy", "--min_cluster_size", "--label_csv", "--png_plot"],
    "cluster_sweep": ["--cluster_npy", "--k_min", "--k_max", "--penalty", "--sweep_csv", "--label_csv", "--png_plot"],
    "composite_label_stats": ["--label_csv", "--top_label_scores_csv", "--json_out"],
    "composite_labels": ["--label_csv", "--top_label_scores_csv", "--llm_model", "--naming", "--cluster_npy",
                         "--taxonomy_json", "--levels"],
    "util_merge_csv": ["--csv1", "--csv2", "--csv3"],
    "util_score_boost": ["--csv1", "--csv2", "--csv3"],
    # new commands of this suite
    "util_review_app": ["--review_csv", "--filedir", "--top_label_scores_csv", "--text_label_csv", "--clap_model",
                        "--clap_npy", "--port", "--host", "--token"],
    "taxonomy_report": ["--filedir", "--top_label_scores_csv", "--st_npy", "--cluster_ids_csv", "--sweep_csv",
                        "--composite_csv", "--taxonomy_json", "--evaluation_json", "--out_html"],
    "evaluate_taxonomy": ["--label_csv", "--top_label_scores_csv", "--ground_truth_csv", "--cluster_npy", "--sweep_csv",
                          "--composite_csv", "--taxonomy_json", "--bootstrap", "--seed", "--json_out", "--eval_csv",
                          "--png_plot"],
    "train_scene_classifier": ["--features_npy", "--label_csv", "--taxonomy_json", "--onnx_out", "--json_out",
                               "--edge_features_npy", "--confusion_png"],
    "export_taxonomy": ["--filedir", "--top_label_scores_csv", "--text_label_csv", "--annotations_csv",
                        "--taxonomy_json", "--label_csv", "--dataset_dir", "--label_studio_json", "--taxonomy_csv"],
    "util_label_studio_import": ["--label_studio_json", "--top_label_scores_csv", "--annotations_csv"],
    "util_agreement": ["--text_label_csvs", "--names", "--top_label_scores_csvs", "--st_model", "--threshold",
                       "--json_out", "--pairs_csv"],
}


@pytest.mark.parametrize("name", sorted(UPSTREAM_FLAGS))
def test_help_lists_upstream_flags_and_an_example(name, capsys):
    module = importlib.import_module(f"auditoryhum.scripts.{name}")
    parser = module.get_parser()
    options = {option for action in parser._actions for option in action.option_strings}
    assert set(UPSTREAM_FLAGS[name]) <= options
    with pytest.raises(SystemExit) as exit_info:
        module.main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert f"python3 {name}.py" in text.split("example:")[-1]


def test_every_script_has_a_wrapper_and_a_console_command():
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert set(UPSTREAM_FLAGS) <= set(scripts)
    for name, target in scripts.items():
        assert target == f"auditoryhum.scripts.{name}:main"
        assert (REPO / f"{name}.py").is_file()


def test_wrapper_runs_as_a_script():
    result = subprocess.run([sys.executable, str(REPO / "util_merge_csv.py"), "--help"],
                            capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0 and "--csv1" in result.stdout


def test_every_registry_model_and_algorithm_has_its_script_wrapper_and_command_and_the_docs_table_lists_them():
    from auditoryhum import models
    from auditoryhum.clustering import ALGORITHMS

    commands = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    scripts = [script for model in models.ALL for script in (model.label_script, model.feature_script) if script]
    scripts += [algorithm.script for algorithm in ALGORITHMS.values()]
    for script in scripts:
        assert (REPO / f"{script}.py").is_file() and commands[script] == f"auditoryhum.scripts.{script}:main"
        assert callable(importlib.import_module(f"auditoryhum.scripts.{script}").main)
    table = (REPO / "docs" / "architecture.md").read_text()
    for model in models.ALL:
        listed = ", ".join(f"`{s}.py`" for s in (model.label_script, model.feature_script) if s) or "—"
        assert (f"| `{model.key}` | {model.display_name} | `--{model.model_flag}` | `{model.default_model}` | "
                f"{listed} |") in table, model.key
