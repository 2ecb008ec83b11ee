"""composite_labels.py - a short composite label per cluster from a local instruction-tuned LLM."""

import logging
import os

from tqdm.auto import tqdm

from .. import cli, formats
from ..composite import (
    LabelStats,
    LocalLLM,
    clean_composite_label,
    cluster_prompt,
    format_prompts_file,
    format_table,
    read_label_stats,
    top_labels_text,
)
from ..formats import CompositeLabel, write_composite_csv
from ..errors import UserError, counted
from ..runtime import CUDA_BFLOAT16, SEED, seed_everything

log = logging.getLogger(__name__)

PROG = "composite_labels.py"
DEFAULT_PROMPTS_TXT = "composite_prompts.txt"


def get_parser():
    parser = cli.make_parser(
        PROG,
        "Name every cluster: its label-frequency prompt (the same text composite_label_stats.py prints) "
        "goes to a local instruction-tuned LLM (greedy decoding) and the answer is the cluster's composite "
        f"label. Without --llm_model the prompts are written to {DEFAULT_PROMPTS_TXT} for any chat tool.",
        f"python3 {PROG} --label_csv=cluster_ids.csv --top_label_scores_csv=top_label_scores.csv "
        "--llm_model=Qwen2.5-1.5B-Instruct --composite_csv=composite_labels.csv",
    )
    cli.add_input(parser, "--label_csv", required=True,
                  help="cluster ids CSV (one integer per line) from a cluster_*.py script")
    cli.add_input(parser, "--top_label_scores_csv", required=True,
                  help="top-label scores CSV from features_clap_text.py, row i = row i of --label_csv")
    cli.add_model(parser, "--llm_model",
                  help="an instruction-tuned causal LM with a chat template: a model folder (e.g. a git clone of "
                  "Qwen2.5-1.5B-Instruct), a .gguf file, or a folder holding one .gguf file (needs the gguf "
                  "package; de-quantised on loading); without it only the prompts are written")
    cli.add_output(parser, "--composite_csv", default="composite_labels.csv",
                   help="output: cluster,n_samples,composite_label,top_labels (one row per cluster); while the "
                   "model works the rows so far are in <composite_csv>.partial")
    cli.add_output(parser, "--prompts_txt",
                   help=f"write every cluster's prompt here (default without --llm_model: {DEFAULT_PROMPTS_TXT})")
    parser.add_argument("--max_new_tokens", type=int, default=32, help="longest composite label, in tokens")
    parser.add_argument("--top_n", type=int, default=5,
                        help="how many of the most frequent labels go into the top_labels column")
    cli.add_runtime_arguments(parser, CUDA_BFLOAT16)
    return parser


def _write_prompts(path: str, stats: LabelStats) -> None:
    formats.write_text_atomic(path, format_prompts_file(stats))
    print(f"wrote {counted(len(stats.clusters), 'prompt')} (one per cluster) to {path}")


@cli.script(get_parser)
def main(args, run) -> int:
    for flag, value in (("--max_new_tokens", args.max_new_tokens), ("--top_n", args.top_n)):
        if value < 1:
            raise UserError(f"{flag}={value}: must be at least 1")
    stats = read_label_stats(args.label_csv, args.top_label_scores_csv)
    run.results["clusters"] = len(stats.clusters)
    if args.llm_model is None:
        if not args.prompts_txt:
            args.prompts_txt = DEFAULT_PROMPTS_TXT
            run.add_output("--prompts_txt", args.prompts_txt)
        _write_prompts(args.prompts_txt, stats)
        print("no --llm_model given: paste each prompt into a chat tool to get the composite labels")
        return 0
    if args.prompts_txt:
        _write_prompts(args.prompts_txt, stats)

    llm = LocalLLM(args.llm_model, cli.runtime_from_args(args, run), args.max_new_tokens)
    seed_everything()
    run.parameters.update(seed=SEED, decoding="greedy")
    # The rows so far go to <composite_csv>.partial after every cluster, so a crash keeps them; the
    # CSV itself appears only with every cluster named.
    partial = f"{args.composite_csv}.partial"
    rows: list[CompositeLabel] = []
    for cluster in tqdm(stats.clusters, desc="composite labels", unit="cluster"):
        label = clean_composite_label(llm.answer(cluster_prompt(cluster)))
        if not label:
            log.warning("cluster %d: the model gave an empty answer", cluster.cluster)
        rows.append(CompositeLabel(cluster.cluster, cluster.n_samples, label, top_labels_text(cluster, args.top_n)))
        write_composite_csv(partial, rows)
    os.replace(partial, args.composite_csv)
    print(format_table(rows))
    print(f"composite labels written to {args.composite_csv}")
    run.results["empty_answers"] = sum(not row.composite_label for row in rows)
    return 0
