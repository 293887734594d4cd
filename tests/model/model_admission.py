"""An independent model of how `workhours replay` admits events (SPEC section 5, with section
3's `session_timeout` and section 2's bad events), to check replay against.

Written from SPEC's text and, where SPEC is open, docs/rules.md, docs/config.md and
docs/DESIGN.md ("Time and order"), in the plainest way: one pass over the input in arrival
order decides, line by line, what is bad, after `--until`, a duplicate, late or kept; the
kept events, sorted by (`ts`, arrival), are then applied per worker in a second pass that
decides `worker_ttl` (a new life of the worker) and `too_many_orders`; each life's applied
events go to reference.py, which gives the alerts.

Rules the model reads, each with its source:
- watermark: the largest `ts` read so far (valid, non-duplicate events before `--until`)
  minus `allowed_lateness` (SPEC 5); a bad line moves nothing (SPEC 2: a bad event changes
  nothing), nor a duplicate (DESIGN: "a duplicate never moves the watermark"), nor an event
  after `--until` (DESIGN: "move no watermark").
- late: `ts` below the watermark before the event (SPEC 5: `ts` = watermark still counts);
  counted, never applied, its `event_id` remembered (DESIGN "A late event ... its `event_id`
  remembered"); a late copy of a remembered id is a duplicate, not late (rules.md 7).
- duplicate: the same (`worker_id`, `event_id`) as a remembered event, whatever its `ts` or
  kind. An id is remembered until the watermark passes (strictly exceeds) its event's
  `ts + dedup_window`, judged with the larger of the watermark before the event and the
  event's own `ts - allowed_lateness` (DESIGN "Whether an id is still remembered"). A
  remembered id reused after that is a new event and takes the entry.
- replacement: a copy with a strictly earlier `ts` than the remembered one, not late itself,
  takes the entry and is kept; the one remembered (still waiting: its `ts` is at or past the
  watermark) is dropped, counted once among the duplicates; its `ts` still moved the
  watermark, but not replay's end of event time (rules.md 7 "Duplicates", DESIGN).
- end of event time: `--until`, else the largest `ts` of the kept events not replaced,
  refused order starts included (README, DESIGN: their `ts` moved the end of event time).
- `worker_ttl`: a worker whose last applied event was at `t` is forgotten at `t + worker_ttl`
  (an event exactly then still finds it: config.md); a later event starts a new life: its
  rules from that event's platform and role, no state, episodes and streaks afresh. A life's
  alerts stop at its forgetting instant (its timers of that instant included, DESIGN "after
  the events and timers of the instant"): the model asks reference.py for the life's alerts up
  to `min(end, t + worker_ttl)`. Ids stay remembered across lives (config.md).
- `too_many_orders`: an `order_accepted`/`order_picked_up` of an order not active while 64
  are active is a bad event, decided in application order (DESIGN); it changes nothing, is no
  one's last event (neither for `session_timeout` nor for `worker_ttl`), and its id stays
  remembered. Starting an order already active goes beyond nothing (SPEC 5: "an order start
  beyond that"), so it is applied. The active orders follow SPEC 3, emptied at a session
  timeout and at forgetting.
- no-op state changes counted: applied events, heartbeats aside, that leave section 3's state
  (online, on break, active orders) as it was (SPEC 3; DESIGN "No-op events counted").
- session timeouts counted: each deadline `t + session_timeout` of a working worker with no
  applied event of theirs at or before it, at or before the end of event time, and not after
  the worker is forgotten (a deadline at the forgetting instant still counts: its timers come
  first).

Inputs are lines in arrival order: a dict (a valid event, `ts` in epoch milliseconds, no
`person_id`) or `Bad(reason, text)`.
"""

from dataclasses import dataclass, field

import reference

MAX_ORDERS = 64
ORDER_STARTS = ("order_accepted", "order_picked_up")


