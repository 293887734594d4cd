"""An independent model of how `workhours` judges one line of input (SPEC section 2 and the
bounds of section 5, as docs/rules.md "Events" and DESIGN.md "Choices where SPEC is silent"
settle the details), written from those texts alone.

`verdicts(line)` gives every outcome the documents allow for the raw bytes of one line (its
`\\n` and a `\\r` before it already cut, as `split_input` does): `{"blank"}` (skipped and
counted), `{"valid"}`, or bad-event reason codes. A line wrong in one way has one reason; a
line wrong in several ways has each of them, since no document says which one is reported;
where the documents leave a choice open (`OPEN` lists them) the set holds every reading.
`classify(line)` is the one outcome, or the allowed ones joined by `|` when there are several.

The JSON reader is this file's own (RFC 8259: whitespace is space, tab, `\\r`, `\\n`; no
`NaN`; strings without raw control characters), so that nothing of Python's `json` (lone
surrogates taken, numbers of any size, a recursion limit) leaks into the model.
"""

import re

MAX_LINE = 1 << 20                      # `too_large`: a line longer than 1 MiB
BOM = b"\xef\xbb\xbf"
LOW = 946684800000                      # 2000-01-01T00:00:00Z
HIGH = 4102444800000                    # 2100-01-01T00:00:00Z, the first instant out of range
KINDS = frozenset(["login", "logout", "break_start", "break_end", "order_accepted",
                   "order_picked_up", "order_delivered", "order_cancelled", "heartbeat",
                   "activity"])
ORDER_KINDS = frozenset(k for k in KINDS if k.startswith("order_"))
ACTIVITIES = frozenset(["driving", "other_work", "available", "rest"])
REQUIRED = ("worker_id", "kind", "ts")
IDS = ("worker_id", "person_id")        # 1-128 characters
NAMES = ("platform", "role", "city")    # at most 64 characters, no `/`
KNOWN = frozenset(REQUIRED + IDS + NAMES + ("event_id", "order_id", "fee_cents", "activity"))
U64 = 1 << 64
I64 = 1 << 63
# Details the documents leave open, with the outcomes each reading gives:
OPEN = {
    # rules.md's table types `order_id` "non-empty string", SPEC only asks a non-empty one of
    # order kinds: an empty `order_id` on another kind.
    "empty_order_id": {"valid", "invalid_value", "missing_order_id"},
    # `fee_cents` below -2^63: negative (`invalid_value`) or beyond 64 bits (`wrong_type`).
    "fee_below_i64": {"invalid_value", "wrong_type"},
    # `ts` -0: an integer 0 (out of range) or, as DESIGN.md says of `fee_cents`, no integer.
    "ts_minus_zero": {"bad_timestamp", "wrong_type", "timestamp_out_of_range"},
    # `ts` with a fraction or exponent: not an integer, of a wrong type or a bad timestamp.
    "ts_fraction": {"bad_timestamp", "wrong_type"},
    # `ts` from 2^63 to 2^64 - 1: "beyond 64 bits" read as signed or unsigned.
    "ts_high_u64": {"bad_timestamp", "timestamp_out_of_range"},
    # A container in a known field holding a lone surrogate or a number past f64: bad JSON
    # (DESIGN.md) or of a wrong type.
    "tainted_container": {"not_json", "wrong_type"},
    # A top-level value other than an object holding a lone surrogate or a number past f64:
    # not an object, or (DESIGN.md's reading of serde_json) not JSON.
    "tainted_top": {"not_object", "not_json"},
    # An order kind whose `order_id` is of the wrong type: that, or no non-empty `order_id`.
    "order_id_type": {"wrong_type", "missing_order_id"},
}


class NotJson(Exception):
    """The text is not one JSON value (RFC 8259)."""


NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
STRING_STOP = re.compile(r'["\\\x00-\x1f]')
HEX4 = re.compile(r"[0-9a-fA-F]{4}")
SIMPLE = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r",
          "t": "\t"}
CLOSE = {"[": "]", "{": "}"}


def overflows(raw):
    """Whether a JSON number is beyond a 64-bit float's range (DESIGN.md: `1e400`)."""
    return float(raw) in (float("inf"), float("-inf"))


