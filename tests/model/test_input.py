"""`workhours replay`'s input validation against an independent model of SPEC section 2 and
the bounds of section 5 (model_input.py, written from SPEC, docs/rules.md and DESIGN.md).

Hostile lines are valid events damaged in every way section 2 names (wrong JSON types for
every known field, missing and duplicated fields, `null`, ids of 128 and 129 characters written
raw, as `\\u` escapes and as surrogate pairs, lone surrogates, names of 64 and 65 characters
and with `/`, unknown and miscased kinds, order kinds without `order_id`, `activity` without a
valid one, `fee_cents` and `ts` at and past every bound and in every form, unknown fields of any
shape and depth, invalid UTF-8, byte-order marks, trailing garbage, whitespace, blank lines,
top-level non-objects, truncation). One replay per block of seeds reads thousands of them; each
line's outcome (not reported, or `line N: bad event: REASON` on stderr) must be one the model
allows, and the summary's counts must add up. `test_bad_lines_change_nothing` interleaves
certainly-bad lines (aimed at the stream's workers, `event_id`s, persons and time) with a
random valid stream: the alerts must be byte-identical to the valid stream's alone. Every run
must exit 0 without a panic. Hand cases (`HAND`, one line each; `SEQUENCES`, whole inputs
read from stdin and from a file: line splitting, `\\r`, the opening byte-order mark, lines
around 1 MiB) pin the documented choices; where the binary departs from them the case is
`xfail(strict=True)` with the sentence it rests on. Where the documents are silent
(model_input.OPEN, and which reason a line wrong in several ways gets) nothing is asserted
beyond the readings allowed.

A mismatch names the seed and line: rerun with `MODEL_SEED=N python3 -m pytest
tests/model/test_input.py -q`. `MODEL_CASES` (default 300) sets how many seeds run.

The binary is `TEST_WORKHOURS_BIN` (tests/run.sh builds it), else target/release/workhours.
"""

import collections
import datetime
import json
import random
import re
import subprocess

import pytest

from model_input import (BOM, HIGH, KINDS, LOW, MAX_LINE, certainly_bad, classify,
                         split_input, verdicts)
from pack_case import BASE_MS, BIN, maybe_persons, random_events, seeds

LINES_PER_SEED = 40
REPORT = re.compile(rb"^line (\d+): bad event: ([a-z0-9_]+): ", re.M)
SUMMARY = re.compile(r"^( +)(\S.*?) +(\d+)$", re.M)
# Characters of ids and names: one code point each (1, 2, 3 and 4 UTF-8 bytes, a combining
# accent, characters JSON must escape, `/`, a non-BMP one written as a surrogate pair).
CHARS = ["a", "Z", "7", "-", "_", " ", "é", "ß", "中", "区", "😀", "𝄞", "\u0301", "\u00a0",
         "\ufeff", "\x00", "\x1f", "\x7f", '"', "\\", "/", "\n", "\u2028", "\uffff"]
LONE = ["\ud800", "\udbff", "\udc00", "\udfff", "\ud83d"]
EDGE_LENGTHS = [0, 1, 2, 63, 64, 65, 127, 128, 129, 130]
KIND_NAMES = sorted(KINDS) + ["Login", "LOGIN", "login ", " login", "", "order", "break",
                               "unknown", "Heartbeat", "order-accepted", "activity\u0000",
                               "ｌｏｇｉｎ"]
ACTIVITY_NAMES = ["driving", "other_work", "available", "rest", "Driving", "REST", "", "sleep",
                  "driving "]
JUNK = ["5", "-1", "0", "1.5", "1e2", "-0", "true", "false", "null", "[]", "{}", '["a"]',
        '{"a":"b"}', '""', '"x"', "1e400", "-1e400", '"\\ud800"', "[1e400]", '["\\udc00"]',
        '{"\\ud800":1}', "18446744073709551616", "9" * 25, "1" + "0" * 320, "1E-400",
        "[[[[[[]]]]]]", "1" + "0" * 308, "0e999999999", "1" + "0" * 30 + ".5", "1E+2"]
# Malformed JSON values: a lenient skipper of unknown fields would take them.
BROKEN = ["1.", ".5", "01", "+1", "-", "1e", "1e+", "-01", "1.e5", "0x10", "tru", "nul", "nulll",
          "truex", "NaN", "Infinity", "'s'", '"\\x"', '"\\u12G4"', '"\\u"', '"abc', "[1,]",
          "[,1]", "[1}", '{"a":1]', '{"a" 1}', '{"a":1,}', '{1:2}', "[[[[1]]]}", "[1 2]", '"a" "b"',
          "", "[" * 70 + "1" + "]" * 69, '{"a":' * 70 + "1" + "}" * 71, "\u0031"]
FEES = ["-1", "0", "1", "1.0", "1e2", "1E2", "0.0", "-0", "2100", "18446744073709551615",
        "18446744073709551616", "9223372036854775807", "9223372036854775808",
        "-9223372036854775808", "-9223372036854775809", "123456789012345678901234567890",
        '"5"', '"-1"', "1e400", "null", "[5]", "1" + "0" * 400]
TS_NUMBERS = ["946684799999", "946684800000", "4102444799999", "4102444800000", "-1", "0", "-0",
              "1.0", "1e12", "1E12", "946684800000.0", "9.466848e11", "-946684800000",
              str((1 << 63) - 1), str(1 << 63), str((1 << 64) - 1), str(1 << 64),
              str(-(1 << 63)), str(-(1 << 63) - 1), "9" * 30, "1" + "0" * 400, "1e400",
              '"946684800000"', '"1772366400000"', "true", "null", "[946684800000]"]
