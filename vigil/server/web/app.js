// Vigil dashboard: live alerts, per-video score timelines, clip player, questions.
// Stored text (explanations, file names, answers) may hold on-screen or model text: it is only
// ever set with textContent or as attribute values, never parsed as HTML.
"use strict";

const state = {
  key: sessionStorage.getItem("vigil-key") || "",
  alerts: new Map(),      // alert id -> alert, newest first in the list
  offset: 0,
  video: null,            // timeline data of the selected video
  selected: null,         // selected alert id
  blobs: new Map(),       // media URL -> object URL (when a key is needed)
};

// ------------------------------------------------------------------ helpers
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function headers(extra) {
  const h = Object.assign({}, extra || {});
  if (state.key) h["Authorization"] = "Bearer " + state.key;
  return h;
}

async function api(path, opts) {
  const o = Object.assign({}, opts || {});
  o.headers = headers(o.headers);
  const resp = await fetch(path, o);
  if (resp.status === 401) {
    needKey();
    throw new Error("this server needs its API key");
  }
  const body = (resp.headers.get("content-type") || "").includes("json") ? await resp.json() : null;
  if (!resp.ok) throw new Error((body && body.detail && (typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail))) || resp.statusText);
  return body;
}

function needKey() {
  const form = document.getElementById("keyform");
  form.hidden = false;
  document.getElementById("key").focus();
}

// keyframes and clips: plain URLs, or fetched with the key as blobs (img/video cannot send headers)
async function setMedia(node, url) {
  if (!url) return;
  if (!state.key) { node.src = url; return; }
  if (!state.blobs.has(url)) {
    const resp = await fetch(url, { headers: headers() });
    if (!resp.ok) return;
    state.blobs.set(url, URL.createObjectURL(await resp.blob()));
  }
  node.src = state.blobs.get(url);
}

function seconds(t) {
  if (t === null || t === undefined) return "";
  const m = Math.floor(t / 60), s = t - 60 * m;
  return m ? `${m}:${s.toFixed(1).padStart(4, "0")}` : `${s.toFixed(1)} s`;
}

function basename(path) {
  return String(path || "").split(/[\\/]/).filter(Boolean).pop() || String(path || "");
}

function say(id, text, isError) {
  const node = document.getElementById(id);
  node.textContent = text;
  node.classList.toggle("error", !!isError);
}

// ------------------------------------------------------------------ cameras
async function loadCameras() {
  try {
    const cams = await api("/api/cameras");
    const list = document.getElementById("cameras");
    list.replaceChildren(...cams.map((c) => el("li", { class: c.state.replace(" ", "-"), title: c.sources.join("\n") || c.state },
      `${c.camera_id}: ${c.state}`, c.alerts ? ` · ${c.alerts} alert${c.alerts === 1 ? "" : "s"}` : "")));
    const scope = document.getElementById("ask-scope");
    const chosen = scope.value;
    scope.replaceChildren(el("option", { value: "" }, "all cameras"),
      ...cams.map((c) => el("option", { value: c.camera_id, selected: c.camera_id === chosen }, `camera ${c.camera_id}`)));
  } catch (e) { /* shown by the feed's status */ }
}

// ------------------------------------------------------------------ alerts
function alertItem(a) {
  const img = el("img", { alt: "", loading: "lazy" });
  setMedia(img, (a.keyframe_urls || [])[0]);
  const what = (a.explanation && a.explanation.what) || "";
  return el("li", { class: `alert ${a.severity}`, "data-id": a.id, "data-type": a.event_type, tabindex: 0,
                    onclick: () => selectAlert(a.id), onkeydown: (ev) => { if (ev.key === "Enter") selectAlert(a.id); } },
    img,
    el("div", {},
      el("div", { class: "title" }, a.type_name, " ", el("span", { class: "meta" }, `${(100 * a.confidence).toFixed(0)}%`)),
      el("div", { class: "meta" }, `${a.camera_id} · ${basename(a.source)} · ${seconds(a.start_s)}–${seconds(a.end_s)}`),
      el("div", { class: "what" }, what)));
}

