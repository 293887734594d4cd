"""An independent model of how `workhours` reads its config: SPEC section 6 (durations, the
rule keys of `[rules]`, `[rules.platform.NAME]` and `[rules.role.NAME]`, role winning over
platform, environment variables over the file) and docs/config.md (every key, its type, its
variable, the start-up checks), and section 7's choice of `pack` and `pack_file`.

Written from those texts alone. A config is a dict of tables, as TOML reads it: `{"rules":
{KEY: value, "platform": {NAME: {KEY: value}}, "role": {NAME: {...}}}, "time": {...}}`, values
as written (duration strings, integers). `merged(config, env)` lays the environment over it
(docs/config.md "Environment variables"); `check(config)` finds what the start-up checks
refuse; `resolve(config, platform, role)` gives a worker's rules (`reference.Rules`, in
milliseconds); `pack_in_force` the pack of a platform and role.

Where the docs are silent, the model does not guess: `parse_duration` raises `Unstated` (with
the value the spelling would naturally mean, if any), and the tests only report what the
binary does with such a spelling.
"""

import re

from reference import DAY, HOUR, MINUTE, SECOND, Rules

# docs/config.md "Value types": units, largest first, each at most once.
UNITS = [("d", DAY), ("h", HOUR), ("m", MINUTE), ("s", SECOND), ("ms", 1)]
UNIT = dict(UNITS)
# At most "36600d".
LARGEST = 36600 * DAY
# Whitespace that may surround a duration ("any whitespace (tabs and line breaks too)").
AROUND = " \t\n\r"
# SPEC section 6's rule keys that are durations, and those that are integers.
DURATION_KEYS = ["min_break", "continuous_limit", "warn_before", "session_timeout",
                 "daily_standard", "daily_max", "weekly_max", "monthly_overtime_max"]
INTEGER_KEYS = ["minimum_wage_cents_per_hour", "quota_min_workers"]
RULE_KEYS = DURATION_KEYS + INTEGER_KEYS
# docs/config.md "Start-up checks": these may not be `0s`.
NOT_ZERO = ["min_break", "continuous_limit", "warn_before", "daily_standard", "daily_max",
            "weekly_max", "monthly_overtime_max"]
# Duration keys of the other sections, with their defaults.
TIME_KEYS = {"allowed_lateness": "30s", "max_future_skew": "5m", "dedup_window": "1h"}
LIVE_KEYS = {"idle_timeout": "2s", "delivery_timeout": "2m", "commit_interval": "5s"}
DEFAULT_PACK = "cn-weihai-2022"


class Raw(str):
    """A value written into the TOML as it is (`20`, `1.5`, `true`): a wrong type."""


class Invalid(ValueError):
    """A value docs/config.md calls an error."""


class Unstated(ValueError):
    """A spelling on which the docs are silent; `natural` is what it would plainly mean (None
    when nothing plain)."""

    def __init__(self, reason, natural=None):
        super().__init__(reason)
        self.natural = natural


def parse_duration(text):
    """A duration string (docs/config.md "Value types") in milliseconds.

    Raises `Invalid` for what the docs call an error (a bare number, another unit spelling, a
    unit twice or out of order, a tab between parts, more than 36600d), `Unstated` for what
    they leave open (empty, signs, fractions, leading zeros, a space inside a part)."""
    body = text.strip(AROUND)
    if not body:
        raise Unstated("empty")
    if re.fullmatch(r"[0-9]+", body):
        raise Invalid("bare number")
    tokens = re.findall(r"[0-9]+|[A-Za-z]+|[ ]+|\t+|.", body, re.S)
    total, last, n = 0, -1, 0
    unstated = None
    while n < len(tokens):
        token = tokens[n]
        if token.strip(" ") == "" and n > 0:
            n += 1
            continue
        if token.isspace():
            raise Invalid("a tab or line break between parts")
        if not token.isdigit() or not token.isascii():
            raise Unstated(f"a part starting with {token!r}")
        number = int(token)
        if n + 1 == len(tokens):
            raise Invalid("a number without a unit")
        unit = tokens[n + 1]
        if unit.strip(" ") == "" and n + 2 < len(tokens) and tokens[n + 2] in UNIT:
            # `20 m`: a space inside a part.
            unstated = unstated or "a space between a number and its unit"
            n += 1
            unit = tokens[n + 1]
        if unit == "." and n + 3 < len(tokens) and tokens[n + 2].isdigit() \
                and tokens[n + 3] in UNIT:
            fraction = int(tokens[n + 2]) / 10 ** len(tokens[n + 2])
            raise Unstated("a fraction", natural=None if unstated else round(
                (number + fraction) * UNIT[tokens[n + 3]]))
        if unit.isalpha() and unit.isascii():
            if unit not in UNIT:
                raise Invalid(f"unknown unit {unit!r}")
        elif unit.strip(" ") == "":
            raise Invalid("a number without a unit")
        else:
            raise Unstated(f"{unit!r} after a number")
        rank = [u for u, _ in UNITS].index(unit)
        if rank <= last:
            raise Invalid("a unit twice or out of order")
        last = rank
        if len(token) > 1 and token[0] == "0":
            unstated = unstated or "leading zeros"
        total += number * UNIT[unit]
        n += 2
    if total > LARGEST:
        raise Invalid("more than 36600d")
    if unstated:
        raise Unstated(unstated, natural=total)
    return total


