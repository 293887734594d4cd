"""`workhours status --at TS` (SPEC section 7, last item) against an independent model of the
`/v1/workers/{id}` view for the default pack (model_status.py, from SPEC and docs/rules.md
alone: section 5, "Dispatch holds", and the table "The whole object ... key by key").

First cases worked by hand from the docs' own wording, checked against the model and the
binary; then random streams (pack_case.random_events: every kind of event, `activity`
included, equal `ts`, some `ts` off the minute, in a quarter of them every `ts` on a 15-minute
grid so that thresholds are met exactly; random `platform`, `role`, `city`; shifted
back up to nine days so that some cross 1 March, a new month) of a few workers, with no
config or a `session_timeout` of 15 min, 45 min or 2 h, each viewed at a few instants: random
ones (before the first event too), event instants, local midnights, the instants of the
alerts the reference model gives (thresholds of every rule, `resolved`) and 1 ms either
side, the ends of working stretches (session timeouts included) and `min_break` after them.
In half the streams one worker stops working exactly at one of their thresholds (a logout
and every order cancelled at the instant of a warning or violation) and maybe resumes a few
minutes later, and those instants are viewed too. Every key of every worker's view must be
the model's, the workers listed must be those with an event at or before `--at`, sorted by
id, and the object must have exactly the documented keys. Half the streams reach the binary
out of order within `allowed_lateness` and with copies of some events
(test_reference.disorder), while the model reads them sorted and once.

The same streams again under `[rules] subject = "person"` (SPEC section 8), each worker id
naming one of two persons on every event or standing for a person of its own
(pack_case.maybe_persons), the thresholds and working stretches being the persons' (a person
stopping at a threshold logs out every worker id): a person's view must name `person_id` and
the sorted `worker_ids` instead of `worker_id`, and every key the docs define for a person
must be the model's; the subjects listed are sorted by key, as the workers are.

Readings chosen where SPEC and the docs are open are in model_status.py's docstring; each has
a test by hand below.

A mismatch names the seed: rerun it with `MODEL_SEED=N python3 -m pytest test_status.py -q`.
`MODEL_CASES` (default 300) sets how many random streams the run checks.

The binary is `TEST_WORKHOURS_BIN`, else target/release/workhours.
"""

import datetime
import json
import random
import re
import subprocess

import pytest

from measures import DAY, HOUR, MINUTE, SECOND
from model_status import KEYS, KINDS, PERSON_KEYS, subject_of, views
from pack_case import BASE, BIN, instant, local, maybe_persons, random_events, seeds
from reference import Rules, day_start, local_day, union, working_intervals
from reference import alerts as reference_alerts
from test_continuous import stream
from test_reference import disorder

# `as_of` and `episode.start`: RFC 3339 in the zone, milliseconds, the zone's offset.
STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+08:00")
VIEWS_PER_STREAM = 4
PERSON_VIEWS_PER_STREAM = 3
D = "2026-03-02"


def at_text(at, rng=None):
    """`--at` as the CLI takes it: RFC 3339 with +08:00 or `Z`, or epoch milliseconds."""
    style = rng.choice(["local", "utc", "epoch"]) if rng else "local"
    if style == "epoch":
        return str(at)
    zone = BASE.tzinfo if style == "local" else datetime.timezone.utc
    text = datetime.datetime.fromtimestamp(at / 1000, zone).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def run_status(tmp_path, read, at, session_timeout=0, rng=None, persons=False):
    """The binary's views (JSON objects, in its order) of the stream `read` at `at`; with
    `persons`, under `[rules] subject = "person"`."""
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(e) + "\n" for e in read))
    keys = [f'session_timeout = "{session_timeout}ms"\n'] if session_timeout else []
    keys += ['subject = "person"\n'] if persons else []
    config = "[rules]\n" + "".join(keys) if keys else ""
    (tmp_path / "config.toml").write_text(config)
    command = [BIN, "status", "--config", str(tmp_path / "config.toml"), "--at",
               at_text(at, rng), str(tmp_path / "in.jsonl")]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def normalise(view, keys=KEYS):
    """A view of the binary's in the model's shape (instants in epoch ms, `rules` by rule as
    (used, limit, left), `open_violations` sorted), after checking its form: its keys must
    be `keys`."""
    assert set(view) == keys, f"keys: extra {set(view) - keys}, missing {keys - set(view)}"
    assert STAMP.fullmatch(view["as_of"]), view["as_of"]
    view = dict(view, as_of=instant(view["as_of"]))
    if view["episode"] is not None:
        assert set(view["episode"]) == {"start", "worked_seconds", "warned", "violated"}
        assert STAMP.fullmatch(view["episode"]["start"]), view["episode"]
        view["episode"] = dict(view["episode"], start=instant(view["episode"]["start"]))
    table = {}
    for rule in view["rules"]:
        assert set(rule) == {"rule", "used_seconds", "limit_seconds", "left_seconds"}, rule
        assert rule["rule"] not in table, f"{rule['rule']} twice in rules"
        table[rule["rule"]] = (rule["used_seconds"], rule["limit_seconds"],
                               rule["left_seconds"])
    view["rules"] = table
    assert len(set(view["open_violations"])) == len(view["open_violations"])
    view["open_violations"] = sorted(view["open_violations"])
    return view


