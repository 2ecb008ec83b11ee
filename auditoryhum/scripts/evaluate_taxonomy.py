"""evaluate_taxonomy.py - how good is a taxonomy: against ground truth, under resampling, and its names.

Figures (docs/method.md §11 says what each means and how to read them):

* with --ground_truth_csv (header filename,class; a file on several rows has several classes):
  NMI, ARI, V-measure (homogeneity, completeness) and purity of the partition in --label_csv, the
  same for every k of the Ward sweep (--sweep_csv with --cluster_npy), and the k that maximises
  each, beside the k the adjusted silhouette chose;
* with --sweep_csv and --cluster_npy: the S(k)/S_adj(k) curve with the chosen k's lead over its
  neighbours and over the runner-up k, and the stability of the choice over --bootstrap resamples
  of the files (seeded by --seed): the distribution of the chosen k, and the adjusted Rand index
  between each resample's partition and the full data's on the same rows;
* with --composite_csv (and/or --taxonomy_json, every level): whether the names are unique, and
  name-to-cluster retrieval - the share of clusters whose name's sentence embedding lies nearest to
  that cluster's label centroid in --cluster_npy's space (embedded with --st_model, by default the
  model its run record names).

Rows without a label, rows in no cluster (id -1) and files without ground truth are left out of
the figures and counted (printed, and in the JSON). The figures equal scikit-learn's metric
functions; a file with m classes counts as m (file, class) pairs.

Outputs: --json_out (every figure), --eval_csv (one row per k: k,silhouette,adjusted_silhouette,
nmi,ari,v_measure,homogeneity,completeness,purity) and --png_plot (the curves, chosen k marked).
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from .. import cli, clustering, formats, records
from ..errors import UserError
from ..evaluation import (
    METRIC_TITLES,
    METRICS,
    GroundTruth,
    NameCheck,
    best_k,
    bootstrap_stability,
    check_names,
    choice_margin,
    ground_truth_pairs,
    partition_scores,
    sweep_scores,
)
from ..multilabel import Memberships, read_label_embeddings, read_memberships
from ..runtime import SEED
from ..sweep import default_penalty, group_identical_rows, silhouette_sweep

PROG = "evaluate_taxonomy.py"
DEFAULT_RESAMPLES = 50
#: A sweep CSV whose S(k) differ more from the sweep of --cluster_npy was made from other rows
#: (the CSV keeps 8 decimals).
SILHOUETTE_TOLERANCE = 1e-6

log = logging.getLogger(__name__)


def get_parser():
    parser = cli.make_parser(
        PROG,
        __doc__.split("\n", 1)[1].strip(),
        f"python3 {PROG} --label_csv=st_sweep.csv --top_label_scores_csv=top_label_scores.csv "
        "--cluster_npy=st.npy --sweep_csv=sweep.csv --ground_truth_csv=ground_truth.csv "
        "--composite_csv=composite_labels.csv --taxonomy_json=taxonomy.json --json_out=evaluation.json "
        "--eval_csv=evaluation.csv --png_plot=evaluation.png",
    )
    cli.add_input(parser, "--label_csv", required=True,
                  help="cluster ids CSV of the partition to evaluate (one integer per line, -1 = in no cluster), "
                  "e.g. cluster_sweep.py's --label_csv")
    labels = parser.add_mutually_exclusive_group(required=True)
    cli.add_input(labels, "--multi_label_csv",
                  help="instead of --top_label_scores_csv: the multi-label scores CSV (features_clap_text.py "
                  "--multi_label), with --label_csv (and --cluster_npy) of its distinct labels; each file counts once "
                  "in every cluster of its labels, and a file of several classes once per class")
    cli.add_input(labels, "--top_label_scores_csv",
                  help="top-label scores CSV the partition was made from: the files and labels of its rows")
    cli.add_input(parser, "--ground_truth_csv",
                  help="ground truth: header filename,class, one row per file and class (several rows = several "
                  "classes); files named as in the scores CSV")
    cli.add_input(parser, "--cluster_npy",
                  help="the embeddings that were clustered (features_st.py's st.npy): needed by --sweep_csv "
                  "(the Ward partition at every k) and by name retrieval (the label centroids)")
    cli.add_input(parser, "--sweep_csv",
                  help="cluster_sweep.py's k sweep of --cluster_npy (k,silhouette,adjusted_silhouette): figures at "
                  "every k, the chosen k's margin, and the bootstrap")
    cli.add_input(parser, "--composite_csv", help="composite labels of the partition (composite_labels.py): its names")
    cli.add_input(parser, "--taxonomy_json",
                  help="taxonomy tree (composite_labels.py --taxonomy_json): the figures and names of every level")
    cli.add_model(parser, "--st_model",
                  help="sentence-transformers model that embeds the names for retrieval; default: the --st_model "
                  "that made --cluster_npy, from its run record (it must be that model: the centroids live in its "
                  "space)")
    parser.add_argument("--bootstrap", type=int, default=DEFAULT_RESAMPLES,
                        help="bootstrap resamples of the files for the stability figures (needs --sweep_csv); 0 = none")
    parser.add_argument("--seed", type=int, default=SEED, help="seed of the bootstrap's resampling")
    parser.add_argument("--device", default="auto", help='device of --st_model: "cpu", "cuda", "cuda:N" or "auto"')
    cli.add_output(parser, "--json_out", required=True, help="output: every figure, as JSON")
    cli.add_output(parser, "--eval_csv", help="output (needs --sweep_csv): the figures at every k of the sweep")
    cli.add_output(parser, "--png_plot", extra=True,
                   help="output (needs --sweep_csv): S(k), S_adj(k), the figures against ground truth and the "
                   "bootstrap's chosen k, the chosen k marked")
    return parser


def _check_flags(args) -> None:
    if args.bootstrap < 0:
        raise UserError(f"--bootstrap={args.bootstrap}: must be 0 or more")
    if args.sweep_csv and not args.cluster_npy:
        raise UserError("--sweep_csv needs --cluster_npy: the Ward partition at every k is rebuilt from the "
                        "embeddings that were swept")
    for flag, value in (("--eval_csv", args.eval_csv), ("--png_plot", args.png_plot)):
        if value and not args.sweep_csv:
            raise UserError(f"{flag} needs --sweep_csv: it holds the figures at every k of the sweep")


def _share(part: int, whole: int) -> str:
    return f"{part} of {whole} ({100 * part / whole:.0f} %)" if whole else f"{part} of {whole}"


def _figures_line(scores) -> str:
    return (f"NMI {scores.nmi:.4f}  ARI {scores.ari:.4f}  V-measure {scores.v_measure:.4f} "
            f"(homogeneity {scores.homogeneity:.4f}, completeness {scores.completeness:.4f})  "
            f"purity {scores.purity:.4f}")


# ----------------------------------------------------------------------------------------------
# inputs


def _read_partition(args, run) -> tuple[list[str], np.ndarray, np.ndarray, Memberships | None]:
    """The files of the rows, their cluster ids, which rows have a label, and - with several labels
    per file - the memberships the rows are."""
    if args.multi_label_csv:
        found = read_memberships(args.multi_label_csv, args.label_csv)
        run.files = found.filenames
        has_label = np.array([bool(label.strip()) for label in found.row_labels], dtype=bool)
        return found.filenames, found.cluster_ids, has_label, found
    rows = formats.read_scores_csv(args.top_label_scores_csv)
    filenames = list(rows.filenames)
    run.files = filenames
    ids = formats.read_cluster_ids(args.label_csv)
    records.check_rows_belong(args.label_csv, len(ids), args.top_label_scores_csv, filenames)
    has_label = np.array([bool(label.strip()) for label in rows.labels], dtype=bool)
    return filenames, ids, has_label, None


def _read_embeddings(args, filenames, ids, found: Memberships | None
                     ) -> tuple[clustering.Embeddings, clustering.Embeddings]:
    """The embeddings of the rows, and those that were swept: the same rows, or with several labels
    per file the distinct labels (the rows, expanded to one per membership, come first)."""
    if found is not None:
        per_label = read_label_embeddings(args.cluster_npy, args.multi_label_csv, found)
        swept = clustering.check_embeddings(per_label, args.cluster_npy)
        rows = found.expand(per_label)
        return clustering.Embeddings(rows, np.isfinite(rows).all(axis=1)), swept
    embeddings = clustering.load_embeddings(args.cluster_npy)
    records.check_rows_belong(args.cluster_npy, embeddings.array.shape[0], args.top_label_scores_csv, filenames)
    lost = np.flatnonzero((ids != formats.NO_CLUSTER) & ~embeddings.usable)
    if len(lost):
        raise UserError(f"{args.label_csv}: row {lost[0] + 1} is in cluster {ids[lost[0]]} but its row of "
                        f"{args.cluster_npy} holds NaN; were the clusters made from other embeddings?")
    return embeddings, embeddings


def _read_ground_truth(args, filenames) -> tuple[GroundTruth, dict[str, tuple[str, ...]]]:
    truth = formats.read_ground_truth_csv(args.ground_truth_csv)
    known = set(filenames)
    unknown = [name for name in truth if name not in known]
    if len(unknown) == len(truth):
        raise UserError(f"{args.ground_truth_csv}: none of its {len(truth)} files is a file of "
                        f"{_source(args)} (e.g. {unknown[0]}); files are named as in the scores CSV")
    if unknown:
        log.warning("%d files of %s are not in %s and are ignored (e.g. %s)", len(unknown), args.ground_truth_csv,
                    _source(args), unknown[0])
    return ground_truth_pairs(filenames, truth), truth


def _source(args) -> str:
    """The CSV the rows' files and labels come from."""
    return args.top_label_scores_csv or args.multi_label_csv