class Reader:
    """RFC 8259 over one line's text. The top-level object's members keep their values;
    anything deeper is only checked and summed up as tainted (holding a lone surrogate or a
    number beyond f64's range, which DESIGN.md makes `not_json` in a known field)."""

    def __init__(self, text):
        self.s = text
        self.i = 0

    def peek(self):
        return self.s[self.i:self.i + 1]

    def ws(self):
        while self.i < len(self.s) and self.s[self.i] in " \t\r\n":
            self.i += 1

    def expect(self, char):
        if self.peek() != char:
            raise NotJson(self.i)
        self.i += 1

    def string(self):
        """A string at the cursor: (text with escapes decoded, whether it has a lone
        surrogate). A surrogate pair is one character."""
        self.expect('"')
        s, parts, lone = self.s, [], False
        while True:
            m = STRING_STOP.search(s, self.i)
            if m is None:
                raise NotJson(self.i)
            parts.append(s[self.i:m.start()])
            self.i = m.start()
            if s[self.i] == '"':
                self.i += 1
                return "".join(parts), lone
            if s[self.i] != "\\":
                raise NotJson(self.i)       # a raw control character
            escape = s[self.i + 1:self.i + 2]
            if escape in SIMPLE:
                parts.append(SIMPLE[escape])
                self.i += 2
                continue
            if escape != "u" or not HEX4.fullmatch(s[self.i + 2:self.i + 6]):
                raise NotJson(self.i)
            unit = int(s[self.i + 2:self.i + 6], 16)
            self.i += 6
            if 0xD800 <= unit < 0xDC00 and s[self.i:self.i + 2] == "\\u" \
                    and HEX4.fullmatch(s[self.i + 2:self.i + 6]) \
                    and 0xDC00 <= int(s[self.i + 2:self.i + 6], 16) < 0xE000:
                low = int(s[self.i + 2:self.i + 6], 16)
                self.i += 6
                unit = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
            elif 0xD800 <= unit < 0xE000:
                lone = True
            parts.append(chr(unit))

    def scalar(self):
        """A string, number or literal: ("string", text, lone), ("number", raw), (literal,)."""
        c = self.peek()
        if c == '"':
            return ("string",) + self.string()
        if c == "-" or c.isdigit() and c.isascii():
            m = NUMBER.match(self.s, self.i)
            if m is None:
                raise NotJson(self.i)
            self.i = m.end()
            return ("number", m.group())
        for word in ("true", "false", "null"):
            if self.s.startswith(word, self.i):
                self.i += len(word)
                return (word,)
        raise NotJson(self.i)

    def container(self):
        """An array or object at the cursor, at any depth (no recursion): whether tainted."""
        s, tainted, stack, first = self.s, False, [self.peek()], True
        self.i += 1
        while True:
            self.ws()
            if first and self.peek() == CLOSE[stack[-1]]:
                self.i += 1
                stack.pop()
            else:
                if stack[-1] == "{":
                    _, lone = self.string()
                    tainted |= lone
                    self.ws()
                    self.expect(":")
                    self.ws()
                if self.peek() in ("[", "{"):
                    stack.append(s[self.i])
                    self.i += 1
                    first = True
                    continue
                value = self.scalar()
                tainted |= (value[0] == "string" and value[2]
                            or value[0] == "number" and overflows(value[1]))
            while True:
                if not stack:
                    return tainted
                self.ws()
                c = self.peek()
                if c == ",":
                    self.i += 1
                    first = False
                    break
                if c == CLOSE[stack[-1]]:
                    self.i += 1
                    stack.pop()
                    continue
                raise NotJson(self.i)

    def value(self):
        """A member's value: a scalar's tuple, or ("object" | "array", tainted)."""
        c = self.peek()
        if c in ("[", "{"):
            return ("object" if c == "{" else "array", self.container())
        return self.scalar()

    def members(self):
        """The top-level object at the cursor: its members as (name, value) in order."""
        self.expect("{")
        self.ws()
        found = []
        if self.peek() == "}":
            self.i += 1
            return found
        while True:
            self.ws()
            name, _ = self.string()
            self.ws()
            self.expect(":")
            self.ws()
            found.append((name, self.value()))
            self.ws()
            if self.peek() == "}":
                self.i += 1
                return found
            self.expect(",")


def parse(text):
    """The members of the JSON object `text`, or for another JSON value whether it is tainted
    (as `Reader`); NotJson."""
    reader = Reader(text)
    reader.ws()
    if reader.peek() == "{":
        members = reader.members()
    else:
        value = reader.value()
        members = (value[0] == "string" and value[2] or value[0] == "number"
                   and overflows(value[1]) or value[0] in ("object", "array") and value[1])
    reader.ws()
    if reader.i != len(text):
        raise NotJson(reader.i)
    return members


RFC3339 = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})"
                     r"(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})")


def days_from_civil(year, month, day):
    """Days since 1970-01-01 of a proleptic Gregorian date (any year from 0)."""
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468


def month_days(year, month):
    """Days in a month (proleptic Gregorian)."""
    if month == 2:
        return 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def rfc3339_ms(text):
    """Epoch milliseconds of an RFC 3339 `ts` (SPEC 2: a `T` or `t`, an offset `Z`, `z` or
    `±hh:mm`, fraction digits beyond milliseconds cut), or None when it is no such instant
    (second 60 included: DESIGN.md)."""
    m = RFC3339.fullmatch(text)
    if m is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    if not (1 <= month <= 12 and 1 <= day <= month_days(year, month) and hour <= 23
            and minute <= 59 and second <= 59):
        return None
    offset = 0
    if m.group(8) not in ("Z", "z"):
        off_h, off_m = int(m.group(8)[1:3]), int(m.group(8)[4:6])
        if off_h > 23 or off_m > 59:
            return None
        offset = (off_h * 60 + off_m) * (1 if m.group(8)[0] == "+" else -1)
    millis = int((m.group(7) or ".")[1:4].ljust(3, "0"))
    local = ((days_from_civil(year, month, day) * 24 + hour) * 60 + minute) * 60 + second
    return (local - offset * 60) * 1000 + millis


