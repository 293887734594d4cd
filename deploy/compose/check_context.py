#!/usr/bin/env python3
"""Checks that the Docker build stage (deploy/compose/Dockerfile) has every file the binary
compiles in: each `include_str!`/`include_bytes!` of non-test code under src/ must lie under a
path the build stage COPYs and the build context admits (deploy/compose/Dockerfile.dockerignore).
The packs and the holiday calendar were missing, so the image could not be built (audit BA H1).

    python3 deploy/compose/check_context.py

Test code is an inline `#[cfg(test)] mod ... {` to the end of its file, as everywhere in src/.
Exits 1 and names each missing file."""
import fnmatch
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy/compose/Dockerfile"
IGNORE = ROOT / "deploy/compose/Dockerfile.dockerignore"


def build_copies() -> list[str]:
    """Sources of the COPY lines of the first (build) stage."""
    copies, stage = [], 0
    for line in DOCKERFILE.read_text().splitlines():
        words = line.split()
        if words and words[0] == "FROM":
            stage += 1
        elif stage == 1 and words and words[0] == "COPY" and not any(w.startswith("--from") for w in words):
            copies += [w.rstrip("/").removeprefix("./") for w in words[1:-1] if not w.startswith("--")]
    return copies


def admitted(rel: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern decides; `!` admits."""
    ok = True
    for pattern in patterns:
        negated = pattern.startswith("!")
        p = pattern.removeprefix("!").rstrip("/")
        if fnmatch.fnmatch(rel, p) or rel.startswith(p + "/"):
            ok = negated
    return ok


def test_start(lines: list[str]) -> int:
    """The line index where the file's inline test module starts (len(lines) when none)."""
    for i, line in enumerate(lines):
        if line.strip() == "#[cfg(test)]":
            following = next((l.strip() for l in lines[i + 1:] if l.strip()), "")
            if following.startswith("mod ") and following.endswith("{"):
                return i
    return len(lines)


def main() -> int:
    patterns = [l.strip() for l in IGNORE.read_text().splitlines() if l.strip() and not l.startswith("#")]
    copies = build_copies()
    missing = []
    for path in sorted((ROOT / "src").rglob("*.rs")):
        lines = path.read_text().splitlines()
        for number, line in enumerate(lines[: test_start(lines)], start=1):
            for m in re.finditer(r'include_(?:str|bytes)!\(\s*"([^"]+)"', line):
                target = str((path.parent / m.group(1)).resolve().relative_to(ROOT))
                copied = any(target == c or target.startswith(c + "/") for c in copies)
                if not (copied and admitted(target, patterns)):
                    missing.append(f"{path.relative_to(ROOT)}:{number}: {target}")
    for entry in missing:
        print(f"not in the Docker build stage (COPY it in {DOCKERFILE.relative_to(ROOT)} and admit it "
              f"in {IGNORE.relative_to(ROOT)}): {entry}", file=sys.stderr)
    if missing:
        return 1
    print(f"every file compiled in is in the Docker build stage ({', '.join(copies)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
