"""The taxonomy page: one self-contained HTML file to explore a clustering of the labels.

It shows the S(k) / S_adj(k) curve of the k sweep with the chosen k; a 2-D map of the label
embeddings (the cached t-SNE of :mod:`auditoryhum.tsne`), one point per label of a cluster, sized
by how many files share it, where hovering a point shows its label and files and clicking plays a
clip; the taxonomy tree (composite_labels.py --taxonomy_json), collapsible, with each node's name
and size; the evaluation (evaluate_taxonomy.py --json_out): the figures against ground truth and
against k, the stability of the chosen k over bootstrap resamples, and the names' uniqueness and
retrieval; a search box over labels and file names, which shows the matching files on the map, in
the tree and in the clusters; and the clusters sorted by size, each with its composite label (or
else its top labels), its label distribution, the clips nearest its centroid, and every file with
a player.

The charts are plotly figures; plotly.js is written into the page, so it opens from disk with no
server and no network. Audio is referenced by paths relative to the page's folder, so the page
works where it was written, beside the outputs. Every label reaches the page as escaped text: in
the HTML through Jinja2's autoescaping, in the hover text as HTML entities, in the data block as
JSON with ``<``, ``>`` and ``&`` escaped; the page's script puts labels in the DOM as text only.

Rows in no cluster (id -1) are of two kinds: a file without a label has a NaN embedding row and
gets no point on the map (it is listed apart, as "no label"); a point HDBSCAN left out as noise has
an embedding, and is drawn in grey and listed after the clusters.
"""

from __future__ import annotations

import html
import json
import math
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from urllib.parse import quote

import numpy as np

from . import formats, records
from .errors import UserError
from .review import SIMULATED_ANNOTATOR_STAND_IN
from .taxonomy_tree import files_in

#: Labels shown in a cluster's distribution; the rest are counted.
TOP_LABELS_SHOWN = 8
#: Clusters in the side list beside the map.
LARGEST_SHOWN = 10
#: Files without a label listed (with a player each); the rest are counted.
NO_LABEL_SHOWN = 60
NOISE_COLOUR = "#a8adb7"
#: who wrote a note the stand-in made (auditoryhum.review), as the page says it beside each such label
SIMULATED_NOTE = SIMULATED_ANNOTATOR_STAND_IN
#: a point of n files is drawn sqrt(n) times as wide as a point of one file, at most this many times
LARGEST_POINT_SCALE = 4.0
#: files named in a point's hover text; the rest are counted
FILES_IN_HOVER = 6


@dataclass(frozen=True)
class Clip:
    row: int  # 1-based row of the scores CSV
    filename: str
    label: str
    audio: str  # URL relative to the page
    note_by: str = ""  # who wrote the human note the label came from ("" where none), e.g. "simulated annotator"


@dataclass
class Group:
    """A cluster, or the HDBSCAN noise points (``cluster`` = -1)."""

    cluster: int
    colour: str
    members: list[int]  # 0-based rows
    label_counts: list[tuple[str, int]]  # most frequent first, ties by label
    composite_label: str = ""
    representatives: list[Clip] = field(default_factory=list)
    simulated_labels: set[str] = field(default_factory=set)  # labels that came from the simulated annotator
    clips: list[Clip] = field(default_factory=list)  # every file, in row order

    @property
    def is_noise(self) -> bool:
        return self.cluster == formats.NO_CLUSTER

    @property
    def size(self) -> int:
        return len(self.members)


@dataclass
class Sweep:
    k: list[int]
    silhouette: list[float]
    adjusted: list[float]
    chosen_k: int


@dataclass
class TreeNode:
    """A node of the taxonomy tree as the page shows it; a leaf is a cluster of the page."""

    name: str
    size: int
    level: int
    cluster: int
    colour: str  # the cluster's colour for a leaf; for a node above, its largest leaf's
    children: list["TreeNode"] = field(default_factory=list)

    @property
    def is_leaf(self) -> bool:
        return not self.children


