"""An independent model of how `workhours replay` admits events under `[rules] subject =
"person"` (SPEC section 8, with section 5's admission and section 3's `session_timeout`), to
check replay against.

Written from SPEC's text and, where SPEC is open, docs/persons.md, docs/rules.md,
docs/config.md and docs/DESIGN.md ("Time and order", "Persons"), in the plainest way. The
first pass is model_admission.py's `read` (arrival order: bad lines, after `--until`,
duplicates per (`worker_id`, `event_id`), late events, the watermark), unchanged: none of it
depends on `person_id`. The second pass walks the kept events sorted by (`ts`, arrival) and
decides, event by event, whose each one is (a person, or a worker id standing for a person of
its own), `worker_ttl` (a new life of a subject), `too_many_orders` and `session_timeout`;
each subject life's working time then goes to reference.py's `subject_alerts`.

Rules the model reads, each with its source:
- membership (SPEC 8, persons.md): a `worker_id` belongs to the person of its first event that
  carries `person_id`, also for its later events without one. Within the lateness the order
  of arrival does not matter (persons.md), so in `ts` order: the worker id's kept events before
  its first kept event naming a person stand for the worker id alone; from that event on they
  are the person's. Only kept events join: a bad line, a duplicate or a late event changes
  nothing (SPEC 2, 5), so its `person_id` joins no one.
- the join (persons.md): the worker id's state (online, break, active orders) moves to the
  person at the joining event, so its session goes on as the person's and the worker id stops
  working alone then; what it did alone stays with it (its alerts, its day), and the person's
  episode or day counts from that event on. The worker id standing alone stays held (and is
  forgotten) by its own last event.
- a person's rules, and those of a worker id standing alone, are `[rules.person]` over
  `[rules]`; `[rules.platform.NAME]` does not apply (persons.md).
- `worker_ttl` (persons.md "Rotation"): a person is forgotten after `worker_ttl` of silence of
  the person (any of its worker ids' events keep it), a worker id standing alone after its
  own; an event exactly `worker_ttl` after still finds it (config.md). Forgetting a person
  drops its worker ids' states and mappings: a later event starts the worker id afresh, with
  the person it names, or alone. A life's alerts stop at its forgetting (timers of that
  instant included, as model_admission.py).
- `session_timeout` applies to each worker id by its own last applied event (persons.md), the
  worker id's state moving with it at the join; it never comes after the state was dropped.
- `too_many_orders` is per worker id (SPEC 5: "a worker has at most 64 active orders"; SPEC 1:
  "a `worker_id` is one person on one platform"), decided in `ts` order as model_admission.py
  does; a refused start is no one's last event.
- no-op state changes (DESIGN): of the worker id's own state (each member keeps its own
  session: DESIGN "Persons").
- `by_platform` (SPEC 8, persons.md): of a person's alert, the person's working time from
  `period_start` to `at` per platform, each worker id's time going to the platform of its
  latest event at or before the instant (reference.platform_intervals), a platform's time the
  union over the worker ids (two at once count once there).

Not modelled (the streams avoid them): a worker id naming two different persons within one
life of its person, the bound of 32 worker ids a person, `quota_p90` (off: per worker id),
holidays.
"""

from dataclasses import dataclass, field

import reference
from model_admission import MAX_ORDERS, ORDER_STARTS, read, working


@dataclass
class Life:
    """One life of a subject: a person (`person` True, `key` its `person_id`) or a worker id
    standing alone (`key` its `worker_id`); the events applied to it in `ts` order; the
    instant it is forgotten (None: held at the end); its worker ids, for a person."""

    key: str
    person: bool
    events: list = field(default_factory=list)
    last: int = None
    gone: int = None
    members: list = field(default_factory=list)
    # The working intervals of the life (filled by `intervals_of_lives`), and each worker id's
    # pieces of them, by worker id.
    intervals: list = field(default_factory=list)
    pieces: dict = field(default_factory=dict)


