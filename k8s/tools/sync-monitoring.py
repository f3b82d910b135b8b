#!/usr/bin/env python3
"""Regenerate the monitoring component (k8s/components/monitoring/generated/ and rules/<overlay>/).

The component is rendered by monitoring/generate.py from monitoring/alerts.yaml, the recording rules of
monitoring/prometheus/rules/, k8s/components/monitoring/targets.yaml and the Grafana dashboards; this is
its k8s part (`monitoring/generate.py --only k8s`), kept under the name the k8s README uses.

Usage:
  k8s/tools/sync-monitoring.py            write the component's generated files
  k8s/tools/sync-monitoring.py --check    exit 1 (and list the files) if they are stale
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

GENERATOR = Path(__file__).resolve().parents[2] / "monitoring/generate.py"

if __name__ == "__main__":
    if any(a in ("-h", "--help") for a in sys.argv[1:]):
        print(__doc__.strip())
        sys.exit(0)
    os.execv(sys.executable, [sys.executable, str(GENERATOR), "--only", "k8s", *sys.argv[1:]])
