"""composite_labels.py - a composite label per cluster from a local instruction-tuned LLM, and the
taxonomy tree (taxonomy.json) with a unique name for every node."""

import logging
import os

import numpy as np
from tqdm.auto import tqdm

from .. import cli, clustering, formats, records
from ..composite import (
    NAMING_MODES,
    SENTENCE,
    SHORT,
    SHORT_NAME_TOKENS,
    LabelStats,
    LocalLLM,
    format_prompts_file,
    format_table,
    read_label_stats,
    read_multi_label_stats,
    top_labels_text,
)
from ..errors import UserError, counted
from ..formats import CompositeLabel, write_composite_csv
from ..multilabel import read_label_embeddings
from ..runtime import CUDA_BFLOAT16, SEED, seed_everything
from ..taxonomy_tree import AUTO, Level, Namer, build_levels, format_tree, name_tree, parse_levels

log = logging.getLogger(__name__)

PROG = "composite_labels.py"
DEFAULT_PROMPTS_TXT = "composite_prompts.txt"
DEFAULT_MAX_NEW_TOKENS = 32
#: torch threads on a CPU: measured fastest for SmolLM2-135M on a shared 2-core machine
#: (benchmarks/bench_naming.py, benchmarks/README.md)
DEFAULT_CPU_THREADS = 1

DESCRIPTION = f"""\
Name every cluster with a local instruction-tuned LLM (greedy decoding). --naming={SENTENCE} (the
default, the published recipe) gives the model each cluster's label-frequency prompt - the text
composite_label_stats.py prints - and its answer, a sentence, is the composite label (what the
authors' README did by hand with `transformers chat`, a line transformers 5 no longer accepts);
--naming={SHORT} asks for a name of 2 to 4 words, with two worked examples given as chat turns
(what small models need to answer with a name). Names are unique: where two clusters get the same
name, the smaller is asked again with the names already taken in context, and on a second clash
gets its most frequent label as a suffix. Without --llm_model the prompts are written to
{DEFAULT_PROMPTS_TXT} for any chat tool.

With --taxonomy_json (and --cluster_npy, the embeddings that were clustered) it also writes the
taxonomy tree: the partition is the last level, and coarser levels above it are chosen from the
Ward tree by the same adjusted silhouette, restricted to merges of the level below (--levels
{AUTO}: up to 3 levels), or have the sizes --levels gives. Each level is named in one round, all
its names unique; a cluster of clusters is named from its children's names. The model is loaded
once for all levels."""


