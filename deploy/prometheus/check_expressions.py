#!/usr/bin/env python3
"""Checks the monitoring files against each other (run by tests/promtool.sh).

- deploy/prometheus/expressions.txt lists, one per line with whitespace collapsed, exactly
  the PromQL expressions of the Grafana dashboards and of the recording rules (an end-to-end
  test queries each line against a real Prometheus and fails on an empty result);
- every workhours_* metric those expressions and the alert rules use is defined in
  src/metrics.rs and documented in docs/metrics.md;
- every alert has severity, summary, description and a runbook_url whose file exists;
- deploy/k8s/prometheusrule.yaml carries the same groups as rules.yml, and
  deploy/k8s/configmap.yaml the same workhours.toml as config/;
- every YAML and JSON file under deploy/ parses.

Exits non-zero with one line per problem.
"""
import json
import pathlib
import re
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
RUNBOOK_PREFIX = "https://github.com/workhours/workhours/blob/main/"
problems = []


def collapse(expr):
    return " ".join(expr.split())


def metrics_in(expr):
    names = set(re.findall(r"\bworkhours_[a-z0-9_]+\b", expr))
    return {re.sub(r"_(bucket|count|sum)$", "", n) if n.endswith(("_bucket", "_count", "_sum")) and "seconds" in n else n for n in names}


rules = yaml.safe_load((ROOT / "deploy/prometheus/rules.yml").read_text())
expected = []
alert_exprs = []
for group in rules["groups"]:
    for rule in group["rules"]:
        if "record" in rule:
            expected.append(collapse(rule["expr"]))
        else:
            alert_exprs.append(rule["expr"])
            name = rule["alert"]
            for key in ("severity",):
                if key not in rule.get("labels", {}):
                    problems.append(f"alert {name}: no label {key}")
            for key in ("summary", "description", "runbook_url"):
                if key not in rule.get("annotations", {}):
                    problems.append(f"alert {name}: no annotation {key}")
            url = rule.get("annotations", {}).get("runbook_url", "")
            want = f"{RUNBOOK_PREFIX}docs/runbooks/{name}.md"
            if url != want:
                problems.append(f"alert {name}: runbook_url {url!r}, want {want!r}")
            elif not (ROOT / url[len(RUNBOOK_PREFIX):]).is_file():
                problems.append(f"alert {name}: runbook {url[len(RUNBOOK_PREFIX):]} missing")

for path in sorted((ROOT / "deploy/grafana/dashboards").glob("*.json")):
    dashboard = json.loads(path.read_text())
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            expected.append(collapse(target["expr"]))

listed = [line for line in (ROOT / "deploy/prometheus/expressions.txt").read_text().splitlines() if line.strip()]
for expr in expected:
    if expr not in listed:
        problems.append(f"expressions.txt lacks: {expr}")
for expr in listed:
    if expr not in expected:
        problems.append(f"expressions.txt has an unused line: {expr}")
if len(set(listed)) != len(listed):
    problems.append("expressions.txt has duplicate lines")

source = (ROOT / "src/metrics.rs").read_text()
doc = (ROOT / "docs/metrics.md").read_text()
defined = set(re.findall(r'"(workhours_[a-z0-9_]+)"', source))
for expr in listed + alert_exprs:
    for name in metrics_in(expr):
        if name not in defined:
            problems.append(f"metric {name} (in {collapse(expr)!r}) is not defined in src/metrics.rs")
        if f"`{name}`" not in doc:
            problems.append(f"metric {name} is not documented in docs/metrics.md")
for name in defined:
    if f"`{name}`" not in doc:
        problems.append(f"metric {name} is not documented in docs/metrics.md")

k8s_rule = yaml.safe_load((ROOT / "deploy/k8s/prometheusrule.yaml").read_text())
if k8s_rule["spec"]["groups"] != rules["groups"]:
    problems.append("deploy/k8s/prometheusrule.yaml differs from deploy/prometheus/rules.yml")
configmap = yaml.safe_load((ROOT / "deploy/k8s/configmap.yaml").read_text())
if configmap["data"]["workhours.toml"] != (ROOT / "config/workhours.toml").read_text():
    problems.append("deploy/k8s/configmap.yaml differs from config/workhours.toml")

for path in sorted((ROOT / "deploy").rglob("*")):
    try:
        if path.suffix in (".yml", ".yaml"):
            list(yaml.safe_load_all(path.read_text()))
        elif path.suffix == ".json":
            json.loads(path.read_text())
    except Exception as error:  # noqa: BLE001 - report every parse failure the same way
        problems.append(f"{path.relative_to(ROOT)}: {error}")

for problem in problems:
    print(f"FAIL: {problem}")
print(f"check_expressions: {len(listed)} expressions, {len(alert_exprs)} alerts, {len(problems)} problems")
sys.exit(1 if problems else 0)
