// The page of `workhours demo` (data under /api/demo/) and of `workhours run`'s console
// (data under /v1/console/, from the live monitor): polls every 2 s and redraws. The mode is
// `<body data-mode>`, set by the server.
//
// Access token (console with `http.token_file`): every data request carries
// `Authorization: Bearer <token>`. The token comes from the form the page shows after a 401,
// or from the address once (`/#token=...`: a fragment, never sent to the server nor logged);
// it is kept in sessionStorage (this tab only) and removed from the address at once.
"use strict";

const POLL_MS = 2000;
const $ = (id) => document.getElementById(id);
const MODE = document.body.dataset.mode === "console" ? "console" : "demo";
const API = MODE === "console" ? "/v1/console" : "/api/demo";
const TOKEN_KEY = "workhours-token";

class Refused extends Error {}

function hashParams() {
  return new URLSearchParams(location.hash.replace(/^#/, ""));
}

(() => {
  const params = hashParams();
  if (params.has("token")) {
    try { sessionStorage.setItem(TOKEN_KEY, params.get("token")); } catch (_) { /* storage off */ }
    params.delete("token");
    const rest = params.toString();
    history.replaceState(null, "", location.pathname + location.search + (rest ? `#${rest}` : ""));
  }
})();

function token() {
  try { return sessionStorage.getItem(TOKEN_KEY); } catch (_) { return null; }
}

const RULES = {
  continuous_work: "Continuous work",
  daily_hours: "Daily hours",
  weekly_hours: "Weekly hours",
  monthly_overtime: "Monthly overtime",
  weekly_rest: "Weekly rest day",
  minimum_wage: "Minimum wage",
  quota_p90: "Quota (90% within the standard day)",
  mohrss2024_continuous: "Continuous orders",
  mohrss2024_daily: "Daily hours (2024)",
  didi2018_continuous: "Didi: continuous",
  didi2018_billed: "Didi: billed time",
};

let offset = 8 * 3600000;
let currentWorker = null;
let autoPicked = false;

function esc(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

// A duration as "3 h 05 min"; "–" for none (e.g. `week_seconds` under a pack without a
// weekly rule, docs/rules.md), which is not 0 min.
function hm(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60);
  return h ? `${h} h ${String(m).padStart(2, "0")} min` : `${m} min`;
}

// A duration as the page writes limits: "4 h", "3 h 45 min", "20 min".
function dur(seconds) {
  const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60);
  return h && m ? `${h} h ${m} min` : h ? `${h} h` : `${m} min`;
}

// The limits the page names, from the config in force ([rules]; the defaults until the first
// status): every element with `data-limit` shows one.
const LIMITS = { limit: "4 h", warn: "3 h 45 min", break: "20 min", standard: "8 h", max: "11 h" };

function setLimits(r) {
  Object.assign(LIMITS, {
    limit: dur(r.continuous_limit_seconds),
    warn: dur(r.continuous_limit_seconds - r.warn_before_seconds),
    break: dur(r.min_break_seconds),
    standard: dur(r.daily_standard_seconds),
    max: dur(r.daily_max_seconds),
  });
  for (const node of document.querySelectorAll("[data-limit]")) {
    const text = LIMITS[node.dataset.limit];
    if (text && node.textContent !== text) node.textContent = text;
  }
}

// The timeline's legend, in the terms of the worker's own continuous rule (its pack's).
const MEASURE_TEXT = {
  work: "working",
  orders: "with an active order (order time)",
  carrying: "carrying a picked-up order (billed time)",
  driving: "driving",
  duty: "on duty",
};

function legendOf(line) {
  const l = line.limits || {};
  if (!l.continuous_limit_seconds) return;
  const limit = dur(l.continuous_limit_seconds), brk = dur(l.min_break_seconds);
  $("legend-work").textContent = `${MEASURE_TEXT[line.measure] || "working"} (${line.rule})`;
  $("legend-pause").textContent = `pause under ${brk} (does not reset the ${limit} count)`;
  $("legend-break").textContent = `break of ${brk} or more`;
  const warned = l.warn_before_seconds !== null && l.warn_before_seconds !== undefined;
  $("legend-warn-item").hidden = !warned;
  if (warned) $("legend-warn").textContent = `${dur(l.continuous_limit_seconds - l.warn_before_seconds)} reached`;
  $("legend-limit").textContent = `${limit} reached`;
}

function cell(text, cls) {
  const td = document.createElement("td");
  if (cls) td.className = cls;
  if (text instanceof Node) td.append(text); else td.textContent = text;
  return td;
}

async function getJson(path) {
  const headers = {};
  const t = token();
  if (t) headers.Authorization = `Bearer ${t}`;
  const response = await fetch(path, { cache: "no-store", headers });
  if (response.status === 401) throw new Refused(`${path}: 401`);
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return response.json();
}

// A 401: the data is refused until a token is given; the page says so instead of drawing.
function refused() {
  document.body.dataset.auth = "refused";
  $("auth").hidden = false;
  $("auth-message").firstChild.textContent = token()
    ? "The monitor refused the token given (401): it is set up with "
    : "The monitor refused the data (401): it is set up with ";
  $("footer-status").textContent = "data refused (401): an access token is needed";
}

function accepted() {
  if (document.body.dataset.auth === "refused") $("auth").hidden = true;
  document.body.dataset.auth = "ok";
}

$("auth-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const value = $("auth-token").value.trim();
  if (!value) return;
  try { sessionStorage.setItem(TOKEN_KEY, value); } catch (_) { /* storage off */ }
  $("auth-token").value = "";
  poll();
});

