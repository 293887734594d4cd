#!/usr/bin/env python3
"""Rewrites deploy/k8s/configmap.yaml from config/workhours.toml (they must stay equal;
tests/promtool.sh checks it). Run it after editing the config file."""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
path = ROOT / "deploy/k8s/configmap.yaml"
head = path.read_text().split("  workhours.toml: |\n", 1)[0]
body = (ROOT / "config/workhours.toml").read_text()
lines = [("    " + line) if line else "" for line in body.split("\n")]
path.write_text(head + "  workhours.toml: |\n" + "\n".join(lines).rstrip("\n") + "\n")