def shown(events, key, at, limit=60, persons=False):
    """The subject's events up to `at`, one a line with local times, for a failure."""
    own = [e for e in events if subject_of(e, persons) == key and e["ts"] <= at]
    lines = [f"  {at_text(e['ts'])} " + json.dumps({k: v for k, v in e.items() if k != "ts"})
             for e in own[-limit:]]
    return "\n".join(lines)


def check(tmp_path, events, at, session_timeout=0, read=None, seed=None, rng=None,
          persons=False):
    """The binary's views of `read` (by default `events`) at `at` are the model's of `events`
    (valid, in `ts` order, each once), with `persons` under `subject = "person"`: every key
    the model gives; returns them by subject (worker id, or person id)."""
    want = views(events, at, session_timeout, persons)
    found = run_status(tmp_path, read or events, at, session_timeout, rng, persons)
    name = f"seed {seed} (MODEL_SEED={seed}): " if seed is not None else ""
    context = f"{name}--at {at_text(at)}, session_timeout {session_timeout} ms"
    order = [view.get("person_id", view.get("worker_id")) for view in found]
    assert order == list(want), f"{context}: subjects {order}, the model's {list(want)}"
    got = {}
    for subject, view in zip(order, found):
        try:
            got[subject] = normalise(view, PERSON_KEYS if "person_id" in want[subject] else KEYS)
        except AssertionError as error:
            raise AssertionError(f"{context}, subject {subject}: {error}\n{view}") from None
        differ = {key: (want[subject][key], got[subject][key]) for key in want[subject]
                  if want[subject][key] != got[subject][key]}
        if differ:
            detail = "\n".join(f"  {key}: model {m!r}, binary {b!r}"
                               for key, (m, b) in differ.items())
            raise AssertionError(f"{context}, subject {subject}:\n{detail}\nevents:\n"
                                 f"{shown(events, subject, at, persons=persons)}")
    return got


# --------------------------------------------------------------- worked by hand

def test_docs_rounding_example(tmp_path):
    """docs/rules.md section 5: "13,499 used and 900 left of 14,400 at 3 h 44 min 59.999 s";
    one millisecond later the warning has fired (3 h 45 min: SPEC section 4)."""
    events = stream("2026-03-02", ["08:00 login"])
    view = check(tmp_path, events, local("2026-03-02 11:44:59.999"))["w1"]
    assert view["rules"]["continuous_work"] == (13499, 14400, 900)
    assert view["rules"]["daily_hours"] == (13499, 39600, 26100)
    assert view["episode"] == {"start": local("2026-03-02 08:00"), "worked_seconds": 13499,
                               "warned": False, "violated": False}
    view = check(tmp_path, events, local("2026-03-02 11:45"))["w1"]
    assert view["rules"]["continuous_work"] == (13500, 14400, 900)
    assert view["episode"]["warned"] and not view["episode"]["violated"]
    view = check(tmp_path, events, local("2026-03-02 12:00"))["w1"]
    assert view["episode"]["violated"] and view["open_violations"] == ["continuous_work"]
    assert view["rules"]["continuous_work"] == (14400, 14400, 0)