@dataclass
class Bad:
    """A line replay must report as bad with `reason`, written as `text`."""

    reason: str
    text: str


@dataclass
class Time:
    """The `[time]` keys of section 5 and `--until`, in milliseconds (`worker_ttl` None:
    unset, 40 days, beyond every stream)."""

    allowed_lateness: int = 30 * reference.SECOND
    dedup_window: int = reference.HOUR
    worker_ttl: int = None
    until: int = None

    def toml(self):
        """The keys as a `[time]` table."""
        text = "[time]\n"
        text += f'allowed_lateness = "{self.allowed_lateness}ms"\n'
        text += f'dedup_window = "{self.dedup_window}ms"\n'
        if self.worker_ttl is not None:
            text += f'worker_ttl = "{self.worker_ttl}ms"\n'
        return text


@dataclass
class Admitted:
    """What the model makes of an input: the counts of replay's summary, the end of event
    time (None: nothing applied), and each worker's lives, as (events applied in `ts` order,
    the instant the life is forgotten or None)."""

    counts: dict = field(default_factory=dict)
    end: int = None
    lives: dict = field(default_factory=dict)
    # Arrival indexes (0-based lines) of the order starts refused as `too_many_orders`.
    refused: list = field(default_factory=list)


def read(lines, time):
    """The first pass, in arrival order: the kept events as (ts, line, event), and the counts
    of bad, after `--until`, duplicate and late lines."""
    counts = {"lines read": len(lines), "bad events": 0, "duplicates (dropped)": 0,
              "late (dropped)": 0, "after --until (not applied)": 0, "reasons": {}}
    lateness = time.allowed_lateness
    largest = None
    # (worker_id, event_id) -> [ts of the event that holds the id, its line]
    ids = {}
    kept = {}
    for n, line in enumerate(lines):
        if isinstance(line, Bad):
            counts["bad events"] += 1
            counts["reasons"][line.reason] = counts["reasons"].get(line.reason, 0) + 1
            continue
        ts = line["ts"]
        if time.until is not None and ts > time.until:
            counts["after --until (not applied)"] += 1
            continue
        watermark = None if largest is None else largest - lateness
        late = watermark is not None and ts < watermark
        key = (line["worker_id"], line["event_id"]) if "event_id" in line else None
        entry = ids.get(key) if key else None
        if entry is not None:
            judge = ts - lateness if watermark is None else max(watermark, ts - lateness)
            if judge > entry[0] + time.dedup_window:
                entry = None
        if entry is not None:
            counts["duplicates (dropped)"] += 1
            if not late and ts < entry[0]:
                # The copy waiting (its ts is past this one's, at or past the watermark) is
                # dropped; this one counts instead.
                del kept[entry[1]]
                counts["replaced"] = counts.get("replaced", 0) + 1
                ids[key] = [ts, n]
                kept[n] = (ts, n, line)
            continue
        if key:
            ids[key] = [ts, n]
        if late:
            counts["late (dropped)"] += 1
            continue
        largest = ts if largest is None else max(largest, ts)
        kept[n] = (ts, n, line)
    return sorted(kept.values()), counts


def working(state):
    """Section 3's working, of (online, on_break, orders)."""
    online, on_break, orders = state
    return (online and not on_break) or bool(orders)


