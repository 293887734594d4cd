// The demo page: polls /api/demo/... every 2 s and redraws.
"use strict";

const POLL_MS = 2000;
const $ = (id) => document.getElementById(id);

const RULES = {
  continuous_work: "Continuous work",
  daily_hours: "Daily hours",
  weekly_hours: "Weekly hours",
  monthly_overtime: "Monthly overtime",
  weekly_rest: "Weekly rest day",
  minimum_wage: "Minimum wage",
  quota_p90: "Quota (90% within 8 h)",
};

let offset = 8 * 3600000;
let currentWorker = null;
let autoPicked = false;

function esc(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function hm(seconds) {
  const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60);
  return h ? `${h} h ${String(m).padStart(2, "0")} min` : `${m} min`;
}

function cell(text, cls) {
  const td = document.createElement("td");
  if (cls) td.className = cls;
  if (text instanceof Node) td.append(text); else td.textContent = text;
  return td;
}

async function getJson(path) {
  const response = await fetch(path, { cache: "no-store" });
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return response.json();
}

function renderStatus(s) {
  offset = s.utc_offset_ms;
  $("speed").textContent = `${Math.round(s.speed)}×` + ` (one simulated hour every ${(3600 / s.speed).toFixed(1)} s)`;
  $("zone").textContent = s.rules.zone;
  $("sim-time").textContent = Charts.clock(s.sim_time_ms, offset);
  $("sim-date").textContent = `${Charts.day(s.sim_time_ms, offset)} · ${s.simulated_hours.toFixed(1)} h simulated`;
  $("seed").textContent = s.seed;
  $("card-working").textContent = s.working.toLocaleString();
  $("card-online").textContent = `of ${s.online.toLocaleString()} online · ${s.workers.toLocaleString()} simulated`;
  $("card-warnings").textContent = s.continuous_work.warnings;
  $("card-violations").textContent = s.continuous_work.violations;
  $("card-alerts").textContent = s.alerts.total.toLocaleString();
  $("card-events").textContent = s.events_produced.toLocaleString();
  $("card-rate").textContent = `${s.events_per_second.toLocaleString()} events per second`;
  $("footer-status").textContent = s.ready ? `monitor ready · simulated time ${s.sim_time}` : "monitor starting…";

  const rows = Object.entries(s.platforms).map(([name, p]) => ({ label: name, value: p.working, total: p.online }));
  if (rows.length) {
    Charts.bars($("chart-platforms"), rows);
    $("chart-platforms").dataset.filled = "yes";
  }

  const counts = $("rule-counts");
  counts.replaceChildren();
  for (const [rule, phases] of Object.entries(s.alerts.by_rule)) {
    const span = document.createElement("span");
    span.textContent = `${RULES[rule] || rule}: ` + Object.entries(phases).map(([p, n]) => `${n} ${p}`).join(", ");
    counts.append(span);
  }

  const r = s.rules;
  const rules = [
    ["Continuous work", `Warning at ${hm(r.continuous_limit_seconds - r.warn_before_seconds)}, violation at ${hm(r.continuous_limit_seconds)} of work without a break of at least ${hm(r.min_break_seconds)}; resolved when such a break is completed. Shorter pauses do not reset the count.`, "威人社字〔2022〕15号 measure 3; Road Traffic Safety Law regulations art. 62"],
    ["Daily hours", `Warning at ${hm(r.daily_standard_seconds)}, violation at ${hm(r.daily_max_seconds)} of work in the local day.`, "Labour Law art. 36, 41"],
    ["Weekly hours", `Violation at ${hm(r.weekly_max_seconds)} in the week (Monday to Sunday).`, "Labour Law art. 36"],
    ["Monthly overtime", `Violation when work beyond ${hm(r.daily_standard_seconds)} a day adds up to ${hm(r.monthly_overtime_max_seconds)} in a month.`, "Labour Law art. 41"],
    ["Weekly rest day", "Violation on the 7th consecutive day with work.", "Labour Law art. 38"],
    ["Minimum wage", "At midnight, a day of at least 1 h whose delivered fees per hour are below the minimum.", "威人社字〔2022〕15号 measure 2"],
    ["Quota (90% within 8 h)", "At midnight, per platform, role and city: 90% of the workers must have stayed within the standard day.", "威人社字〔2022〕15号 measure 3"],
  ];
  const body = $("rules-body");
  if (!body.children.length) {
    for (const [name, what, source] of rules) {
      const tr = document.createElement("tr");
      tr.append(cell(name), cell(what), cell(source));
      body.append(tr);
    }
  }
}

function renderSeries(data) {
  const points = data.points;
  const filled = Charts.lines($("chart-continuous"), [
    { name: "warning (≥ 3 h 45 min)", color: "#e09a1a", points: points.map((p) => [p.t, p.warnings]) },
    { name: "violation (≥ 4 h)", color: "#c8372d", points: points.map((p) => [p.t, p.violations]), fill: true },
  ], { offset: data.utc_offset_ms, yLabel: "workers", xLabel: "simulated time" });
  $("chart-continuous").dataset.filled = filled ? "yes" : "no";
}