@dataclass
class Taxonomy:
    clips: list[Clip]  # one per row of the scores CSV
    on_map: np.ndarray  # (n,) bool: rows with an embedding
    coords: np.ndarray  # (on_map.sum(), 2) t-SNE coordinates of those rows
    cluster_ids: np.ndarray  # (n,)
    groups: list[Group]  # clusters by size (largest first), then the noise group if any
    no_label: list[Clip]
    sweep: Sweep | None
    #: the map's points: the mapped rows of one label in one cluster, in order of first row
    points: list[list[int]] = field(default_factory=list)
    tree: list[TreeNode] | None = None  # the roots, largest first
    evaluation: dict | None = None  # evaluate_taxonomy.py's JSON

    @property
    def clusters(self) -> list[Group]:
        return [group for group in self.groups if not group.is_noise]


# ----------------------------------------------------------------------------------------------
# inputs


def read_composite_labels(path: formats.PathLike) -> dict[int, str]:
    """cluster -> composite label, from composite_labels.py's CSV."""
    return {row.cluster: row.composite_label for row in formats.read_composite_csv(path)}


def read_sweep(path: formats.PathLike) -> Sweep:
    """The k sweep of cluster_sweep.py, with the k its run record says it chose (else the maximum
    of S_adj, the smallest such k, as it chooses)."""
    curve = formats.read_sweep_csv(path)
    record = records.read_record(path, check_output=False)
    chosen = (record or {}).get("results", {}).get("chosen_k")
    ks = curve.k.tolist()
    if not (isinstance(chosen, int) and chosen in ks):  # a record from elsewhere cannot move the mark
        chosen = curve.best_k
    return Sweep(ks, curve.silhouette.tolist(), curve.adjusted.tolist(), int(chosen))


def relative_audio_url(audio_path: str, page_folder: Path) -> str:
    relative = os.path.relpath(Path(audio_path).resolve(), page_folder.resolve())
    return quote(Path(relative).as_posix())


# ----------------------------------------------------------------------------------------------
# the model of the page


def _label_counts(labels: list[str]) -> list[tuple[str, int]]:
    counts: dict[str, int] = {}
    for label in labels:
        counts[label] = counts.get(label, 0) + 1
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def nearest_centroid(embeddings: np.ndarray, members: list[int], n: int) -> list[int]:
    """The ``n`` members closest (euclidean) to the members' mean, closest first, ties in row order."""
    points = embeddings[members].astype(np.float64)
    distances = np.linalg.norm(points - points.mean(axis=0), axis=1)
    order = np.argsort(distances, kind="stable")
    return [members[i] for i in order[:n]]


def hex_colours(n: int) -> list[str]:
    """The colours the t-SNE PNGs give the same clusters (clusters in ascending id order)."""
    from matplotlib.colors import to_hex

    from .tsne import cluster_colours

    return [to_hex(colour) for colour in cluster_colours(n)]


def map_points(rows: list[formats.ScoreRow], cluster_ids: np.ndarray, on_map: np.ndarray) -> list[list[int]]:
    """The mapped rows grouped by (label, cluster) - files with the same label are the same point
    of the embedding - in order of first row."""
    points: dict[tuple[str, int], list[int]] = {}
    for row in np.flatnonzero(on_map).tolist():
        points.setdefault((rows[row].label, int(cluster_ids[row])), []).append(row)
    return list(points.values())


def build_taxonomy(rows: list[formats.ScoreRow], audio_urls: list[str], cluster_ids: np.ndarray,
                   embeddings: np.ndarray, composite: dict[int, str] | None, sweep: Sweep | None,
                   n_representatives: int, tree: formats.TaxonomyTree | None = None,
                   evaluation: dict | None = None, notes_by: dict[int, str] | None = None) -> Taxonomy:
    """Everything the page shows. Inputs line up row by row (checked by the caller); the tree's
    last level is the partition ``cluster_ids``; ``notes_by``: row (1-based) -> who wrote the human
    note its label came from."""
    from .tsne import tsne_coordinates

    notes_by = notes_by or {}
    clips = [Clip(row.index, row.filename, row.label, url, notes_by.get(row.index, ""))
             for row, url in zip(rows, audio_urls)]
    on_map = np.isfinite(embeddings).all(axis=1)
    if on_map.sum() < 2:
        raise UserError(f"only {int(on_map.sum())} rows have an embedding; the map needs at least 2")
    coords = tsne_coordinates(embeddings[on_map])

    cluster_numbers = sorted({int(c) for c, mapped in zip(cluster_ids, on_map) if mapped} - {formats.NO_CLUSTER})
    colours = dict(zip(cluster_numbers, hex_colours(len(cluster_numbers))))
    names = tree.names(len(tree.levels)) if tree is not None else {}
    groups = []
    for cluster in cluster_numbers + [formats.NO_CLUSTER]:
        members = np.flatnonzero(on_map & (cluster_ids == cluster)).tolist()
        if not members:
            continue
        group = Group(cluster, colours.get(cluster, NOISE_COLOUR), members,
                      _label_counts([rows[i].label for i in members]), clips=[clips[i] for i in members],
                      simulated_labels={clips[i].label for i in members if clips[i].note_by == SIMULATED_NOTE})
        if composite is not None:
            group.composite_label = composite.get(cluster, "")
        group.composite_label = group.composite_label or names.get(cluster, "")
        if not group.is_noise:
            group.representatives = [clips[i] for i in nearest_centroid(embeddings, members, n_representatives)]
        groups.append(group)
    groups.sort(key=lambda group: (group.is_noise, -group.size, group.cluster))
    no_label = [clip for clip, mapped in zip(clips, on_map) if not mapped]
    return Taxonomy(clips, on_map, coords, np.asarray(cluster_ids), groups, no_label, sweep,
                    points=map_points(rows, np.asarray(cluster_ids), on_map),
                    tree=None if tree is None else tree_nodes(tree, colours), evaluation=evaluation)