def admit(lines, time, session_timeout_of):
    """The model's `Admitted` of `lines` under `time`; `session_timeout_of(platform, role)`
    gives a worker's `session_timeout` (0: off) by the first event of its life."""
    kept, counts = read(lines, time)
    result = Admitted(counts=counts)
    if time.until is not None:
        result.end = time.until
    elif kept:
        result.end = kept[-1][0]
    ttl = time.worker_ttl
    # worker -> [last applied ts, state, session_timeout, current life's events]
    workers = {}
    applied = timeouts = noops = 0
    for ts, n, event in kept:
        worker = event["worker_id"]
        current = workers.get(worker)
        if current is not None:
            last, state, timeout, _ = current
            if timeout and working(state) and ts > last + timeout and \
                    (ttl is None or timeout <= ttl):
                timeouts += 1
                current[1] = (False, False, frozenset())
            if ttl is not None and ts > last + ttl:
                result.lives[worker][-1][1] = last + ttl
                current = None
        if current is None:
            platform, role = reference.group_of(event)[:2]
            current = [ts, (False, False, frozenset()), session_timeout_of(platform, role), []]
            workers[worker] = current
            result.lives.setdefault(worker, []).append([current[3], None])
        online, on_break, orders = current[1]
        kind = event["kind"]
        if (kind in ORDER_STARTS and event["order_id"] not in orders
                and len(orders) >= MAX_ORDERS):
            result.refused.append(n)
            counts["bad events"] += 1
            counts["reasons"]["too_many_orders"] = (
                counts["reasons"].get("too_many_orders", 0) + 1)
            continue
        after = reference.state_after((online, on_break, orders), event)
        if kind != "heartbeat" and after == (online, on_break, orders):
            noops += 1
        current[0], current[1] = ts, after
        current[3].append(event)
        applied += 1
    forgotten = 0
    for worker, (last, state, timeout, _) in workers.items():
        if timeout and working(state) and result.end is not None and \
                last + timeout <= result.end and (ttl is None or timeout <= ttl):
            timeouts += 1
        if ttl is not None and result.end is not None and last + ttl <= result.end:
            result.lives[worker][-1][1] = last + ttl
    for lives in result.lives.values():
        forgotten += sum(1 for _, gone in lives if gone is not None)
    counts["applied"] = applied
    counts["session timeouts"] = timeouts
    counts["no-op state changes"] = noops
    counts["workers forgotten (ttl)"] = forgotten
    counts["valid events"] = (applied + counts["duplicates (dropped)"] + counts["late (dropped)"]
                              + counts["after --until (not applied)"])
    return result


def life_alerts(admitted, rules_of):
    """The alerts of every life (reference.py's tuples, keyed by `worker_id`), sorted: each
    life's up to the end of event time or its forgetting, whichever is first; and
    `quota_p90`'s over every life's days that ended by then (config.md `worker_ttl`: a day not
    yet ended when the worker is forgotten is not judged, its share in `quota_p90` included).
    """
    def alone(platform, role):
        # reference.py's quota_p90 of one life alone never fires: it is judged below.
        return rules_of(platform, role).over({"quota_min_workers": 10**9})

    found = []
    days = {}
    for lives in admitted.lives.values():
        for events, gone in lives:
            if not events or admitted.end is None:
                continue
            end = admitted.end if gone is None else min(admitted.end, gone)
            found += reference.alerts(events, alone, end)
            intervals = reference.working_intervals(
                events, rules_of(*reference.group_of(events[0])[:2]))
            for day, work in reference.day_work_of(intervals, end).items():
                midnight = reference.day_start(day + 1)
                if work > 0 and midnight <= end:
                    last = [e for e in events if e["ts"] < midnight][-1]
                    days.setdefault((day, reference.group_of(last)), []).append(work)
    for (day, group), works in days.items():
        rules = rules_of(group[0], group[1])
        works.sort()
        p90 = works[(9 * len(works) + 9) // 10 - 1]
        if len(works) >= rules.quota_min_workers and p90 > rules.daily_standard:
            found.append((reference.day_start(day + 1), "/".join(group), "quota_p90",
                          "violation", p90 // reference.SECOND,
                          rules.daily_standard // reference.SECOND, reference.day_start(day)))
    return sorted(found)


def applied_events(admitted):
    """Every applied event, of every life, in `ts` order (equal `ts`: as applied)."""
    events = [e for lives in admitted.lives.values() for life, _ in lives for e in life]
    return sorted(events, key=lambda e: e["ts"])
