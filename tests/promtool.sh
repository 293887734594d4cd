#!/usr/bin/env bash
# Checks the monitoring files: Prometheus config and rules (promtool check), the rules' unit
# tests (promtool test rules), and the consistency of dashboards, expression list, rules,
# docs/metrics.md and the Kubernetes copies (deploy/prometheus/check_expressions.py), and
# that the Docker build stage has every file compiled in (deploy/compose/check_context.py).
#
#   tests/promtool.sh
#
# Installs Debian's `prometheus` package (for promtool) and python3-yaml when missing; needs
# root for that. Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

if ! command -v promtool >/dev/null 2>&1; then
    step "installing promtool (Debian package prometheus)"
    if ! apt-cache policy prometheus 2>/dev/null | grep -q 'Candidate: [0-9]'; then
        as_root apt-get update
    fi
    if ! apt-cache policy prometheus | grep -q 'Candidate: [0-9]'; then
        echo "promtool: no installable Debian package 'prometheus' found" >&2
        exit 1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus
fi
if ! python3 -c 'import yaml' 2>/dev/null; then
    step "installing python3-yaml"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-yaml
fi
promtool --version | head -1

step "promtool check config deploy/prometheus/prometheus.yml"
promtool check config deploy/prometheus/prometheus.yml

step "promtool check rules deploy/prometheus/rules.yml"
promtool check rules deploy/prometheus/rules.yml

step "promtool test rules deploy/prometheus/rules.test.yml"
promtool test rules deploy/prometheus/rules.test.yml

step "dashboards, expression list, rules, docs and k8s copies agree"
python3 deploy/prometheus/check_expressions.py

step "JSON syntax of the dashboards"
for f in deploy/grafana/dashboards/*.json; do
    python3 -m json.tool "$f" >/dev/null
    echo "$f: ok"
done

step "the Docker build stage has every file the binary compiles in"
python3 deploy/compose/check_context.py

printf '\nAll monitoring checks passed.\n'