TS_STRINGS = ["1999-12-31T23:59:59.999Z", "2000-01-01T00:00:00Z", "2000-01-01T07:59:59+08:00",
              "2000-01-01T08:00:00+08:00", "1999-12-31T16:00:00-08:00",
              "1999-12-31T15:59:59.999-08:00", "2099-12-31T23:59:59.999Z",
              "2100-01-01T00:00:00Z", "2100-01-01T07:59:59.999+08:00",
              "2100-01-01T08:00:00+08:00", "2099-12-31T16:00:00-08:00",
              "2099-12-31T23:59:59.9999999999Z", "1999-12-31T23:59:59.9999999Z",
              "2026-03-01T10:00:60Z", "2026-02-29T10:00:00Z", "2028-02-29T10:00:00Z",
              "2026-13-01T10:00:00Z", "2026-00-01T10:00:00Z", "2026-04-31T10:00:00Z",
              "2026-03-01T24:00:00Z", "2026-03-01T23:60:00Z", "2026-03-01T10:00:00+24:00",
              "2026-03-01T10:00:00+23:59", "2026-03-01T10:00:00-23:59",
              "2026-03-01T10:00:00+05:7", "2026-03-01T10:00:00+0530", "2026-03-01T10:00:00+05",
              "2026-03-01T10:00:00+05:60", "2026-03-01T10:00:00", "2026-03-01T10:00:00.Z",
              "2026-03-01 10:00:00Z", "2026-03-01t10:00:00z", "2026-03-01T10:00:00-00:00",
              "2026-03-01T10:00Z", "2026-3-01T10:00:00Z", "20260301T100000Z",
              "2026-03-01T10:00:00UTC", "2026-03-01T10:00:00\u221208:00",
              "２０２６-03-01T10:00:00Z", " 2026-03-01T10:00:00Z", "2026-03-01T10:00:00Z ",
              "2026-03-01T10:00:00,5Z", "0000-01-01T00:00:00Z", "9999-12-31T23:59:59Z",
              "1900-02-29T00:00:00Z", "2000-02-29T00:00:00Z", "2100-02-29T00:00:00Z", ""]
WHITESPACE = [" ", "\t", "\r", "\x0c", "\x0b", "\u00a0", "\u3000", "\u2028", "\x00"]
NOT_NEWLINE = [b for b in range(256) if b != 10]
BAD_BYTES = [b"\x80", b"\xff", b"\xc3", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80",
             b"\xe4\xb8", b"\xf0\x9f\x98", b"\xfe"]


def jstr(text, rng):
    """A JSON string literal of `text`, each character written as itself or escaped at random
    (`\\u` in either case, a pair for a non-BMP character, the short escapes); surrogates in
    `text` become lone `\\u` escapes."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        short = {'"': '\\"', "\\": "\\\\", "/": "\\/", "\n": "\\n", "\t": "\\t", "\r": "\\r",
                 "\b": "\\b", "\f": "\\f"}
        if ch in '"\\' or code < 0x20 or 0xD800 <= code < 0xE000 or rng.random() < 0.3:
            if ch in short and rng.random() < 0.5:
                out.append(short[ch])
            elif code >= 0x10000:
                high = 0xD800 + ((code - 0x10000) >> 10)
                low = 0xDC00 + ((code - 0x10000) & 0x3FF)
                form = rng.choice(["\\u%04x", "\\u%04X"])
                out.append(form % high + form % low)
            else:
                out.append(rng.choice(["\\u%04x", "\\u%04X"]) % code)
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def edge_string(rng, lengths, slash=False, lone=False):
    """A string of one of `lengths` code points (from `CHARS`), with a `/` or a lone
    surrogate put in when asked."""
    length = rng.choice(lengths)
    pool = rng.choice([CHARS, ["a"], ["é"], ["中"], ["😀"], ["\u0301", "e"], ["𝄞", "x"]])
    chars = [rng.choice(pool) for _ in range(length)]
    if slash and chars:
        chars[rng.randrange(len(chars))] = "/"
    if lone and chars:
        chars[rng.randrange(len(chars))] = rng.choice(LONE)
    return "".join(chars)


def rfc3339(rng, ms):
    """Instant `ms` as RFC 3339 in a random offset, separator and fraction length."""
    minutes = rng.choice([0, 0, 480, -480, 330, -210, 23 * 60 + 59, -(23 * 60 + 59), 60])
    moment = (datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
              + datetime.timedelta(milliseconds=ms))
    local = moment.astimezone(datetime.timezone(datetime.timedelta(minutes=minutes)))
    text = local.strftime("%Y-%m-%d") + rng.choice("TTTt") + local.strftime("%H:%M:%S")
    digits = rng.choice([0, 0, 1, 2, 3, 3, 4, 6, 9, 12])
    fraction = f"{ms % 1000:03d}" + "".join(rng.choice("0123456789") for _ in range(9))
    if digits or ms % 1000 and rng.random() < 0.5:
        text += "." + fraction[:max(digits, 3)]
    if minutes == 0 and rng.random() < 0.7:
        return text + rng.choice("ZZz")
    sign = "-" if minutes < 0 else "+"
    return text + f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def valid_ts(rng, ms):
    """Instant `ms` as a valid `ts`: epoch milliseconds or RFC 3339."""
    return str(ms) if rng.random() < 0.4 else jstr(rfc3339(rng, ms), rng)


def random_ts(rng, near=None):
    """A `ts` as raw JSON: mostly in range (near `near` when given), else any form of
    section 2's, broken or at a bound."""
    pick = rng.random()
    if pick < 0.5:
        ms = near if near is not None else rng.choice(
            [LOW, LOW + rng.randrange(1000), HIGH - 1, HIGH - 1 - rng.randrange(1000),
             rng.randrange(LOW, HIGH), BASE_MS + rng.randrange(10**9)])
        return valid_ts(rng, ms)
    if pick < 0.75:
        return rng.choice(TS_NUMBERS)
    if pick < 0.9:
        return jstr(rng.choice(TS_STRINGS), rng)
    text = list(rfc3339(rng, rng.randrange(LOW, HIGH)))
    spot = rng.randrange(len(text))
    text[spot] = rng.choice("0123456789:-+TtZz. 9")
    return jstr("".join(text), rng)


