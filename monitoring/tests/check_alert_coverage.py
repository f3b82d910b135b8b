#!/usr/bin/env python3
"""Every alerting rule has promtool tests that make it fire and keep it silent, and a runbook.

For each alerting rule (an alert name plus its severity; twins share a name) in
monitoring/prometheus/rules/*.alerts.yaml this asserts:
  * labels.severity is critical or warning; annotations summary, description, runbook_url exist;
  * runbook_url ends in docs/runbooks/<AlertName>.md and that file exists in the repository;
  * some alert_rule_test in monitoring/prometheus/tests/*.test.yaml expects it firing with that
    severity, and some alert_rule_test for that alert name expects no alert at all (silent).
Also fails on tests that name an alert no rule defines (a typo makes a test pass vacuously).
Usage: check_alert_coverage.py [--root REPO]
"""
import argparse
import glob
import os
import sys

import yaml


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default=os.path.join(os.path.dirname(__file__), "..", ".."))
    args = ap.parse_args()
    root = os.path.abspath(args.root)
    prom = os.path.join(root, "monitoring", "prometheus")

    rules = []  # (alertname, severity, file)
    problems = []
    for path in sorted(glob.glob(os.path.join(prom, "rules", "*.alerts.yaml"))):
        for group in yaml.safe_load(open(path))["groups"]:
            for rule in group["rules"]:
                if "alert" not in rule:
                    problems.append(f"{path}: recording rule {rule.get('record')} in an alerts file")
                    continue
                name, labels, ann = rule["alert"], rule.get("labels", {}), rule.get("annotations", {})
                sev = labels.get("severity")
                if sev not in ("critical", "warning"):
                    problems.append(f"{name}: severity {sev!r} is not critical|warning")
                for key in ("summary", "description", "runbook_url"):
                    if not ann.get(key):
                        problems.append(f"{name}/{sev}: annotation {key} missing")
                url = ann.get("runbook_url", "")
                suffix = f"docs/runbooks/{name}.md"
                if not url.endswith(suffix):
                    problems.append(f"{name}: runbook_url {url!r} does not end in {suffix}")
                elif not os.path.isfile(os.path.join(root, suffix)):
                    problems.append(f"{name}: runbook {suffix} does not exist")
                rules.append((name, sev, os.path.basename(path)))

    firing, silent, tested_names = set(), set(), set()
    for path in sorted(glob.glob(os.path.join(prom, "tests", "*.test.yaml"))):
        for test in yaml.safe_load(open(path))["tests"]:
            for case in test.get("alert_rule_test", []):
                name = case["alertname"]
                tested_names.add(name)
                exp = case.get("exp_alerts") or []
                if not exp:
                    silent.add(name)
                for alert in exp:
                    firing.add((name, alert.get("exp_labels", {}).get("severity")))

    names = {r[0] for r in rules}
    for name in sorted(tested_names - names):
        problems.append(f"tests name alert {name}, which no rule file defines")
    for name, sev, f in rules:
        ok_fire = (name, sev) in firing
        ok_silent = name in silent
        print(f"{'ok  ' if ok_fire and ok_silent else 'FAIL'} {name:40s} {sev:9s} "
              f"firing={'yes' if ok_fire else 'NO'} silent={'yes' if ok_silent else 'NO'}  ({f})")
        if not ok_fire:
            problems.append(f"{name}/{sev}: no test expects it firing with severity={sev}")
        if not ok_silent:
            problems.append(f"{name}: no test expects it silent")
    problems = list(dict.fromkeys(problems))
    for p in problems:
        print("FAIL", p, file=sys.stderr)
    print(f"{len(rules)} alerting rules ({len(names)} names), {len(problems)} problems")
    return 1 if problems or not rules else 0


if __name__ == "__main__":
    sys.exit(main())