function renderAlerts(fresh) {
  const list = document.getElementById("alerts");
  const items = [...state.alerts.values()].sort((x, y) => (y.created_at || "").localeCompare(x.created_at || "") || y._row - x._row);
  list.replaceChildren(...items.map((a) => {
    const li = alertItem(a);
    if (a.id === state.selected) li.classList.add("selected");
    if (fresh && fresh.has(a.id)) li.classList.add("fresh");
    return li;
  }));
  document.getElementById("alert-count").textContent = items.length ? `(${items.length}${state.more ? "+" : ""})` : "(none yet)";
}

async function loadAlerts(more) {
  const page = await api(`/api/alerts?limit=50&offset=${more ? state.offset : 0}`);
  page.items.forEach((a, i) => { a._row = -(state.offset + i); state.alerts.set(a.id, a); });
  state.offset = (more ? state.offset : 0) + page.items.length;
  state.more = page.next_offset !== null;
  document.getElementById("more").hidden = !state.more;
  renderAlerts();
}

function addLiveAlert(a, row) {
  a._row = row;
  state.alerts.set(a.id, a);
  renderAlerts(new Set([a.id]));
  if (state.video && state.video.video.id === a.video_id) selectVideo(a.video_id, null, true);
  loadVideos();
  loadCameras();
}

// the feed: server-sent events read with fetch (EventSource cannot send the key); resumes
// after the last alert seen when the connection drops
async function follow() {
  let last = null;
  for (;;) {
    try {
      const url = "/api/alerts/stream" + (last !== null ? `?after=${last}` : "");
      const resp = await fetch(url, { headers: headers({ Accept: "text/event-stream" }) });
      if (resp.status === 401) { needKey(); say("conn", "needs key", true); await sleep(3000); continue; }
      if (!resp.ok || !resp.body) throw new Error(resp.statusText);
      setConn("live", "live");
      const reader = resp.body.getReader();
      const decoder = new TextDecoder();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += decoder.decode(value, { stream: true });
        let cut;
        while ((cut = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, cut);
          buf = buf.slice(cut + 2);
          const msg = { data: [] };
          for (const line of block.split("\n")) {
            if (line.startsWith(":")) continue;
            const i = line.indexOf(":");
            const field = i < 0 ? line : line.slice(0, i);
            const val = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
            if (field === "data") msg.data.push(val); else msg[field] = val;
          }
          if (msg.event === "alert" && msg.data.length) {
            last = Number(msg.id);
            addLiveAlert(JSON.parse(msg.data.join("\n")), last);
          }
        }
      }
    } catch (e) { /* reconnect below */ }
    setConn("down", "reconnecting…");
    await sleep(2000);
  }
}

function setConn(cls, text) {
  const node = document.getElementById("conn");
  node.className = "conn " + cls;
  node.textContent = text;
}

function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

async function selectAlert(id) {
  const a = state.alerts.get(id) || await api(`/api/alerts/${encodeURIComponent(id)}`);
  state.selected = a.id;
  renderAlerts();
  showAlert(a);
  await selectVideo(a.video_id, a.start_s);
}

function showAlert(a) {
  const e = a.explanation || {};
  const frames = el("div", { class: "frames" });
  for (const url of a.keyframe_urls || []) {
    const img = el("img", { alt: "keyframe", loading: "lazy" });
    setMedia(img, url);
    frames.append(img);
  }
  document.getElementById("alert-detail").replaceChildren(
    el("h3", {}, a.type_name, ` · ${(100 * a.confidence).toFixed(0)}% · by ${a.explained_by}`),
    el("dl", {},
      el("dt", {}, "What"), el("dd", {}, e.what || ""),
      el("dt", {}, "When"), el("dd", {}, e.when || `${seconds(a.start_s)}–${seconds(a.end_s)}`),
      el("dt", {}, "Where"), el("dd", {}, e.where || ""),
      el("dt", {}, "Why"), el("dd", {}, e.why || "")),
    ...(a.model_disagreed ? [el("p", { class: "muted" }, "A model disagreed; the rules' detection stood: ", a.model_reason || "")] : []),
    frames);
}

