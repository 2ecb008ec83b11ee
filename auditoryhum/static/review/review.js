// The review screen. Every label reaches the page through textContent or an input's value, never
// as HTML, so a label holding markup is shown as typed and never runs.
"use strict";

const $ = (id) => document.getElementById(id);
const LIVE_DELAY_MS = 250;

let entries = [];
let current = 0;
let liveScoring = false;
let liveTimer = null;
let liveRequest = 0;
let spectrogram = null; // { image, playhead } when the app was started with --spectrogram

async function api(method, path, body) {
  const options = { method, credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  if (!response.ok) {
    let detail = response.statusText;
    try {
      const data = await response.json();
      detail = typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail);
    } catch (err) {
      detail = (await response.text().catch(() => "")) || detail;
    }
    throw new Error(`${response.status}: ${detail}`);
  }
  return response.json();
}

// An element holding a candidate label and its CLAP score (the score styled apart).
function labelAndScore(tag, candidate) {
  const item = document.createElement(tag);
  const label = document.createElement("span");
  label.textContent = candidate.label;
  const score = document.createElement("span");
  score.className = "score";
  score.textContent = formatScore(candidate.score);
  item.append(label, score);
  return item;
}

function formatScore(score) {
  return score === null || score === undefined ? "—" : score.toFixed(3);
}

function setStatus(text, kind) {
  const status = $("status");
  status.textContent = text;
  status.className = kind || "";
}

function updateProgress() {
  const reviewed = entries.filter((entry) => entry.annotation).length;
  $("progress-text").textContent = `${reviewed} / ${entries.length} reviewed`;
  $("progress-bar").style.width = `${entries.length ? (100 * reviewed) / entries.length : 0}%`;
}

function buildQueue() {
  const queue = $("queue");
  queue.replaceChildren();
  entries.forEach((entry, index) => {
    const item = document.createElement("li");
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = entry.filename;
    const reason = document.createElement("span");
    reason.className = "why";
    reason.textContent = entry.reason;
    item.append(name, reason);
    item.addEventListener("click", () => show(index));
    queue.append(item);
  });
}

function refreshQueue() {
  [...$("queue").children].forEach((item, index) => {
    item.classList.toggle("done", Boolean(entries[index].annotation));
    item.classList.toggle("current", index === current);
    const entry = entries[index];
    item.title = entry.simulated ? `simulated note (from the file name): ${entry.annotation}`
      : entry.annotation ? `your label: ${entry.annotation}` : "not reviewed yet";
  });
  const active = $("queue").children[current];
  if (active) active.scrollIntoView({ block: "nearest" });
}

function show(index) {
  current = Math.max(0, Math.min(index, entries.length - 1));
  const entry = entries[current];
  $("clip").hidden = false;
  $("position").textContent = `clip ${current + 1} of ${entries.length} · row ${entry.row}`;
  const reason = $("reason");
  reason.textContent = entry.reason || "on the sheet";
  reason.classList.toggle("no-label", entry.reason === "no label");
  $("filename").textContent = entry.filename;
  $("answer").textContent = entry.answer || "(no answer)";
  $("label").textContent = entry.label || "(no label)";
  $("score").textContent = entry.score === null ? "no CLAP score" : `CLAP ${formatScore(entry.score)}`;
  showCompeting(entry);
  const player = $("player");
  player.src = `audio/${entry.row}`;
  if (spectrogram) showSpectrogram(entry);
  if ($("autoplay").checked) player.play().catch(() => {});
  const note = $("note");
  note.value = entry.annotation;
  note.focus();
  if (entry.simulated) {
    setStatus("this note was SIMULATED from the file name, not written by a person — edit and press Enter to make it yours");
  } else {
    setStatus(entry.annotation ? "reviewed — edit and press Enter to change" : "");
  }
  refreshQueue();
  requestLiveScore(0);
}

// The best label and its runner-up, each with its score: what the margin order is about.
function showCompeting(entry) {
  const competing = $("competing");
  competing.replaceChildren();
  const shown = Boolean(entry.competing);
  competing.hidden = $("competing-title").hidden = !shown;
  if (!shown) return;
  entry.competing.forEach((candidate, index) => {
    const item = labelAndScore("span", candidate);
    item.className = index === 0 ? "candidate best" : "candidate";
    if (index > 0) competing.append(document.createTextNode(" vs "));
    competing.append(item);
  });
  const gap = entry.competing[0].score - entry.competing[1].score;
  const note = document.createElement("span");
  note.className = "muted gap";
  note.textContent = `gap ${gap.toFixed(3)}`;
  competing.append(note);
}

function makeSpectrogram() {
  const slot = $("spectrogram-slot");
  const image = document.createElement("img");
  image.id = "spectrogram";
  image.alt = "spectrogram of the clip";
  const playhead = document.createElement("div");
  playhead.className = "playhead";
  const caption = document.createElement("div");
  caption.className = "muted caption";
  caption.textContent = "spectrogram, 0–8 kHz · click to play from there";
  slot.append(image, playhead, caption);
  slot.hidden = false;
  image.addEventListener("load", () => slot.classList.remove("failed"));
  image.addEventListener("error", () => {
    slot.classList.add("failed");
    caption.textContent = "no spectrogram: the audio of this clip cannot be read";
  });
  image.addEventListener("click", (event) => {
    const player = $("player");
    if (!player.duration) return;
    const box = image.getBoundingClientRect();
    player.currentTime = ((event.clientX - box.left) / box.width) * player.duration;
    player.play().catch(() => {});
  });
  const player = $("player");
  const move = () => {
    const share = player.duration ? player.currentTime / player.duration : 0;
    playhead.style.left = `${100 * Math.min(1, Math.max(0, share))}%`;
  };
  player.addEventListener("timeupdate", move);
  player.addEventListener("seeked", move);
  player.addEventListener("loadedmetadata", move);
  return { image, playhead };
}