def tree_nodes(tree: formats.TaxonomyTree, colours: dict[int, str]) -> list[TreeNode]:
    """The tree's nodes nested under their parents, largest first at every level."""
    last = len(tree.levels)
    made = {(node.level, node.cluster): TreeNode(node.name, files_in(node.rows, tree.files), node.level, node.cluster,
                                                 colours.get(node.cluster, NOISE_COLOUR) if node.level == last else "")
            for node in tree.nodes}
    roots = []
    for node in tree.nodes:
        if node.level == 1:
            roots.append(made[(1, node.cluster)])
        else:
            made[(node.level - 1, node.parent)].children.append(made[(node.level, node.cluster)])

    def order(nodes: list[TreeNode]) -> list[TreeNode]:
        nodes.sort(key=lambda n: (-n.size, n.cluster))
        for n in nodes:
            n.children = order(n.children)
            if n.children:
                n.colour = n.children[0].colour
        return nodes

    return order(roots)


def check_tree_matches(tree: formats.TaxonomyTree, cluster_ids: np.ndarray, tree_path: str, ids_path: str) -> None:
    """Stop with one line unless the tree's last level is the partition of the page."""
    if not np.array_equal(tree.level_ids(len(tree.levels)), np.asarray(cluster_ids)):
        raise UserError(f"{tree_path}: its last level is not the partition in {ids_path}; pass the taxonomy made "
                        "from those cluster ids (composite_labels.py --label_csv)")


# ----------------------------------------------------------------------------------------------
# figures


def _hover(text: str) -> str:
    """Plotly shows hover text as its own small HTML, which knows ``&lt;``, ``&gt;`` and ``&amp;``
    but shows ``&quot;`` as it is: escaped so (quotes left alone), a label is shown as typed."""
    return html.escape(text, quote=False)


def _shown_label(clip: Clip) -> str:
    return (clip.label or "(no label)") + (f" ({clip.note_by})" if clip.note_by == SIMULATED_NOTE else "")


def marker_size(n_points: int) -> int:
    """Large enough to hit with the mouse, small enough not to hide the map's structure."""
    return 11 if n_points < 300 else 8 if n_points < 2000 else 5


def point_size(base: int, n_files: int) -> float:
    """A point's width: its area grows with the files that share its label."""
    return base * min(math.sqrt(n_files), LARGEST_POINT_SCALE)


def _files_text(taxonomy: Taxonomy, rows: list[int]) -> str:
    shown = [taxonomy.clips[row].filename for row in rows[:FILES_IN_HOVER]]
    more = f"<br>+ {len(rows) - FILES_IN_HOVER} more" if len(rows) > FILES_IN_HOVER else ""
    files = "file" if len(rows) == 1 else f"{len(rows)} files"
    return f"{files}: " + "<br>".join(_hover(name) for name in shown) + more


