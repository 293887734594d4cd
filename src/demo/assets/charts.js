// A few hand-written SVG charts for the demo page: horizontal bars, lines over time,
// a histogram with threshold lines, and a worker's timeline. No library, no build step.
"use strict";

const Charts = (() => {
  const NS = "http://www.w3.org/2000/svg";

  function el(name, attrs, text) {
    const node = document.createElementNS(NS, name);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function svg(width, height) {
    return el("svg", { viewBox: `0 0 ${width} ${height}`, role: "img" });
  }

  function niceMax(value) {
    if (value <= 5) return 5;
    const power = Math.pow(10, Math.floor(Math.log10(value)));
    for (const step of [1, 2, 2.5, 5, 10]) {
      if (step * power >= value) return step * power;
    }
    return 10 * power;
  }

  function ticks(max, count) {
    const step = max / count;
    return Array.from({ length: count + 1 }, (_, i) => Math.round(i * step * 100) / 100);
  }

  // Local "HH:MM" of an epoch-ms instant, given the zone's offset from UTC.
  function clock(ms, offset) {
    return new Date(ms + offset).toISOString().slice(11, 16);
  }

  function day(ms, offset) {
    return new Date(ms + offset).toISOString().slice(0, 10);
  }

  // rows: [{label, value, total}]: a dark bar for value over a light one for total.
  function bars(container, rows, opts) {
    const width = 640, rowHeight = 46, left = 90, right = 120;
    const height = rows.length * rowHeight + 24;
    const max = niceMax(Math.max(1, ...rows.map((r) => Math.max(r.value, r.total || 0))));
    const scale = (v) => (v / max) * (width - left - right);
    const root = svg(width, height);
    for (const t of ticks(max, 4)) {
      const x = left + scale(t);
      root.append(el("line", { x1: x, x2: x, y1: 0, y2: height - 18, class: "grid-line" }));
      root.append(el("text", { x, y: height - 4, "text-anchor": "middle" }, String(t)));
    }
    rows.forEach((row, i) => {
      const y = i * rowHeight + 6;
      root.append(el("text", { x: left - 8, y: y + 20, "text-anchor": "end", class: "label" }, row.label));
      if (row.total !== undefined) {
        root.append(el("rect", { x: left, y, width: scale(row.total), height: 30, fill: "var(--online)", rx: 2 }));
      }
      root.append(el("rect", { x: left, y, width: Math.max(1, scale(row.value)), height: 30, fill: "var(--work)", rx: 2, class: "bar" }));
      const text = row.total !== undefined ? `${row.value} of ${row.total}` : String(row.value);
      root.append(el("text", { x: left + scale(Math.max(row.value, row.total || 0)) + 6, y: y + 20, class: "value" }, text));
    });
    container.replaceChildren(root);
  }

  // series: [{name, color, points: [[t, v], ...]}] over time (epoch ms).
  function lines(container, series, opts) {
    const width = 640, height = 260, left = 44, right = 14, top = 26, bottom = 34;
    const all = series.flatMap((s) => s.points);
    const root = svg(width, height);
    if (all.length < 2) {
      root.append(el("text", { x: width / 2, y: height / 2, "text-anchor": "middle" }, "Waiting for data…"));
      container.replaceChildren(root);
      return false;
    }
    const t0 = Math.min(...all.map((p) => p[0]));
    const t1 = Math.max(...all.map((p) => p[0]));
    const max = niceMax(Math.max(1, ...all.map((p) => p[1])));
    const x = (t) => left + ((t - t0) / Math.max(1, t1 - t0)) * (width - left - right);
    const y = (v) => top + (1 - v / max) * (height - top - bottom);
    for (const t of ticks(max, 4)) {
      root.append(el("line", { x1: left, x2: width - right, y1: y(t), y2: y(t), class: "grid-line" }));
      root.append(el("text", { x: left - 6, y: y(t) + 4, "text-anchor": "end" }, String(t)));
    }
    const span = t1 - t0;
    const hour = 3600000;
    const stepHours = [1, 2, 3, 6, 12, 24, 48, 96, 168].find((h) => span / (h * hour) <= 8) || 336;
    const offset = opts.offset || 0;
    let first = Math.ceil((t0 + offset) / (stepHours * hour)) * stepHours * hour - offset;
    for (let t = first; t <= t1; t += stepHours * hour) {
      root.append(el("line", { x1: x(t), x2: x(t), y1: top, y2: height - bottom, class: "grid-line" }));
      const label = clock(t, offset) === "00:00" ? day(t, offset).slice(5) : clock(t, offset);
      root.append(el("text", { x: x(t), y: height - bottom + 16, "text-anchor": "middle" }, label));
    }
    root.append(el("text", { x: width - right, y: height - 4, "text-anchor": "end" }, opts.xLabel || ""));
    root.append(el("text", { x: left, y: 12 }, opts.yLabel || ""));
    let legendX = width - right;
    for (const s of [...series].reverse()) {
      const label = `${s.name}: ${s.points.length ? s.points[s.points.length - 1][1] : 0}`;
      const w = label.length * 6.4 + 18;
      legendX -= w;
      root.append(el("rect", { x: legendX, y: 4, width: 12, height: 4, fill: s.color }));
      root.append(el("text", { x: legendX + 16, y: 11, class: "label" }, label));
    }
    for (const s of series) {
      if (!s.points.length) continue;
      const d = s.points.map((p, i) => `${i ? "L" : "M"}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join("");
      if (s.fill) {
        const area = `${d}L${x(s.points[s.points.length - 1][0]).toFixed(1)},${y(0)}L${x(s.points[0][0]).toFixed(1)},${y(0)}Z`;
        root.append(el("path", { d: area, fill: s.color, opacity: 0.12 }));
      }
      root.append(el("path", { d, fill: "none", stroke: s.color, "stroke-width": 2, class: "series" }));
    }
    container.replaceChildren(root);
    return true;
  }

  // One histogram: counts per 1 h bucket, with vertical lines at the thresholds (hours).
  function histogram(container, buckets, opts) {
    const width = 260, height = 170, left = 30, right = 8, top = 14, bottom = 30;
    const n = buckets.length;
    const max = niceMax(Math.max(1, ...buckets));
    const bw = (width - left - right) / n;
    const x = (h) => left + h * bw;
    const y = (v) => top + (1 - v / max) * (height - top - bottom);
    const root = svg(width, height);
    for (const t of ticks(max, 2)) {
      root.append(el("line", { x1: left, x2: width - right, y1: y(t), y2: y(t), class: "grid-line" }));
      root.append(el("text", { x: left - 4, y: y(t) + 4, "text-anchor": "end" }, String(t)));
    }
    buckets.forEach((count, i) => {
      const over = i >= opts.max ? "var(--bad)" : i >= opts.standard ? "var(--warn)" : "var(--work)";
      if (count > 0) {
        root.append(el("rect", { x: x(i) + 1, y: y(count), width: bw - 2, height: y(0) - y(count), fill: over, class: "bar" }));
      }
    });
    for (const h of [0, 4, 8, 12]) {
      root.append(el("text", { x: x(h), y: height - bottom + 13, "text-anchor": "middle" }, `${h}`));
    }
    root.append(el("text", { x: width - right, y: height - 4, "text-anchor": "end" }, "hours today"));
    const [standardLabel, maxLabel] = opts.labels || ["8 h", "11 h"];
    for (const [h, label, color] of [[opts.standard, standardLabel, "var(--warn)"], [opts.max, maxLabel, "var(--bad)"]]) {
      root.append(el("line", { x1: x(h), x2: x(h), y1: top - 4, y2: height - bottom, stroke: color, "stroke-width": 1.5, "stroke-dasharray": "4 3" }));
      root.append(el("text", { x: x(h) + 3, y: top + 4, fill: color, style: `fill:${color}` }, label));
    }
    container.replaceChildren(root);
  }

  // A worker's last day: segments [{start, end, kind}], episodes [{warn_at, limit_at}],
  // alerts [{at_ms, phase}], between from and now.
  function timeline(container, data) {
    const width = 640, height = 120, left = 10, right = 10, top = 34, barHeight = 30;
    const x = (t) => left + ((t - data.from) / (data.now - data.from)) * (width - left - right);
    const root = svg(width, height);
    const colors = { work: "var(--work)", pause: "var(--pause)", break: "var(--break)" };
    root.append(el("rect", { x: left, y: top, width: width - left - right, height: barHeight, fill: "#f3f5f7" }));
    for (const s of data.segments) {
      const x0 = x(Math.max(s.start, data.from)), x1 = x(s.end);
      root.append(el("rect", { x: x0, y: top, width: Math.max(0.8, x1 - x0), height: barHeight, fill: colors[s.kind], class: "segment" }, undefined));
    }
    const hour = 3600000;
    const offset = data.utc_offset_ms || 0;
    for (let t = Math.ceil((data.from + offset) / (3 * hour)) * 3 * hour - offset; t <= data.now; t += 3 * hour) {
      root.append(el("line", { x1: x(t), x2: x(t), y1: top + barHeight, y2: top + barHeight + 5, stroke: "#999" }));
      const label = clock(t, offset) === "00:00" ? day(t, offset).slice(5) : clock(t, offset);
      root.append(el("text", { x: x(t), y: top + barHeight + 17, "text-anchor": "middle" }, label));
    }
    // The worker's own limits (the timeline's `limits`), as "3 h 45" and "4 h".
    const mark = (s) => { const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60); return h && m ? `${h} h ${String(m).padStart(2, "0")}` : h ? `${h} h` : `${m} min`; };
    const l = data.limits || { continuous_limit_seconds: 14400, warn_before_seconds: 900 };
    const warnLabel = l.warn_before_seconds == null ? "" : mark(l.continuous_limit_seconds - l.warn_before_seconds);
    const limitLabel = mark(l.continuous_limit_seconds);
    for (const e of data.episodes) {
      for (const [at, color, label, anchor, dx] of [[e.warn_at, "var(--warn)", warnLabel, "end", -3], [e.limit_at, "var(--bad)", limitLabel, "start", 3]]) {
        if (at === null || at === undefined || at < data.from) continue;
        root.append(el("line", { x1: x(at), x2: x(at), y1: top - 12, y2: top + barHeight, stroke: color, "stroke-width": 2.5 }));
        root.append(el("text", { x: x(at) + dx, y: top - 4, "text-anchor": anchor, style: `fill:${color}` }, label));
      }
    }
    for (const a of data.alerts) {
      if (a.rule !== (data.rule || "continuous_work") || a.phase !== "resolved") continue;
      root.append(el("circle", { cx: x(a.at_ms), cy: top + barHeight + 26, r: 4, fill: "var(--ok)" }));
    }
    root.append(el("text", { x: width - right, y: 11, "text-anchor": "end" }, "last 24 simulated hours → now"));
    container.replaceChildren(root);
  }

  return { bars, lines, histogram, timeline, clock, day };
})();