def get_parser():
    parser = cli.make_parser(
        PROG, DESCRIPTION,
        f"python3 {PROG} --label_csv=cluster_ids.csv --top_label_scores_csv=top_label_scores.csv "
        "--llm_model=Qwen2.5-1.5B-Instruct --composite_csv=composite_labels.csv --naming=short "
        "--cluster_npy=st.npy --taxonomy_json=taxonomy.json",
    )
    cli.add_input(parser, "--label_csv", required=True,
                  help="cluster ids CSV (one integer per line) from a cluster_*.py script")
    labels = parser.add_mutually_exclusive_group(required=True)
    cli.add_input(labels, "--top_label_scores_csv",
                  help="top-label scores CSV from features_clap_text.py, row i = row i of --label_csv")
    cli.add_input(labels, "--multi_label_csv",
                  help="instead: the multi-label scores CSV (features_clap_text.py --multi_label), with --label_csv "
                  "and --cluster_npy of its distinct labels; each file counts once in every cluster of its labels, "
                  "and the tree's rows are (file, cluster) memberships")
    cli.add_model(parser, "--llm_model",
                  help="an instruction-tuned causal LM with a chat template: a model folder (e.g. a git clone of "
                  "Qwen2.5-1.5B-Instruct), a .gguf file, or a folder holding one .gguf file (needs the gguf "
                  "package; de-quantised on loading); without it only the prompts are written")
    cli.add_output(parser, "--composite_csv", default="composite_labels.csv",
                   help="output: cluster,n_samples,composite_label,top_labels (one row per cluster); while the "
                   "model works the rows so far are in <composite_csv>.partial")
    cli.add_output(parser, "--prompts_txt",
                   help=f"write every cluster's prompt here (default without --llm_model: {DEFAULT_PROMPTS_TXT})")
    parser.add_argument("--naming", choices=NAMING_MODES, default=SENTENCE,
                        help=f"{SENTENCE}: the published prompt, a sentence per cluster; {SHORT}: a name of 2-4 words")
    cli.add_input(parser, "--cluster_npy",
                  help="the embeddings the clusters were made from (st.npy): the taxonomy's levels are built on them")
    cli.add_output(parser, "--taxonomy_json",
                   help="output (needs --cluster_npy and --llm_model): the taxonomy tree - every level's cluster ids, "
                   "each node's files, label counts, name and parent")
    parser.add_argument("--levels", default=AUTO,
                        help=f"levels above the partition in --taxonomy_json: {AUTO} (chosen by the adjusted "
                        "silhouette, up to 3 levels in all), or their numbers of clusters, coarsest first (e.g. 3,12)")
    parser.add_argument("--max_new_tokens", type=int, default=None,
                        help=f"longest answer, in tokens (default: {DEFAULT_MAX_NEW_TOKENS} for {SENTENCE}, "
                        f"{SHORT_NAME_TOKENS} for {SHORT})")
    parser.add_argument("--top_n", type=int, default=5,
                        help="how many of the most frequent labels go into the top_labels column")
    cli.add_runtime_arguments(parser, CUDA_BFLOAT16)
    cli.add_procedural(parser, "--threads", type=int, default=None,
                       help=f"torch threads on a CPU (default {DEFAULT_CPU_THREADS}: fastest for a small model on a "
                       "busy machine, see benchmarks/README.md)")
    return parser


def _write_prompts(path: str, stats: LabelStats) -> None:
    formats.write_text_atomic(path, format_prompts_file(stats))
    log.info(f"wrote {counted(len(stats.clusters), 'prompt')} (one per cluster) to {path}")


def _check_flags(args) -> None:
    for flag, value in (("--max_new_tokens", args.max_new_tokens), ("--top_n", args.top_n),
                        ("--threads", args.threads)):
        if value is not None and value < 1:
            raise UserError(f"{flag}={value}: must be at least 1")
    if args.taxonomy_json and not args.cluster_npy:
        raise UserError("--taxonomy_json needs --cluster_npy: the levels above the partition are built on the "
                        "embeddings that were clustered")
    if args.taxonomy_json and not args.llm_model:
        raise UserError("--taxonomy_json needs --llm_model: every node of the tree is named by the model")


def _levels(args, stats: LabelStats) -> list[Level]:
    """The partition of --label_csv, with the levels above it when --taxonomy_json asks for them."""
    ids = np.asarray(stats.row_cluster_ids, dtype=np.int64)
    if not args.taxonomy_json:
        return [Level(ids, len(stats.clusters), "the partition")]
    sizes = parse_levels(args.levels)
    if stats.memberships is None:
        embeddings = clustering.load_embeddings(args.cluster_npy)
        records.check_rows_belong(args.cluster_npy, embeddings.array.shape[0], args.top_label_scores_csv, stats.files)
    else:  # the embeddings of the distinct labels, one row per membership
        per_label = read_label_embeddings(args.cluster_npy, args.multi_label_csv, stats.memberships)
        embeddings = clustering.check_embeddings(stats.memberships.expand(per_label), args.cluster_npy)
    lost = [row for row, cluster in enumerate(ids.tolist())
            if cluster != formats.NO_CLUSTER and not embeddings.usable[row]]
    if lost:
        raise UserError(f"{args.label_csv}: row {lost[0] + 1} is in cluster {ids[lost[0]]} but its row of "
                        f"{args.cluster_npy} holds NaN; were the clusters made from other embeddings?")
    levels = build_levels(embeddings.array, ids, sizes)
    print("Levels: " + " > ".join(f"{level.k} clusters ({level.chosen_by})" for level in levels))
    return levels