// ------------------------------------------------------------------ videos and the timeline
async function loadVideos() {
  try {
    const videos = await api("/api/videos");
    const select = document.getElementById("video-select");
    const chosen = state.video ? state.video.video.id : select.value;
    select.replaceChildren(...(videos.length ? videos.map((v) => el("option", { value: v.id, selected: v.id === chosen },
      `${v.camera_id} · ${v.name}${v.alerts ? ` (${v.alerts} alert${v.alerts === 1 ? "" : "s"})` : ""}`))
      : [el("option", { value: "" }, "(no video scanned yet)")]));
    if (!state.video && videos.length) selectVideo(videos[0].id);
  } catch (e) { /* the feed shows trouble */ }
}

async function selectVideo(id, at, keepPlayer) {
  if (!id) return;
  const data = await api(`/api/videos/${encodeURIComponent(id)}/scores`);
  state.video = data;
  document.getElementById("video-select").value = id;
  const v = data.video;
  say("video-info", `${data.windows.length} windows · ${data.events.length} events · ${data.alerts.length} alerts` +
      (v.duration_s ? ` · ${seconds(v.duration_s)}` : ""));
  drawTimeline();
  if (at !== null && at !== undefined && !keepPlayer) playAt(at);
}

function timeSpan(data) {
  const ends = data.windows.map((w) => w[1]).concat(data.events.map((e) => e.end_s), data.alerts.map((a) => a.end_s));
  return Math.max(data.video.duration_s || 0, ...ends, 1);
}

function drawTimeline() {
  const canvas = document.getElementById("timeline");
  const data = state.video;
  const ratio = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || canvas.width, h = canvas.clientHeight || canvas.height;
  canvas.width = w * ratio; canvas.height = h * ratio;
  const g = canvas.getContext("2d");
  g.setTransform(ratio, 0, 0, ratio, 0, 0);
  g.clearRect(0, 0, w, h);
  if (!data) return;
  const pad = { l: 34, r: 8, t: 14, b: 22 };
  const span = timeSpan(data);
  const x = (t) => pad.l + (w - pad.l - pad.r) * t / span;
  const y = (s) => pad.t + (h - pad.t - pad.b) * (1 - Math.min(1, Math.max(0, s)));
  g.font = "11px system-ui, sans-serif";
  g.fillStyle = "#6b7785";
  for (const s of [0, 0.5, 1]) g.fillText(s.toFixed(1), 4, y(s) + 4);
  const ticks = Math.max(1, Math.round(span / 8 / 5) * 5);
  for (let t = 0; t <= span; t += ticks) g.fillText(seconds(t), x(t) - 8, h - 6);
  g.fillStyle = "rgba(149,165,166,0.35)";
  for (const e of data.events) g.fillRect(x(e.start_s), pad.t, Math.max(2, x(e.end_s) - x(e.start_s)), h - pad.t - pad.b);
  const colours = { high: "#c0392b", medium: "#e67e22", low: "#b7950b" };
  for (const a of data.alerts) {
    g.fillStyle = colours[a.severity] || colours.low;
    g.fillRect(x(a.start_s), h - pad.b - 6, Math.max(3, x(a.end_s) - x(a.start_s)), 6);
    g.fillText(a.type_name, x(a.start_s), pad.t - 3);
  }
  g.strokeStyle = "#999"; g.setLineDash([4, 3]);
  g.beginPath(); g.moveTo(pad.l, y(data.threshold)); g.lineTo(w - pad.r, y(data.threshold)); g.stroke();
  g.setLineDash([]); g.strokeStyle = "#1f4e79"; g.lineWidth = 1.5;
  g.beginPath();
  data.windows.forEach((p, i) => { const px = x((p[0] + p[1]) / 2), py = y(p[2]); if (i) g.lineTo(px, py); else g.moveTo(px, py); });
  g.stroke();
  canvas.dataset.points = String(data.windows.length);
  canvas.dataset.alerts = String(data.alerts.length);
  state.timeline = { x0: pad.l, x1: w - pad.r, span };
}

