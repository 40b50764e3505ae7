"""The web view's one page (HTML, CSS and script in one string; no files to install, no CDN).

The script polls ``api/state`` once a second for the table and reads each picture stream with
``fetch`` (the same motion-JPEG an ``<img>`` could play), decoding every part into a canvas. Reading
the parts itself lets the page see each picture's ``X-Captured`` time: when the picture has been
painted (the next animation frame after drawing it) it records capture -> shown latency in
``window.vidlleLatency`` (ms, the last 600), which the page shows and the benchmark reads.
"""

PAGE = r"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>vidlle</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{margin:0;font:14px system-ui,sans-serif;background:#111;color:#ddd}
header{padding:8px 14px;background:#1c1c1c;display:flex;gap:16px;align-items:center}
header b{font-size:16px;color:#fff} header span{color:#999}
main{padding:12px 14px}
#grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(320px,1fr));gap:10px}
.card{background:#1c1c1c;border-radius:6px;overflow:hidden;cursor:pointer}
.card canvas,#large canvas{width:100%;display:block;background:#000;aspect-ratio:16/9}
.card div{padding:5px 8px;display:flex;justify-content:space-between}
#large{display:none;gap:10px;grid-template-columns:1fr 1fr}
#large figure{margin:0} #large figcaption{padding:4px 0;color:#999}
.state{font-weight:600} .streaming{color:#6c6} .reconnecting,.connecting,.starting,.restarting{color:#db4}
.failed,.crashed{color:#e55} .stopped,.ended{color:#999}
table{border-collapse:collapse;margin-top:12px;width:100%}
th,td{padding:4px 8px;text-align:right;border-bottom:1px solid #2a2a2a;white-space:nowrap}
th:first-child,td:first-child,th:nth-child(2),td:nth-child(2),td.file{text-align:left}
td.file{color:#999;overflow:hidden;text-overflow:ellipsis;max-width:28em}
button{background:#333;color:#eee;border:1px solid #555;border-radius:4px;padding:4px 10px;cursor:pointer}
button.on{background:#2d5a2d} button:disabled{opacity:.4;cursor:default}
#back{display:none}
</style></head>
<body>
<header><b>vidlle</b><span id="mode"></span><span id="shown"></span>
<button id="back">&larr; all cameras</button><span id="controls"></span><span id="lat"></span></header>
<main>
<div id="grid"></div>
<div id="large"><figure><canvas id="large-enhanced"></canvas><figcaption>enhanced</figcaption></figure>
<figure><canvas id="large-original"></canvas><figcaption>original</figcaption></figure></div>
<table><thead><tr><th>camera</th><th>state</th><th>fps</th><th>in fps</th><th>frames</th><th>drops</th>
<th>reconnects</th><th>restarts</th><th>latency</th><th>file</th></tr></thead><tbody id="rows"></tbody></table>
</main>
<script>
"use strict";
const token = new URLSearchParams(location.search).get("token");
const q = token ? "?token=" + encodeURIComponent(token) : "";
window.vidlleLatency = [];
let streams = [], large = null, known = "";

function read(url, canvas) {
  const abort = new AbortController();
  const enc = new TextEncoder(), dec = new TextDecoder();
  const sep = enc.encode("\r\n\r\n");
  const find = (hay, needle, from) => {
    outer: for (let i = from; i <= hay.length - needle.length; i++) {
      for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
      return i;
    }
    return -1;
  };
  async function play(resp) {
    const reader = resp.body.getReader();
    let buf = new Uint8Array(0);
    for (;;) {
      const {value, done} = await reader.read();
      if (done) return;
      const joined = new Uint8Array(buf.length + value.length);
      joined.set(buf); joined.set(value, buf.length); buf = joined;
      for (;;) {
        const end = find(buf, sep, 0);
        if (end < 0) break;
        const head = dec.decode(buf.subarray(0, end));
        const len = +(/Content-Length:\s*(\d+)/i.exec(head) || [0, -1])[1];
        const cap = +(/X-Captured:\s*([\d.]+)/i.exec(head) || [0, 0])[1];
        if (len < 0 || buf.length < end + 4 + len) break;
        const jpeg = buf.slice(end + 4, end + 4 + len);
        buf = buf.slice(end + 4 + len);
        const bmp = await createImageBitmap(new Blob([jpeg], {type: "image/jpeg"}));
        if (canvas.width !== bmp.width) { canvas.width = bmp.width; canvas.height = bmp.height; }
        canvas.getContext("2d").drawImage(bmp, 0, 0);
        bmp.close();
        requestAnimationFrame(() => {
          const lat = performance.timeOrigin + performance.now() - cap * 1000;
          window.vidlleLatency.push(lat);
          if (window.vidlleLatency.length > 600) window.vidlleLatency.shift();
        });
      }
    }
  }
  (async () => {
    // A camera that is still starting has no stream yet (404), and a stream ends when its camera
    // process restarts or the server goes away: keep asking, once a second, until the page
    // stops watching this picture.
    while (!abort.signal.aborted) {
      try {
        const resp = await fetch(url, {signal: abort.signal, cache: "no-store"});
        if (resp.ok && resp.body) await play(resp);
        else resp.body && resp.body.cancel();
      } catch (e) { /* aborted, the server went away or a broken picture: see below */ }
      if (!abort.signal.aborted) await new Promise(r => setTimeout(r, 1000));
    }
  })();
  return abort;
}

function stopAll() { streams.forEach(s => s.abort()); streams = []; }
function streamUrl(id, kind) { return "stream/" + encodeURIComponent(id) + "/" + kind + q; }

function showGrid(cams) {
  stopAll(); large = null;
  document.getElementById("large").style.display = "none";
  document.getElementById("back").style.display = "none";
  const grid = document.getElementById("grid");
  grid.style.display = ""; grid.innerHTML = "";
  for (const c of cams) {
    const card = document.createElement("div");
    card.className = "card"; card.id = "cam-" + c.id; card.dataset.camera = c.id;
    const canvas = document.createElement("canvas");
    const line = document.createElement("div");
    line.innerHTML = '<span class="name"></span><span class="state"></span>';
    line.querySelector(".name").textContent = c.name;
    card.append(canvas, line);
    card.onclick = () => showLarge(c.id, cams.length > 1);
    grid.append(card);
    streams.push(read(streamUrl(c.id, "enhanced"), canvas));
  }
}

function showLarge(id, back) {
  stopAll(); large = id;
  document.getElementById("grid").style.display = "none";
  document.getElementById("large").style.display = "grid";
  document.getElementById("back").style.display = back ? "" : "none";
  for (const kind of ["enhanced", "original"])
    streams.push(read(streamUrl(id, kind), document.getElementById("large-" + kind)));
}

document.getElementById("back").onclick = () => { known = ""; };

function cell(tr, text, cls) {
  const td = document.createElement("td"); td.textContent = text; if (cls) td.className = cls; tr.append(td);
}
const num = (v, d) => (v === null || v === undefined) ? "-" : (+v).toFixed(d);

function controls(c) {
  const box = document.getElementById("controls");
  if (!c) { box.innerHTML = ""; return; }
  if (box.childElementCount === 0) {
    for (const name of ["enhance", "overlay"]) {
      const b = document.createElement("button"); b.id = "toggle-" + name; b.textContent = name;
      b.onclick = () => fetch("api/toggle/" + name + q, {method: "POST", headers: {"X-Vidlle-Control": "1"}});
      box.append(b, " ");
    }
  }
  for (const name of ["enhance", "overlay"]) {
    const b = document.getElementById("toggle-" + name);
    b.className = c[name] ? "on" : ""; b.disabled = name === "overlay" && !c.overlay_available;
  }
}

async function tick() {
  try {
    const s = await (await fetch("api/state" + q, {cache: "no-store"})).json();
    document.getElementById("mode").textContent = s.mode;
    document.getElementById("shown").textContent = s.where || "";
    const cams = s.cameras;
    const ids = cams.map(c => c.id).join("\n");
    if (ids !== known) {
      known = ids;
      if (s.mode === "preview" || cams.length === 1) showLarge(cams[0].id, false); else showGrid(cams);
    }
    const rows = document.getElementById("rows"); rows.innerHTML = "";
    for (const c of cams) {
      const tr = document.createElement("tr"); tr.dataset.camera = c.id;
      cell(tr, c.name); cell(tr, c.status || c.state, "state " + c.state);
      cell(tr, num(c.fps, 1)); cell(tr, num(c.fps_in, 1)); cell(tr, c.frames); cell(tr, c.drops);
      cell(tr, c.reconnects); cell(tr, c.restarts); cell(tr, c.latency_ms == null ? "-" : num(c.latency_ms, 0) + " ms");
      cell(tr, c.output || "-", "file");
      rows.append(tr);
      const card = document.getElementById("cam-" + c.id);
      if (card) { const st = card.querySelector(".state"); st.textContent = c.state; st.className = "state " + c.state; }
    }
    controls(s.controls);
    const l = window.vidlleLatency.slice(-50).sort((a, b) => a - b);
    document.getElementById("lat").textContent =
      l.length ? "capture \u2192 shown " + l[l.length >> 1].toFixed(0) + " ms" : "";
  } catch (e) { /* the server went away: keep the last picture, try again */ }
  setTimeout(tick, 1000);
}
tick();
</script>
</body></html>
"""