def test_work_stopping_at_a_threshold_fires_nothing_until_it_resumes(tmp_path):
    """SPEC section 4: "work that stops exactly at the threshold fires nothing, unless work
    resumes within the same episode or period, when it fires at the resumption". Work to
    exactly 4 h, then a 10 min rest (shorter than `min_break`): not violated, nothing open,
    0 left; at the resumption violated and open."""
    events = stream("2026-03-02", ["08:00 login", "12:00 logout", "12:10 login"])
    view = check(tmp_path, events, local("2026-03-02 12:09:59.999"))["w1"]
    assert view["episode"]["violated"] is False and view["episode"]["warned"] is True
    assert view["open_violations"] == [] and view["rules"]["continuous_work"] == (14400, 14400, 0)
    view = check(tmp_path, events, local("2026-03-02 12:10"))["w1"]
    assert view["episode"]["violated"] and view["open_violations"] == ["continuous_work"]


def test_episode_closes_when_the_qualifying_break_completes(tmp_path):
    """SPEC sections 3, 4: an episode ends with a rest of `min_break` (20 min), `resolved`
    at rest start + 20 min, and "a rest completes before the events stamped with its end"
    (docs/rules.md section 4): at 12:30 - 1 ms the episode is open and violated; at 12:30 it
    is closed (null, 0 used, nothing open), and a login at 12:30 starts a new one."""
    events = stream("2026-03-02", ["08:00 login", "12:10 logout", "12:30 login"],
                    worker="w1") + stream("2026-03-02", ["08:00 login", "12:10 logout"],
                                          worker="w2")
    events.sort(key=lambda e: e["ts"])
    views_before = check(tmp_path, events, local("2026-03-02 12:29:59.999"))
    for worker in ("w1", "w2"):
        assert views_before[worker]["episode"] == {
            "start": local("2026-03-02 08:00"), "worked_seconds": 15000, "warned": True,
            "violated": True}
        assert views_before[worker]["open_violations"] == ["continuous_work"]
    views_at = check(tmp_path, events, local("2026-03-02 12:30"))
    assert views_at["w2"]["episode"] is None and views_at["w2"]["open_violations"] == []
    assert views_at["w2"]["rules"]["continuous_work"] == (0, 14400, 14400)
    assert views_at["w1"]["episode"] == {"start": local("2026-03-02 12:30"),
                                         "worked_seconds": 0, "warned": False,
                                         "violated": False}
    assert views_at["w1"]["today_seconds"] == 15000


def test_weekly_rest_counts_days_as_the_docs_do(tmp_path):
    """docs/rules.md section 5: the run's days × 24 h, each counted from its first working
    instant; after the first day of 7, 6 left; the 7th "fires as it begins, and shows 7 days
    used of 7" (open that day only); the next multiple of 7 after it; a day without work
    before today ends the run."""
    lines = ["2026-03-02 09:00 heartbeat"]
    lines += [f"2026-03-{d:02} 10:00 login" for d in range(2, 11)]
    lines += [f"2026-03-{d:02} 11:00 logout" for d in range(2, 11)]
    events = sorted(stream("", lines), key=lambda e: e["ts"])
    events += stream("", ["2026-03-12 10:00 login"])

    def streak(at):
        view = check(tmp_path, events, local(at))["w1"]
        assert view["consecutive_work_days"] * DAY // SECOND == view["rules"]["weekly_rest"][0]
        return view["rules"]["weekly_rest"], "weekly_rest" in view["open_violations"]

    assert streak("2026-03-02 09:59:59.999") == ((0, 7 * 86400, 7 * 86400), False)
    assert streak("2026-03-02 10:00") == ((86400, 7 * 86400, 6 * 86400), False)
    assert streak("2026-03-08 09:59:59.999") == ((6 * 86400, 7 * 86400, 86400), False)
    assert streak("2026-03-08 10:00") == ((7 * 86400, 7 * 86400, 0), True)
    assert streak("2026-03-08 23:59:59.999") == ((7 * 86400, 7 * 86400, 0), True)
    # The next day before its work: the run is still 7, and the next multiple is 14.
    assert streak("2026-03-09 09:00") == ((7 * 86400, 14 * 86400, 7 * 86400), False)
    assert streak("2026-03-09 10:00") == ((8 * 86400, 14 * 86400, 6 * 86400), False)
    # 11 March had no work: on 12 March the run starts again.
    assert streak("2026-03-12 09:00") == ((0, 7 * 86400, 7 * 86400), False)
    assert streak("2026-03-12 10:00") == ((86400, 7 * 86400, 6 * 86400), False)