def _sweep_settings(sweep_csv: str) -> dict:
    """How the sweep was run (approximate, groups), from its run record; the exact sweep without one."""
    record = records.read_record(sweep_csv, check_output=False) or {}
    parameters = record.get("parameters") or {}
    return {"max_groups": parameters.get("max_groups") if parameters.get("approximate") else None}


def _penalty_rule(curve: formats.SweepCurve, n_distinct: int) -> float | None:
    """The sweep's lambda, read off its curve: None when it is the default 1/U (so each resample
    gets 1/U of its own rows), else the fixed value it used."""
    lam = float(np.median((curve.silhouette - curve.adjusted) / curve.k))
    return None if math.isclose(lam, default_penalty(n_distinct), rel_tol=1e-4, abs_tol=1e-9) else max(lam, 0.0)


def _recorded_st_model(cluster_npy: str) -> str | None:
    """The --st_model that made ``cluster_npy``, from its run record (relative paths resolved from
    the folder that run ran in)."""
    record = records.read_record(cluster_npy, check_output=False) or {}
    for item in record.get("inputs", []):
        if item.get("flag") == "--st_model":
            if item.get("hub_id"):
                return item["hub_id"]
            path = item.get("path")
            if path and not os.path.isabs(path) and record.get("cwd"):
                path = os.path.join(record["cwd"], path)
            return path
    return None