function showSpectrogram(entry) {
  spectrogram.image.src = `spectrogram/${entry.row}`;
  spectrogram.playhead.style.left = "0%";
}

function renderLive(result, text) {
  const list = $("live-candidates");
  list.replaceChildren();
  $("live-score").textContent = "";
  delete $("live-score").dataset.score;
  $("live-delta").textContent = "";
  $("live-delta").className = "delta";
  if (!result) return;
  if (result.best === null) {
    $("live-note").textContent = text.trim() ? "no English label in the text (CLAP scores ASCII words only)" : "";
    return;
  }
  const best = result.candidates[result.best];
  $("live-score").textContent = formatScore(best.score);
  $("live-score").dataset.score = String(best.score);
  const model = entries[current].score;
  if (model !== null) {
    const delta = best.score - model;
    $("live-delta").textContent = `${delta >= 0 ? "+" : "−"}${Math.abs(delta).toFixed(3)} vs. the model's ${formatScore(model)}`;
    $("live-delta").className = `delta ${delta >= 0 ? "up" : "down"}`;
  }
  result.candidates.forEach((candidate, index) => {
    const item = labelAndScore("li", candidate);
    item.className = index === result.best ? "best" : "";
    list.append(item);
  });
  $("live-note").textContent = result.candidates.length > 1
    ? `${result.candidates.length} labels, split at commas: the best one counts, as in features_clap_text.py`
    : "";
}

function requestLiveScore(delay) {
  clearTimeout(liveTimer);
  const live = $("live");
  const entry = entries[current];
  if (!liveScoring || !entry.live_scoring) {
    live.classList.add("off");
    renderLive(null, "");
    $("live-note").textContent = liveScoring
      ? "no CLAP audio embedding for this clip (unreadable audio): no live score"
      : "live scoring is off (start the app with --clap_model and --clap_npy)";
    return;
  }
  live.classList.remove("off");
  const text = $("note").value;
  if (!text.trim()) {
    renderLive(null, "");
    $("live-note").textContent = "type a label to see how well CLAP aligns it with this clip";
    return;
  }
  const request = ++liveRequest;
  const row = entry.row;
  live.classList.add("busy");
  liveTimer = setTimeout(async () => {
    try {
      const result = await api("POST", `api/rows/${row}/score`, { text });
      if (request === liveRequest) renderLive(result, text);
    } catch (err) {
      if (request === liveRequest) $("live-note").textContent = `live score failed (${err.message})`;
    } finally {
      if (request === liveRequest) live.classList.remove("busy");
    }
  }, delay);
}

async function saveAndNext() {
  const entry = entries[current];
  const index = current;
  setStatus("saving…");
  try {
    const result = await api("PUT", `api/rows/${entry.row}/annotation`, { annotation: $("note").value });
    entry.annotation = result.annotation;
    entry.simulated = false;
    updateProgress();
    if (index < entries.length - 1) {
      show(index + 1);
      setStatus(`saved ${entries[index].filename}`, "ok");
    } else {
      refreshQueue();
      setStatus("saved — that was the last clip on the sheet", "ok");
    }
  } catch (err) {
    setStatus(`not saved: ${err.message}`, "error");
  }
}

function togglePlay() {
  const player = $("player");
  if (player.paused) player.play().catch((err) => setStatus(`cannot play: ${err.message}`, "error"));
  else player.pause();
}

function onKey(event) {
  if (event.isComposing || !entries.length) return;
  if (event.key === "Enter" && !event.shiftKey && !event.altKey && !event.ctrlKey && !event.metaKey) {
    event.preventDefault();
    saveAndNext();
  } else if (event.code === "Space" && event.ctrlKey) {
    event.preventDefault();
    togglePlay();
  } else if (event.key === "PageUp") {
    event.preventDefault();
    show(current - 1);
  } else if (event.key === "PageDown") {
    event.preventDefault();
    show(current + 1);
  }
}

async function start() {
  try {
    const state = await api("GET", "api/state");
    entries = state.entries;
    liveScoring = state.live_scoring;
    if (state.spectrogram) spectrogram = makeSpectrogram();
    $("sheet-name").textContent = state.sheet;
  } catch (err) {
    $("progress-text").textContent = `cannot load the sheet (${err.message})`;
    return;
  }
  const autoplay = localStorage.getItem("auditoryhum-autoplay");
  if (autoplay !== null) $("autoplay").checked = autoplay === "1";
  $("autoplay").addEventListener("change", (event) =>
    localStorage.setItem("auditoryhum-autoplay", event.target.checked ? "1" : "0"));
  buildQueue();
  updateProgress();
  document.addEventListener("keydown", onKey);
  $("note").addEventListener("input", () => requestLiveScore(LIVE_DELAY_MS));
  $("prev").addEventListener("click", () => show(current - 1));
  $("skip").addEventListener("click", () => show(current + 1));
  $("save").addEventListener("click", saveAndNext);
  $("play").addEventListener("click", togglePlay);
  const firstOpen = entries.findIndex((entry) => !entry.annotation);
  show(firstOpen >= 0 ? firstOpen : 0);
}

start();