// The console shows the live monitor: the texts that speak of a simulation change once.
function consoleTexts() {
  document.title = "workhours · live console";
  document.querySelector("h1").firstChild.textContent = "Platform workers' working hours ";
  document.querySelector("h1 .tag").textContent = "live console";
  document.querySelector("header .lead").textContent = "The platforms' login, break and order events, "
    + "as this monitor (workhours run) reads them: every worker checked against the rules of their platform's "
    + "pack as event time passes. Figures cover the partitions this instance holds; alerts are those on the alerts topic.";
  document.querySelector(".clock-label").firstChild.textContent = "Event time (";
  $("card-events-label").textContent = "Partitions held";
  $("card-rate").textContent = "input partitions of this instance";
  document.querySelector("#panel-continuous h2").textContent = "Continuous work over event time";
  document.querySelector("#panel-alerts .explain").textContent = "As published on the alerts topic (the newest read by this "
    + "console). at is the event-time instant the limit was reached. Click a worker to see their state.";
  $("hours-degraded").hidden = false;
  $("chart-hours").hidden = true;
  $("timeline-degraded").hidden = false;
  $("sim-note").textContent = "Data here is live;";
}

function renderPacks(s) {
  const packs = s.packs || {};
  const names = Object.keys(packs);
  if (!names.length) return;
  const held = (s.holds && s.holds.by_platform) || {};
  const body = $("packs-body");
  body.replaceChildren();
  for (const platform of names) {
    const tr = document.createElement("tr");
    tr.className = "pack-row";
    tr.dataset.platform = platform;
    const list = document.createElement("span");
    for (const pack of packs[platform]) {
      const span = document.createElement("span");
      span.className = "pack-name";
      span.textContent = pack;
      list.append(span);
    }
    const n = held[platform] || 0;
    tr.append(cell(platform, "platform"), cell(list), cell(n ? `${n} on hold` : "", n ? "pack-held" : ""));
    body.append(tr);
  }
  $("packs").dataset.filled = "yes";
}

function renderHolds(s) {
  const holds = s.holds || { workers: 0, sample: [] };
  $("card-holds").textContent = holds.workers.toLocaleString();
  const note = $("card-holds-note");
  note.replaceChildren();
  if (holds.sample && holds.sample.length) {
    note.append("e.g. ");
    for (const id of holds.sample.slice(0, 3)) note.append(workerLink(id));
  } else {
    note.append("no order may be sent to them");
  }
}