@dataclass
class Segment:
    """A stretch of one worker id's applied events between two drops of its state: its events,
    where the state's holder changes ([ts, life] from that instant on), and the instant the
    state was dropped (None: held at the end)."""

    events: list = field(default_factory=list)
    holders: list = field(default_factory=list)
    cut: int = None
    state: tuple = (False, False, frozenset())
    last: int = None


@dataclass
class Admitted:
    """What the model makes of an input: the counts of replay's summary, the end of event time
    (None: nothing applied), every subject life in the order they began, and each worker id's
    segments and applied events."""

    counts: dict = field(default_factory=dict)
    end: int = None
    lives: list = field(default_factory=list)
    segments: dict = field(default_factory=dict)
    applied: dict = field(default_factory=dict)


def admit(lines, time, rules):
    """The model's `Admitted` of `lines` (model_admission.py's lines: dicts, maybe with
    `person_id`, or `Bad`) under `time` and the persons' `rules` (a reference.Rules)."""
    kept, counts = read(lines, time)
    result = Admitted(counts=counts)
    if time.until is not None:
        result.end = time.until
    elif kept:
        result.end = kept[-1][0]
    ttl, timeout = time.worker_ttl, rules.session_timeout
    alive = {}  # (True, person_id) or (False, worker_id) -> its current Life
    mapping = {}  # worker_id -> person_id, while that person's life is held
    open_segment = {}  # worker_id -> its Segment while its state is held
    tally = {"timeouts": 0, "noops": 0, "applied": 0}

    def close(worker, cut):
        segment = open_segment.pop(worker)
        segment.cut = cut
        if timeout and working(segment.state) and segment.last + timeout <= cut:
            tally["timeouts"] += 1

    def forget(life, at):
        life.gone = at
        del alive[(life.person, life.key)]
        for worker in list(open_segment):
            if open_segment[worker].holders[-1][1] is life:
                close(worker, at)
        for worker in life.members:
            if mapping.get(worker) == life.key:
                del mapping[worker]

    def expire(subject, ts):
        life = alive.get(subject)
        if life is not None and ttl is not None and ts > life.last + ttl:
            forget(life, life.last + ttl)

    def begin(subject):
        life = Life(key=subject[1], person=subject[0])
        alive[subject] = life
        result.lives.append(life)
        return life

    for ts, _, event in kept:
        worker = event["worker_id"]
        named = event.get("person_id")
        if worker in mapping:
            expire((True, mapping[worker]), ts)
        expire((False, worker), ts)
        if worker not in mapping and named is not None:
            expire((True, named), ts)
        segment = open_segment.get(worker)
        state = segment.state if segment else (False, False, frozenset())
        online, on_break, orders = state
        if segment and timeout and working(state) and ts > segment.last + timeout:
            tally["timeouts"] += 1
            segment.state = online, on_break, orders = False, False, frozenset()
        kind = event["kind"]
        if (kind in ORDER_STARTS and event["order_id"] not in orders
                and len(orders) >= MAX_ORDERS):
            counts["bad events"] += 1
            counts["reasons"]["too_many_orders"] = (
                counts["reasons"].get("too_many_orders", 0) + 1)
            continue
        # Whose the event is.
        if worker in mapping:
            life = alive[(True, mapping[worker])]
            if worker not in life.members:
                life.members.append(worker)
        elif named is not None:
            life = alive.get((True, named)) or begin((True, named))
            life.members.append(worker)
            mapping[worker] = named
        else:
            life = alive.get((False, worker)) or begin((False, worker))
        if segment is None:
            segment = Segment()
            open_segment[worker] = segment
            result.segments.setdefault(worker, []).append(segment)
        if segment.holders[-1:] and segment.holders[-1][1] is not life:
            segment.holders.append([ts, life])
        elif not segment.holders:
            segment.holders.append([ts, life])
        after = reference.state_after((online, on_break, orders), event)
        if kind != "heartbeat" and after == (online, on_break, orders):
            tally["noops"] += 1
        segment.state, segment.last = after, ts
        segment.events.append(event)
        life.events.append(event)
        life.last = ts
        result.applied.setdefault(worker, []).append(event)
        tally["applied"] += 1
    # The end of event time: lives silent for `worker_ttl` by then are forgotten.
    for life in list(alive.values()):
        if ttl is not None and result.end is not None and life.last + ttl <= result.end:
            forget(life, life.last + ttl)
    for worker in list(open_segment):
        segment = open_segment.pop(worker)
        if timeout and working(segment.state) and segment.last + timeout <= result.end:
            tally["timeouts"] += 1
    counts["applied"] = tally["applied"]
    counts["session timeouts"] = tally["timeouts"]
    counts["no-op state changes"] = tally["noops"]
    counts["workers forgotten (ttl)"] = sum(1 for life in result.lives if life.gone is not None)
    counts["valid events"] = (tally["applied"] + counts["duplicates (dropped)"]
                              + counts["late (dropped)"] + counts["after --until (not applied)"])
    intervals_of_lives(result, rules)
    return result