def test_a_session_timeout_ends_work_and_activity_at_its_instant(tmp_path):
    """SPEC section 3: a working worker is offline, off break and without orders from
    `session_timeout` after their last event; section 7: their activity returns to `rest`.
    docs/rules.md section 2: one not working whose activity is not `rest` keeps their login
    and break. w1 logs in with an order and drives; w2 logs in, takes a break and drives."""
    events = stream("2026-03-02", ["08:00 login", "08:00 order_accepted o1",
                                   "08:00 order_picked_up o1", "08:00 activity driving"])
    events += stream("2026-03-02", ["08:00 login", "08:05 break_start",
                                    "08:10 activity driving"], worker="w2")
    events.sort(key=lambda e: e["ts"])
    timeout = 30 * MINUTE
    before = check(tmp_path, events, local("2026-03-02 08:29:59.999"), timeout)
    assert before["w1"]["online"] and before["w1"]["active_orders"] == 1
    assert before["w1"]["measures"] == {"work": True, "orders": True, "carrying": True,
                                        "driving": True, "duty": True}
    at = check(tmp_path, events, local("2026-03-02 08:30"), timeout)
    assert (at["w1"]["online"], at["w1"]["working"], at["w1"]["active_orders"],
            at["w1"]["activity"]) == (False, False, 0, "rest")
    assert at["w1"]["today_seconds"] == 1800
    # The rest began at 08:30: the episode stays open until 08:50.
    assert at["w1"]["episode"]["worked_seconds"] == 1800
    assert at["w2"]["activity"] == "driving" and at["w2"]["on_break"]
    later = check(tmp_path, events, local("2026-03-02 08:40"), timeout)
    assert (later["w2"]["online"], later["w2"]["on_break"], later["w2"]["activity"]) == (
        True, True, "rest")
    assert later["w2"]["today_seconds"] == 300
    assert check(tmp_path, events, local("2026-03-02 08:50"), timeout)["w1"]["episode"] is None


def test_an_order_is_work_during_a_break_and_after_logout(tmp_path):
    """SPEC section 3: "An active order counts as work even during a break"; logout leaves
    orders active; section 7: `orders` counts concurrent orders once, `carrying` needs a
    pick-up. `active_orders` is a count (docs/rules.md)."""
    events = stream("2026-03-02", [
        "08:00 login", "09:00 break_start", "09:10 order_accepted o1",
        "09:10 order_accepted o2", "09:20 order_picked_up o2", "09:30 logout",
        "09:40 order_delivered o2", "09:50 order_cancelled o1"])
    view = check(tmp_path, events, local("2026-03-02 09:15"))["w1"]
    assert (view["on_break"], view["working"], view["active_orders"]) == (True, True, 2)
    assert view["measures"]["carrying"] is False and view["measures"]["orders"] is True
    view = check(tmp_path, events, local("2026-03-02 09:35"))["w1"]
    assert (view["online"], view["on_break"], view["working"]) == (False, False, True)
    assert view["measures"]["carrying"] is True
    view = check(tmp_path, events, local("2026-03-02 10:00"))["w1"]
    assert view["working"] is False and view["today_seconds"] == 3600 + 40 * 60


def test_a_day_and_a_month_count_within_their_period(tmp_path):
    """SPEC section 4: "a session across midnight counts toward both days"; "a day whose
    work reaches 8 h exactly at midnight fires nothing, since the next day starts from zero";
    the month's overtime sums each day's work beyond 8 h and starts again on the 1st.
    Work on Friday 27 Feb 00:00-20:00 (12 h over) and from Saturday 28 Feb 16:00 to Sunday
    1 Mar 03:00 (8 h on the 28th, none over): at the midnight of 1 March the day and the
    month start from 0 while the ISO week (from Monday 23 Feb) holds 28 h; on Monday 2
    March the week starts from 0 and the run of days is still 3."""
    events = stream("", ["2026-02-27 00:00 login", "2026-02-27 20:00 logout",
                         "2026-02-28 16:00 login", "2026-03-01 03:00 logout"])
    view = check(tmp_path, events, local("2026-02-28 23:59:59.999"))["w1"]
    assert view["rules"]["monthly_overtime"] == (12 * 3600, 36 * 3600, 24 * 3600)
    assert view["today_seconds"] == 8 * 3600 - 1
    view = check(tmp_path, events, local("2026-03-01 00:00"))["w1"]
    assert view["today_seconds"] == 0 and view["rules"]["monthly_overtime"][0] == 0
    assert view["week_seconds"] == 28 * 3600
    assert view["rules"]["daily_hours"] == (0, 39600, 39600)
    assert view["consecutive_work_days"] == 3
    view = check(tmp_path, events, local("2026-03-02 00:00"))["w1"]
    assert view["week_seconds"] == 0 and view["consecutive_work_days"] == 3


