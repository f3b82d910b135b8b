#!/usr/bin/env python3
"""Print "<expected receiver>\t<labels>" for every alerting rule in monitoring/prometheus/rules,
for run.sh to feed to `amtool config routes test`: critical -> oncall; warning -> webhook, except
abuse alerts -> security. Usage: list_alert_routes.py"""
import glob
import os
import sys

import yaml

if len(sys.argv) > 1:
    print(__doc__)
    sys.exit(0)
ABUSE = {"ZufangSmsRateLimitRejectionsSpiking", "ZufangLoginFailuresSpiking"}
root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "prometheus", "rules")
for path in sorted(glob.glob(os.path.join(root, "*.alerts.yaml"))):
    for g in yaml.safe_load(open(path))["groups"]:
        for r in g["rules"]:
            labels = dict(r.get("labels", {}), alertname=r["alert"])
            sev = labels["severity"]
            exp = "oncall" if sev == "critical" else ("security" if r["alert"] in ABUSE else "webhook")
            print(exp + "\t" + " ".join(f"{k}={v}" for k, v in sorted(labels.items())))