def base_event(rng, worker=None, ts=None):
    """A valid event as [name, raw JSON value] pairs (names raw too)."""
    kind = rng.choice(sorted(KINDS))
    fields = [["worker_id", jstr(worker or rng.choice(["w0", "w1", "é中😀", "x" * 128]), rng)],
              ["kind", jstr(kind, rng)],
              ["ts", valid_ts(rng, rng.randrange(LOW, HIGH) if ts is None else ts)]]
    if kind.startswith("order_"):
        fields.append(["order_id", jstr(rng.choice(["o0", "o1", "o2"]), rng)])
    if kind == "activity":
        fields.append(["activity", jstr(rng.choice(sorted(ACTIVITY_NAMES[:4])), rng)])
    for name, values in (("platform", ["meituan", "didi", "", "é" * 64]),
                         ("role", ["rider", "driver"]), ("city", ["371000", "威海"]),
                         ("event_id", ["", "e1", "e\u00e9"]), ("person_id", ["P0", "😀" * 128]),
                         ("fee_cents", None)):
        if rng.random() < 0.3:
            fields.append([name, rng.choice(FEES[:3]) if values is None
                           else jstr(rng.choice(values), rng)])
    rng.shuffle(fields)
    return fields


def set_field(fields, name, raw):
    """Sets `name` (the first of that name) to `raw`, adding it at the end when absent."""
    for pair in fields:
        if pair[0] == name:
            pair[1] = raw
            return
    fields.append([name, raw])


def drop_field(fields, name):
    """Removes every member `name`."""
    fields[:] = [pair for pair in fields if pair[0] != name]


def junk_value(rng):
    """An unknown field's value: anything, deep, wide, long or with lone surrogates."""
    pick = rng.random()
    if pick < 0.25:
        return rng.choice(JUNK)
    if pick < 0.3:
        return rng.choice(BROKEN)
    if pick < 0.5:
        depth = rng.choice([1, 10, 63, 64, 65, 127, 128, 129, 300, 1000])
        opener, closer = rng.choice([("[", "]"), ('{"a":', "}")])
        core = rng.choice(["1", '"\\ud800"', "1e400", "null", '""'])
        return opener * depth + core + closer * depth
    if pick < 0.7:
        return jstr(edge_string(rng, [0, 5, 200], lone=rng.random() < 0.5), rng)
    if pick < 0.85:
        return "[" + ",".join(rng.choice(JUNK) for _ in range(rng.randrange(1, 20))) + "]"
    return ("{" + ",".join(f"{jstr(edge_string(rng, [1, 3]), rng)}:{rng.choice(JUNK)}"
                           for _ in range(rng.randrange(1, 6))) + "}")


def mutate(rng, fields):
    """One damage to an event's members, of the kinds SPEC section 2 lists."""
    known = ["worker_id", "kind", "ts", "event_id", "platform", "role", "city", "order_id",
             "fee_cents", "person_id", "activity"]
    pick = rng.randrange(13)
    if pick == 0:
        set_field(fields, rng.choice(known), rng.choice(JUNK if rng.random() < 0.8 else BROKEN))
    elif pick == 1:
        drop_field(fields, rng.choice(known[:3] + known[7:8] + known[10:]))
    elif pick == 2:
        set_field(fields, rng.choice(["worker_id", "person_id"]),
                  jstr(edge_string(rng, EDGE_LENGTHS, lone=rng.random() < 0.1), rng))
    elif pick == 3:
        set_field(fields, rng.choice(["platform", "role", "city"]),
                  jstr(edge_string(rng, [0, 1, 63, 64, 65], slash=rng.random() < 0.3,
                                   lone=rng.random() < 0.05), rng))
    elif pick == 4:
        set_field(fields, "kind", jstr(rng.choice(KIND_NAMES), rng))
    elif pick == 5:
        set_field(fields, "kind", jstr(rng.choice(sorted(KINDS)), rng))
        rng.choice([lambda: drop_field(fields, "order_id"),
                    lambda: set_field(fields, "order_id", '""'),
                    lambda: set_field(fields, "order_id", rng.choice(JUNK)),
                    lambda: set_field(fields, "order_id", jstr("o1", rng))])()
    elif pick == 6:
        set_field(fields, "kind", jstr("activity", rng))
        if rng.random() < 0.4:
            drop_field(fields, "activity")
        else:
            set_field(fields, "activity", rng.choice(
                [jstr(rng.choice(ACTIVITY_NAMES), rng), rng.choice(JUNK)]))
    elif pick == 7:
        set_field(fields, "fee_cents", rng.choice(FEES))
    elif pick == 8:
        set_field(fields, "ts", random_ts(rng))
    elif pick == 9 and fields:
        pair = rng.choice(fields)
        fields.insert(rng.randrange(len(fields) + 1),
                      [pair[0], rng.choice([pair[1], rng.choice(JUNK)])])
    elif pick == 10:
        name = rng.choice(["x", "worker_ID", "Kind", "ts ", "\\ud800", "WORKER_ID", "tS", ""])
        fields.insert(rng.randrange(len(fields) + 1), [name, junk_value(rng)])
    elif pick == 11 and fields:
        pair = rng.choice(fields)
        pair[0] = jstr(pair[0], rng)[1:-1]      # the name with escapes
    elif pick == 12:
        rng.shuffle(fields)