def test_overtime_stopping_at_its_limit_is_not_an_open_violation(tmp_path):
    """Reading (model_status.py): `monthly_overtime` tracks its month, so work whose
    overtime stops at exactly 36 h (3 days of 20 h: 12 h over each) leaves it used to the
    limit, 0 left, and not open, while `daily_hours` (20 h > 11 h) and `weekly_hours` (60 h
    > 44 h) fired and are."""
    lines = [f"2026-03-0{d} 02:00 login" for d in (2, 3, 4)]
    lines += [f"2026-03-0{d} 22:00 logout" for d in (2, 3, 4)]
    events = sorted(stream("", lines), key=lambda e: e["ts"])
    view = check(tmp_path, events, local("2026-03-04 23:00"))["w1"]
    assert view["rules"]["monthly_overtime"] == (129600, 129600, 0)
    assert view["open_violations"] == ["daily_hours", "weekly_hours"]
    # One more millisecond of work the next day fires it.
    events += stream("", ["2026-03-05 08:00 login"])
    view = check(tmp_path, events, local("2026-03-05 08:00"))["w1"]
    assert view["open_violations"] == ["monthly_overtime", "weekly_hours"]


def test_only_events_up_to_at_apply(tmp_path):
    """docs/rules.md section 8: events stamped after `TS` are not applied (a worker whose
    first event is later is not listed); section 5's table: `platform`, `role`, `city` are
    of the last applied event (at one `ts`, the last in input order, each field defaulting
    on its own event: SPEC section 2)."""
    events = [
        {"worker_id": "b", "kind": "login", "ts": local("2026-03-02 08:00"),
         "platform": "p1", "role": "driver", "city": "c1"},
        {"worker_id": "b", "kind": "heartbeat", "ts": local("2026-03-02 09:00"),
         "platform": "p2", "city": "c2"},
        {"worker_id": "b", "kind": "heartbeat", "ts": local("2026-03-02 09:00"),
         "platform": "p3"},
        {"worker_id": "a", "kind": "login", "ts": local("2026-03-02 09:00:00.001")},
        {"worker_id": "b", "kind": "logout", "ts": local("2026-03-02 09:00:00.001"),
         "platform": "p4"},
    ]
    got = check(tmp_path, events, local("2026-03-02 09:00"))
    assert list(got) == ["b"]
    assert (got["b"]["platform"], got["b"]["role"], got["b"]["city"]) == (
        "p3", "rider", "unknown")
    assert got["b"]["working"] and got["b"]["rule_kinds"] == KINDS
    assert [] == run_status(tmp_path, events, local("2026-03-02 07:59:59.999"))


def test_a_forgotten_worker_is_not_listed_and_starts_afresh(tmp_path):
    """SPEC section 5: "A worker with no event for `worker_ttl` (default 40 days) is
    forgotten: its state is dropped ..., and a later event starts afresh". 39 days after
    their last event a worker still logged in is listed, working for 39 days on end; 41
    days after it, no one is; an event 45 days after another's last one gives the view of a
    worker who never sent the earlier ones (the instants keep clear of the 40th day, where
    SPEC does not say whether "no event for 40 days" includes the instant itself)."""
    events = stream("", ["2026-01-01 08:00 login", "2026-01-01 08:00 login",
                         "2026-01-01 09:00 logout", "2026-02-15 08:00 login"])
    events[1]["worker_id"] = events[2]["worker_id"] = "w2"
    events[3]["worker_id"] = "w2"
    view = check(tmp_path, events, local("2026-02-09 08:00"))["w1"]
    assert view["working"] and view["consecutive_work_days"] == 40
    assert run_status(tmp_path, events, local("2026-02-10 09:00")) == []
    afresh = [events[3]]
    assert check(tmp_path, afresh, local("2026-02-15 10:00"), read=events)["w2"][
        "episode"]["start"] == local("2026-02-15 08:00")


def person(events, person_id, **fields):
    """`events` (stream's) named for `person_id`, with `fields` (`platform`, ...) on each."""
    return [dict(event, person_id=person_id, **fields) for event in events]