def spell(rng, value):
    """A random spelling of `value` ms that docs/config.md calls valid: parts largest first,
    each unit at most once, some zero parts shown or not, spaces or nothing between them, any
    whitespace around."""
    left, counts = value, []
    for unit, size in UNITS:
        if size == 1:
            count = left
        else:
            most = left // size
            # Mostly the greedy count; sometimes less, carried to smaller units.
            count = rng.choice([most, most, most, rng.randrange(most + 1), 0]) if most else 0
        counts.append((unit, count))
        left -= count * size
    shown = [(u, c) for u, c in counts if c or rng.random() < 0.1]
    if not shown:
        shown = [rng.choice(counts)]
    parts = [f"{c}{u}" for u, c in shown]
    text = parts[0]
    for part in parts[1:]:
        text += rng.choice(["", "", " ", "  "]) + part
    if rng.random() < 0.3:
        text = "".join(rng.choice(AROUND) for _ in range(rng.randrange(3))) + text
        text += "".join(rng.choice(AROUND) for _ in range(rng.randrange(3)))
    assert parse_duration(text) == value, (text, value)
    return text


def toml_string(rng, text):
    """`text` as a TOML string: basic (escaped) or, with `rng` and when it can be, literal."""
    if rng and rng.random() < 0.3 and not any(c in text for c in "'\n\r\t"):
        return f"'{text}'"
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") \
        .replace("\r", "\\r").replace("\t", "\\t") + '"'


def toml_key(name):
    """A table name as a TOML key: bare when it can be, else quoted."""
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else '"' + name + '"'


def config_toml(config, rng=None, spelled=None):
    """`config` (the dict of tables) as TOML text. Durations given as integers are
    milliseconds, written `"Nms"`, or with `rng` in one of `spell`'s random spellings;
    `spelled`, when given, collects (dotted key, text) of each."""
    out = []

    def values(path, table):
        lines = []
        for key, value in table.items():
            if isinstance(value, dict):
                continue
            if isinstance(value, Raw):
                lines.append(f"{key} = {value}")
            elif isinstance(value, bool):
                lines.append(f"{key} = {'true' if value else 'false'}")
            elif isinstance(value, str):
                lines.append(f"{key} = {toml_string(rng, value)}")
            elif key in INTEGER_KEYS:
                lines.append(f"{key} = {value}")
            else:
                text = spell(rng, value) if rng else f"{value}ms"
                if spelled is not None:
                    spelled.append((f"{path}.{key}", text))
                lines.append(f"{key} = {toml_string(rng, text)}")
        return lines

    for section, table in config.items():
        out.append(f"[{section}]")
        out += values(section, table)
        for kind in ("platform", "role"):
            for name, keys in table.get(kind, {}).items() if section == "rules" else []:
                out.append(f"[{section}.{kind}.{toml_key(name)}]")
                out += values(f"{section}.{kind}.{name}", keys)
    return "\n".join(out) + "\n"


def env_name(path, rng=None):
    """The environment variable of a dotted key path (a list of parts), as docs/config.md
    names it: `WORKHOURS_`, the parts in capitals joined by `__`; a platform or role name with
    a lowercase letter as written. With `rng`, the prefix and key parts in random case (the
    docs: any case)."""
    parts = []
    for n, part in enumerate(path):
        name = n == 2 and path[0] == "rules" and path[1] in ("platform", "role")
        lower = part == part.lower()
        if name and any(c.islower() for c in part) and not (lower and rng and rng.random() < .5):
            # As written; an all-lowercase name may also be written in capitals.
            parts.append(part)
        elif name:
            parts.append(part.upper())
        elif rng and rng.random() < 0.3:
            parts.append("".join(c.upper() if rng.random() < 0.5 else c.lower() for c in part))
        else:
            parts.append(part.upper())
    prefix = "WORKHOURS_"
    if rng and rng.random() < 0.2:
        prefix = rng.choice(["workhours_", "Workhours_"])
    return prefix + "__".join(parts)