def serialize(rng, fields):
    """The members as one JSON object's text, sometimes with JSON whitespace between tokens."""
    odd = rng.random() < 0.05      # whitespace JSON does not have, now and then

    def ws():
        if rng.random() >= 0.3:
            return ""
        return rng.choice(["", " ", "\t", "\r", "  "] + (["\x0c", "\x0b", "\u00a0"] if odd
                                                          and rng.random() < 0.2 else []))
    members = [f'{ws()}"{name}"{ws()}:{ws()}{raw}{ws()}' for name, raw in fields]
    return "{" + ",".join(members) + ws() + "}"


def damage_line(rng, text):
    """One damage to a whole line (str in, bytes out)."""
    pick = rng.randrange(11)
    data = text.encode("utf-8", "surrogatepass")
    if pick == 0 and data:
        return data[:rng.randrange(len(data))]
    if pick == 1:
        spot = rng.randrange(len(data) + 1)
        return data[:spot] + rng.choice(BAD_BYTES) + data[spot:]
    if pick == 2:
        return BOM + data
    if pick == 3:
        return data + rng.choice([" x", "}", ",", "{}", "\x0b", "\u00a0", " \t", "\r\r", "[",
                                  "\x00", "\r", "//"]).encode()
    if pick == 4:
        before, after = rng.choice(WHITESPACE), rng.choice(WHITESPACE)
        return (before + text + after).encode("utf-8", "surrogatepass")
    if pick == 5:
        return rng.choice(["[]", "1", '"s"', "null", "true", "[" + text + "]",
                           json.dumps(text), "-0", "{}", "[1e400]", '"\\ud800"']).encode(
                               "utf-8", "surrogatepass")
    if pick == 6:
        return rng.choice(["", " ", "\t", "\r", "\x0c", " \x0c\t ", "\x0b", "\u00a0", "\ufeff",
                           "\r\r"]).encode()
    if pick == 7 and data:
        spot = rng.randrange(len(data))
        return data[:spot] + bytes([rng.choice(NOT_NEWLINE) if rng.random() < 0.5
                                    else rng.choice(b'{}[]",:\\ 0e.-\r\t')]) + data[spot + 1:]
    if pick == 8 and '":"' in text:
        spot = text.index('":"') + 3                    # a raw control character in a string
        return (text[:spot] + rng.choice("\x01\x1f\t\x00") + text[spot:]).encode(
            "utf-8", "surrogatepass")
    if pick == 9:
        spot = rng.randrange(len(data) + 1)
        return data[:spot] + b"\r" + data[spot:]
    return data


def hostile_line(rng, worker=None, ts=None):
    """A random line: a valid event, most often damaged once to a few times."""
    fields = base_event(rng, worker, ts)
    for _ in range(rng.choice([0, 1, 1, 1, 2, 3])):
        mutate(rng, fields)
    text = serialize(rng, fields)
    if rng.random() < 0.15:
        return damage_line(rng, text)
    return text.encode("utf-8", "surrogatepass")


def long_line(rng):
    """A line of about 1 MiB: just under, at or just over the bound, with the bulk in an
    unknown field or a known one."""
    size = MAX_LINE + rng.choice([-1, 0, 1, 2, 1000])
    head = ('{"worker_id":"w0","kind":"heartbeat","ts":"2026-03-01T10:00:00Z","'
            + rng.choice(["x", "x", "event_id"]) + '":"')
    return (head + "y" * (size - len(head) - 2) + '"}').encode()


def seed_lines(seed):
    """Seed `seed`'s share of hostile lines (a long one in about one seed of 100)."""
    rng = random.Random(seed)
    lines = [hostile_line(rng) for _ in range(LINES_PER_SEED)]
    if rng.random() < 0.01:
        lines[rng.randrange(len(lines))] = long_line(rng)
    assert not any(b"\n" in line for line in lines)
    return lines


def replay(data, config=None, tmp_path=None, as_file=False):
    """Replay of `data` (bytes) from stdin, or with `as_file` from a file INPUT: (stdout
    bytes, stderr bytes); it must exit 0 without a panic (SPEC section 6)."""
    command = [BIN, "replay"]
    if config is not None:
        (tmp_path / "config.toml").write_text(config)
        command += ["--config", str(tmp_path / "config.toml")]
    if as_file:
        (tmp_path / "in.jsonl").write_bytes(data)
        command.append(str(tmp_path / "in.jsonl"))
    done = subprocess.run(command, input=None if as_file else data, capture_output=True,
                          check=False)
    assert b"panicked" not in done.stderr, done.stderr[-2000:]
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    return done.stdout, done.stderr


def reports(stderr):
    """The bad-event reports on stderr: line number to reason."""
    found = {}
    for number, reason in REPORT.findall(stderr):
        assert int(number) not in found, f"line {int(number)} reported twice"
        found[int(number)] = reason.decode()
    return found


def summary(stderr):
    """The summary's counts: the top-level ones by name, the bad events' by reason (keys
    `bad:REASON`)."""
    text = stderr.decode("utf-8", "replace")
    counts, section = {}, None
    for indent, name, number in SUMMARY.findall(text[text.index("workhours replay summary"):]):
        if len(indent) == 2:
            section = name
            counts[name] = int(number)
        elif section == "bad events":
            counts["bad:" + name] = int(number)
    return counts


