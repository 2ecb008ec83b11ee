// The taxonomy page's behaviour: draw the plotly figures, play clips, show a cluster or the files a
// search finds on the map, in the tree and in the clusters' file lists.
// Labels reach the DOM as text only (textContent), never as HTML.
"use strict";
(function () {
  const figures = JSON.parse(document.getElementById("figures").textContent);
  const data = JSON.parse(document.getElementById("taxonomy-data").textContent);
  const config = { displaylogo: false, responsive: true, scrollZoom: true,
                   modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d"] };
  const mapDiv = document.getElementById("map");
  const player = document.getElementById("player");
  const nowPlaying = document.getElementById("now-playing");
  const showAll = document.getElementById("show-all");
  const search = document.getElementById("search");
  const searchCount = document.getElementById("search-count");

  Plotly.newPlot(mapDiv, figures.map.data, figures.map.layout, config);
  for (const [name, id] of [["sweep", "sweep"], ["evaluation", "eval-curves"], ["stability", "stability"]]) {
    if (figures[name]) Plotly.newPlot(id, figures[name].data, figures[name].layout, config);
  }

  function play(index) {
    const clip = data.clips[index];
    player.src = clip.audio;
    nowPlaying.className = "";
    nowPlaying.replaceChildren();
    const label = document.createElement("b");
    label.textContent = clip.label || "(no label)";
    const file = document.createElement("span");
    file.className = "file";
    file.textContent = clip.file;
    nowPlaying.append(label, file);
    player.play().catch((err) => {
      nowPlaying.className = "error";
      nowPlaying.textContent = `cannot play ${clip.file} (${err.message}); is the audio still at ${clip.audio}?`;
    });
  }

  mapDiv.on("plotly_click", (event) => {
    if (event.points.length) play(event.points[0].customdata[0]);
  });

  // Select the map's points holding any of the rows (a Set), or every point (null).
  function selectRows(rows) {
    const selections = mapDiv.data.map((trace) => rows === null ? null
      : trace.customdata.map((point, i) => (data.points[point[4]].some((row) => rows.has(row)) ? i : -1))
        .filter((i) => i >= 0));
    Plotly.restyle(mapDiv, { selectedpoints: selections }, mapDiv.data.map((_, i) => i));
  }

  function highlight(cluster) {
    selectRows(cluster === null ? null : new Set(data.groups[cluster]));
    document.querySelectorAll(".cluster-card, .largest li, .tree-leaf").forEach((item) =>
      item.classList.toggle("active", (item.dataset.cluster ?? item.dataset.show) === cluster));
    showAll.hidden = cluster === null;
  }

  document.querySelectorAll("[data-play]").forEach((button) =>
    button.addEventListener("click", () => play(Number(button.dataset.play))));
  document.querySelectorAll("[data-show]").forEach((item) =>
    item.addEventListener("click", () => {
      if (search.value) { search.value = ""; applySearch(); }
      highlight(item.dataset.show);
      mapDiv.scrollIntoView({ behavior: "smooth", block: "nearest" });
    }));
  showAll.addEventListener("click", () => highlight(null));

  // The search: the files whose label or name holds the text, case aside.
  function applySearch() {
    const text = search.value.trim().toLowerCase();
    const found = text === "" ? null : new Set(data.clips.flatMap((clip, i) =>
      clip.label.toLowerCase().includes(text) || clip.file.toLowerCase().includes(text) ? [i] : []));
    const clustersFound = new Set();
    document.querySelectorAll(".cluster-card").forEach((card) => {
      const items = card.querySelectorAll(".file-list li");
      let hits = 0;
      items.forEach((item) => {
        const hit = found === null || found.has(Number(item.dataset.row));
        item.hidden = !hit;
        hits += hit ? 1 : 0;
      });
      card.hidden = found !== null && hits === 0;
      const count = card.querySelector(".match-count");
      count.hidden = found === null;
      count.textContent = `${hits} of ${items.length} files match`;
      if (found !== null && hits > 0) {
        card.querySelector("details.files").open = true;
        clustersFound.add(card.dataset.cluster);
      }
    });
    document.querySelectorAll(".tree-node").forEach((node) => {
      const leaves = node.dataset.leaf !== undefined ? [node] : [...node.querySelectorAll("[data-leaf]")];
      node.classList.toggle("dim", found !== null && !leaves.some((leaf) => clustersFound.has(leaf.dataset.leaf)));
    });
    document.querySelectorAll(".cluster-card, .largest li, .tree-leaf").forEach((item) =>
      item.classList.remove("active"));
    showAll.hidden = found === null;
    selectRows(found);
    searchCount.textContent = found === null ? "" :
      `${found.size} file${found.size === 1 ? "" : "s"} in ${clustersFound.size} cluster${clustersFound.size === 1 ? "" : "s"}`;
  }

  search.addEventListener("input", applySearch);
  showAll.addEventListener("click", () => { if (search.value) { search.value = ""; applySearch(); } });
})();