# ----------------------------------------------------------------------------------------------
# the parts


def _sweep_part(args, embeddings, truth: GroundTruth | None, report: dict, run,
                found: Memberships | None = None, truth_by_file: dict | None = None) -> dict:
    """The sweep's figures; ``embeddings`` are the rows that were swept (with several labels per
    file: the distinct labels, each k's partition then regrouped into memberships)."""
    curve = formats.read_sweep_csv(args.sweep_csv)
    rows = embeddings.rows
    n_distinct = len(group_identical_rows(rows).counts)
    k_min, k_max = int(curve.k[0]), int(curve.k[-1])
    if k_max > len(rows) - 1 or k_min < 2:
        raise UserError(f"{args.sweep_csv}: k = {k_min}..{k_max} cannot be a sweep of the {len(rows)} usable rows of "
                        f"{args.cluster_npy}")
    log.info("Ward tree of %s and its partitions for k = %d..%d", args.cluster_npy, k_min, k_max)
    sweep = silhouette_sweep(rows, k_max, **_sweep_settings(args.sweep_csv))
    rebuilt = sweep.silhouette[curve.k - 2]
    differs = np.abs(rebuilt - curve.silhouette)
    if not np.all(differs <= SILHOUETTE_TOLERANCE):
        first = int(np.flatnonzero(~(differs <= SILHOUETTE_TOLERANCE))[0])
        raise UserError(f"{args.sweep_csv}: S({curve.k[first]}) = {curve.silhouette[first]:.6f} there, but the Ward "
                        f"sweep of {args.cluster_npy} gives {rebuilt[first]:.6f}; was it made from other embeddings?")
    chosen_k = curve.best_k
    chosen = int(np.flatnonzero(curve.k == chosen_k)[0])
    margin = choice_margin(curve.k, curve.adjusted, chosen_k)
    penalty = _penalty_rule(curve, n_distinct)
    part = {"k": curve.k.tolist(), "silhouette": curve.silhouette.tolist(),
            "adjusted_silhouette": curve.adjusted.tolist(),
            "penalty": default_penalty(n_distinct) if penalty is None else penalty,
            "penalty_rule": "1/U" if penalty is None else "fixed", "chosen_k": chosen_k,
            "silhouette_at_chosen_k": float(curve.silhouette[chosen]),
            "adjusted_silhouette_at_chosen_k": float(curve.adjusted[chosen]), "margin": margin}
    report["chosen_k"] = chosen_k
    lead = "; ".join(f"lead over k = {chosen_k + step}: {margin[side]:.4f}"
                     for side, step in (("below", -1), ("above", 1)) if margin[side] is not None)
    runner = "" if margin["runner_up_k"] is None else \
        f"; runner-up k = {margin['runner_up_k']} ({margin['runner_up_gap']:.4f} behind)"
    print(f"Sweep {args.sweep_csv}: k = {k_min}..{k_max}, the adjusted silhouette chose k = {chosen_k} "
          f"(S {curve.silhouette[chosen]:.4f}, S_adj {curve.adjusted[chosen]:.4f}; {lead}{runner})")
    run.results.update(chosen_k=chosen_k, chosen_k_lead_below=margin["below"], chosen_k_lead_above=margin["above"])

    if truth is not None:
        if found is None:
            per_k = sweep_scores(sweep, truth.restricted(embeddings.usable), curve.k.tolist())
        else:
            per_k = [_membership_scores(found.regrouped(embeddings.expand(sweep.cluster_ids(k))), truth_by_file)
                     for k in tqdm(curve.k.tolist(), desc="figures per k", unit="k")]
        for name in METRICS:
            part[name] = [getattr(scores, name) for scores in per_k]
        part["best_k"] = {}
        print(f"The k that maximises each figure against ground truth (the adjusted silhouette chose k = {chosen_k}):")
        for name in METRICS:
            found = best_k(curve.k, part[name])
            if found is None:
                continue
            part["best_k"][name] = {"k": found[0], "value": found[1]}
            run.results[f"best_k_by_{name}"] = found[0]
            print(f"  {METRIC_TITLES[name]:<13} k = {found[0]:<4} ({found[1]:.4f}; at k = {chosen_k}: "
                  f"{part[name][chosen]:.4f})")

    if args.bootstrap:
        progress = lambda resamples: tqdm(resamples, desc="bootstrap", unit="resample")  # noqa: E731
        stability = bootstrap_stability(rows, sweep.cluster_ids(chosen_k), k_min, k_max, penalty, chosen_k,
                                        args.bootstrap, args.seed, progress)
        figures = stability.as_dict(chosen_k)
        report["stability"] = figures
        counts = sorted(stability.k_counts().items(), key=lambda item: (-item[1], item[0]))
        spread = ", ".join(f"k = {k} in {c}" for k, c in counts[:6]) + (", ..." if len(counts) > 6 else "")
        unswept = figures["resamples"] - figures["swept"]
        print(f"Stability over {args.bootstrap} bootstrap resamples of the files (seed {args.seed}): {spread}"
              + (f" ({unswept} too small to sweep)" if unswept else ""))
        if figures["mean_ari"] is not None:
            at_k = "" if figures["mean_ari_at_chosen_k"] is None else \
                f"; at k = {chosen_k}: {figures['mean_ari_at_chosen_k']:.4f}"
            print(f"  chosen k again in {_share(sum(c for k, c in counts if k == chosen_k), figures['swept'])}; "
                  f"mean ARI to the full partition {figures['mean_ari']:.4f}{at_k}")
        run.results.update(bootstrap_resamples=args.bootstrap, bootstrap_share_at_chosen_k=figures["share_at_chosen_k"],
                           bootstrap_mean_ari=figures["mean_ari"],
                           bootstrap_mean_ari_at_chosen_k=figures["mean_ari_at_chosen_k"])
    return part