function renderHours(data) {
  const box = $("chart-hours");
  const names = Object.keys(data.platforms);
  if (!names.length) return;
  box.replaceChildren();
  for (const name of names) {
    const p = data.platforms[name];
    const div = document.createElement("div");
    div.className = "multiple";
    div.innerHTML = `<h3>${esc(name)}</h3><div class="note">${p.workers} worked today · <b>${p.at_or_over_standard}</b> at 8 h or more · <b class="bad">${p.at_or_over_max}</b> at 11 h or more</div>`;
    const chart = document.createElement("div");
    chart.className = "chart";
    div.append(chart);
    box.append(div);
    Charts.histogram(chart, p.buckets, { standard: data.standard_hours, max: data.max_hours });
  }
  box.dataset.filled = "yes";
}

function workerLink(id) {
  const a = document.createElement("a");
  a.className = "worker";
  a.textContent = id;
  a.addEventListener("click", () => { $("lookup-id").value = id; lookup(id); });
  return a;
}

function renderAlerts(data) {
  const body = $("alerts-body");
  if (!data.alerts.length) return;
  body.replaceChildren();
  for (const a of data.alerts) {
    const tr = document.createElement("tr");
    tr.className = "alert-row";
    const phase = document.createElement("span");
    phase.className = `phase ${a.phase}`;
    phase.textContent = a.phase;
    const when = a.at.slice(5, 16).replace("T", " ");
    tr.append(
      cell(when, "time"),
      cell(RULES[a.rule] || a.rule, "rule"),
      cell(phase),
      cell(a.worker_id ? workerLink(a.worker_id) : `${a.role} · ${a.city}`),
      cell(a.platform),
      cell(a.message, "msg"),
    );
    body.append(tr);
  }
  body.dataset.filled = "yes";
  if (!autoPicked && !currentWorker) {
    const pick = data.alerts.find((a) => a.rule === "continuous_work" && a.phase === "violation" && a.worker_id)
      || data.alerts.find((a) => a.worker_id);
    if (pick) {
      autoPicked = true;
      $("lookup-id").value = pick.worker_id;
      lookup(pick.worker_id);
    }
  }
}

function fact(key, value, cls) {
  return `<div class="fact"><div class="k">${esc(key)}</div><div class="v ${cls || ""}">${esc(value)}</div></div>`;
}

async function lookup(id) {
  currentWorker = id;
  await refreshWorker();
}

async function refreshWorker() {
  const id = currentWorker;
  if (!id) return;
  const box = $("worker-state");
  let state = null, line = null;
  try { state = await getJson(`/v1/workers/${encodeURIComponent(id)}`); } catch (_) { /* unknown yet */ }
  try { line = await getJson(`/api/demo/workers/${encodeURIComponent(id)}/timeline`); } catch (_) { /* unknown */ }
  if (id !== currentWorker) return;
  if (!state && !line) {
    box.innerHTML = `<p class="explain">No worker <b>${esc(id)}</b> in the stream (ids look like mt-000012, ele-000034, dd-000056, cc-000078, hll-000090).</p>`;
    $("chart-timeline").replaceChildren();
    $("timeline-legend").hidden = true;
    return;
  }
  let html = "";
  if (state) {
    const ep = state.episode;
    const open = state.open_violations.length ? state.open_violations.map((r) => RULES[r] || r).join(", ") : "none";
    html += fact("Now", state.working ? "working" : state.on_break ? "on a break" : state.online ? "online, not working" : "offline");
    html += fact("Worked without a 20 min break", ep ? hm(ep.worked_seconds) : "–", ep && ep.violated ? "bad" : "");
    html += fact("Left before 4 h", hm(state.left_seconds.continuous_work), state.left_seconds.continuous_work === 0 ? "bad" : "ok");
    html += fact("Worked today", hm(state.today_seconds), state.today_seconds >= 28800 ? "bad" : "");
    html += fact("This week", hm(state.week_seconds));
    html += fact("Open violations", open, state.open_violations.length ? "bad" : "ok");
    html += `<div class="wide explain">${esc(state.worker_id)} · ${esc(state.platform)} ${esc(state.role)} · city ${esc(state.city)} · as of ${esc(state.as_of.slice(11, 16))} simulated</div>`;
  } else {
    html += `<p class="explain">${esc(id)} has not been seen by the monitor yet.</p>`;
  }
  box.innerHTML = html;
  if (line) {
    Charts.timeline($("chart-timeline"), line);
    $("chart-timeline").dataset.filled = "yes";
    $("timeline-legend").hidden = false;
  }
}

$("lookup-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const id = $("lookup-id").value.trim();
  if (id) lookup(id);
});

async function poll() {
  const jobs = [
    ["/api/demo/status", renderStatus],
    ["/api/demo/series", renderSeries],
    ["/api/demo/hours", renderHours],
    ["/api/demo/alerts?limit=40", renderAlerts],
  ];
  for (const [path, render] of jobs) {
    try { render(await getJson(path)); } catch (error) { $("footer-status").textContent = `cannot reach the demo (${error.message})`; }
  }
  await refreshWorker();
}

poll();
setInterval(poll, POLL_MS);