def outcomes(data, stderr):
    """Per line of `data`, the binary's outcome: a reason, or "ok" (valid or blank)."""
    found = reports(stderr)
    lines = split_input(data)
    assert set(found) <= set(range(1, len(lines) + 1)), sorted(set(found))[-5:]
    return [found.get(n, "ok") for n in range(1, len(lines) + 1)]


def agrees(allowed, outcome):
    """Whether the binary's outcome is one the model allows."""
    if outcome == "ok":
        return bool(allowed & {"valid", "blank"})
    return outcome in allowed


def check_counts(lines, got, stderr):
    """The summary's counts are those of the lines' outcomes."""
    counts = summary(stderr)
    blank = sum(1 for line in lines if verdicts(line) == {"blank"})
    bad = collections.Counter(o for o in got if o != "ok")
    assert counts["lines read"] == len(lines), counts
    assert counts["blank lines skipped"] == blank, counts
    assert counts["valid events"] == len(lines) - blank - sum(bad.values()), counts
    assert counts["bad events"] == sum(bad.values()), counts
    assert {k[4:]: v for k, v in counts.items() if k.startswith("bad:")} == dict(bad), counts


def show(line):
    """A line for a failure message, shortened."""
    return repr(line if len(line) < 400 else line[:200] + b"..." + line[-100:])


@pytest.mark.parametrize("block", range(4))
def test_random_lines(block, tmp_path):
    """Every hostile line of the block's seeds gets an outcome the model allows, and the
    summary counts them (one replay for the whole block, from stdin or, for odd blocks, from
    a file)."""
    owners, lines = [], []
    for seed in seeds(block):
        for index, line in enumerate(seed_lines(seed)):
            owners.append((seed, index))
            lines.append(line)
    if not lines:
        return
    # A valid first line, so that no line of a seed is the input's first (its BOM is dropped).
    lines.insert(0, b'{"worker_id":"w0","kind":"heartbeat","ts":946684800000}')
    owners.insert(0, (None, None))
    data = b"\n".join(lines) + b"\n"
    lines = split_input(data)                    # a `\r` ending a line is dropped
    assert len(lines) == len(owners)
    _, stderr = replay(data, tmp_path=tmp_path, as_file=block % 2 == 1)
    got = outcomes(data, stderr)
    wrong = [(owners[n], classify(line), got[n], show(line))
             for n, line in enumerate(lines) if not agrees(verdicts(line), got[n])]
    assert not wrong, "\n".join(
        f"seed {s} (MODEL_SEED={s}) line {i}: model {m}, binary {b}: {text}"
        for (s, i), m, b, text in wrong[:20]) + f"\n({len(wrong)} lines disagree)"
    check_counts(lines, got, stderr)


def aimed_bad_line(rng, events, index):
    """A certainly-bad line aimed at the stream: a worker of it, a `ts` of it or later (also
    far later), a later event's `event_id` and the persons' ids."""
    event = events[rng.randrange(index, len(events))] if index < len(events) else events[-1]
    while True:
        ts = rng.choice([event["ts"], event["ts"] + rng.randrange(1, 10**9), HIGH - 1])
        fields = base_event(rng, event["worker_id"], ts)
        later = [e for e in events[index:] if "event_id" in e]
        if later and rng.random() < 0.6:
            set_field(fields, "event_id", json.dumps(rng.choice(later)["event_id"]))
        if rng.random() < 0.3:
            set_field(fields, "person_id", rng.choice(['"P0"', '"P1"', '"P7"']))
        for _ in range(rng.choice([1, 1, 2])):
            mutate(rng, fields)
        line = serialize(rng, fields).encode("utf-8", "surrogatepass")
        if rng.random() < 0.15:
            line = damage_line(rng, line.decode("utf-8", "surrogatepass"))
        if certainly_bad(line) and verdicts(line) != {"too_large"}:
            return line


@pytest.mark.parametrize("block", range(4))
def test_bad_lines_change_nothing(block, tmp_path):
    """SPEC 2: a bad event never changes any worker's state: a valid stream with bad lines
    (and blank ones) among its lines gives byte-identical alerts, and the same summary but
    for the bad and blank counts, as the valid lines alone; the bad ones are each reported."""
    for seed in seeds(block, 4):
        if seed // 4 % 2:
            continue                    # every other seed of the block: two replays each
        rng = random.Random(seed)
        events = random_events(rng, events=rng.randrange(20, 120))
        for n, event in enumerate(events):
            if rng.random() < 0.5:
                event["event_id"] = f"e{n}"
            for name, values in (("platform", ["meituan", "didi"]), ("city", ["1", "2"])):
                if rng.random() < 0.2:
                    event[name] = rng.choice(values)
        persons = maybe_persons(rng, events)
        config = "[rules]\n"
        if rng.random() < 0.5:
            config += f'session_timeout = "{rng.choice([10, 30, 90])}m"\n'
        if persons:
            config += 'subject = "person"\n'
        good = [json.dumps(e).encode() for e in events]
        assert all(verdicts(line) == {"valid"} for line in good)
        mixed, inserted = [], 0
        for index, line in enumerate(good):
            while rng.random() < 0.3:
                mixed.append(aimed_bad_line(rng, events, index) if rng.random() < 0.9
                             else rng.choice([b"", b" ", b"\t\r"]))
                inserted += 1
            mixed.append(line)
        mixed.append(aimed_bad_line(rng, events, len(events)))
        if rng.random() < 0.1:          # too large: a valid event of a worker, then padding
            event = dict(rng.choice(events), ts=HIGH - 1, pad="y" * MAX_LINE)
            mixed.insert(rng.randrange(len(mixed) + 1), json.dumps(event).encode())
        if mixed[0].startswith(BOM):
            mixed.insert(0, b" ")       # a mark opening the input is dropped: not this test's
        alone_out, alone_err = replay(b"\n".join(good) + b"\n", config, tmp_path)
        data = b"\n".join(mixed) + b"\n"
        mixed_out, mixed_err = replay(data, config, tmp_path)
        name = f"seed {seed} (MODEL_SEED={seed})"
        got = outcomes(data, mixed_err)
        wrong = [(n + 1, got[n], show(line)) for n, line in enumerate(split_input(data))
                 if not agrees(verdicts(line), got[n])]
        assert not wrong, f"{name}: {wrong[:5]}"
        assert mixed_out == alone_out, f"{name}: alerts differ with bad lines, config {config!r}"
        before, after = summary(alone_err), summary(mixed_err)
        for key in ("lines read", "blank lines skipped", "bad events"):
            before.pop(key), after.pop(key)
        assert {k: v for k, v in after.items() if not k.startswith("bad:")} == before, name


