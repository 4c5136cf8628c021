// memo report: draws the page from the JSON in #memo-data. Vanilla JS, no network.
(function () {
  "use strict";
  const D = JSON.parse(document.getElementById("memo-data").textContent);
  const T = D.table || window.MEMO_TABLE;  // NAME_files/table.js for very large libraries
  const $ = (id) => document.getElementById(id);
  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  const fmt = (v, d) => (v === null || v === undefined ? "–" : Number(v).toFixed(d));
  const int = (n) => Number(n).toLocaleString("en-US");
  const col = (name) => {  // a table column as a plain array (codes decoded)
    const c = T.data[name];
    if (c && c.codes) return c.codes.map((k) => c.values[k]);
    return c;
  };
  const PATH = col("path");
  const STATUS = col("status") || PATH.map(() => "ok");
  const NOTE = col("note") || PATH.map(() => "");
  const OUT = D.outputs;

  function href(i) {
    const abs = D.hrefs[String(i)];
    if (abs) return abs;
    return D.link_base + PATH[i].split("/").map(encodeURIComponent).join("/");
  }
  function scoreColour(v, output) {  // red (lowest of the library) .. amber .. green (highest)
    const s = D.stats[output] || { min: 0, max: 1 };
    const x = Math.max(0, Math.min(1, (v - s.min) / Math.max(s.max - s.min, 1e-9)));
    const hue = 8 + x * 122;
    return `hsl(${hue.toFixed(0)}, 58%, 40%)`;
  }

  // ---------------------------------------------------------------- header, counts, settings
  function header() {
    const c = D.counts;
    const parts = D.parts > 1 ? ` (${D.parts} Parquet parts)` : "";
    $("top").innerHTML = `<h1><span class="brand">memo</span> report</h1>
      <div class="sub">${esc(D.source)}${parts} · ${int(c.total)} videos</div>`;
    const cards = [["videos", c.total, ""], ["scored", c.ok, ""], ["failed", c.failed, c.failed ? "bad" : ""],
      ["with warnings", c.warnings, c.warnings ? "warn" : ""]];
    let html = `<div class="cards">` + cards.map(([k, v, cls]) =>
      `<div class="card ${cls}"><div class="v">${int(v)}</div><div class="k">${k}</div></div>`).join("");
    html += OUT.map((o) => {
      const s = D.stats[o];
      return s ? `<div class="card wide"><div class="v">${fmt(s.mean, 3)}</div><div class="k">mean ${esc(o)}
        · median ${fmt(s.median, 3)} · sd ${fmt(s.std, 3)} · ${fmt(s.min, 3)}–${fmt(s.max, 3)}</div></div>` : "";
    }).join("") + `</div>`;
    const settings = `<div class="panel"><h2>Settings</h2><dl class="settings">` +
      D.settings.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`).join("") + `</dl></div>`;
    $("overview").innerHTML = `<div class="left">${html}<section id="histograms" class="panel"></section></div>` + settings;
  }

  // ---------------------------------------------------------------- histograms
  function histogram(name, h, mean) {
    const W = 420, H = 150, L = 34, B = 22, top = 8, n = h.counts.length;
    const peak = Math.max(1, ...h.counts), lo = h.edges[0], hi = h.edges[n];
    const x = (v) => L + ((v - lo) / (hi - lo)) * (W - L - 16);
    const y = (c) => H - B - (c / peak) * (H - B - top);
    let s = `<svg viewBox="0 0 ${W} ${H}" role="img" aria-label="histogram of ${esc(name)}">`;
    h.counts.forEach((c, i) => {
      const x0 = x(h.edges[i]), x1 = x(h.edges[i + 1]);
      s += `<rect class="bin" x="${(x0 + 0.5).toFixed(1)}" y="${y(c).toFixed(1)}" width="${Math.max(0.5, x1 - x0 - 1).toFixed(1)}"
        height="${(H - B - y(c)).toFixed(1)}"><title>${fmt(h.edges[i], 3)}–${fmt(h.edges[i + 1], 3)}: ${int(c)} videos</title></rect>`;
    });
    s += `<line x1="${L}" x2="${W - 16}" y1="${H - B}" y2="${H - B}" stroke="#9aa2b1"/>`;
    for (let k = 0; k <= 4; k++) {
      const v = lo + (k / 4) * (hi - lo);
      s += `<text x="${x(v).toFixed(1)}" y="${H - 6}" text-anchor="middle">${fmt(v, 2)}</text>`;
    }
    s += `<text x="${L - 4}" y="${top + 8}" text-anchor="end">${int(peak)}</text><text x="${L - 4}" y="${H - B}" text-anchor="end">0</text>`;
    if (mean !== undefined) s += `<line class="mean" x1="${x(mean)}" x2="${x(mean)}" y1="${top}" y2="${H - B}"><title>mean ${fmt(mean, 4)}</title></line>`;
    return s + `</svg>`;
  }
  function histograms() {
    const parts = OUT.filter((o) => D.histograms[o]).map((o) =>
      `<div class="hist"><h3>${esc(o)}</h3>${histogram(o, D.histograms[o], D.stats[o] && D.stats[o].mean)}</div>`);
    $("histograms").innerHTML = `<h2>Distribution of scores</h2>` +
      (parts.length ? `<div class="hists">${parts.join("")}</div>` : `<p class="muted">No scored videos.</p>`);
  }

  // ---------------------------------------------------------------- gallery
  function contribScale(output) {
    const groups = D.contributions[output] || [];
    let m = 1e-9;
    for (const g of groups) for (const v of col(g.column)) if (v !== null) m = Math.max(m, Math.abs(v));
    return m;
  }
  function contribBars(i, output, scale) {
    const groups = D.contributions[output] || [];
    if (!groups.length) return "";
    return `<div class="contrib" title="module contributions: prediction minus prediction with the module at its training mean">` +
      groups.map((g) => {
        const v = T.data[g.column][i];
        if (v === null) return "";
        const w = (Math.abs(v) / scale) * 50;
        const style = v >= 0 ? `left:50%;width:${w}%` : `left:${50 - w}%;width:${w}%`;
        return `<span>${esc(g.module)}</span><div class="cbar"><span class="${v >= 0 ? "pos" : "neg"}" style="${style}"></span></div><span>${v >= 0 ? "+" : ""}${fmt(v, 4)}</span>`;
      }).join("") + `</div>`;
  }
  function frameLine(v, output, width) {
    // centred on the video's mean; at least +-0.02 high, so float noise stays flat
    const scores = v.frames[output];
    if (!scores || scores.length < 2) return "";
    const H = 30, n = scores.length, mean = scores.reduce((a, b) => a + b, 0) / n;
    const half = Math.max(0.02, ...scores.map((s) => Math.abs(s - mean)));
    const y = (s) => H / 2 - ((s - mean) / half) * (H / 2 - 4);
    const pts = scores.map((s, k) => [((k + 0.5) / n) * width, y(s)]);
    const low = scores.indexOf(Math.min(...scores));
    const times = v.times || [];
    let s = `<svg viewBox="0 0 ${width} ${H}" aria-label="per-frame ${esc(output)}">`;
    s += `<line x1="0" x2="${width}" y1="${y(mean).toFixed(1)}" y2="${y(mean).toFixed(1)}"/>`;
    s += `<polyline points="${pts.map((p) => p[0].toFixed(1) + "," + p[1].toFixed(1)).join(" ")}"/>`;
    pts.forEach((p, k) => {
      const t = times[k] !== undefined ? `t=${fmt(times[k], 2)} s: ` : "";
      const lowest = k === low && scores[k] < mean - 0.005 ? ` class="low" r="3.4"` : ` r="2.6"`;
      s += `<circle cx="${p[0].toFixed(1)}" cy="${p[1].toFixed(1)}"${lowest}><title>${t}${fmt(scores[k], 4)}</title></circle>`;
    });
    return s + `</svg>`;
  }
  function videoCard(i, rank, output, scale) {
    const v = D.videos[String(i)] || { frames: {} };
    const score = T.data[output][i];
    let media;
    if (v.thumb) {
      const w = v.thumb_w || 600;
      media = `<div class="strip" style="width:min(100%, ${w}px)"><a href="${esc(href(i))}"><img src="${esc(D.thumbs[v.thumb])}" width="${w}" height="${v.thumb_h || 72}"
        alt="frames of ${esc(PATH[i])}" loading="lazy"></a>${frameLine(v, output, w)}</div>`;
    } else {
      media = `<div class="placeholder">${esc(v.problem || "no thumbnails (memo report --no-thumbnails)")}</div>`;
    }
    return `<div class="video" data-row="${i}"><div class="title"><span class="rank">${rank}</span>
      <span class="score" style="background:${scoreColour(score, output)}">${fmt(score, 3)}</span>
      <a class="path" href="${esc(href(i))}" title="${esc(PATH[i])}">&lrm;${esc(PATH[i])}&lrm;</a></div>${media}${contribBars(i, output, scale)}</div>`;
  }
  function gallery(output) {
    const g = D.gallery[output];
    const select = OUT.length > 1 ? `<select id="gallery-output" aria-label="rank by">` +
      OUT.map((o) => `<option${o === output ? " selected" : ""}>${esc(o)}</option>`).join("") + `</select>` : "";
    if (!g || !g.top.length) { $("gallery").innerHTML = `<h2>Gallery</h2><p class="muted">No scored videos.</p>`; return; }
    const scale = contribScale(output);
    const total = D.counts.ok;
    const side = (title, rows, rankOf) => `<div><h3>${title}</h3>` +
      rows.map((i, k) => videoCard(i, rankOf(k), output, scale)).join("") + `</div>`;
    $("gallery").innerHTML = `<div class="gallery-head"><h2>Most and least memorable</h2>${select}
      <span class="muted">top and bottom ${D.top} by ${esc(output)}: the frames the score used${
        OUT.some((o) => Object.values(D.videos).some((v) => v.frames[o])) ? "; under them, each frame's score around the video's (dotted), its lowest frame in red" : ""}</span></div>
      <div class="gallery-cols">${side("Most memorable", g.top, (k) => "#" + (k + 1))}${g.bottom.length ? side("Least memorable", g.bottom, (k) => "#" + (total - k)) : ""}</div>`;
    const sel = $("gallery-output");
    if (sel) sel.onchange = () => gallery(sel.value);
  }

  // ---------------------------------------------------------------- failures
  function failures() {
    const f = D.failures;
    if (!f.length) { $("failures").innerHTML = `<h2>Failures</h2><p class="muted">None: every video was scored.</p>`; return; }
    $("failures").innerHTML = `<h2>Failures by reason</h2>` + f.map((g) => {
      const more = g.count > g.paths.length ? `<li class="muted">… and ${int(g.count - g.paths.length)} more (filter the table by “failed”)</li>` : "";
      return `<details><summary><span class="count">${int(g.count)}</span>${esc(g.reason)}</summary><ul>` +
        g.paths.map((p) => `<li><code>${esc(p)}</code></li>`).join("") + more + `</ul></details>`;
    }).join("");
  }

  // ---------------------------------------------------------------- table
  const COLS = T.columns;
  const DATA = {};
  COLS.forEach((c) => { DATA[c.name] = col(c.name); });
  const state = { sort: null, dir: 1, page: 0, size: 100, query: "", status: "all", order: null, rows: null };
  let lowerPaths = null;

  function compareBy(name) {
    const v = DATA[name];
    const kind = COLS.find((c) => c.name === name).kind;
    return (a, b) => {
      const x = v[a], y = v[b];
      const xn = x === null || x === undefined || x === "", yn = y === null || y === undefined || y === "";
      if (xn || yn) return xn && yn ? a - b : xn ? 1 : -1;  // empty cells last, either direction
      if (kind === "number") return (x - y) * state.dir || a - b;
      return (x < y ? -1 : x > y ? 1 : 0) * state.dir || a - b;
    };
  }
  function sortedOrder() {
    if (state.order) return state.order;
    const idx = Array.from({ length: T.rows }, (_, i) => i);
    if (state.sort) idx.sort(compareBy(state.sort));
    state.order = idx;
    return idx;
  }
  function filtered() {
    if (state.rows) return state.rows;
    const q = state.query.toLowerCase(), st = state.status;
    if (q && !lowerPaths) lowerPaths = PATH.map((p) => p.toLowerCase());
    state.rows = sortedOrder().filter((i) => {
      if (q && lowerPaths[i].indexOf(q) < 0) return false;
      if (st === "ok" || st === "failed") return st === "ok" ? STATUS[i] === "ok" : STATUS[i] !== "ok";
      if (st === "warning") return STATUS[i] === "ok" && NOTE[i] !== "";
      return true;
    });
    return state.rows;
  }
  function cell(name, kind, i) {
    const v = DATA[name][i];
    if (name === "path") return `<td class="path"><a href="${esc(href(i))}" title="${esc(v)}">${esc(v)}</a></td>`;
    if (name === "note") return `<td class="note" title="${esc(v)}">${esc(v)}</td>`;
    if (name === "status") return `<td class="status">${esc(v)}</td>`;
    if (kind !== "number") return `<td>${esc(v === null ? "" : v)}</td>`;
    if (v === null || v === undefined) return `<td class="num muted">–</td>`;
    if (name.startsWith("contrib_")) {
      const w = Math.min(50, (Math.abs(v) / CONTRIB_MAX) * 50);
      const style = v >= 0 ? `left:50%;width:${w}%` : `left:${50 - w}%;width:${w}%`;
      return `<td class="num"><span class="mini"><span class="${v >= 0 ? "pos" : "neg"}" style="${style}"></span></span>${fmt(v, 4)}</td>`;
    }
    const digits = name === "frames" ? 0 : name === "seconds" ? 2 : 4;
    return `<td class="num">${fmt(v, digits)}</td>`;
  }
  let CONTRIB_MAX = 1e-9;
  COLS.filter((c) => c.name.startsWith("contrib_")).forEach((c) => {
    for (const v of DATA[c.name]) if (v !== null) CONTRIB_MAX = Math.max(CONTRIB_MAX, Math.abs(v));
  });
  const LABELS = {};  // contrib_<output>_<module> -> "<module> (<output>)": module contributions
  Object.entries(D.contributions).forEach(([o, groups]) => groups.forEach((g) => {
    LABELS[g.column] = OUT.length > 1 ? `${g.module} (${o})` : `${g.module} contribution`;
  }));
  function drawHead() {
    $("rows").tHead.innerHTML = `<tr>` + COLS.map((c) => {
      const arrow = state.sort === c.name ? `<span class="arrow">${state.dir > 0 ? "▲" : "▼"}</span>` : "";
      const aria = state.sort === c.name ? (state.dir > 0 ? "ascending" : "descending") : "none";
      return `<th data-col="${esc(c.name)}" class="${c.kind === "number" ? "num" : ""}" aria-sort="${aria}" title="${esc(c.name)}">${esc(LABELS[c.name] || c.name)}${arrow}</th>`;
    }).join("") + `</tr>`;
  }
  function drawBody() {
    const rows = filtered();
    const pages = Math.max(1, Math.ceil(rows.length / state.size));
    state.page = Math.min(state.page, pages - 1);
    const start = state.page * state.size, slice = rows.slice(start, start + state.size);
    $("rows").tBodies[0].innerHTML = slice.map((i) =>
      `<tr data-row="${i}" class="${STATUS[i] === "ok" ? "" : "failed"}">` + COLS.map((c) => cell(c.name, c.kind, i)).join("") + `</tr>`).join("");
    $("match-count").textContent = rows.length === T.rows ? `${int(T.rows)} rows` : `${int(rows.length)} of ${int(T.rows)} rows`;
    $("page-label").textContent = rows.length ? `${int(start + 1)}–${int(start + slice.length)} · page ${state.page + 1} of ${int(pages)}` : "no rows";
    $("prev").disabled = state.page === 0;
    $("next").disabled = state.page >= pages - 1;
  }
  function table() {
    drawHead();
    drawBody();
    $("rows").tHead.addEventListener("click", (e) => {
      const th = e.target.closest("th");
      if (!th) return;
      const name = th.dataset.col;
      const numeric = COLS.find((c) => c.name === name).kind === "number";
      if (state.sort === name) state.dir = -state.dir;
      else { state.sort = name; state.dir = numeric && name !== "frames" && name !== "seconds" ? -1 : 1; }
      state.order = state.rows = null; state.page = 0;
      drawHead(); drawBody();
    });
    let timer = null;
    $("search").addEventListener("input", (e) => {
      clearTimeout(timer);
      timer = setTimeout(() => { state.query = e.target.value.trim(); state.rows = null; state.page = 0; drawBody(); }, 120);
    });
    $("status-filter").addEventListener("change", (e) => { state.status = e.target.value; state.rows = null; state.page = 0; drawBody(); });
    $("page-size").addEventListener("change", (e) => { state.size = Number(e.target.value); state.page = 0; drawBody(); });
    $("prev").addEventListener("click", () => { state.page -= 1; drawBody(); });
    $("next").addEventListener("click", () => { state.page += 1; drawBody(); });
  }

  header();
  histograms();
  gallery(OUT[0]);
  failures();
  table();
  window.memoReady = performance.now();
  document.body.dataset.ready = "1";
})();