def clip(intervals, low, high):
    """The parts of `intervals` within [low, high) (None: unbounded)."""
    found = []
    for start, stop in intervals:
        start = start if low is None else max(start, low)
        stop = stop if high is None else min(stop, high)
        if start < stop:
            found.append([start, stop])
    return found


def intervals_of_lives(admitted, rules):
    """Fills each life's working intervals and its worker ids' pieces: each segment's section 3
    intervals (reference.py, `session_timeout` included), split where its holder changed (the
    join)."""
    for worker, segments in admitted.segments.items():
        for segment in segments:
            # Not cut where the state was dropped: the life's alerts stop there (`life_alerts`),
            # and a threshold reached at that very instant still fires, the forgetting coming
            # after the timers of its instant (DESIGN, as model_admission.py).
            worked = reference.working_intervals(segment.events, rules)
            for n, (since, life) in enumerate(segment.holders):
                until = segment.holders[n + 1][0] if n + 1 < len(segment.holders) else None
                piece = clip(worked, since, until)
                life.pieces.setdefault(worker, []).extend(piece)
    for life in admitted.lives:
        life.intervals = reference.union([i for p in life.pieces.values() for i in p])


def carried(life, alert):
    """The (platform, role, city) an alert of `life` carries (docs/rules.md section 4): of the
    subject's last applied event at or before `at`, strictly before for the alerts a local
    midnight brings before that instant's events (`minimum_wage`, a `resolved` at midnight)."""
    at, rule, phase = alert[0], alert[2], alert[3]
    strict = rule == "minimum_wage" or (
        phase == "resolved" and reference.day_start(reference.local_day(at)) == at)
    seen = [e for e in life.events if (e["ts"] < at if strict else e["ts"] <= at)]
    return reference.group_of(seen[-1])


def by_platform(admitted, life, alert):
    """SPEC 8's `by_platform` of a person's alert: {platform: whole seconds} of the person's
    working time in [period_start, at), each worker id's to the platform of its latest event
    at or before the instant."""
    at, period_start = alert[0], alert[6]
    platforms = {}
    for worker, pieces in life.pieces.items():
        split = reference.platform_intervals(admitted.applied[worker], pieces)
        for platform, parts in split.items():
            platforms.setdefault(platform, []).extend(parts)
    found = {}
    for platform, parts in platforms.items():
        time = sum(stop - start for start, stop in clip(reference.union(parts), period_start, at))
        if time > 0:
            found[platform] = time // reference.SECOND
    return found


def life_alerts(admitted, rules):
    """Every alert of every life, as (tuple, life): reference.py's tuples keyed by the
    `person_id` or the standing-alone `worker_id`, each life's up to the end of event time or
    its forgetting, whichever is first."""
    found = []
    if admitted.end is None:
        return found
    for life in admitted.lives:
        if not life.events:
            continue
        end = admitted.end if life.gone is None else min(admitted.end, life.gone)
        for alert in reference.subject_alerts(life.key, life.intervals, life.events, rules,
                                              end, frozenset()):
            found.append((alert, life))
    return sorted(found, key=lambda pair: pair[0])