def _set_threads(args, device: str, run) -> None:
    if device != "cpu":
        return
    import torch

    threads = args.threads or DEFAULT_CPU_THREADS
    torch.set_num_threads(threads)
    run.parameters["threads"] = threads


@cli.script(get_parser, outputs_together=True)
def main(args, run) -> int:
    _check_flags(args)
    stats = read_label_stats(args.label_csv, args.top_label_scores_csv) if args.top_label_scores_csv else \
        read_multi_label_stats(args.label_csv, args.multi_label_csv)
    run.files = stats.files
    run.results["clusters"] = len(stats.clusters)
    if args.llm_model is None:
        if not args.prompts_txt:
            args.prompts_txt = DEFAULT_PROMPTS_TXT
            run.add_output("--prompts_txt", args.prompts_txt)
        _write_prompts(args.prompts_txt, stats)
        log.info("no --llm_model given: paste each prompt into a chat tool to get the composite labels")
        return 0
    if args.prompts_txt:
        _write_prompts(args.prompts_txt, stats)
    levels = _levels(args, stats)

    runtime = cli.runtime_from_args(args, run)
    _set_threads(args, runtime.device, run)
    max_new_tokens = args.max_new_tokens or (SHORT_NAME_TOKENS if args.naming == SHORT else DEFAULT_MAX_NEW_TOKENS)
    llm = LocalLLM(args.llm_model, runtime, max_new_tokens)
    seed_everything()
    run.parameters.update(seed=SEED, decoding="greedy", max_new_tokens=max_new_tokens)

    # The last level's names so far go to <composite_csv>.partial as they come, so a crash keeps
    # them; the CSV itself appears only once every name is made unique.
    partial = f"{args.composite_csv}.partial"
    by_cluster = {cluster.cluster: cluster for cluster in stats.clusters}
    order = sorted(by_cluster)
    named: list[CompositeLabel] = []

    def keep_partial(cluster_id: int, name: str) -> None:
        cluster = by_cluster.get(cluster_id)
        if cluster is not None:
            named.append(CompositeLabel(cluster.cluster, cluster.n_samples, name, top_labels_text(cluster, args.top_n)))
            write_composite_csv(partial, named)

    namer = Namer(args.naming, llm.chat, progress=lambda items, **kwargs: tqdm(items, **kwargs), on_named=keep_partial)
    about = {"label_csv": args.label_csv, "top_label_scores_csv": args.top_label_scores_csv,
             "cluster_npy": args.cluster_npy, "llm_model": args.llm_model, "naming": args.naming}
    if stats.memberships is not None:
        about.update(multi_label_csv=args.multi_label_csv, multi_label=stats.memberships.summary(),
                     rows="(file, cluster) memberships: a file is in every cluster of its labels")
    tree = name_tree(levels, list(stats.row_labels), stats.files, namer, about)

    names = tree.names(len(levels))
    rows = [CompositeLabel(c, by_cluster[c].n_samples, names[c], top_labels_text(by_cluster[c], args.top_n))
            for c in order]
    write_composite_csv(args.composite_csv, rows)
    if os.path.exists(partial):
        os.unlink(partial)
    print(format_table(rows))
    log.info(f"composite labels written to {args.composite_csv}")
    if args.taxonomy_json:
        formats.write_taxonomy_json(args.taxonomy_json, tree)
        print(format_tree(tree))
        log.info(f"taxonomy tree written to {args.taxonomy_json}")
    run.results.update(empty_answers=namer.fallbacks, levels=len(levels),
                       clusters_per_level=[level.k for level in levels], **namer.stats())
    if stats.memberships is not None:
        run.results.update({f"multi_label_{key}": value for key, value in stats.memberships.summary().items()})
    return 0