def run_one(line, first=b'{"worker_id":"w0","kind":"heartbeat","ts":946684800000}\n'):
    """The binary's outcome for one line, read after a valid first line."""
    data = first + line + b"\n"
    _, stderr = replay(data)
    got = outcomes(data, stderr)
    check_counts(split_input(data), got, stderr)
    return got[-1]


def wid(text):
    """A hand case's event with `worker_id` written as the raw JSON text `text`."""
    return ('{"worker_id":%s,"kind":"login","ts":"2026-03-01T10:00:00Z"}' % text).encode()


def ev(extra="", kind="login", ts='"2026-03-01T10:00:00Z"'):
    """A hand case's event of `kind` and `ts` (raw JSON) with raw members `extra` added."""
    return ('{"worker_id":"w","kind":"%s","ts":%s%s}' % (kind, ts, extra)).encode()


def sized(size, junk=b""):
    """A valid event of `size` bytes, `junk` at the start of an unknown field's string."""
    head = b'{"worker_id":"w","kind":"login","ts":"2026-03-01T10:00:00Z","x":"' + junk
    return head + b"y" * (size - len(head) - 2) + b'"}'


# (line, the outcome the documents give, where they say so). "ok" is valid or blank.
HAND = [
    (wid('"' + "a" * 128 + '"'), "ok", "SPEC 2: worker_id 1-128 chars"),
    (wid('"' + "a" * 129 + '"'), "invalid_value", "SPEC 2: worker_id 1-128 chars"),
    (wid('"' + "😀" * 128 + '"'), "ok", "SPEC 2: length counts Unicode characters"),
    (wid('"' + "\\ud83d\\ude00" * 128 + '"'), "ok", "DESIGN: a pair counts as one character"),
    (wid('"' + "\\ud83d\\ude00" * 129 + '"'), "invalid_value", "SPEC 2: 1-128 chars"),
    (wid('"' + "\\u00e9" * 128 + '"'), "ok", "SPEC 2: length counts Unicode characters"),
    (wid('"' + "e\u0301" * 64 + '"'), "ok", "rules.md: a combining accent is a character"),
    (wid('"' + "e\u0301" * 64 + 'x"'), "invalid_value", "rules.md: e + accent is two"),
    (wid('""'), "invalid_value", "SPEC 2: worker_id 1-128 chars"),
    (wid('"\\ud800"'), "not_json", "DESIGN: a lone surrogate in a known field"),
    (wid('"\\ude00\\ud83d"'), "not_json", "DESIGN: a lone surrogate in a known field"),
    (wid("null"), "wrong_type", "DESIGN: null is a wrong type"),
    (wid("5"), "wrong_type", "SPEC 2: wrong type"),
    (wid("1e400"), "not_json", "DESIGN: a number beyond f64 in a known field"),
    (ev(',"person_id":"' + "中" * 128 + '"'), "ok", "SPEC 8: person_id 1-128 characters"),
    (ev(',"person_id":"' + "中" * 129 + '"'), "invalid_value", "SPEC 8: 1-128 characters"),
    (ev(',"person_id":""'), "invalid_value", "SPEC 8: person_id 1-128 characters"),
    (ev(',"platform":"' + "é" * 64 + '"'), "ok", "SPEC 5: at most 64 characters"),
    (ev(',"role":"' + "é" * 65 + '"'), "invalid_value", "SPEC 5: at most 64 characters"),
    (ev(',"city":"a/b"'), "invalid_value", "SPEC 5: no `/`"),
    (ev(',"city":"a\\u002fb"'), "invalid_value", "SPEC 5: no `/` (escaped)"),
    (ev(',"platform":"a\\/b"'), "invalid_value", "SPEC 5: no `/` (escaped)"),
    (ev(',"platform":""'), "ok", "rules.md: an empty string is a name of its own"),
    (ev(',"platform":5'), "wrong_type", "SPEC 2: \"platform\": 5 makes the event bad"),
    (ev(',"platform":null'), "wrong_type", "DESIGN: null is a wrong type"),
    (ev(',"event_id":""'), "ok", "DESIGN: event_id may be the empty string"),
    (ev(',"event_id":7'), "wrong_type", "SPEC 2: wrong type"),
    (ev(kind="Login"), "unknown_kind", "SPEC 2: an unknown kind"),
    (ev(kind="l\\u006fgin"), "ok", "JSON: an escaped kind is the same string"),
    (ev(kind="order_accepted"), "missing_order_id", "SPEC 2: order kind without order_id"),
    (ev(',"order_id":""', kind="order_delivered"), "missing_order_id", "SPEC 2: non-empty"),
    (ev(',"order_id":"o"', kind="order_cancelled"), "ok", "SPEC 2"),
    (ev(kind="activity"), "missing_field", "SPEC 2: activity required for kind activity"),
    (ev(',"activity":"sleeping"', kind="activity"), "invalid_value", "SPEC 2: one of four"),
    (ev(',"activity":"rest"', kind="activity"), "ok", "SPEC 2"),
    (ev(',"fee_cents":-1'), "invalid_value", "SPEC 2: fee_cents -5 makes the event bad"),
    (ev(',"fee_cents":0'), "ok", "SPEC 2: integer >= 0"),
    (ev(',"fee_cents":1.0'), "wrong_type", "DESIGN: 1.0 is wrong_type"),
    (ev(',"fee_cents":1e2'), "wrong_type", "DESIGN: 1e2 is wrong_type"),
    (ev(',"fee_cents":-0'), "wrong_type", "DESIGN: -0 is wrong_type"),
    (ev(',"fee_cents":18446744073709551615'), "ok", "DESIGN: up to 2^64 - 1"),
    (ev(',"fee_cents":18446744073709551616'), "wrong_type", "DESIGN: beyond is wrong_type"),
    (ev(',"fee_cents":"5"'), "wrong_type", "SPEC 2: wrong type"),
    (ev(',"fee_cents":1e400'), "not_json", "DESIGN: 1e400 in a known field"),
    (ev(',"x":1e400'), "ok", "DESIGN: in an unknown field it is skipped"),
    (ev(',"x":' + "1" * 400), "ok", "DESIGN: in an unknown field it is skipped"),
    (ev(',"x":"\\ud800","\\udc00":1'), "ok", "DESIGN: lone surrogates in unknown fields"),
    (ev(',"x":' + "[" * 100000 + "]" * 100000), "ok", "SPEC 2: unknown fields are ignored"),
    (ev(',"x":' + '{"a":' * 5000 + "1" + "}" * 5000), "ok", "SPEC 2: unknown fields ignored"),
    (ev(',"x":1,"x":2'), "ok", "SPEC 2: unknown fields are ignored"),
    (ev(',"kind":"login"'), "duplicate_field", "DESIGN: a known field twice"),
    (ev(',"worker\\u005fid":"w"'), "duplicate_field", "DESIGN: escaped names are known"),
    (ev(',"Worker_id":5'), "ok", "SPEC 2: unknown fields are ignored"),
    (b'{"kind":"login","ts":946684800000}', "missing_field", "SPEC 2: required"),
    (b'{"worker_id":"w","ts":946684800000}', "missing_field", "SPEC 2: required"),
    (b'{"worker_id":"w","kind":"login"}', "missing_field", "SPEC 2: required"),
    (ev(ts='"2026-03-01t10:00:00z"'), "ok", "rules.md: `t`, `z`"),
    (ev(ts='"2026-03-01 10:00:00Z"'), "bad_timestamp", "SPEC 2: a T (or t) separator"),
    (ev(ts='"2026-03-01T10:00:00"'), "bad_timestamp", "SPEC 2: with an offset"),
    (ev(ts='"2026-03-01T10:00:00-00:00"'), "ok", "rules.md: -00:00 included"),
    (ev(ts='"2026-03-01T10:00:00.123456789012+05:30"'), "ok", "SPEC 2: digits truncated"),
    (ev(ts='"2026-03-01T10:00:00.Z"'), "bad_timestamp", "RFC 3339: a fraction has digits"),
    (ev(ts='"2026-03-01T10:00:60Z"'), "bad_timestamp", "DESIGN: a leap second"),
    (ev(ts='"2026-02-30T10:00:00Z"'), "bad_timestamp", "RFC 3339: no such date"),
    (ev(ts='"2026-13-01T10:00:00Z"'), "bad_timestamp", "RFC 3339: no such month"),
    (ev(ts='"2026-03-01T24:00:00Z"'), "bad_timestamp", "RFC 3339: hour 00-23"),
    (ev(ts='"2026-03-01T10:00:00+24:00"'), "bad_timestamp", "RFC 3339: offset hour 00-23"),
    (ev(ts='"2026-03-01T10:00:00+05:7"'), "bad_timestamp", "SPEC 2: ±hh:mm"),
    (ev(ts='"1999-12-31T23:59:59.999Z"'), "timestamp_out_of_range", "SPEC 5: before 2000"),
    (ev(ts='"1999-12-31T23:59:59.9999Z"'), "timestamp_out_of_range", "SPEC 2: truncated"),
    (ev(ts='"2000-01-01T00:00:00Z"'), "ok", "SPEC 5"),
    (ev(ts='"2000-01-01T07:59:59+08:00"'), "timestamp_out_of_range", "SPEC 5: an instant"),
    (ev(ts='"2099-12-31T23:59:59.999Z"'), "ok", "SPEC 5"),
    (ev(ts='"2100-01-01T07:59:59.999+08:00"'), "ok", "SPEC 5: an instant"),
    (ev(ts='"2100-01-01T00:00:00Z"'), "timestamp_out_of_range", "SPEC 5: at or after 2100"),
    (ev(ts='"0000-01-01T00:00:00Z"'), "timestamp_out_of_range", "SPEC 5"),
    (ev(ts="946684799999"), "timestamp_out_of_range", "SPEC 5"),
    (ev(ts="946684800000"), "ok", "SPEC 5"),
    (ev(ts="4102444799999"), "ok", "SPEC 5"),
    (ev(ts="4102444800000"), "timestamp_out_of_range", "SPEC 5"),
    (ev(ts="-1"), "timestamp_out_of_range", "SPEC 5"),
    (ev(ts='"946684800000"'), "bad_timestamp", "SPEC 2: a string is RFC 3339"),
    (ev(ts="18446744073709551616"), "bad_timestamp", "DESIGN: beyond 64 bits"),
    (ev(ts="1" + "0" * 400), "not_json", "DESIGN: an integer of about 310 digits"),
    (ev(ts="true"), "wrong_type", "SPEC 2: wrong type"),
    (ev(ts="null"), "wrong_type", "DESIGN: null is a wrong type"),
    (b"[]", "not_object", "SPEC 2: not an object"),
    (b"null", "not_object", "SPEC 2: not an object"),
    (b'"{}"', "not_object", "SPEC 2: not an object"),
    (ev() + b" x", "not_json", "SPEC 2: not JSON"),
    (ev() + b"{}", "not_json", "SPEC 2: not JSON"),
    (b" \t" + ev() + b" \t", "ok", "RFC 8259: whitespace around a value"),
    (b"\x0c" + ev(), "not_json", "RFC 8259: a form feed is no JSON whitespace"),
    (ev() + b"\x0b", "not_json", "DESIGN: \\x0b makes a line bad"),
    (ev() + "\u00a0".encode(), "not_json", "DESIGN: a no-break space makes a line bad"),
    (BOM + ev(), "not_json", "DESIGN: a BOM anywhere else makes its line bad"),
    (b" \t\x0c ", "ok", "DESIGN: blank lines skipped"),
    (b"\x0b", "not_json", "DESIGN: \\x0b is not blank"),
    (ev().replace(b'"w"', b'"\xff"'), "not_utf8", "SPEC 2: not UTF-8"),
    (b"\xc3" + ev(), "not_utf8", "SPEC 2: not UTF-8"),
    (ev().replace(b'"w"', b'"\xed\xa0\x80"'), "not_utf8", "UTF-8 has no surrogates"),
    (ev().replace(b'"w"', b'"a\x01"'), "not_json", "RFC 8259: raw control character"),
    (sized(MAX_LINE), "ok", "DESIGN: longer than 1 MiB is too_large"),
    (sized(MAX_LINE + 1), "too_large", "DESIGN: longer than 1 MiB"),
    (sized(MAX_LINE + 1, b"\xff"), "too_large", "DESIGN: whatever makes it long"),
    (sized(MAX_LINE, b"\xff"), "not_utf8", "SPEC 2: not UTF-8"),
    (sized(MAX_LINE, b"\\ud800"), "ok", "DESIGN: lone surrogates in unknown fields"),
]