def test_a_persons_view_counts_their_worker_ids_once(tmp_path):
    """docs/persons.md: "5 h on one platform and 4 h on another as 9 h of work without a
    break of 20 minutes"; concurrent sessions count once (SPEC section 8); docs/rules.md
    section 5: `person_id` and the sorted `worker_ids` (here those with an event at or
    before `--at`: wc's first event is later) instead of `worker_id`, the platform of the
    person's last applied event (wb's logout, though wa works on); a worker id never seen
    with a `person_id` keeps a view of its own, by `worker_id`. wb works 08:00-13:00 on
    p2, wa from 12:30 on p1."""
    events = person(stream(D, ["08:00 login", "13:00 logout"], worker="wb"), "P",
                    platform="p2")
    events += person(stream(D, ["12:30 login"], worker="wa"), "P", platform="p1")
    events += person(stream(D, ["17:30 login"], worker="wc"), "P", platform="p3")
    events += stream(D, ["08:00 login"], worker="solo")
    events.sort(key=lambda e: e["ts"])
    got = check(tmp_path, events, local(f"{D} 17:00"), persons=True)
    assert list(got) == ["P", "solo"]
    view = got["P"]
    assert (view["person_id"], view["worker_ids"], view["platform"]) == ("P", ["wa", "wb"],
                                                                         "p2")
    assert view["today_seconds"] == 9 * 3600 and view["open_violations"] == [
        "continuous_work"]
    assert view["episode"] == {"start": local(f"{D} 08:00"), "worked_seconds": 9 * 3600,
                               "warned": True, "violated": True}
    assert "worker_ids" not in got["solo"] and got["solo"]["today_seconds"] == 9 * 3600


def test_a_lost_logout_is_not_kept_alive_by_another_worker_id(tmp_path):
    """docs/persons.md: "`session_timeout` (SPEC section 3) applies to each worker id by its
    own last event: a lost logout on one platform is not kept alive by the events the person
    sends on another". With 30 min, wb's session (login 08:00, then nothing) ends at 08:30
    although wa, of the same person, sends heartbeats until its logout at 09:00."""
    events = person(stream(D, ["08:00 login"], worker="wb"), "P")
    events += person(stream(D, ["08:00 login", "08:20 heartbeat", "08:40 heartbeat",
                                "09:00 logout"], worker="wa"), "P")
    events.sort(key=lambda e: e["ts"])
    view = check(tmp_path, events, local(f"{D} 09:05"), 30 * MINUTE, persons=True)["P"]
    assert view["working"] is False and view["today_seconds"] == 3600


# --------------------------------------------------------------- random streams

PLACES = {"platform": ["meituan", "didi", ""], "role": ["rider", "driver"],
          "city": ["371000", "c2"]}


def random_case(rng):
    """A random stream (in `ts` order) and session timeout."""
    events = random_events(rng, span_minutes=rng.choice([300, 1500, 3000, 10000, 30000]),
                           millis=rng.random() < 0.5)
    shift = rng.randrange(10) * DAY
    # In a quarter of the streams every instant is on a 15-minute grid, so that work often
    # stops exactly at a threshold (4 h, 11 h, 44 h, 36 h over) or rests exactly 20 min.
    grid = 15 * MINUTE if rng.random() < 0.25 else 1
    for event in events:
        event["ts"] = event["ts"] // grid * grid - shift
        for key, names in PLACES.items():
            if rng.random() < 0.3:
                event[key] = rng.choice(names)
    session_timeout = rng.choice([0, 0, 15 * MINUTE, 45 * MINUTE, 2 * HOUR])
    return events, session_timeout


