"""An independent model of `workhours pseudonymize` (SPEC section 8, docs/persons.md "What it
does to each line" and "issuing the key", `workhours pseudonymize --help`).

The key is the key file's bytes less one trailing `\\n` or `\\r\\n`, not hex-decoded, 1 to 1024
bytes. `person_id` is the lowercase hex HMAC-SHA256 under the key of the field's string value
as UTF-8 after JSON unescaping, or of a non-negative integer's decimal digits.

`random_line` builds a JSON line token by token, so that the model knows where the field's
member is without parsing the line: the expected output is the same tokens with the member's
name replaced by `"person_id"` and its value by the HMAC (every other byte kept), or with the
member and one comma removed (`null`, `""`, blanks), or the line unchanged (no top-level
field), or a drop with its reason.
"""

import hashlib
import hmac
import json

# Unicode's White_Space property: what docs/persons.md calls "only whitespace (spaces, tabs,
# line breaks, also Unicode's: a no-break space, the ideographic space U+3000)".
WHITE_SPACE = frozenset(
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
# Characters that look blank but are not White_Space: a value of them is an id.
NOT_WHITE_SPACE = "\u200b\ufeff\u180e\u2060\x1c\x1f\x00"
U64_MAX = 18446744073709551615
# JSON's whitespace between tokens.
JSON_WS = [" ", "\t", "  ", " \t "]
# A value's characters: ASCII, escapes JSON needs, and every UTF-8 length.
ALPHABET = (list("0123456789X abcxyz") + ["é", "中", "😀", "\n", '"', "\\", "/", "\t",
                                           "\x01", "\u2028", "\x7f", "ß", "\U0010fffd"])
# Names of other members: none is the field, nor `person_id`.
OTHER_NAMES = ["worker_id", "kind", "ts", "note", "名字", "x y", "id", "a\"b", "PERSON_ID",
               "ID_NUMBER", "id_numbers", "d_number", "sfz", "person", "tab\there"]


def loads(text):
    """JSON with every object as its list of `(name, value)` pairs, in order."""
    return json.loads(text, object_pairs_hook=list)


def key_from_file(data):
    """The key a key file's bytes give: less one trailing newline (`\\n` or `\\r\\n`)."""
    if data.endswith(b"\r\n"):
        return data[:-2]
    if data.endswith(b"\n"):
        return data[:-1]
    return data


def person_id(key, value):
    """Lowercase hex HMAC-SHA256 of `value` (str: its UTF-8; int: its decimal digits)."""
    raw = str(value).encode("ascii") if isinstance(value, int) else value.encode("utf-8")
    return hmac.new(key, raw, hashlib.sha256).hexdigest()


def is_blank(value):
    """`""` or only whitespace (Unicode's White_Space): no id."""
    return all(c in WHITE_SPACE for c in value)


def encode_string(rng, value):
    """`value` as a JSON string, written in one of several legal ways."""
    way = rng.randrange(4)
    if way == 0:
        return json.dumps(value, ensure_ascii=False)
    if way == 1:
        return json.dumps(value, ensure_ascii=True)
    # Every character escaped as \\uXXXX (surrogate pairs above the BMP), in either case.
    out = []
    for c in value:
        if rng.random() < 0.5 and c not in '"\\' and " " <= c <= "~":
            out.append("\\/" if c == "/" and way == 3 else c)
            continue
        units = c.encode("utf-16-be")
        for i in range(0, len(units), 2):
            hexa = units[i:i + 2].hex()
            out.append("\\u" + (hexa.upper() if way == 3 else hexa))
    return '"' + "".join(out) + '"'


def encode_name(rng, name):
    """A member name as JSON, sometimes with escapes (it is the same name)."""
    if rng.random() < 0.25:
        return encode_string(rng, name)
    return json.dumps(name, ensure_ascii=rng.random() < 0.5)


def random_id(rng, marker):
    """A non-blank raw id holding `marker` (so that a leak can be searched for)."""
    chars = [rng.choice(ALPHABET) for _ in range(rng.randrange(0, 12))]
    chars.insert(rng.randrange(len(chars) + 1), marker)
    if rng.random() < 0.2:
        chars.insert(0, rng.choice(sorted(WHITE_SPACE)))
    return "".join(chars)


def random_other_value(rng, field):
    """The JSON text of another member's value (no raw id in it)."""
    way = rng.randrange(9)
    if way == 0:
        return str(rng.randrange(-1000, 1000))
    if way == 1:
        return rng.choice(["1.5", "-2e3", "0.0", "1E+2"])
    if way == 2:
        return rng.choice(["true", "false", "null"])
    if way == 3:
        return "[]" if rng.random() < 0.3 else "[1,\"x\",{\"y\":[null]}]"
    if way == 4:
        # The field's name nested deeper: passes unchanged.
        return "{" + json.dumps(field) + ":\"nested\"}"
    if way == 5:
        # The field's member as text inside a string.
        return json.dumps('"%s":"text","person_id":1}' % field)
    text = "".join(rng.choice(ALPHABET) for _ in range(rng.randrange(0, 10)))
    return encode_string(rng, text)


def random_line(rng, key, field, marker):
    """One random line: `(bytes, expected, raw)` where `expected` is `("out", bytes or None,
    pairs)` (None: compare the output's members `pairs` only), `("bad", reason)`; `raw` is
    the raw id text the output and stderr must never hold (None when there is none)."""
    case = rng.choices(
        ["id", "int", "blank", "absent", "pid", "wrong", "twice", "both"],
        weights=[10, 2, 3, 2, 1, 3, 1, 1])[0]
    compact = rng.random() < 0.4
    names = rng.sample([n for n in OTHER_NAMES if n != field], rng.randrange(0, 5))
    members = [[encode_name(rng, n), random_other_value(rng, field), n] for n in names]
    raw = None
    at = rng.randrange(len(members) + 1)
    if case in ("id", "both", "twice"):
        raw = random_id(rng, marker)
        members.insert(at, [encode_name(rng, field), encode_string(rng, raw), field])
    elif case == "int":
        number = rng.choice([0, U64_MAX, rng.randrange(10 ** 14, 10 ** 18)])
        raw = str(number) if number < U64_MAX and number >= 10 ** 14 else None
        members.insert(at, [encode_name(rng, field), str(number), field])
    elif case == "blank":
        blank = "".join(rng.choice(sorted(WHITE_SPACE)) for _ in range(rng.randrange(0, 4)))
        value = "null" if rng.random() < 0.3 else encode_string(rng, blank)
        members.insert(at, [encode_name(rng, field), value, field])
    elif case == "pid":
        members.insert(at, [json.dumps("person_id"), json.dumps("f" * 64), "person_id"])
    elif case == "wrong":
        value = rng.choice(["-1", "1.0", "1e3", str(U64_MAX + 1), "true", "false",
                            "[]", "[\"x\"]", "{}", "{\"a\":\"b\"}", "0.5", "-12345678901"])
        members.insert(at, [encode_name(rng, field), value, field])
    if case == "twice":
        members.insert(rng.randrange(len(members) + 1),
                       [encode_name(rng, field), json.dumps(rng.choice(["x", ""])), field])
    if case == "both":
        members.insert(rng.randrange(len(members) + 1),
                       [json.dumps("person_id"), json.dumps("p1"), "person_id"])

    def ws():
        return "" if compact else rng.choice(JSON_WS + [""])

    # Render once with every whitespace choice recorded, so that the expected line reuses it.
    spacing = [[ws(), ws(), ws(), ws()] for _ in members]
    lead, tail = (ws(), ws()) if rng.random() < 0.2 else ("", "")

    def text(parts, skip=None, replace=None):
        out = []
        for i, (name, value, _) in enumerate(parts):
            if i == skip:
                continue
            if replace and i == replace[0]:
                name, value = replace[1], replace[2]
            a, b, c, d = spacing[i]
            out.append(a + name + b + ":" + c + value + d)
        return lead + "{" + ",".join(out) + "}" + tail

    line = text(members).encode("utf-8")
    index = [i for i, m in enumerate(members) if m[2] == field]
    pairs = [(m[2], loads(m[1])) for m in members]
    if case == "twice":
        return line, ("bad", "duplicate_field"), raw
    if case == "both":
        return line, ("bad", "person_id_present"), raw
    if case == "wrong":
        return line, ("bad", "wrong_type"), raw
    if not index:
        return line, ("out", line, pairs), raw
    i = index[0]
    value = json.loads(members[i][1])
    if isinstance(value, int):
        pid = person_id(key, value)
    elif value is None or is_blank(value):
        kept = [p for j, p in enumerate(pairs) if j != i]
        exact = text(members, skip=i).encode("utf-8") if compact and not lead + tail else None
        return line, ("out", exact, kept), raw
    else:
        pid = person_id(key, value)
    replaced = text(members, replace=(i, '"person_id"', '"%s"' % pid)).encode("utf-8")
    pairs[i] = ("person_id", pid)
    return line, ("out", replaced, pairs), raw


def bad_line(rng, field, marker):
    """A line dropped whole: `(bytes, reason, raw)`, the raw id inside it where there is one."""
    raw = "R" + marker + "é"
    good = '{"a":1,%s:%s,"b":"x"}' % (json.dumps(field), json.dumps(raw, ensure_ascii=False))
    way = rng.randrange(6)
    if way == 0:
        return good[:rng.randrange(1, len(good) - 1)].encode(), "not_json", raw
    if way == 1:
        return (good + rng.choice([" x", "{}", ",", "]"])).encode(), "not_json", raw
    if way == 2:
        return good.encode().replace(b"\xc3\xa9", b"\xff"), "not_utf8", raw[:-1]
    if way == 3:
        return good.encode().replace(b'"b"', b'"\xc3"'), "not_utf8", raw
    if way == 4:
        return ("[%s]" % good).encode(), "not_object", raw
    return json.dumps(raw).encode(), "not_object", raw