def _membership_scores(found: Memberships, truth_by_file: dict):
    """The figures of one clustering of the distinct labels, over its memberships."""
    has_label = np.array([bool(label) for label in found.row_labels], dtype=bool)
    pairs = ground_truth_pairs(found.filenames, truth_by_file).restricted(has_label)
    return partition_scores(pairs, found.cluster_ids[has_label])


def _names_part(what: str, names: dict[int, str], ids: np.ndarray, embeddings, embed, run_key: str, run) -> dict:
    check: NameCheck = check_names(names, None if embeddings is None else embeddings.array, ids, embed)
    shared = len(check.duplicates)
    unique = "unique" if check.unique else f"NOT unique: {shared} name{'' if shared == 1 else 's'} held by more " \
        f"than one cluster ({'; '.join(repr(name) for name in check.duplicates[:3])})"
    retrieval = "" if check.retrieval is None else \
        f"; name-to-cluster retrieval {_share(check.retrieved, len(check.clusters))}"
    print(f"Names, {what}: {len(check.clusters)} clusters, {unique}{retrieval}")
    run.results[f"{run_key}names_unique"] = check.unique
    run.results[f"{run_key}name_retrieval"] = check.retrieval
    return check.as_dict()


def _embedder(args, embeddings):
    """The sentence model's ``embed(texts)``, or None where retrieval cannot be measured."""
    if embeddings is None:
        log.warning("name retrieval needs --cluster_npy (the label centroids); only uniqueness is checked")
        return None
    model_path = args.st_model or _recorded_st_model(args.cluster_npy)
    if model_path is None:
        raise UserError(f"{args.cluster_npy}: its run record names no --st_model; pass --st_model (the model that "
                        "embedded it) to measure name retrieval")
    from ..text_embedding import encoder, load_on_device

    return encoder(load_on_device(model_path, args.device))