def stop_at_a_threshold(rng, events, session_timeout, persons=False):
    """Makes one subject of `events` (in `ts` order, changed in place) stop working at the
    instant of one of their warnings or violations the reference model gives (a `logout`
    and the cancellation of every order of each of their worker ids, after that instant's
    events), so that the amount stops exactly at the threshold, and in half the streams log
    in again (their first worker id) 5, 19, 20 or 120 min later (SPEC section 4: it then fires at
    the resumption within the episode or period). The subject is a worker, or with
    `persons` a person (SPEC section 8). Returns the instants worth viewing, or none when
    nothing fires."""
    rules = Rules(session_timeout=session_timeout)
    found = [a for a in reference_alerts(events, lambda platform, role: rules,
                                         events[-1]["ts"], rules if persons else None)
             if a[3] in ("warning", "violation") and a[2] != "weekly_rest"]
    if not found:
        return []
    at, key = rng.choice(found)[:2]
    # Each of the subject's worker ids, with the `person_id` its events carry.
    members = {e["worker_id"]: {k: e[k] for k in ("worker_id", "person_id") if k in e}
               for e in events if subject_of(e, persons) == key}
    added = []
    for ids in members.values():
        added += [dict(ids, kind="logout", ts=at)]
        added += [dict(ids, kind="order_cancelled", ts=at, order_id=f"o{n}") for n in range(3)]
    worth = [at - 1, at, at + 1, at + rules.min_break - 1, at + rules.min_break]
    if rng.random() < 0.5:
        resume = at + rng.choice([5, 19, 20, 120]) * MINUTE
        added.append(dict(next(iter(members.values())), kind="login", ts=resume))
        worth += [resume - 1, resume, resume + 1]
    # A stable sort: the added events come after those already at their instant.
    events[:] = sorted(events + added, key=lambda e: e["ts"])
    return worth


def instants(rng, events, session_timeout, count, worth=(), persons=False):
    """`count` instants to view the stream at: random, event instants, local midnights,
    the reference model's alert instants and 1 ms either side, the ends of working stretches
    and `min_break` after them, and the instants `worth` viewing; with `persons`, the alerts
    and working stretches of persons (SPEC section 8)."""
    first, last = events[0]["ts"], events[-1]["ts"]
    rules = Rules(session_timeout=session_timeout)
    alert_at = [a[0] for a in reference_alerts(events, lambda platform, role: rules,
                                               last + 2 * DAY, rules if persons else None)]
    ends = []
    # Sorted, so that a seed gives the same instants whatever the hash seed of the process.
    for key in sorted({subject_of(e, persons) for e in events}):
        worked = []
        for worker in {e["worker_id"] for e in events if subject_of(e, persons) == key}:
            worked += working_intervals([e for e in events if e["worker_id"] == worker], rules)
        ends += [b for _, b in union(worked) if b <= last + 2 * DAY]
    found = []
    for _ in range(count):
        pick = rng.choice(["random", "event", "midnight", "alert", "alert", "end", "worth",
                           "worth"])
        if pick == "worth" and worth:
            at = rng.choice(worth)
        elif pick == "alert" and alert_at:
            at = rng.choice(alert_at) + rng.choice([0, 0, -1, 1])
        elif pick == "end" and ends:
            at = rng.choice(ends) + rng.choice([0, -1, rules.min_break, rules.min_break - 1])
        elif pick == "event":
            at = rng.choice(events)["ts"]
        elif pick == "midnight":
            at = day_start(local_day(rng.randrange(first, last + DAY)) + 1)
        else:
            at = rng.randrange(first - 2 * HOUR, last + 2 * DAY)
        found.append(at)
    return found


@pytest.mark.parametrize("block", range(4))
def test_status_gives_the_models_views_on_random_streams(tmp_path, block):
    """A quarter of the random streams per block (so that a run shows progress)."""
    for seed in seeds(block):
        rng = random.Random(seed)
        events, session_timeout = random_case(rng)
        worth = stop_at_a_threshold(rng, events, session_timeout) if seed % 4 < 2 else []
        read = disorder(rng, events) if seed % 2 else None
        for at in instants(rng, events, session_timeout, VIEWS_PER_STREAM, worth):
            check(tmp_path, events, at, session_timeout, read, seed, rng)


@pytest.mark.parametrize("block", range(4))
def test_status_gives_the_models_person_views_on_random_streams(tmp_path, block):
    """The random streams above under `[rules] subject = "person"` (SPEC section 8): most
    worker ids name one of two persons on every event, the others stand for persons of
    their own (pack_case.maybe_persons); every key the docs define for a person, and every
    key of a stand-alone worker id's view, must be the model's."""
    for seed in seeds(block):
        rng = random.Random(seed)
        events, session_timeout = random_case(rng)
        maybe_persons(rng, events, share=1)
        worth = stop_at_a_threshold(rng, events, session_timeout, True) if seed % 4 < 2 else []
        read = disorder(rng, events) if seed % 2 else None
        for at in instants(rng, events, session_timeout, PERSON_VIEWS_PER_STREAM, worth, True):
            check(tmp_path, events, at, session_timeout, read, seed, rng, persons=True)