@pytest.mark.parametrize("line,want,source", HAND, ids=[f"hand{n}" for n in range(len(HAND))])
def test_hand(line, want, source):
    """A documented choice: the model gives it, and so must the binary."""
    model = verdicts(line)
    assert agrees(model, want) and (want == "ok" or model == {want}), (classify(line), source)
    assert run_one(line) == want, source


# (input, each line's outcome, the sentence it rests on)
SEQUENCES = [
    (sized(3 * MAX_LINE) + b"\n" + ev() + b"\n[]\n", ["too_large", "ok", "not_object"],
     "rules.md: replay reads a longer line's first 1 MiB and drops the rest unread"),
    (ev() + b"\n" + sized(MAX_LINE + 10), ["ok", "too_large"], "rules.md: too_large"),
    (ev() + b"\r" + ev() + b"\r\n", ["not_json"], "rules.md: `\\r` alone is one line"),
    (b"", [], "an empty input has no line"),
    (b"\n\r\n \n", ["ok", "ok", "ok"], "DESIGN.md: blank lines skipped and counted"),
    (ev() + b"\n" + ev(), ["ok", "ok"], "a last line without its newline is a line"),
    (BOM + ev() + b"\r\n" + BOM + ev() + b"\r\n\r\n", ["ok", "not_json", "ok"],
     "DESIGN.md: a mark opening the input is dropped, one anywhere else is not_json"),
    (BOM + BOM + ev() + b"\n", ["not_json"], "DESIGN.md: only the opening mark is dropped"),
    (b" " * (MAX_LINE - 1) + b"x\n[]\n", ["not_json", "not_object"], "DESIGN.md: too_large"),
    (b" " * MAX_LINE + b"x\n[]\n", ["too_large", "not_object"], "DESIGN.md: too_large"),
    # Once skipped as blank.
    (b" " * (MAX_LINE + 1) + b"\n" + ev() + b"\n", ["too_large", "ok"],
     "DESIGN.md: longer than 1 MiB is too_large, whatever makes it long"),
]


@pytest.mark.parametrize("data,want,source", SEQUENCES,
                         ids=[f"seq{n}" for n in range(len(SEQUENCES))])
def test_sequence(data, want, source, tmp_path):
    """Line splitting, the opening byte-order mark, long and blank lines over a whole input:
    the model's split and outcomes are the documents', and the binary's too (stdin and file)."""
    lines = split_input(data)
    assert [agrees(verdicts(line), w) for line, w in zip(lines, want)] == [True] * len(want)
    assert len(lines) == len(want), source
    for as_file in (False, True):
        _, stderr = replay(data, tmp_path=tmp_path, as_file=as_file)
        got = outcomes(data, stderr)
        assert got == want, (source, as_file)
        check_counts(lines, got, stderr)