def _names_of_composite(path: str, ids: np.ndarray) -> dict[int, str]:
    names = {row.cluster: row.composite_label for row in formats.read_composite_csv(path)}
    clusters = set(ids.tolist()) - {formats.NO_CLUSTER}
    missing = sorted(clusters - set(names))
    if missing or set(names) - clusters:
        raise UserError(f"{path}: names clusters {sorted(names)[:8]}, but the partition has clusters "
                        f"{sorted(clusters)[:8]}; was it made from this --label_csv?")
    return names


@cli.script(get_parser, outputs_together=True)
def main(args, run) -> int:
    _check_flags(args)
    filenames, ids, has_label, found = _read_partition(args, run)
    embeddings, swept = _read_embeddings(args, filenames, ids, found) if args.cluster_npy else (None, None)
    truth, truth_by_file = _read_ground_truth(args, filenames) if args.ground_truth_csv else (None, None)
    clustered = ids != formats.NO_CLUSTER
    evaluated = has_label & clustered & (truth.has_truth if truth is not None else True)
    counts = {"rows": len(ids), "rows_without_a_label": int((~has_label).sum()),
              "rows_in_no_cluster": int((has_label & ~clustered).sum()),
              "rows_without_ground_truth": int((has_label & clustered & ~truth.has_truth).sum()) if truth else None,
              "rows_evaluated": int(evaluated.sum())}
    clusters = sorted(set(ids[has_label & clustered].tolist()))
    report: dict = {"label_csv": args.label_csv, "clusters": len(clusters), **counts}
    left_out = "; ".join(f"{value} {key[5:].replace('_', ' ')}" for key, value in counts.items()
                         if key.startswith("rows_") and key != "rows_evaluated" and value)
    print(f"Partition {args.label_csv}: {len(clusters)} clusters, {counts['rows']} rows, "
          f"{counts['rows_evaluated']} evaluated" + (f" (left out: {left_out})" if left_out else ""))
    if found is not None:
        report["multi_label"] = {**found.summary(), "counted": "the rows are (file, cluster) memberships: each file "
                                 "once in every cluster of its labels, and once per class of its ground truth"}
        print(f"Rows: {found.note()}")
        run.results.update({f"multi_label_{key}": value for key, value in found.summary().items()})
    run.results.update(clusters=len(clusters), **counts)

    if truth is not None:
        scored = truth.restricted(has_label)
        scores = partition_scores(scored, ids[has_label])
        several = int(np.sum(np.bincount(truth.rows, minlength=len(ids))[evaluated] > 1))
        report["ground_truth"] = {"csv": args.ground_truth_csv, "classes": list(truth.class_names),
                                  "pairs_evaluated": scores.pairs, "files_with_several_classes": several}
        report.update(scores.as_dict())
        print(f"Against ground truth {args.ground_truth_csv} ({truth.n_classes} classes; {scores.pairs} (file, class) "
              f"pairs of {counts['rows_evaluated']} files" + (f", {several} with several classes" if several else "")
              + "):")
        print(f"  {_figures_line(scores)}")
        run.results.update(scores.as_dict())

    if args.sweep_csv:
        report["sweep"] = _sweep_part(args, swept, truth, report, run, found, truth_by_file)

    if args.composite_csv or args.taxonomy_json:
        embed = _embedder(args, embeddings)
        report["names"] = []
        if args.composite_csv:
            names = _names_of_composite(args.composite_csv, ids)
            figures = _names_part(args.composite_csv, names, ids, embeddings, embed, "", run)
            report["names"].append({"source": args.composite_csv, **figures})
        if args.taxonomy_json:
            tree = formats.read_taxonomy_json(args.taxonomy_json)
            records.check_same_files(args.taxonomy_json, list(tree.files), _source(args), filenames)
            report["levels"] = []
            for level in range(1, len(tree.levels) + 1):
                level_ids = tree.level_ids(level)
                figures = _names_part(f"taxonomy level {level} of {len(tree.levels)}", tree.names(level), level_ids,
                                      embeddings, embed, f"level_{level}_", run)
                if truth is not None:
                    scores = partition_scores(truth.restricted(has_label), level_ids[has_label])
                    figures.update(scores.as_dict())
                    print(f"  against ground truth: {_figures_line(scores)}")
                report["levels"].append({"level": level, **figures})

    formats.write_json(args.json_out, report)
    log.info(f"evaluation written to {args.json_out}")
    if args.eval_csv:
        formats.write_evaluation_csv(args.eval_csv, report["sweep"])
        log.info(f"figures at every k written to {args.eval_csv}")
    if args.png_plot:
        from ..evaluation_plot import plot_evaluation

        sweep = report["sweep"]
        plot_evaluation(args.png_plot, sweep["k"], sweep["silhouette"], sweep["adjusted_silhouette"],
                        sweep["chosen_k"], {name: sweep[name] for name in METRICS} if truth is not None else None,
                        report.get("stability", {}).get("chosen_k"),
                        f"Evaluation of {Path(args.label_csv).name}")
        log.info(f"evaluation plot written to {args.png_plot}")
    return 0