function renderStatus(s) {
  accepted();
  if (MODE === "console") {
    offset = s.utc_offset_ms;
    if (s.as_of_ms) {
      $("sim-time").textContent = Charts.clock(s.as_of_ms, offset);
      $("sim-date").textContent = `${Charts.day(s.as_of_ms, offset)} · the monitor's watermark`;
    } else {
      $("sim-time").textContent = "–";
      $("sim-date").textContent = "no event time yet";
    }
    $("zone").textContent = s.rules.zone;
    $("card-online").textContent = `of ${s.online.toLocaleString()} online`;
    $("card-events").textContent = s.partitions;
    $("card-rate").textContent = "input partitions of this instance";
    $("card-alerts-note").textContent = "on the alerts topic, recent";
    $("footer-status").textContent = s.ready ? `monitor ready · event time as of ${s.as_of || "–"}` : "monitor starting: partitions not assigned or still restoring…";
    const reader = s.alerts.reader;
    $("alerts-degraded").hidden = reader === "reading";
    $("alerts-degraded").textContent = `Alerts: the console's reader of the alerts topic is ${reader}.`;
  } else {
    offset = s.utc_offset_ms;
    $("speed").textContent = `${Math.round(s.speed)}×` + ` (one simulated hour every ${(3600 / s.speed).toFixed(1)} s)`;
    $("zone").textContent = s.rules.zone;
    $("sim-time").textContent = Charts.clock(s.sim_time_ms, offset);
    $("sim-date").textContent = `${Charts.day(s.sim_time_ms, offset)} · ${s.simulated_hours.toFixed(1)} h simulated`;
    $("seed").textContent = s.seed;
    $("card-online").textContent = `of ${s.online.toLocaleString()} online · ${s.workers.toLocaleString()} simulated`;
    $("card-events").textContent = s.events_produced.toLocaleString();
    $("card-rate").textContent = `${s.events_per_second.toLocaleString()} events per second`;
    $("footer-status").textContent = s.ready ? `monitor ready · simulated time ${s.sim_time}` : "monitor starting…";
  }
  $("card-working").textContent = s.working.toLocaleString();
  $("card-warnings").textContent = s.continuous_work.warnings;
  $("card-violations").textContent = s.continuous_work.violations;
  $("card-alerts").textContent = s.alerts.total.toLocaleString();
  renderHolds(s);
  renderPacks(s);

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
  setLimits(r);
  const rules = [
    ["Continuous work", `Warning at ${hm(r.continuous_limit_seconds - r.warn_before_seconds)}, violation at ${hm(r.continuous_limit_seconds)} of work without a break of at least ${hm(r.min_break_seconds)}; resolved when such a break is completed. Shorter pauses do not reset the count.`, "威人社字〔2022〕15号 measure 3; Road Traffic Safety Law regulations art. 62"],
    ["Daily hours", `Warning at ${hm(r.daily_standard_seconds)}, violation at ${hm(r.daily_max_seconds)} of work in the local day.`, "Labour Law art. 36, 41"],
    ["Weekly hours", `Violation at ${hm(r.weekly_max_seconds)} in the week (Monday to Sunday).`, "Labour Law art. 36"],
    ["Monthly overtime", `Violation when work beyond ${hm(r.daily_standard_seconds)} a day adds up to ${hm(r.monthly_overtime_max_seconds)} in a month.`, "Labour Law art. 41"],
    ["Weekly rest day", "Violation on the 7th consecutive day with work.", "Labour Law art. 38"],
    ["Minimum wage", "At midnight, a day of at least 1 h whose delivered fees per hour are below the minimum.", "威人社字〔2022〕15号 measure 2"],
    [`Quota (90% within ${LIMITS.standard})`, "At midnight, per platform, role and city: 90% of the workers must have stayed within the standard day.", "威人社字〔2022〕15号 measure 3"],
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
    { name: `warning (≥ ${LIMITS.warn})`, color: "#e09a1a", points: points.map((p) => [p.t, p.warnings]) },
    { name: `violation (≥ ${LIMITS.limit})`, color: "#c8372d", points: points.map((p) => [p.t, p.violations]), fill: true },
  ], { offset: data.utc_offset_ms, yLabel: "workers", xLabel: MODE === "console" ? "event time" : "simulated time" });
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
    div.innerHTML = `<h3>${esc(name)}</h3><div class="note">${p.workers} worked today · <b>${p.at_or_over_standard}</b> at ${esc(LIMITS.standard)} or more · <b class="bad">${p.at_or_over_max}</b> at ${esc(LIMITS.max)} or more</div>`;
    const chart = document.createElement("div");
    chart.className = "chart";
    div.append(chart);
    box.append(div);
    Charts.histogram(chart, p.buckets, { standard: data.standard_hours, max: data.max_hours, labels: [LIMITS.standard, LIMITS.max] });
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

