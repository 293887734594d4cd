"""`workhours pseudonymize` against an independent model (model_pseudonymize.py) of SPEC
section 8 ("replaces the field (default `id_number`) by `person_id`, the lowercase hex
HMAC-SHA256 of its value under the key ... it never writes the raw value anywhere, logs
included"), docs/persons.md ("What it does to each line", the key file) and its `--help`.

Random inputs mix lines with the field written raw and with escapes (`\\u00e9`, surrogate
pairs, `\\n`, `\\"`, `\\/`, upper-case hex), as a string or an integer, `null`, `""` and every
Unicode blank, lines without it, with `person_id`, with the field twice or of a wrong type,
nested ids, JSON whitespace anywhere, and dropped lines (not JSON, not UTF-8, not an object),
blank lines and CRLF ends, under random keys of 1 to 1024 bytes and other `--field` names.
Each output line must be the model's (byte for byte where the docs promise "every other byte
of the line unchanged"), each dropped line reported as `line N: bad line: REASON` and nothing
else, exit 0, and no raw id (nor its JSON-escaped form) on stdout or stderr, also under
`RUST_LOG=trace`. Hand cases pin the key file's bytes, its errors (exit 2, a message, no
panic, no output file), `--output`, and lines around 1 MiB. Where the binary departs from the
documents the case is `xfail(strict=True)` with the sentence it rests on.

A mismatch names the seed: `MODEL_SEED=N python3 -m pytest tests/model/test_pseudonymize.py`.
The binary is `TEST_WORKHOURS_BIN` (tests/run.sh builds it), else target/release/workhours.
"""

import hashlib
import hmac
import json
import os
import pathlib
import random
import re
import subprocess

import pytest

from model_pseudonymize import (NOT_WHITE_SPACE, U64_MAX, WHITE_SPACE, bad_line,
                                key_from_file, loads, person_id, random_line)

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = os.environ.get("TEST_WORKHOURS_BIN", str(ROOT / "target" / "release" / "workhours"))
CASES = int(os.environ.get("MODEL_CASES", "300"))
REPORT = re.compile(r"^line (\d+): bad line: ([a-z_0-9]+)(?:: .*)?$")
FIELDS = ["id_number", "id_number", "sfzh", "身份证", "national id"]
KEY = b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"


def run(tmp_path, args, data=b"", env=None, key=KEY):
    """Runs `workhours pseudonymize --key-file K ARGS` on stdin `data`."""
    key_file = tmp_path / "key"
    if key is not None:
        key_file.write_bytes(key + b"\n")
    full = {k: v for k, v in os.environ.items() if k != "RUST_LOG"}
    full.update(env or {})
    proc = subprocess.run([BIN, "pseudonymize", "--key-file", str(key_file)] + args,
                          input=data, capture_output=True, env=full, timeout=60)
    assert proc.returncode != 101 and b"panicked" not in proc.stderr, proc.stderr
    return proc


def reports(stderr):
    """`(line number, reason)` of every `line N: bad line: REASON` on stderr."""
    out = []
    for line in stderr.decode("utf-8", "replace").splitlines():
        match = REPORT.match(line)
        if match:
            out.append((int(match.group(1)), match.group(2)))
    return out


def escaped_forms(raw):
    """The raw id as written and JSON-escaped either way (without quotes), as bytes."""
    forms = {raw, json.dumps(raw)[1:-1], json.dumps(raw, ensure_ascii=False)[1:-1]}
    return [f.encode("utf-8", "surrogatepass") for f in forms if len(f) >= 4]


def assert_no_leak(raws, *streams):
    for raw in raws:
        for form in escaped_forms(raw):
            for stream in streams:
                assert form not in stream, f"raw id {raw!r} written: {stream[:300]!r}"