function timelineClick(ev) {
  if (!state.video || !state.timeline) return;
  const r = ev.target.getBoundingClientRect();
  const tl = state.timeline;
  const t = Math.max(0, Math.min(tl.span, (ev.clientX - r.left - tl.x0) / (tl.x1 - tl.x0) * tl.span));
  playAt(t);
}

// the clip of the alert around time t (clips are cut around alerts; the source may not be reachable)
function playAt(t) {
  const data = state.video;
  if (!data) return;
  const withClip = data.alerts.filter((a) => a.clip_url);
  const covering = withClip.filter((a) => a.clip_start_s <= t && t <= a.end_s + (a.start_s - a.clip_start_s) + 0.5);
  const pick = covering[0] || withClip.sort((p, q) => Math.abs(p.start_s - t) - Math.abs(q.start_s - t))[0];
  const player = document.getElementById("player");
  if (!pick) { say("player-note", `${seconds(t)}: no clip of this video is stored (clips are cut around alerts)`); return; }
  const offset = Math.max(0, (covering.length ? t : pick.start_s) - pick.clip_start_s);
  say("player-note", `${pick.type_name} clip, ${seconds(pick.clip_start_s + offset)} of ${basename(pick.source)}`);
  player.dataset.alert = pick.id;
  player.dataset.time = String(pick.clip_start_s + offset);
  const seek = () => { try { player.currentTime = offset; } catch (e) { /* not seekable yet */ } };
  if (player.dataset.clip === pick.clip_url) { seek(); return; }
  player.dataset.clip = pick.clip_url;
  player.addEventListener("loadedmetadata", seek, { once: true });
  setMedia(player, pick.clip_url);
  if (!state.alerts.has(pick.id)) state.alerts.set(pick.id, pick);
  showAlert(pick);
}

// ------------------------------------------------------------------ questions
async function ask(ev) {
  ev.preventDefault();
  const q = document.getElementById("question").value.trim();
  if (!q) return;
  const camera = document.getElementById("ask-scope").value;
  const box = document.getElementById("answer");
  box.replaceChildren(el("span", { class: "muted" }, "thinking…"));
  try {
    const a = await api("/api/ask", { method: "POST", headers: { "Content-Type": "application/json" },
                                       body: JSON.stringify(camera ? { question: q, camera } : { question: q, all: true }) });
    const cites = (a.citations || []).map((c) => el("button", { type: "button", class: "cite", "data-video": c.video_id,
        "data-start": c.start_s, onclick: () => selectVideo(c.video_id, c.start_s) },
      `${basename(c.video)} ${seconds(c.start_s)}–${seconds(c.end_s)} · camera ${c.camera_id}`));
    box.replaceChildren(el("p", { class: a.found ? "found" : "not-found", "data-found": String(!!a.found) }, a.answer),
      ...cites, el("p", { class: "muted" }, `confidence ${(a.confidence || 0).toFixed(2)} · answered by ${a.by ? a.by.decider : "rules"}`));
  } catch (e) {
    box.replaceChildren(el("span", { class: "error" }, String(e.message || e)));
  }
}

// ------------------------------------------------------------------ start
function start() {
  document.getElementById("keyform").addEventListener("submit", (ev) => {
    ev.preventDefault();
    state.key = document.getElementById("key").value.trim();
    sessionStorage.setItem("vigil-key", state.key);
    document.getElementById("keyform").hidden = true;
    boot();
  });
  document.getElementById("more").addEventListener("click", () => loadAlerts(true));
  document.getElementById("video-select").addEventListener("change", (ev) => selectVideo(ev.target.value));
  document.getElementById("timeline").addEventListener("click", timelineClick);
  document.getElementById("ask-form").addEventListener("submit", ask);
  window.addEventListener("resize", drawTimeline);
  boot();
  follow();
  setInterval(loadCameras, 5000);
}

async function boot() {
  try {
    await Promise.all([loadCameras(), loadAlerts(false), loadVideos()]);
  } catch (e) {
    say("conn", String(e.message || e), true);
  }
}

start();