def env_path(name):
    """The key path a `WORKHOURS_` variable sets (docs/config.md, steps 1 and 2)."""
    raw = name[len("WORKHOURS_"):].split("__")
    path = []
    for n, part in enumerate(raw):
        name_part = n == 2 and path[:1] == ["rules"] and path[1] in ("platform", "role")
        keep = name_part and any(c.islower() for c in part)
        path.append(part if keep else part.lower())
    return path


def merged(config, env):
    """`config` with the `WORKHOURS_` variables of `env` (name → value as text) laid over it;
    durations stay as text, integer keys are read as integers."""
    result = {section: dict(table) for section, table in config.items()}
    rules = result.setdefault("rules", {})
    for kind in ("platform", "role"):
        if kind in rules:
            rules[kind] = {name: dict(keys) for name, keys in rules[kind].items()}
    for name, text in env.items():
        path = env_path(name)
        value = int(text) if path[-1] in INTEGER_KEYS else text
        table = result.setdefault(path[0], {})
        for part in path[1:-1]:
            table = table.setdefault(part, {})
        table[path[-1]] = value
    return result


def as_ms(value):
    """A duration as written (a string, or an int of ms) in milliseconds."""
    return value if isinstance(value, int) else parse_duration(value)


def layers(config, platform, role):
    """The tables of a worker's rules, least specific first (SPEC section 6; docs/config.md:
    `[rules]`, then the platform's, then the role's, names matched exactly)."""
    rules = config.get("rules", {})
    return [rules, rules.get("platform", {}).get(platform, {}),
            rules.get("role", {}).get(role, {})]


def resolve(config, platform, role):
    """The rules (`reference.Rules`) of a worker whose first event has `platform` and `role`:
    each key from the most specific table that sets it."""
    keys = {}
    for table in layers(config, platform, role):
        for key in RULE_KEYS:
            if key in table:
                keys[key] = table[key] if key in INTEGER_KEYS else as_ms(table[key])
    return Rules().over(keys)


def rule_sets(config):
    """Every (platform, role) an event can select, as docs/config.md "Start-up checks" lists
    the rule sets: `[rules]` alone (None, None), with each platform table, with each role
    table, with each platform and role table together."""
    rules = config.get("rules", {})
    platforms = [None] + sorted(rules.get("platform", {}))
    roles = [None] + sorted(rules.get("role", {}))
    return [(p, r) for p in platforms for r in roles]


def check(config):
    """What the start-up checks refuse in `config`'s rules: a list of (the key names a message
    must mention, why); empty when it starts."""
    problems = []
    for platform, role in rule_sets(config):
        rules = resolve(config, platform, role)
        for key in NOT_ZERO:
            if getattr(rules, key) == 0:
                problems.append(((key,), f"{key} is 0s"))
        if rules.warn_before >= rules.continuous_limit:
            problems.append((("warn_before", "continuous_limit"), "warn_before not less"))
        if rules.daily_max < rules.daily_standard:
            problems.append((("daily_max", "daily_standard"), "daily_max less"))
    return problems


def pack_in_force(config, platform, role):
    """The pack of a worker (SPEC section 7, docs/config.md `rules.pack_file`): ("pack", NAME)
    or ("file", PATH); raises `Invalid` when one table sets both (a non-empty file, and in
    `[rules]` a `pack` other than the default, which counts as not set there; below `[rules]`
    any `pack`, the default naming the default pack on purpose)."""
    pack, file = DEFAULT_PACK, ""
    for depth, table in enumerate(layers(config, platform, role)):
        sets_pack = "pack" in table
        sets_file = "pack_file" in table
        if (sets_pack and sets_file and table["pack_file"]
                and (table["pack"] != DEFAULT_PACK or depth > 0)):
            raise Invalid("pack and pack_file in one table")
        if sets_file and table["pack_file"]:
            file = table["pack_file"]
            if sets_pack:
                pack = table["pack"]
            continue
        if sets_file:
            file = ""
        if sets_pack:
            pack, file = table["pack"], ""
    return ("file", file) if file else ("pack", pack)