def seeds(block, blocks):
    if "MODEL_SEED" in os.environ:
        return [int(os.environ["MODEL_SEED"])] if block == 0 else []
    return range(block, max(CASES // 6, blocks), blocks)


def random_case(seed):
    """A random key file, field and input: `(key file bytes, field, input bytes, expected
    outputs, expected reports, raw ids)`."""
    rng = random.Random(seed)
    size = rng.choice([1, 2, 16, 31, 32, 33, 64, 200, 1022])
    key_file = bytes(rng.randrange(256) for _ in range(size))
    key_file += rng.choice([b"", b"\n", b"\r\n"])
    key_file = key_file if key_from_file(key_file) else b"k"
    key = key_from_file(key_file)
    field = rng.choice(FIELDS)
    lines, outputs, expected_reports, raws = [], [], [], []
    for n in range(1, rng.randrange(20, 120)):
        marker = f"Q{seed}n{n}Z"
        roll = rng.random()
        if roll < 0.07:
            lines.append(rng.choice([b"", b" ", b"\t", b"  \t"]))
            continue
        if roll < 0.2:
            line, reason, raw = bad_line(rng, field, marker)
            lines.append(line)
            expected_reports.append((n, reason))
            raws.append(raw)
            continue
        line, expected, raw = random_line(rng, key, field, marker)
        lines.append(line)
        if raw is not None:
            raws.append(raw)
        if expected[0] == "bad":
            expected_reports.append((n, expected[1]))
        else:
            outputs.append((n, expected[1], expected[2]))
    ends = rng.choice([b"\n", b"\r\n"]) if rng.random() < 0.3 else b"\n"
    data = ends.join(lines) + (ends if rng.random() < 0.8 else b"")
    return key_file, field, data, outputs, expected_reports, raws, ends == b"\r\n"


def check_output(name, stdout, outputs, crlf=False):
    """Every line written ends in `\\n` and is the model's: byte for byte where it gives the
    bytes, else the same members in the same order. Whether a CRLF's `\\r` is kept is not
    documented: with `crlf`, one trailing `\\r` is ignored."""
    got = stdout.split(b"\n")
    assert got[-1] == b"", f"{name}: the last line written does not end in \\n"
    got = got[:-1]
    assert len(got) == len(outputs), f"{name}: {len(got)} lines written, {len(outputs)} expected"
    for line, (n, exact, pairs) in zip(got, outputs):
        if crlf and line.endswith(b"\r"):
            line = line[:-1]
        if exact is not None:
            assert line == exact, f"{name}: input line {n}: wrote {line!r}, expected {exact!r}"
        assert loads(line) == pairs, (
            f"{name}: input line {n}: wrote {line!r}, expected the members {pairs!r}")


@pytest.mark.parametrize("block", range(3))
def test_random_lines_against_the_model(tmp_path, block):
    """Random keys, fields and lines; stdin, a file and `--output` alike."""
    for seed in seeds(block, 3):
        key_file, field, data, outputs, expected_reports, raws, crlf = random_case(seed)
        name = f"seed {seed} (MODEL_SEED={seed}), field {field!r}"
        (tmp_path / "key").write_bytes(key_file)
        args = ["--key-file", str(tmp_path / "key"), "--field", field]
        (tmp_path / "in.jsonl").write_bytes(data)
        way = seed % 3
        if way == 0:
            cmd = [BIN, "pseudonymize"] + args
        elif way == 1:
            cmd = [BIN, "pseudonymize"] + args + [str(tmp_path / "in.jsonl")]
        else:
            out = tmp_path / f"out{seed}.jsonl"
            cmd = [BIN, "pseudonymize"] + args + ["--output", str(out), "-"]
        env = {k: v for k, v in os.environ.items() if k != "RUST_LOG"}
        proc = subprocess.run(cmd, input=data, capture_output=True, env=env, timeout=60)
        assert proc.returncode == 0, f"{name}: exit {proc.returncode}: {proc.stderr[-500:]!r}"
        assert b"panicked" not in proc.stderr, name
        stdout = out.read_bytes() if way == 2 else proc.stdout
        if way == 2:
            assert proc.stdout == b"", f"{name}: --output also wrote to stdout"
        check_output(name, stdout, outputs, crlf)
        assert reports(proc.stderr) == expected_reports, (
            f"{name}: reports {reports(proc.stderr)}, expected {expected_reports}")
        assert_no_leak(raws, stdout, proc.stderr)


def test_raw_ids_never_reach_the_logs(tmp_path):
    """`RUST_LOG=trace` (and `debug`) change nothing on stdout and leak nothing on stderr."""
    for seed in range(1000, 1004):
        key_file, field, data, outputs, _, raws, crlf = random_case(seed)
        (tmp_path / "key").write_bytes(key_file)
        for level in ["trace", "debug", "workhours=trace"]:
            proc = subprocess.run(
                [BIN, "pseudonymize", "--key-file", str(tmp_path / "key"), "--field", field],
                input=data, capture_output=True, env=dict(os.environ, RUST_LOG=level),
                timeout=60)
            name = f"seed {seed}, RUST_LOG={level}"
            assert proc.returncode == 0, f"{name}: exit {proc.returncode}"
            check_output(name, proc.stdout, outputs, crlf)
            assert_no_leak(raws, proc.stdout, proc.stderr)


def expect(key, value):
    return person_id(key, value).encode()


# (name, line, the output line (bytes: exact; a dict: its members) or None when dropped,
# the reason when dropped)
K = key_from_file(KEY + b"\n")
HAND = [
    ("default field", b'{"a":1,"id_number":"110101199003070011","b":"x"}',
     b'{"a":1,"person_id":"' + expect(K, "110101199003070011") + b'","b":"x"}', None),
    ("case kept", b'{"id_number":"11010119900307001x"}',
     b'{"person_id":"' + expect(K, "11010119900307001x") + b'"}', None),
    ("escapes unescaped", b'{"id_number":"\\u00e9\\ud83d\\ude00\\n\\"\\\\\\/"}',
     b'{"person_id":"' + expect(K, "\u00e9\U0001F600\n\"\\/") + b'"}', None),
    ("upper-case escapes", b'{"id_number":"\\u00C9\\uD83D\\uDE00"}',
     b'{"person_id":"' + expect(K, "\u00c9\U0001F600") + b'"}', None),
    ("raw UTF-8", '{"id_number":"é😀中"}'.encode(),
     b'{"person_id":"' + expect(K, "é😀中") + b'"}', None),
    ("spaces kept in the value", b'{"id_number":" 1 "}',
     b'{"person_id":"' + expect(K, " 1 ") + b'"}', None),
    ("spacing kept", b' { "id_number" :\t"A" , "b" : [ 1 ] } ',
     b' { "person_id" :\t"' + expect(K, "A") + b'" , "b" : [ 1 ] } ', None),
    ("escaped name", b'{"id\\u005fnumber":"A"}', b'{"person_id":"' + expect(K, "A") + b'"}',
     None),
    ("integer", b'{"id_number":110101199003070011}',
     b'{"person_id":"' + expect(K, "110101199003070011") + b'"}', None),
    ("zero", b'{"id_number":0}', b'{"person_id":"' + expect(K, "0") + b'"}', None),
    ("u64 max", b'{"id_number":18446744073709551615}',
     b'{"person_id":"' + expect(K, str(U64_MAX)) + b'"}', None),
    ("null removed", b'{"a":1,"id_number":null,"b":2}', b'{"a":1,"b":2}', None),
    ("null first", b'{"id_number":null,"b":2}', b'{"b":2}', None),
    ("null last", b'{"a":1,"id_number":null}', b'{"a":1}', None),
    ("null alone", b'{"id_number":null}', b'{}', None),
    ("empty string", b'{"id_number":""}', b'{}', None),
    ("no field", b'{"a":"id_number","w":{"id_number":"N"}}',
     b'{"a":"id_number","w":{"id_number":"N"}}', None),
    ("person_id alone", b'{"person_id":"p","a":1}', b'{"person_id":"p","a":1}', None),
    ("member text in a string", b'{"n":"\\"id_number\\":\\"x\\""}',
     b'{"n":"\\"id_number\\":\\"x\\""}', None),
    ("negative", b'{"id_number":-1}', None, "wrong_type"),
    ("fraction", b'{"id_number":1.0}', None, "wrong_type"),
    ("exponent", b'{"id_number":1e3}', None, "wrong_type"),
    ("above u64", b'{"id_number":18446744073709551616}', None, "wrong_type"),
    ("boolean", b'{"id_number":true}', None, "wrong_type"),
    ("array", b'{"id_number":["1"]}', None, "wrong_type"),
    ("object", b'{"id_number":{"v":"1"}}', None, "wrong_type"),
    ("twice", b'{"id_number":"A","id_number":"B"}', None, "duplicate_field"),
    ("twice escaped", b'{"id_number":"A","id\\u005fnumber":"B"}', None, "duplicate_field"),
    ("with person_id", b'{"id_number":"A","person_id":"p"}', None, "person_id_present"),
    ("null with person_id", b'{"id_number":null,"person_id":"p"}', None, "person_id_present"),
    ("blank with person_id", b'{"person_id":"p","id_number":" "}', None, "person_id_present"),
    ("not json", b'{"id_number":"A"', None, "not_json"),
    ("trailing garbage", b'{"id_number":"A"} x', None, "not_json"),
    ("NaN", b'{"a":NaN,"id_number":"A"}', None, "not_json"),
    ("raw control character", b'{"id_number":"A\tB"}', None, "not_json"),
    ("not an object", b'["id_number","A"]', None, "not_object"),
    ("a string", b'"A"', None, "not_object"),
    ("not utf-8", b'{"id_number":"A\xff"}', None, "not_utf8"),
    ("overlong utf-8", b'{"id_number":"\xc0\xaf"}', None, "not_utf8"),
] + [
    (f"blank U+{ord(c):04X}", json.dumps({"id_number": c * 2, "k": 1}).encode(), {"k": 1},
     None) for c in sorted(WHITE_SPACE)
] + [
    (f"not blank U+{ord(c):04X}", json.dumps({"id_number": c}).encode(),
     b'{"person_id": "' + expect(K, c) + b'"}', None) for c in NOT_WHITE_SPACE
]


@pytest.mark.parametrize("name,line,output,reason", HAND, ids=[h[0] for h in HAND])
def test_hand_case(tmp_path, name, line, output, reason):
    """One line, documented outcome (docs/persons.md's table)."""
    proc = run(tmp_path, [], line + b"\n")
    assert proc.returncode == 0
    if isinstance(output, dict):
        assert json.loads(proc.stdout) == output and proc.stdout.endswith(b"}\n")
    elif reason is None:
        assert proc.stdout == output + b"\n"
    if reason is None:
        assert reports(proc.stderr) == []
    else:
        assert proc.stdout == b""
        assert reports(proc.stderr) == [(1, reason)]


def test_hand_cases_in_one_run(tmp_path):
    """The hand cases as one input: line numbers count every line, blank ones included."""
    lines, outs, expected = [], [], []
    for _, line, output, reason in HAND:
        lines += [line, b""]
        if reason is None:
            outs.append(output)
        else:
            expected.append((len(lines) - 1, reason))
    proc = run(tmp_path, [], b"\n".join(lines))
    assert proc.returncode == 0
    got = proc.stdout.split(b"\n")
    assert got[-1] == b"" and len(got) == len(outs) + 1
    for line, out in zip(got, outs):
        assert json.loads(line) == out if isinstance(out, dict) else line == out
    assert reports(proc.stderr) == expected


def test_other_field_names(tmp_path):
    """`--field NAME`: that member is replaced; `id_number` is then an ordinary member."""
    data = ('{"id_number":"keep","sfzh":"A1"}\n{"\\u8eab\\u4efd\\u8bc1":"A2"}\n'
            '{"a\\"b":"A3"}\n').encode()
    for field, out in [("sfzh", b'{"id_number":"keep","person_id":"%s"}' % expect(K, "A1")),
                       ("身份证", b'{"person_id":"%s"}' % expect(K, "A2")),
                       ('a"b', b'{"person_id":"%s"}' % expect(K, "A3"))]:
        proc = run(tmp_path, ["--field", field], data)
        assert proc.returncode == 0, proc.stderr
        assert out + b"\n" in proc.stdout.splitlines(keepends=True), (field, proc.stdout)


def test_long_value(tmp_path):
    """A value of 300,000 two-byte characters is hashed whole."""
    raw = "é" * 300000
    proc = run(tmp_path, [], json.dumps({"id_number": raw}, ensure_ascii=False).encode())
    assert proc.returncode == 0
    assert proc.stdout == b'{"person_id": "%s"}\n' % expect(K, raw)


def test_crlf_and_blank_lines(tmp_path):
    """CRLF ends, blank lines (also `\\r` alone) and a last line without an end: every line
    written ends in `\\n`, the HMAC is of the value only, blanks are skipped unreported."""
    data = b'{"id_number":"C1"}\r\n\r\n   \r\n\t\n\n{"x":1}\r\n{"id_number":"C2"}'
    proc = run(tmp_path, [], data)
    assert proc.returncode == 0
    lines = proc.stdout.split(b"\n")
    assert lines[-1] == b"" and len(lines) == 4, proc.stdout
    assert [json.loads(line) for line in lines[:-1]] == [
        {"person_id": person_id(K, "C1")}, {"x": 1}, {"person_id": person_id(K, "C2")}]
    assert reports(proc.stderr) == []


def test_first_mebibyte(tmp_path):
    """A line of 1 MiB is read; one longer is dropped as `too_large` without quoting it, and
    the next line is read as usual."""
    def line(size, raw):
        head = '{"id_number":"%s","pad":"' % raw
        return (head + "x" * (size - len(head) - 2) + '"}').encode()
    data = line(1 << 20, "BIGA1") + b"\n" + line((1 << 20) + 1, "BIGB2") + b"\n"
    data += b'{"id_number":"BIGC3"}\n'
    proc = run(tmp_path, [], data)
    assert proc.returncode == 0
    out = proc.stdout.split(b"\n")
    assert len(out) == 3 and out[1] == b'{"person_id":"%s"}' % expect(K, "BIGC3")
    assert out[0].startswith(b'{"person_id":"%s","pad":"xx' % expect(K, "BIGA1"))
    assert reports(proc.stderr) == [(2, "too_large")]
    assert_no_leak(["BIGA1", "BIGB2", "BIGC3"], proc.stdout, proc.stderr)


def test_key_file_bytes(tmp_path):
    """The key is the file's bytes less one trailing newline, not hex-decoded; any 1 to 1024
    bytes; a key under 32 bytes is used, with a warning on stderr."""
    line = b'{"id_number":"110101199003070011"}\n'
    hexkey = b"ab" * 32
    cases = [hexkey + b"\n", hexkey, hexkey + b"\r\n", hexkey + b"\n\n", hexkey + b"\r",
             b"\x00\xff\r\n\x80" * 10, b"k", b"k\n", bytes(range(256)) * 4,
             b"x" * 1023 + b"\n", b"\n" + b"y" * 40]
    warned = run(tmp_path, [], line, key=b"s" * 40).stderr
    for data in cases:
        key_file = tmp_path / "k"
        key_file.write_bytes(data)
        proc = subprocess.run([BIN, "pseudonymize", "--key-file", str(key_file)], input=line,
                              capture_output=True, timeout=60)
        key = key_from_file(data)
        name = f"key file {data[:12]!r}... ({len(data)} bytes)"
        assert proc.returncode == 0, f"{name}: exit {proc.returncode}: {proc.stderr!r}"
        want = hmac.new(key, b"110101199003070011", hashlib.sha256).hexdigest()
        assert proc.stdout == b'{"person_id":"%s"}\n' % want.encode(), name
        assert want == want.lower() and len(want) == 64
        if len(key) < 32:
            assert len(proc.stderr.splitlines()) > len(warned.splitlines()), (
                f"{name}: no warning for a key of {len(key)} bytes")
        assert_no_leak(["110101199003070011"], proc.stdout, proc.stderr)


@pytest.mark.parametrize("content", [None, b"", b"\n", b"\r\n", b"z" * 1025, "dir",
                                     "/dev/zero"])
def test_key_file_errors(tmp_path, content):
    """A key file missing, empty, holding only a newline, over 1024 bytes, a directory or
    endless: exit 2 with a message naming it, nothing written, no output file created."""
    if content == "dir":
        key_file = tmp_path / "keydir"
        key_file.mkdir()
    elif content == "/dev/zero":
        key_file = pathlib.Path("/dev/zero")
    else:
        key_file = tmp_path / "key.bin"
        if content is not None:
            key_file.write_bytes(content)
    out = tmp_path / "out.jsonl"
    proc = subprocess.run([BIN, "pseudonymize", "--key-file", str(key_file), "--output",
                           str(out)], input=b'{"id_number":"KEYERR1"}\n', capture_output=True,
                          timeout=60)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert b"panicked" not in proc.stderr
    assert str(key_file).encode() in proc.stderr, proc.stderr
    assert proc.stdout == b"" and not out.exists()
    assert b"KEYERR1" not in proc.stderr


def test_input_and_output_errors(tmp_path):
    """An input that cannot be opened, an output that cannot be created, and `--output` that
    is the input (also through a link, or on stdin): exit 2, the input kept."""
    data = b'{"id_number":"IOERR1"}\n'
    source = tmp_path / "in.jsonl"
    source.write_bytes(data)
    link = tmp_path / "link.jsonl"
    link.symlink_to(source)
    for args, stdin in [([str(tmp_path / "missing.jsonl")], b""),
                        ([str(tmp_path)], b""),
                        (["--output", "/dev/full", str(source)], b""),
                        (["--output", str(tmp_path / "no" / "out"), str(source)], b""),
                        (["--output", str(source), str(source)], b""),
                        (["--output", str(link), str(source)], b"")]:
        proc = run(tmp_path, args, stdin)
        assert proc.returncode == 2, (args, proc.returncode, proc.stderr)
        assert proc.stderr.strip(), args
        assert source.read_bytes() == data
        assert b"IOERR1" not in proc.stdout + proc.stderr
    with open(source, "rb") as stdin:
        proc = subprocess.run([BIN, "pseudonymize", "--key-file", str(tmp_path / "key"),
                               "--output", str(source)], stdin=stdin, capture_output=True,
                              timeout=60)
    assert proc.returncode == 2 and source.read_bytes() == data


def test_output_file_is_stdout(tmp_path):
    """`--output FILE` writes the bytes stdout gets, and nothing to stdout."""
    data = b'{"id_number":"O1","a":[1]}\n{"b":2}\n{"id_number":null}\n'
    out = tmp_path / "out.jsonl"
    to_file = run(tmp_path, ["--output", str(out)], data)
    to_stdout = run(tmp_path, [], data)
    assert to_file.returncode == to_stdout.returncode == 0
    assert to_file.stdout == b"" and out.read_bytes() == to_stdout.stdout
    assert to_stdout.stderr.strip(), "no summary on stderr"


def test_output_through_a_hard_link_is_refused(tmp_path):
    """`--output` naming a hard link of the input file is the input file (docs/DESIGN.md: "An
    output file that is the input file (also through a symbolic or hard link ...) is refused
    before anything is written"); it once emptied the input and exited 0."""
    data = b'{"id_number":"HARD1"}\n'
    source = tmp_path / "in.jsonl"
    source.write_bytes(data)
    os.link(source, tmp_path / "hard.jsonl")
    proc = run(tmp_path, ["--output", str(tmp_path / "hard.jsonl"), str(source)])
    assert source.read_bytes() == data, "the input was destroyed"
    assert proc.returncode == 2