// "14:05", or "03-03 14:05" when not on the day of `asOf` (both RFC 3339, local).
function when(ts, asOf) {
  return ts.slice(0, 10) === (asOf || "").slice(0, 10) ? ts.slice(11, 16) : ts.slice(5, 16).replace("T", " ");
}

// The worker's open dispatch holds (SPEC section 7): no order before `until`.
function holdsHtml(state) {
  const holds = state.holds || [];
  if (!holds.length) {
    return `<div class="worker-holds" data-holds="0"><div class="k">Dispatch holds</div><div class="hold-none">none: the platform may send orders</div></div>`;
  }
  const rows = holds.map((h) => `<div class="hold-row"><b>on hold until ${esc(when(h.until, state.as_of))}</b> · ${esc(RULES[h.rule] || h.rule)} <span class="explain">(from ${esc(when(h.from, state.as_of))}, rule ${esc(h.rule)})</span></div>`);
  return `<div class="worker-holds" data-holds="${holds.length}"><div class="k">Dispatch holds: no order may be sent before the end of the hold</div>${rows.join("")}</div>`;
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
  try {
    state = await getJson(`/v1/workers/${encodeURIComponent(id)}`);
  } catch (error) {
    if (error instanceof Refused) { refused(); return; }
  }
  if (MODE === "demo") {
    try { line = await getJson(`/api/demo/workers/${encodeURIComponent(id)}/timeline`); } catch (_) { /* unknown */ }
  }
  if (id !== currentWorker) return;
  if (!state && !line) {
    box.innerHTML = MODE === "demo"
      ? `<p class="explain">No worker <b>${esc(id)}</b> in the stream (ids look like mt-000012, ele-000034, dd-000056, cc-000078, hll-000090).</p>`
      : `<p class="explain">No worker <b>${esc(id)}</b> in the partitions of this instance.</p>`;
    $("chart-timeline").replaceChildren();
    $("timeline-legend").hidden = true;
    return;
  }
  let html = "";
  if (state) {
    const ep = state.episode;
    const open = state.open_violations.length ? state.open_violations.map((r) => RULES[r] || r).join(", ") : "none";
    html += fact("Now", state.working ? "working" : state.on_break ? "on a break" : state.online ? "online, not working" : "offline");
    html += fact(`Worked without a ${LIMITS.break} break`, ep ? hm(ep.worked_seconds) : "–", ep && ep.violated ? "bad" : "");
    // The first `continuous` rule of the worker's pack (continuous_work in the default pack).
    const kinds = state.rule_kinds || {};
    const cont = (state.rules || []).find((r) => kinds[r.rule] === "continuous");
    if (cont) {
      html += fact(`Left before ${hm(cont.limit_seconds)}`, hm(cont.left_seconds), cont.left_seconds === 0 ? "bad" : "ok");
    } else {
      html += fact("Left before the limit", "–");
    }
    html += fact("Worked today", hm(state.today_seconds), state.today_seconds >= 28800 ? "bad" : "");
    html += fact("This week", hm(state.week_seconds));
    html += fact("Open violations", open, state.open_violations.length ? "bad" : "ok");
    html += holdsHtml(state);
    html += `<div class="wide explain">${esc(state.worker_id)} · ${esc(state.platform)} ${esc(state.role)} · city ${esc(state.city)} · as of ${esc(state.as_of.slice(11, 16))} ${MODE === "demo" ? "simulated" : "event time"}</div>`;
  } else {
    html += `<p class="explain">${esc(id)} has not been seen by the monitor yet.</p>`;
  }
  box.innerHTML = html;
  if (line) {
    Charts.timeline($("chart-timeline"), line);
    legendOf(line);
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
    [`${API}/status`, renderStatus],
    [`${API}/series`, renderSeries],
    ...(MODE === "demo" ? [[`${API}/hours`, renderHours]] : []),
    [`${API}/alerts?limit=40`, renderAlerts],
  ];
  for (const [path, render] of jobs) {
    try {
      render(await getJson(path));
    } catch (error) {
      if (error instanceof Refused) { refused(); return; }
      $("footer-status").textContent = `cannot reach the ${MODE === "demo" ? "demo" : "monitor"} (${error.message})`;
    }
  }
  await refreshWorker();
}

if (MODE === "console") consoleTexts();
{
  const worker = hashParams().get("worker");
  if (worker) { autoPicked = true; $("lookup-id").value = worker; currentWorker = worker; }
}
poll();
setInterval(poll, POLL_MS);
