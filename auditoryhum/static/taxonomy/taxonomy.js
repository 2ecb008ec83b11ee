// The taxonomy page's behaviour: draw the plotly figures, play clips, show a cluster on the map.
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

  Plotly.newPlot(mapDiv, figures.map.data, figures.map.layout, config);
  if (figures.sweep) Plotly.newPlot("sweep", figures.sweep.data, figures.sweep.layout, config);

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

  function highlight(cluster) {
    const members = cluster === null ? null : new Set(data.groups[cluster]);
    const selections = mapDiv.data.map((trace) => members === null ? null
      : trace.customdata.map((point, i) => (members.has(point[0]) ? i : -1)).filter((i) => i >= 0));
    Plotly.restyle(mapDiv, { selectedpoints: selections }, mapDiv.data.map((_, i) => i));
    document.querySelectorAll(".cluster-card, .largest li").forEach((item) =>
      item.classList.toggle("active", (item.dataset.cluster ?? item.dataset.show) === cluster));
    showAll.hidden = cluster === null;
  }

  document.querySelectorAll("[data-play]").forEach((button) =>
    button.addEventListener("click", () => play(Number(button.dataset.play))));
  document.querySelectorAll("[data-show]").forEach((item) =>
    item.addEventListener("click", () => {
      highlight(item.dataset.show);
      mapDiv.scrollIntoView({ behavior: "smooth", block: "nearest" });
    }));
  showAll.addEventListener("click", () => highlight(null));
})();
