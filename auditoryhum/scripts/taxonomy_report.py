"""taxonomy_report.py - one self-contained HTML page to explore a clustering (see auditoryhum.taxonomy_page)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from .. import cli, formats, records, review
from ..errors import UserError, counted
from ..filelist import list_audio_files
from ..multilabel import read_label_embeddings, read_memberships
from ..taxonomy_page import (
    SIMULATED_NOTE,
    build_taxonomy,
    check_tree_matches,
    read_composite_labels,
    read_sweep,
    relative_audio_url,
    render_page,
)

log = logging.getLogger(__name__)


def get_parser():
    parser = cli.make_parser(
        "taxonomy_report.py",
        "Write one self-contained HTML page to explore a clustering of the labels: the S(k)/S_adj(k)\n"
        "curve of the k sweep with the chosen k; a map of the label embeddings (the cached t-SNE),\n"
        "one point per label of a cluster sized by its files, where hovering a point shows its label\n"
        "and files and clicking plays a clip; the taxonomy tree (--taxonomy_json), collapsible; the\n"
        "evaluation (--evaluation_json): figures against ground truth and against k, the stability\n"
        "of the chosen k, the names' uniqueness and retrieval; a search box over labels and file\n"
        "names; and the clusters, largest first, each with its composite label (or its top labels),\n"
        "its label distribution, the clips nearest its centroid, and every file with a player.\n"
        "The page opens from disk with\n"
        "no server and no network (plotly.js is inside it); audio is referenced by paths relative\n"
        "to the page's folder, so keep the page where it was written, beside the audio's folder.\n"
        "Rows with cluster id -1 and a NaN embedding (files without a label) get no point and are\n"
        "listed apart; rows with id -1 and an embedding (HDBSCAN noise) are drawn in grey.",
        'python3 taxonomy_report.py --filedir="*.wav" --top_label_scores_csv=top_label_scores.csv '
        "--st_npy=st.npy --cluster_ids_csv=cluster_ids.csv --sweep_csv=sweep.csv "
        "--composite_csv=composite_labels.csv --taxonomy_json=taxonomy.json --evaluation_json=evaluation.json "
        "--out_html=taxonomy.html",
    )
    cli.add_filedir_argument(parser)
    labels = parser.add_mutually_exclusive_group(required=True)
    cli.add_input(labels, "--top_label_scores_csv",
                  help="top-label scores CSV the embeddings were made from (features_clap_text.py)")
    cli.add_input(labels, "--multi_label_csv",
                  help="instead: the multi-label scores CSV (features_clap_text.py --multi_label), with --st_npy and "
                  "--cluster_ids_csv of its distinct labels; each file is shown in every cluster of its labels")
    cli.add_input(parser, "--st_npy", required=True, help="label embeddings that were clustered (features_st.py)")
    cli.add_input(parser, "--cluster_ids_csv", required=True,
                  help="cluster ids, one per row (cluster_sweep.py --label_csv, or a cluster_*.py script)")
    cli.add_input(parser, "--sweep_csv", default=None,
                  help="k sweep of cluster_sweep.py (k,silhouette,adjusted_silhouette); draws the curve")
    cli.add_input(parser, "--composite_csv", default=None,
                  help="composite labels of composite_labels.py; when absent (or the file does not exist) "
                  "each cluster is named by its top labels")
    cli.add_input(parser, "--review_csv", default=None,
                  help="the review sheet (util_review_sheet.py) of the notes merged into the labels, when the "
                  "reviewed labels were clustered: every label that came from a simulated note is marked so")
    cli.add_input(parser, "--taxonomy_json", default=None,
                  help="taxonomy tree of composite_labels.py --taxonomy_json, made from --cluster_ids_csv: the tree")
    cli.add_input(parser, "--evaluation_json", default=None,
                  help="evaluate_taxonomy.py --json_out of this partition: the evaluation and stability panels")
    cli.add_output(parser, "--out_html", default="taxonomy.html", help="output: the page")
    parser.add_argument("--title", default=None, help="page title; default: from the scores CSV's folder")
    parser.add_argument("--clips_per_cluster", type=int, default=3,
                        help="representative clips per cluster (nearest the centroid)")
    return parser


@cli.script(get_parser, outputs_together=True)
def main(args, run) -> int:
    cli.require_at_least_one(args.clips_per_cluster, "--clips_per_cluster")
    files = list_audio_files(args.filedir)
    run.add_audio(args.filedir, files)
    files_name = f'--filedir="{args.filedir}"'
    found = None
    if args.multi_label_csv:
        found = read_memberships(args.multi_label_csv, args.cluster_ids_csv)
        file_rows = [formats.ScoreRow(row.index, row.filename, row.label, row.score)
                     for row in found.source if row.rank in (1, formats.NO_LABEL_RANK)]
        records.check_scores_files(args.multi_label_csv, [row.filename for row in file_rows], files_name, run.files)
        per_label = read_label_embeddings(args.st_npy, args.multi_label_csv, found)
        rows, embeddings, cluster_ids = found.rows, found.expand(per_label), found.cluster_ids
        files = [files[row.index - 1] for row in rows]  # each file's audio once per cluster it is in
    else:
        rows = file_rows = formats.read_scores_csv(args.top_label_scores_csv)
        records.check_scores_files(args.top_label_scores_csv, rows.filenames, files_name, run.files)
        embeddings = formats.load_npy(args.st_npy, "label embeddings")
        records.check_rows_belong(args.st_npy, embeddings.shape[0], args.top_label_scores_csv, run.files)
        cluster_ids = formats.read_cluster_ids(args.cluster_ids_csv)
        records.check_rows_belong(args.cluster_ids_csv, len(cluster_ids), args.top_label_scores_csv, run.files)
    sweep = read_sweep(args.sweep_csv) if args.sweep_csv else None
    composite = None
    if args.composite_csv and os.path.exists(args.composite_csv):
        composite = read_composite_labels(args.composite_csv)
    elif args.composite_csv:
        log.info(f"{args.composite_csv} not found: each cluster is named by its top labels")

    notes_by = None
    if args.review_csv:
        notes_by = {entry.row: SIMULATED_NOTE if review.is_simulated(entry) else "reviewer"
                    for entry in review.read_sheet(Path(args.review_csv), file_rows) if entry.annotation}
    tree = None
    if args.taxonomy_json:
        tree = formats.read_taxonomy_json(args.taxonomy_json)
        records.check_same_files(args.taxonomy_json, list(tree.files), args.top_label_scores_csv or args.multi_label_csv,
                                 [row.filename for row in rows])
        check_tree_matches(tree, cluster_ids, args.taxonomy_json, args.cluster_ids_csv)
    evaluation = formats.read_evaluation_json(args.evaluation_json) if args.evaluation_json else None
    if evaluation is not None and evaluation["rows"] != len(cluster_ids):
        raise UserError(f"{args.evaluation_json}: evaluates {evaluation['rows']} rows, {args.cluster_ids_csv} has "
                        f"{len(cluster_ids)}; pass the evaluation of this partition")

    page_folder = Path(args.out_html).resolve().parent
    audio_urls = [relative_audio_url(path, page_folder) for path in files]
    taxonomy = build_taxonomy(rows, audio_urls, cluster_ids, embeddings, composite, sweep, args.clips_per_cluster,
                              tree, evaluation, notes_by)
    sources = {"scores": args.top_label_scores_csv or args.multi_label_csv, "embeddings": args.st_npy,
               "clusters": args.cluster_ids_csv}
    if args.sweep_csv:
        sources["sweep"] = args.sweep_csv
    if composite is not None:
        sources["composite labels"] = args.composite_csv
    if tree is not None:
        sources["tree"] = args.taxonomy_json
    if evaluation is not None:
        sources["evaluation"] = args.evaluation_json
    title = args.title or f"Taxonomy of {Path(sources['scores']).resolve().parent.name}"
    if args.review_csv:
        sources["review sheet"] = args.review_csv
    multi_label = None if found is None else {**found.summary(), "note": found.note()}
    formats.write_text_atomic(args.out_html, render_page(taxonomy, title, sources, run.stand_ins(), multi_label))
    n_noise = sum(group.size for group in taxonomy.groups if group.is_noise)
    run.results.update(clusters=len(taxonomy.clusters), noise_points=n_noise, rows_without_a_label=len(taxonomy.no_label))
    if found is not None:
        run.results.update({f"multi_label_{key}": value for key, value in found.summary().items()})
        print(found.note())
    print(f"{counted(len(taxonomy.clusters), 'cluster')} of {counted(int(taxonomy.on_map.sum()) - n_noise, 'file')}"
          + (f", {counted(n_noise, 'noise point')}" if n_noise else "")
          + (f", {counted(len(taxonomy.no_label), 'file')} without a label (listed, not mapped)" if taxonomy.no_label else ""))
    print(f"taxonomy page: {Path(args.out_html).resolve().as_uri()}")
    return 0
