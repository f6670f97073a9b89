/* stratoflow review page: decimation-aware WebGL plots of a flight, coloured by flag.
 *
 * The server sends, per variable, base64 little-endian typed arrays (uint32 ms since the first
 * point, float32 values, uint8 flags, the lowest-probability test and its p). Zooming asks the
 * server for the visible window only, so a long 1 Hz flight stays fast.
 */
(function () {
  "use strict";
  const root = document.getElementById("plots");
  if (!root || typeof Plotly === "undefined") { return; }
  const profile = document.getElementById("profile");
  const profileVar = document.getElementById("profile-var");
  const status = document.getElementById("plot-status");
  const COLORS = {0: "#2a9d4b", 2: "#f0a202", 3: "#d62828", 4: "#7a8ca3", 7: "#9e9e9e"};
  const MANUAL = {good: "#2a9d4b", limited: "#f0a202", bad: "#d62828", not_validated: "#7a8ca3"};
  const CLASSES = [0, 4, 2, 3];  // drawn in this order: bad on top
  let data = null;
  let busy = false;
  let lastWindow = null;

  function decode(s, Type) {
    const bin = atob(s);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) { bytes[i] = bin.charCodeAt(i); }
    return new Type(bytes.buffer);
  }

  function toMs(v) {
    if (typeof v === "number") { return v; }
    return Date.parse(String(v).replace(" ", "T") + (String(v).length > 10 ? "Z" : "T00:00:00Z"));
  }

  function fmt(ms) {
    return new Date(ms).toISOString().replace("T", " ").slice(0, 19);
  }

  function unpack(payload) {
    return payload.variables.map(function (v) {
      const t = decode(v.t, Uint32Array);
      const x = new Float64Array(t.length);
      for (let i = 0; i < t.length; i++) { x[i] = payload.t0 + t[i]; }
      return {
        name: v.name, units: v.units, longName: v.long_name, tests: v.tests,
        nWindow: v.n_window, nSent: v.n_sent, x: x,
        v: decode(v.v, Float32Array), f: decode(v.f, Uint8Array),
        w: decode(v.w, Uint8Array), p: decode(v.p, Uint8Array),
        a: v.a ? decode(v.a, Float32Array) : null,
      };
    });
  }

  function byClass(series, code, xs, ys) {
    const idx = [];
    for (let i = 0; i < series.f.length; i++) { if (series.f[i] === code) { idx.push(i); } }
    const x = new Float64Array(idx.length), y = new Float32Array(idx.length);
    const text = code === 0 ? null : new Array(idx.length);
    for (let j = 0; j < idx.length; j++) {
      const i = idx[j];
      x[j] = xs[i]; y[j] = ys[i];
      if (text) {
        const w = series.w[i];
        text[j] = w === 255 ? "no test opinion" :
          series.tests[w] + " p=" + (series.p[i] / 250).toFixed(2);
      }
    }
    return {x: x, y: y, text: text, n: idx.length};
  }

  function timeTraces(vars) {
    const traces = [];
    vars.forEach(function (s, k) {
      const axis = k === 0 ? "" : String(k + 1);
      traces.push({type: "scattergl", mode: "lines", x: s.x, y: s.v, xaxis: "x", yaxis: "y" + axis,
        line: {color: "#b8c2cc", width: 1}, hoverinfo: "skip", name: s.name});
      CLASSES.forEach(function (code) {
        const c = byClass(s, code, s.x, s.v);
        if (!c.n) { return; }
        traces.push({type: "scattergl", mode: "markers", x: c.x, y: c.y, xaxis: "x",
          yaxis: "y" + axis, text: c.text, name: s.name + " " + data.flags[String(code)],
          marker: {color: COLORS[code], size: code === 0 ? 3 : 6},
          hovertemplate: "%{x|%H:%M:%S} %{y}" + (c.text ? "<br>%{text}" : "") +
            "<extra>" + s.name + " " + data.flags[String(code)] + "</extra>"});
      });
    });
    return traces;
  }

  function shapes(vars) {
    const out = [];
    data.manual_flags.forEach(function (m) {
      const k = vars.findIndex(function (s) { return s.name === m.variable; });
      if (k < 0) { return; }
      const axis = k === 0 ? "y" : "y" + (k + 1);
      out.push({type: "rect", xref: "x", yref: axis + " domain", x0: m.start, x1: m.end, y0: 0,
        y1: 1, fillcolor: MANUAL[m.flag] || "#000", opacity: 0.15, line: {width: 0}});
    });
    return out;
  }

  function layout(vars, range) {
    const l = {
      grid: {rows: vars.length, columns: 1, pattern: "coupled", roworder: "top to bottom"},
      height: Math.max(300, 140 * vars.length + 60), showlegend: false, uirevision: "keep",
      margin: {l: 80, r: 20, t: 10, b: 40}, dragmode: "zoom", hovermode: "closest",
      xaxis: {type: "date", range: range || undefined}, shapes: shapes(vars),
    };
    vars.forEach(function (s, k) {
      l["yaxis" + (k === 0 ? "" : String(k + 1))] = {
        title: {text: s.name + (s.units ? " (" + s.units + ")" : ""), font: {size: 11}},
        fixedrange: false, automargin: true};
    });
    return l;
  }

  function drawProfile(vars) {
    if (!profile || !data.altitude) { if (profile) { profile.style.display = "none"; } return; }
    const s = vars.find(function (v) { return v.name === profileVar.value; }) || vars[0];
    if (!s || !s.a) { return; }
    const traces = [];
    CLASSES.forEach(function (code) {
      const c = byClass(s, code, s.v, s.a);
      if (!c.n) { return; }
      traces.push({type: "scattergl", mode: "markers", x: c.x, y: c.y, text: c.text,
        marker: {color: COLORS[code], size: code === 0 ? 3 : 6},
        name: data.flags[String(code)]});
    });
    Plotly.react(profile, traces, {
      margin: {l: 60, r: 10, t: 10, b: 40}, uirevision: s.name, showlegend: false,
      xaxis: {title: {text: s.name + (s.units ? " (" + s.units + ")" : "")}},
      yaxis: {title: {text: data.altitude}}}, {responsive: true, displaylogo: false});
  }

  async function load(range) {
    busy = true;
    root.dataset.ready = "0";
    const started = performance.now();
    let url = root.dataset.url;
    if (range) { url += "?start=" + Math.floor(range[0]) + "&end=" + Math.ceil(range[1]); }
    const response = await fetch(url, {credentials: "same-origin"});
    const text = await response.text();
    data = JSON.parse(text);
    const vars = unpack(data);
    const xr = range ? [fmt(range[0]), fmt(range[1])] : null;
    await Plotly.react(root, timeTraces(vars), layout(vars, xr),
      {responsive: true, displaylogo: false, scrollZoom: true});
    if (profileVar && !profileVar.options.length) {
      vars.forEach(function (s) { profileVar.add(new Option(s.name, s.name)); });
    }
    drawProfile(vars);
    const sent = vars.reduce(function (n, s) { return n + s.nSent; }, 0);
    const total = vars.reduce(function (n, s) { return n + s.nWindow; }, 0);
    const timing = response.headers.get("Server-Timing") || "";
    const server = (timing.match(/dur=([0-9.]+)/) || [])[1];
    status.textContent = sent.toLocaleString() + " of " + total.toLocaleString() +
      " points plotted (" + vars.length + " variables), payload " +
      (text.length / 1024).toFixed(0) + " kB, server " + (server || "?") + " ms, total " +
      (performance.now() - started).toFixed(0) + " ms";
    root.dataset.ready = "1";
    lastWindow = range;
    busy = false;
    window.stratoflowReview = {vars: vars, payloadBytes: text.length};
  }

  let timer = null;
  function onRelayout(ev) {
    if (busy) { return; }
    let range = null;
    if (ev["xaxis.range[0]"] !== undefined) {
      range = [toMs(ev["xaxis.range[0]"]), toMs(ev["xaxis.range[1]"])];
    } else if (ev["xaxis.range"]) {
      range = [toMs(ev["xaxis.range"][0]), toMs(ev["xaxis.range"][1])];
    } else if (!ev["xaxis.autorange"]) {
      return;
    }
    if (JSON.stringify(range) === JSON.stringify(lastWindow)) { return; }
    clearTimeout(timer);
    timer = setTimeout(function () { load(range); }, 200);
  }

  function setRange(x0, x1, variable) {
    const start = document.getElementById("mf_start");
    const end = document.getElementById("mf_end");
    if (start) { start.value = fmt(Math.min(x0, x1)); }
    if (end) { end.value = fmt(Math.max(x0, x1)); }
    const select = document.getElementById("mf_variables");
    if (select && variable) {
      Array.from(select.options).forEach(function (o) { o.selected = o.value === variable; });
    }
  }

  load(null).then(function () {
    root.on("plotly_relayout", onRelayout);
    root.on("plotly_selected", function (ev) {
      if (!ev || !ev.range) { return; }
      const key = Object.keys(ev.range).find(function (k) { return k[0] === "x"; });
      const ykey = Object.keys(ev.range).find(function (k) { return k[0] === "y"; }) || "y";
      const k = ykey === "y" ? 0 : parseInt(ykey.slice(1), 10) - 1;
      const vars = window.stratoflowReview.vars;
      setRange(toMs(ev.range[key][0]), toMs(ev.range[key][1]), vars[k] ? vars[k].name : null);
    });
  }).catch(function (err) { status.textContent = "plots failed: " + err; busy = false; });

  document.getElementById("use-range").addEventListener("click", function () {
    const r = root.layout && root.layout.xaxis && root.layout.xaxis.range;
    if (r) { setRange(toMs(r[0]), toMs(r[1]), null); }
  });
  document.getElementById("reset-zoom").addEventListener("click", function () { load(null); });
  if (profileVar) {
    profileVar.addEventListener("change", function () {
      drawProfile(window.stratoflowReview.vars);
    });
  }
}());

/* The evaluation form: only the parameters the chosen method declares are sent (the method
 * select lists them in data-parameters); the others are disabled, so leaving "vote" does not
 * send its k to a method that has none. */
(function () {
  "use strict";
  const method = document.getElementById("ev_method");
  if (!method || !method.dataset.parameters) { return; }
  const declared = JSON.parse(method.dataset.parameters);
  function sync() {
    const mine = declared[method.value] || [];
    ["good", "bad", "k"].forEach(function (name) {
      const input = document.getElementById("ev_" + name);
      if (!input) { return; }
      const off = mine.indexOf(name) < 0;
      input.disabled = off;
      if (input.parentElement) { input.parentElement.hidden = off; }
    });
  }
  method.addEventListener("change", sync);
  sync();
}());