def map_figure(taxonomy: Taxonomy):
    import plotly.graph_objects as go

    position = {row: i for i, row in enumerate(np.flatnonzero(taxonomy.on_map).tolist())}
    colour_of = {group.cluster: group.colour for group in taxonomy.groups}
    base = marker_size(len(taxonomy.points))
    fig = go.Figure()
    # One trace for the clustered points (one colour each), one under it for the noise points.
    for noise in (True, False):
        picked = [(index, rows) for index, rows in enumerate(taxonomy.points)
                  if (taxonomy.cluster_ids[rows[0]] == formats.NO_CLUSTER) == noise]
        if not picked:
            continue
        centres = np.array([taxonomy.coords[[position[row] for row in rows]].mean(axis=0) for _, rows in picked])
        # the largest points first, so a small point is drawn over a large one and stays clickable
        order = sorted(range(len(picked)), key=lambda i: -len(picked[i][1]))
        picked, centres = [picked[i] for i in order], centres[order]
        fig.add_trace(go.Scatter(
            x=centres[:, 0], y=centres[:, 1], mode="markers",
            name="noise" if noise else "clusters",
            marker={"size": [point_size(base, len(rows)) for _, rows in picked],
                    "color": [colour_of[int(taxonomy.cluster_ids[rows[0]])] for _, rows in picked],
                    "opacity": 0.55 if noise else 0.85, "line": {"width": 0.8, "color": "white"}},
            customdata=[[rows[0], _hover(_shown_label(taxonomy.clips[rows[0]])), _files_text(taxonomy, rows),
                         "noise" if noise else f"cluster {int(taxonomy.cluster_ids[rows[0]])}", index]
                        for index, rows in picked],
            hovertemplate="<b>%{customdata[1]}</b><br>%{customdata[2]}<br>%{customdata[3]}<extra></extra>",
            selected={"marker": {"opacity": 1.0}}, unselected={"marker": {"opacity": 0.12}},
        ))
    fig.update_layout(
        template="plotly_white", showlegend=False, margin={"l": 10, "r": 10, "t": 10, "b": 10},
        xaxis={"visible": False}, yaxis={"visible": False, "scaleanchor": "x"}, hovermode="closest",
        dragmode="pan", hoverlabel={"bgcolor": "white", "font": {"size": 13}},
    )
    return fig


def sweep_figure(sweep: Sweep, n_clusters: int):
    import plotly.graph_objects as go

    fig = go.Figure()
    fig.add_trace(go.Scatter(x=sweep.k, y=sweep.silhouette, mode="lines", name="S(k)",
                             line={"color": "#2f6fde", "width": 2}))
    fig.add_trace(go.Scatter(x=sweep.k, y=sweep.adjusted, mode="lines", name="S_adj(k)",
                             line={"color": "#d9822b", "width": 2}))
    chosen = sweep.k.index(sweep.chosen_k)
    fig.add_trace(go.Scatter(x=[sweep.chosen_k], y=[sweep.adjusted[chosen]], mode="markers", name="chosen k",
                             marker={"color": "#d9822b", "size": 11, "line": {"color": "white", "width": 2}},
                             hovertemplate=f"chosen k = {sweep.chosen_k}<br>S_adj = %{{y:.4f}}<extra></extra>"))
    fig.add_vline(x=sweep.chosen_k, line={"color": "#8a8f98", "dash": "dash", "width": 1})
    fig.add_annotation(x=sweep.chosen_k, y=1, yref="paper", text=f"chosen k = {sweep.chosen_k}", showarrow=False,
                       xanchor="left", xshift=6, font={"color": "#4a4f58"})
    if n_clusters != sweep.chosen_k:
        fig.add_vline(x=n_clusters, line={"color": "#c0392b", "dash": "dot", "width": 1})
        fig.add_annotation(x=n_clusters, y=0.9, yref="paper", text=f"this page: {n_clusters} clusters",
                           showarrow=False, xanchor="left", xshift=6, font={"color": "#c0392b"})
    fig.update_layout(template="plotly_white", margin={"l": 50, "r": 10, "t": 30, "b": 45},
                      xaxis_title="number of clusters k", yaxis_title="silhouette",
                      legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0}, hovermode="x unified")
    return fig


METRIC_CURVES = (("nmi", "NMI (= V-measure)", "#2e9e5b"), ("ari", "ARI", "#8e44ad"), ("purity", "purity", "#7f8c8d"),
                 ("homogeneity", "homogeneity", "#16a085"), ("completeness", "completeness", "#c0392b"))
METRIC_TITLES = (("nmi", "NMI"), ("ari", "ARI"), ("v_measure", "V-measure"), ("homogeneity", "homogeneity"),
                 ("completeness", "completeness"), ("purity", "purity"))


