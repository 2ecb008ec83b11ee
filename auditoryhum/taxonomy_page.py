"""The taxonomy page: one self-contained HTML file to explore a clustering of the labels.

It shows the S(k) / S_adj(k) curve of the k sweep with the chosen k, a 2-D map of the label
embeddings (the cached t-SNE of :mod:`auditoryhum.tsne`) where hovering a point shows its label and
file and clicking plays the clip, and the clusters sorted by size, each with its composite label
(composite_labels.py) or else its top labels, its label distribution and the clips nearest its
centroid to play.

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

#: Labels shown in a cluster's distribution; the rest are counted.
TOP_LABELS_SHOWN = 8
#: Clusters in the side list beside the map.
LARGEST_SHOWN = 10
#: Files without a label listed (with a player each); the rest are counted.
NO_LABEL_SHOWN = 60
NOISE_COLOUR = "#a8adb7"
#: who wrote a note the stand-in made (auditoryhum.review), as the page says it beside each such label
SIMULATED_NOTE = "simulated annotator"


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
class Taxonomy:
    clips: list[Clip]  # one per row of the scores CSV
    on_map: np.ndarray  # (n,) bool: rows with an embedding
    coords: np.ndarray  # (on_map.sum(), 2) t-SNE coordinates of those rows
    cluster_ids: np.ndarray  # (n,)
    groups: list[Group]  # clusters by size (largest first), then the noise group if any
    no_label: list[Clip]
    sweep: Sweep | None

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
    chosen = (record or {}).get("results", {}).get("chosen_k") or curve.best_k
    return Sweep(curve.k.tolist(), curve.silhouette.tolist(), curve.adjusted.tolist(), int(chosen))


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


def build_taxonomy(rows: list[formats.ScoreRow], audio_urls: list[str], cluster_ids: np.ndarray,
                   embeddings: np.ndarray, composite: dict[int, str] | None, sweep: Sweep | None,
                   n_representatives: int, notes_by: dict[int, str] | None = None) -> Taxonomy:
    """Everything the page shows. Inputs line up row by row (checked by the caller); ``notes_by``:
    row (1-based) -> who wrote the human note its label came from."""
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
    groups = []
    for cluster in cluster_numbers + [formats.NO_CLUSTER]:
        members = np.flatnonzero(on_map & (cluster_ids == cluster)).tolist()
        if not members:
            continue
        group = Group(cluster, colours.get(cluster, NOISE_COLOUR), members,
                      _label_counts([rows[i].label for i in members]),
                      simulated_labels={clips[i].label for i in members if clips[i].note_by == SIMULATED_NOTE})
        if composite is not None:
            group.composite_label = composite.get(cluster, "")
        if not group.is_noise:
            group.representatives = [clips[i] for i in nearest_centroid(embeddings, members, n_representatives)]
        groups.append(group)
    groups.sort(key=lambda group: (group.is_noise, -group.size, group.cluster))
    no_label = [clip for clip, mapped in zip(clips, on_map) if not mapped]
    return Taxonomy(clips, on_map, coords, np.asarray(cluster_ids), groups, no_label, sweep)


# ----------------------------------------------------------------------------------------------
# figures


def _hover(text: str) -> str:
    """Plotly shows hover text as its own small HTML; escaped, a label is shown as typed."""
    return html.escape(text, quote=True)


def _shown_label(clip: Clip) -> str:
    return (clip.label or "(no label)") + (f" ({clip.note_by})" if clip.note_by == SIMULATED_NOTE else "")


def marker_size(n_points: int) -> int:
    """Large enough to hit with the mouse, small enough not to hide the map's structure."""
    return 11 if n_points < 300 else 8 if n_points < 2000 else 5


def map_figure(taxonomy: Taxonomy):
    import plotly.graph_objects as go

    mapped_rows = np.flatnonzero(taxonomy.on_map)
    colour_of = {group.cluster: group.colour for group in taxonomy.groups}
    fig = go.Figure()
    # One trace for the clustered points (one colour each), one under it for the noise points.
    for noise in (True, False):
        picked = [(i, row) for i, row in enumerate(mapped_rows.tolist())
                  if (taxonomy.cluster_ids[row] == formats.NO_CLUSTER) == noise]
        if not picked:
            continue
        points = np.array([i for i, _ in picked])
        rows = [row for _, row in picked]
        fig.add_trace(go.Scatter(
            x=taxonomy.coords[points, 0], y=taxonomy.coords[points, 1], mode="markers",
            name="noise" if noise else "clusters",
            marker={"size": marker_size(len(mapped_rows)),
                    "color": [colour_of[int(taxonomy.cluster_ids[row])] for row in rows],
                    "opacity": 0.55 if noise else 0.9, "line": {"width": 0.5, "color": "white"}},
            customdata=[[row, _hover(_shown_label(taxonomy.clips[row])), _hover(taxonomy.clips[row].filename),
                         "noise" if noise else f"cluster {int(taxonomy.cluster_ids[row])}"] for row in rows],
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


def render_page(taxonomy: Taxonomy, title: str, sources: dict[str, str], stand_ins: list[str] = ()) -> str:
    """The page; ``stand_ins``: what in the results is not real, said at its top."""
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
    data = {
        "clips": [{"row": clip.row, "file": clip.filename, "label": _shown_label(clip), "audio": clip.audio}
                  for clip in taxonomy.clips],
        "groups": {str(group.cluster): [int(i) for i in group.members] for group in taxonomy.groups},
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
        simulated_note=SIMULATED_NOTE,
        n_files=len(taxonomy.clips),
        n_on_map=int(taxonomy.on_map.sum()),
        clusters=clusters,
        groups=taxonomy.groups,
        n_noise=n_noise,
        no_label=taxonomy.no_label[:NO_LABEL_SHOWN],
        n_no_label=len(taxonomy.no_label),
        chosen=chosen,
        top_shown=TOP_LABELS_SHOWN,
        largest_shown=LARGEST_SHOWN,
        plotly_js=Markup(get_plotlyjs()),
        page_js=Markup(folder.joinpath("taxonomy.js").read_text(encoding="utf-8")),
        page_css=Markup(folder.joinpath("taxonomy.css").read_text(encoding="utf-8")),
        figures_json=Markup(_json_for_script("{" + ",".join(
            f"{json.dumps(name)}:{figure}" for name, figure in figures.items()) + "}")),
        data_json=Markup(_json_for_script(data)),
    )