def is_integer(raw):
    """A JSON number written as an integer (no fraction, no exponent)."""
    return "." not in raw and "e" not in raw and "E" not in raw


def ts_faults(value):
    """The outcomes of a `ts` value (SPEC 2 and 5, DESIGN.md)."""
    if value[0] == "string":
        ms = rfc3339_ms(value[1])
        if ms is None:
            return {"bad_timestamp"}
        return set() if LOW <= ms < HIGH else {"timestamp_out_of_range"}
    if value[0] != "number":
        return {"wrong_type"}
    raw = value[1]
    if not is_integer(raw):
        return set(OPEN["ts_fraction"])
    if raw == "-0":
        return set(OPEN["ts_minus_zero"])
    if len(raw) > 30:
        return {"bad_timestamp"}
    n = int(raw)
    if -I64 <= n < I64:
        return set() if LOW <= n < HIGH else {"timestamp_out_of_range"}
    return set(OPEN["ts_high_u64"]) if I64 <= n < U64 else {"bad_timestamp"}


def fee_faults(value):
    """The outcomes of a `fee_cents` value: an integer from 0 to 2^64 - 1 (DESIGN.md)."""
    if value[0] != "number" or not is_integer(value[1]) or value[1] == "-0":
        return {"wrong_type"}
    raw = value[1]
    if len(raw) > 30:
        return {"wrong_type"}
    n = int(raw)
    if 0 <= n < U64:
        return set()
    if n >= U64:
        return {"wrong_type"}
    return {"invalid_value"} if n >= -I64 else set(OPEN["fee_below_i64"])


def value_faults(name, value):
    """The outcomes of known field `name`'s value on its own."""
    tag = value[0]
    if tag == "string" and value[2] or tag == "number" and overflows(value[1]):
        return {"not_json"}
    if tag in ("object", "array") and value[1]:
        return set(OPEN["tainted_container"])
    if name == "ts":
        return ts_faults(value)
    if name == "fee_cents":
        return fee_faults(value)
    if tag != "string":
        return {"wrong_type"}
    text = value[1]
    if name in IDS and not 1 <= len(text) <= 128:
        return {"invalid_value"}
    if name in NAMES and (len(text) > 64 or "/" in text):
        return {"invalid_value"}
    if name == "kind" and text not in KINDS:
        return {"unknown_kind"}
    if name == "activity" and text not in ACTIVITIES:
        return {"invalid_value"}
    return set()


def event_faults(members):
    """(the bad reasons, the open outcomes) of a JSON object's members."""
    fields = {}
    for name, value in members:
        if name in KNOWN:
            fields.setdefault(name, []).append(value)
    faults, open_ = set(), set()
    for name, values in fields.items():
        if len(values) > 1:
            faults.add("duplicate_field")
        for value in values:
            faults |= value_faults(name, value)
    faults |= {"missing_field" for name in REQUIRED if name not in fields}
    kinds = {v[1] for v in fields.get("kind", []) if v[0] == "string" and v[1] in KINDS}
    order_ids = fields.get("order_id", [])
    if kinds & ORDER_KINDS:
        if not order_ids or any(v[0] == "string" and v[1] == "" for v in order_ids):
            faults.add("missing_order_id")
        elif any(v[0] != "string" for v in order_ids):
            faults |= OPEN["order_id_type"]
    if kinds - ORDER_KINDS and any(v[0] == "string" and v[1] == "" for v in order_ids):
        open_ |= OPEN["empty_order_id"]
    if "activity" in kinds and "activity" not in fields:
        faults.add("missing_field")
    return faults, open_


def verdicts(line):
    """Every outcome the documents allow for one line's raw bytes (see the module's text)."""
    if len(line) > MAX_LINE:
        return frozenset({"too_large"})     # whatever makes it long (DESIGN.md)
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return frozenset({"not_utf8"})
    if all(b in b" \t\r\x0c" for b in line):
        return frozenset({"blank"})         # Rust's u8::is_ascii_whitespace, `\n` aside
    try:
        members = parse(text)
    except NotJson:
        return frozenset({"not_json"})
    if not isinstance(members, list):
        return frozenset(OPEN["tainted_top"] if members else {"not_object"})
    faults, open_ = event_faults(members)
    if faults:
        return frozenset(faults | (open_ - {"valid"}))
    return frozenset(open_ or {"valid"})


def classify(line):
    """"valid", "blank" or the bad reason of one line; several allowed ones joined by `|`."""
    return "|".join(sorted(verdicts(line)))


def split_input(data):
    """Replay input as lines (docs/rules.md): a byte-order mark opening the input is dropped,
    lines end with `\\n`, a `\\r` before it is dropped; a last line may lack its `\\n`."""
    if data.startswith(BOM):
        data = data[len(BOM):]
    lines = data.split(b"\n")
    last = lines.pop()
    lines = [line[:-1] if line.endswith(b"\r") else line for line in lines]
    return lines + [last] if last else lines


def certainly_bad(line):
    """Whether every reading of the documents makes `line` a bad event."""
    return not verdicts(line) & {"valid", "blank"}