def _chosen_k_line(fig, chosen_k: int, text: str) -> None:
    fig.add_vline(x=chosen_k, line={"color": "#8a8f98", "dash": "dash", "width": 1})
    fig.add_annotation(x=chosen_k, y=1, yref="paper", text=text, showarrow=False, xanchor="left", xshift=6,
                       font={"color": "#4a4f58"})


def evaluation_figure(sweep: dict):
    """The figures against ground truth at every k of the sweep (evaluate_taxonomy.py), chosen k marked."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for name, title, colour in METRIC_CURVES:
        dash = "dot" if name in ("homogeneity", "completeness") else "solid"
        fig.add_trace(go.Scatter(x=sweep["k"], y=sweep[name], mode="lines", name=title,
                                 line={"color": colour, "width": 2, "dash": dash}))
    _chosen_k_line(fig, sweep["chosen_k"], f"chosen k = {sweep['chosen_k']}")
    fig.update_layout(template="plotly_white", margin={"l": 50, "r": 10, "t": 30, "b": 45},
                      xaxis_title="number of clusters k", yaxis_title="against ground truth",
                      legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0}, hovermode="x unified")
    return fig


def stability_figure(stability: dict, chosen_k: int):
    """How often each k was chosen on the bootstrap resamples."""
    import plotly.graph_objects as go

    counts = {int(k): c for k, c in stability["chosen_k_counts"].items()}
    fig = go.Figure(go.Bar(x=list(counts), y=list(counts.values()), name="resamples",
                           marker={"color": ["#d9822b" if k == chosen_k else "#2f6fde" for k in counts]},
                           hovertemplate="k = %{x}: %{y} resamples<extra></extra>"))
    _chosen_k_line(fig, chosen_k, f"full data: k = {chosen_k}")
    fig.update_layout(template="plotly_white", margin={"l": 50, "r": 10, "t": 30, "b": 45},
                      xaxis_title="k chosen on a resample", yaxis_title="resamples", bargap=0.2,
                      xaxis={"dtick": 1 if len(counts) < 25 else None},
                      yaxis={"dtick": max(1, math.ceil(max(counts.values(), default=1) / 5))})
    return fig


def _number(value, digits: int = 4) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def _percent(part: int | None, whole: int) -> str:
    return "—" if part is None or not whole else f"{part} of {whole} ({100 * part / whole:.0f} %)"


def evaluation_view(evaluation: dict) -> dict:
    """What the evaluation panel writes, as text (the template only places it)."""
    sweep = evaluation.get("sweep") or {}
    best = sweep.get("best_k", {})
    view: dict = {"figures": [], "counts": [], "names": [], "stability": None, "margin": None}
    if "nmi" in evaluation:
        view["figures"] = [(title, _number(evaluation.get(name)),
                            f"k = {best[name]['k']} ({_number(best[name]['value'])})" if name in best else "—")
                           for name, title in METRIC_TITLES]
        truth = evaluation.get("ground_truth", {})
        view["ground_truth"] = (f"{len(truth.get('classes', []))} classes, {truth.get('pairs_evaluated', 0)} "
                                f"(file, class) pairs of {evaluation.get('rows_evaluated', 0)} files")
    for key, text in (("rows_without_a_label", "without a label"), ("rows_in_no_cluster", "in no cluster"),
                      ("rows_without_ground_truth", "without ground truth")):
        if evaluation.get(key):
            view["counts"].append(f"{evaluation[key]} {text}")
    if sweep:
        margin = sweep.get("margin", {})
        leads = [f"{_number(margin.get(side))} over k = {sweep['chosen_k'] + step}"
                 for side, step in (("below", -1), ("above", 1)) if margin.get(side) is not None]
        view["margin"] = {"k": sweep["chosen_k"], "leads": "; ".join(leads),
                          "runner_up": margin.get("runner_up_k"), "gap": _number(margin.get("runner_up_gap"))}
    stability = evaluation.get("stability")
    if stability:
        share = stability.get("share_at_chosen_k")
        view["stability"] = {
            "resamples": stability["resamples"], "seed": stability["seed"],
            "again": _percent(None if share is None else round(share * stability["swept"]), stability["swept"]),
            "mean_ari": _number(stability.get("mean_ari")),
            "mean_ari_at_k": _number(stability.get("mean_ari_at_chosen_k")),
        }
    for entry in evaluation.get("names", []):
        view["names"].append(_names_row(Path(entry.get("source", "names")).name, entry))
    for entry in evaluation.get("levels", []):
        view["names"].append(_names_row(f"tree level {entry['level']}", entry))
    return view


def _names_row(what: str, entry: dict) -> dict:
    return {"what": what, "clusters": entry.get("clusters"), "unique": bool(entry.get("unique")),
            "duplicates": "; ".join(entry.get("duplicates", [])),
            "retrieval": _percent(entry.get("retrieved"), entry.get("clusters") or 0)}


# ----------------------------------------------------------------------------------------------
# the page


def _json_for_script(value) -> str:
    """JSON safe inside a <script> element: nothing in it can close the element or open a comment."""
    if not isinstance(value, str):
        value = json.dumps(value, ensure_ascii=False)
    return value.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e") \
        .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _format_score(value: float) -> str:
    return "—" if value is None or math.isnan(value) else f"{value:.4f}"


def render_page(taxonomy: Taxonomy, title: str, sources: dict[str, str], stand_ins: list[str] = (),
                multi_label: dict | None = None) -> str:
    """The page; ``stand_ins``: what in the results is not real, said at its top; ``multi_label``:
    with several labels per file, the memberships' ``files``, ``memberships`` and ``note`` (how
    files are counted), said at its top too."""
    import jinja2
    import plotly.io as pio
    from markupsafe import Markup
    from plotly.offline import get_plotlyjs

    folder = resources.files("auditoryhum") / "static" / "taxonomy"
    environment = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined,
                                     trim_blocks=True, lstrip_blocks=True)
    template = environment.from_string(folder.joinpath("page.html.j2").read_text(encoding="utf-8"))
    clusters = taxonomy.clusters
    n_noise = sum(group.size for group in taxonomy.groups if group.is_noise)
    figures = {"map": pio.to_json(map_figure(taxonomy), validate=False)}
    sweep = taxonomy.sweep
    if sweep is not None:
        figures["sweep"] = pio.to_json(sweep_figure(sweep, len(clusters)), validate=False)
    evaluation = taxonomy.evaluation
    if evaluation and "nmi" in (evaluation.get("sweep") or {}):
        figures["evaluation"] = pio.to_json(evaluation_figure(evaluation["sweep"]), validate=False)
    if evaluation and evaluation.get("stability") and evaluation.get("sweep"):
        figures["stability"] = pio.to_json(stability_figure(evaluation["stability"], evaluation["sweep"]["chosen_k"]),
                                           validate=False)
    data = {
        "clips": [{"row": clip.row, "file": clip.filename, "label": _shown_label(clip), "audio": clip.audio}
                  for clip in taxonomy.clips],
        "groups": {str(group.cluster): [int(i) for i in group.members] for group in taxonomy.groups},
        "points": taxonomy.points,
    }
    chosen = None
    if sweep is not None:
        i = sweep.k.index(sweep.chosen_k)
        chosen = {"k": sweep.chosen_k, "silhouette": _format_score(sweep.silhouette[i]),
                  "adjusted": _format_score(sweep.adjusted[i])}
    return template.render(
        title=title,
        sources=sources,
        stand_ins=list(stand_ins),
        multi_label=multi_label,
        simulated_note=SIMULATED_NOTE,
        n_files=len(taxonomy.clips),
        n_on_map=int(taxonomy.on_map.sum()),
        clusters=clusters,
        groups=taxonomy.groups,
        n_noise=n_noise,
        no_label=taxonomy.no_label[:NO_LABEL_SHOWN],
        n_no_label=len(taxonomy.no_label),
        chosen=chosen,
        tree=taxonomy.tree,
        evaluation=None if evaluation is None else evaluation_view(evaluation),
        has_figure=set(figures),
        top_shown=TOP_LABELS_SHOWN,
        largest_shown=LARGEST_SHOWN,
        plotly_js=Markup(get_plotlyjs()),
        page_js=Markup(folder.joinpath("taxonomy.js").read_text(encoding="utf-8")),
        page_css=Markup(folder.joinpath("taxonomy.css").read_text(encoding="utf-8")),
        figures_json=Markup(_json_for_script("{" + ",".join(
            f"{json.dumps(name)}:{figure}" for name, figure in figures.items()) + "}")),
        data_json=Markup(_json_for_script(data)),
    )
