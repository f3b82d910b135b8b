#!/usr/bin/env python3
"""Render the Grafana dashboards' panels to PNG from a Prometheus's query_range API.
Called by scripts/snapshot-dashboards (which provides a venv with matplotlib).

Each panel: its targets are queried over --range with a step of range/120; timeseries and
state-timeline panels become line charts (legendFormat applied), stat panels the last value of
each series, tables a text table. Variables are "All" (.*); $__rate_interval is --rate-interval.
"""
import argparse
import glob
import json
import math
import os
import re
import sys
import time
import urllib.parse
import urllib.request

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402,F401

HERE = os.path.dirname(os.path.abspath(__file__))
UNITS = {"percentunit": lambda v: f"{v * 100:.3g}%", "s": lambda v: f"{v:.3g}s", "bytes": lambda v: human(v, "B"),
         "Bps": lambda v: human(v, "B/s"), "reqps": lambda v: f"{v:.3g} req/s", "x": lambda v: f"{v:.3g}x"}


def human(v, suffix):
    for p in ("", "Ki", "Mi", "Gi", "Ti"):
        if abs(v) < 1024:
            return f"{v:.3g} {p}{suffix}"
        v /= 1024
    return f"{v:.3g} Pi{suffix}"


def fmt(v, unit):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "NaN"
    return UNITS.get(unit, lambda x: f"{x:.4g}")(v)


def substitute(expr, rate_interval):
    expr = re.sub(r"\$\{?__rate_interval\}?", rate_interval, expr)
    expr = re.sub(r"\$\{?__interval\}?", "1m", expr)
    expr = re.sub(r"\$\{?__range\}?", "1h", expr)
    return re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)(?::\w+)?\}?", ".*", expr)


def legend(fmt_, metric):
    if not fmt_:
        return ", ".join(f"{k}={v}" for k, v in sorted(metric.items()) if k != "__name__") or "value"
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: metric.get(m.group(1), ""), fmt_)


def query_range(base, expr, start, end, step):
    data = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": step}).encode()
    try:
        body = json.load(urllib.request.urlopen(urllib.request.Request(base.rstrip("/") + "/api/v1/query_range", data=data), timeout=60))
    except urllib.error.HTTPError as e:
        body = json.load(e)
    if body.get("status") != "success":
        raise RuntimeError(body.get("error"))
    return body["data"]["result"]


def draw(ax, panel, series, unit):
    kind = panel["type"]
    ax.set_title(panel.get("title", ""), fontsize=8, loc="left")
    ax.tick_params(labelsize=6)
    if not series:
        ax.text(0.5, 0.5, "No data", ha="center", va="center", fontsize=9, color="grey", transform=ax.transAxes)
        ax.set_xticks([]); ax.set_yticks([])
        return
    if kind in ("stat", "table"):
        ax.axis("off")
        lines = [f"{name}: {fmt(vals[-1][1] if vals else None, unit)}" for name, vals in series[:8]]
        ax.text(0.02, 0.95, "\n".join(lines), va="top", fontsize=8 if len(lines) > 2 else 12,
                family="monospace", transform=ax.transAxes)
        return
    t0 = min(v[0][0] for _, v in series if v)
    for name, vals in series[:12]:
        ax.plot([(t - t0) / 60 for t, _ in vals], [y for _, y in vals], linewidth=1, label=name[:40])
    ax.set_xlabel("minutes", fontsize=6)
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: fmt(v, unit)))
    ax.legend(fontsize=5, loc="upper left", framealpha=0.5)
    ax.grid(alpha=0.3)


def panels_of(d):
    def walk(ps):
        for p in ps:
            if p.get("type") == "row":
                yield from walk(p.get("panels", []))
            else:
                yield p
    return list(walk(d.get("panels", [])))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prometheus", required=True, help="Prometheus base URL, e.g. http://127.0.0.1:9090")
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--range", default="1h", help="time range ending now: 30m, 1h, 6h ...")
    ap.add_argument("--rate-interval", default="1m")
    ap.add_argument("--dashboard", action="append", help="only this dashboard uid (repeatable)")
    ap.add_argument("--dashboards", default=os.path.join(HERE, "dashboards"))
    args = ap.parse_args()
    m = re.fullmatch(r"(\d+)([smhd])", args.range)
    if not m:
        ap.error("--range like 30m, 1h, 6h")
    span = int(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
    end = time.time()
    start, step = end - span, max(span / 120, 1)
    os.makedirs(args.out, exist_ok=True)
    errors = 0
    for path in sorted(glob.glob(os.path.join(args.dashboards, "**", "*.json"), recursive=True)):
        d = json.load(open(path))
        if args.dashboard and d["uid"] not in args.dashboard:
            continue
        pdir = os.path.join(args.out, d["uid"])
        os.makedirs(pdir, exist_ok=True)
        panels = panels_of(d)
        rendered = []
        for i, p in enumerate(panels, 1):
            unit = p.get("fieldConfig", {}).get("defaults", {}).get("unit")
            series = []
            for t in p.get("targets", []):
                try:
                    for r in query_range(args.prometheus, substitute(t["expr"], args.rate_interval), start, end, step):
                        vals = [(float(ts), float(v)) for ts, v in r["values"]]
                        series.append((legend(t.get("legendFormat"), r["metric"]), vals))
                except Exception as e:  # keep rendering the other panels; report at the end
                    print(f"error: {d['uid']} / {p.get('title')}: {e}", file=sys.stderr)
                    errors += 1
            rendered.append((p, series, unit))
            fig, ax = plt.subplots(figsize=(6, 3), dpi=100)
            draw(ax, p, series, unit)
            fig.tight_layout()
            slug = re.sub(r"[^a-z0-9]+", "-", p.get("title", "panel").lower()).strip("-")[:50]
            fig.savefig(os.path.join(pdir, f"{i:02d}-{slug}.png"))
            plt.close(fig)
        # The whole dashboard, laid out on Grafana's 24-column grid.
        rows = max((p["gridPos"]["y"] + p["gridPos"]["h"] for p, _, _ in rendered), default=1)
        fig = plt.figure(figsize=(16, rows * 0.32 + 0.6), dpi=90)
        fig.suptitle(d["title"], x=0.01, ha="left", fontsize=12)
        top = 1 - 0.5 / (rows * 0.32 + 0.6)
        for p, series, unit in rendered:
            g = p["gridPos"]
            # Room on the left of each cell for the y tick labels, which sit outside the axes.
            ax = fig.add_axes([g["x"] / 24 + 0.045, top - (g["y"] + g["h"]) / rows * top + 0.012,
                               g["w"] / 24 - 0.055, g["h"] / rows * top - 0.032])
            draw(ax, p, series, unit)
        fig.savefig(os.path.join(args.out, f"{d['uid']}.png"))
        plt.close(fig)
        print(f"{d['uid']}: {len(rendered)} panels -> {pdir}/, {args.out}/{d['uid']}.png")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
