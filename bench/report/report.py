#!/usr/bin/env python3
"""Turn benchmark result files (results.json or results.csv written by bench/sysbench/*.sh and
bench/http/load.sh) into a Markdown report with PNG plots: throughput, and p95/p99 latency,
against threads (sysbench) or connections (wrk). With --baseline, compare every matching row
(suite, test, threads/connections) to an earlier run and flag changes beyond --threshold percent.

Exit status: 0 ok, 2 bad input, 3 regressions found and --fail-on-regression given.
"""
import argparse
import csv
import datetime as dt
import json
import os
import re
import sys

NullLocator = None  # set in main() once matplotlib is imported
NUM_FIELDS = ("throughput", "qps", "lat_avg_ms", "lat_p95_ms", "lat_p99_ms", "errors", "duration_s")


class InputError(Exception):
    pass


def _resolve(path):
    if os.path.isdir(path):
        for name in ("results.json", "results.csv"):
            p = os.path.join(path, name)
            if os.path.exists(p):
                return p
        raise InputError(f"{path}: no results.json or results.csv inside")
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file")
    return path


def _fnum(v):
    if v in (None, ""):
        return None
    return float(v)


def load(path):
    """One run: {'source', 'suite', 'profile', 'params', 'rows'}; rows carry x = threads or connections."""
    path = _resolve(path)
    run = {"source": path, "profile": {}, "params": {}, "rows": []}
    try:
        if path.endswith(".json"):
            with open(path, encoding="utf-8") as f:
                doc = json.load(f)
            rows = doc["results"]
            run["profile"] = doc.get("profile", {})
            run["params"] = doc.get("params", {})
            run["suite"] = doc.get("suite")
        else:
            with open(path, encoding="utf-8", newline="") as f:
                rows = list(csv.DictReader(f))
            prof = os.path.join(os.path.dirname(path), "profile.json")
            if os.path.exists(prof):
                with open(prof, encoding="utf-8") as f:
                    run["profile"] = json.load(f)
            run["suite"] = rows[0]["suite"] if rows else None
    except (OSError, ValueError, KeyError) as e:
        raise InputError(f"{path}: not a results file ({e})") from e
    for r in rows:
        row = {k: r.get(k) for k in ("tool", "suite", "test", "unit")}
        for k in NUM_FIELDS:
            row[k] = _fnum(r.get(k))
        row["threads"] = int(r["threads"]) if r.get("threads") not in (None, "") else None
        row["connections"] = int(r["connections"]) if r.get("connections") not in (None, "") else None
        row["x"] = row["connections"] if row["tool"] == "wrk" else row["threads"]
        row["xlabel"] = "connections" if row["tool"] == "wrk" else "threads"
        if not row["test"] or row["x"] is None or row["throughput"] is None:
            raise InputError(f"{path}: row without test/threads/throughput: {r}")
        run["rows"].append(row)
    if not run["rows"]:
        raise InputError(f"{path}: no result rows")
    return run


def _slug(s):
    return re.sub(r"[^A-Za-z0-9]+", "-", s).strip("-").lower()


def _fmt(v, digits=2):
    if v is None:
        return ""
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.{digits}f}"


def groups(rows):
    """(suite, unit) -> {test: [rows sorted by x]}: one plot per group, one line per test."""
    out = {}
    for r in rows:
        out.setdefault((r["suite"], r["unit"]), {}).setdefault(r["test"], []).append(r)
    for tests in out.values():
        for rs in tests.values():
            rs.sort(key=lambda r: r["x"])
    return out


def _axes(ax, xs, xlabel):
    ax.set_xscale("log", base=2)
    ax.set_xticks(xs)
    ax.set_xticklabels([str(x) for x in xs])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel(xlabel)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))


def _save(plt, fig, ax, xs, xlabel, outdir, name, caption):
    """Finish the axes, write the figure as outdir/name, and return (name, caption)."""
    _axes(ax, xs, xlabel)
    fig.tight_layout()
    fig.savefig(os.path.join(outdir, name))
    plt.close(fig)
    return name, caption


def plot_group(plt, outdir, suite, unit, tests, base_tests):
    xlabel = next(iter(tests.values()))[0]["xlabel"]
    files = []
    stem = f"{_slug(suite)}-{_slug(unit)}"
    xs_all = sorted({r["x"] for rs in list(tests.values()) + list(base_tests.values()) for r in rs})
    # Throughput
    fig, ax = plt.subplots(figsize=(9, 4.2), dpi=110)
    for i, (test, rs) in enumerate(sorted(tests.items())):
        color = f"C{i % 10}"
        ax.plot([r["x"] for r in rs], [r["throughput"] for r in rs], "o-", color=color, label=test)
        b = base_tests.get(test)
        if b:
            ax.plot([r["x"] for r in b], [r["throughput"] for r in b], "o:", color=color,
                    alpha=0.5, label=f"{test} (baseline)")
    ys = [r["throughput"] for rs in tests.values() for r in rs if r["throughput"]]
    if ys and min(ys) > 0 and max(ys) / min(ys) > 20:
        # Tests of very different magnitude (point selects vs read/write transactions).
        ax.set_yscale("log")
        ax.set_ylabel(f"{unit} (log)")
    else:
        ax.set_ylim(bottom=0)
        ax.set_ylabel(unit)
    ax.set_title(f"{suite}: throughput ({unit}) vs {xlabel}")
    files.append(_save(plt, fig, ax, xs_all, xlabel, outdir, f"{stem}-throughput.png", f"{suite} throughput"))
    # Latency p95 (solid) / p99 (dashed)
    fig, ax = plt.subplots(figsize=(9, 4.2), dpi=110)
    for i, (test, rs) in enumerate(sorted(tests.items())):
        color = f"C{i % 10}"
        xs = [r["x"] for r in rs]
        ax.plot(xs, [r["lat_p95_ms"] for r in rs], "o-", color=color, label=f"{test} p95")
        ax.plot(xs, [r["lat_p99_ms"] for r in rs], "s--", color=color, label=f"{test} p99")
        b = base_tests.get(test)
        if b:
            ax.plot([r["x"] for r in b], [r["lat_p95_ms"] for r in b], ":", color=color,
                    alpha=0.5, label=f"{test} p95 (baseline)")
    ax.set_yscale("log")
    ax.set_ylabel("latency, ms (log)")
    ax.set_title(f"{suite}: p95 / p99 latency vs {xlabel}")
    files.append(_save(plt, fig, ax, xs_all, xlabel, outdir, f"{stem}-latency.png", f"{suite} latency"))
    return files


def pct_change(old, new):
    if old in (None, 0) or new is None:
        return None
    return (new - old) / old * 100.0


def compare(rows, base_rows, threshold):
    base = {(r["suite"], r["test"], r["x"]): r for r in base_rows}
    out, matched = [], set()
    for r in rows:
        key = (r["suite"], r["test"], r["x"])
        b = base.get(key)
        if not b:
            continue
        matched.add(key)
        d_tp = pct_change(b["throughput"], r["throughput"])
        d_95 = pct_change(b["lat_p95_ms"], r["lat_p95_ms"])
        d_99 = pct_change(b["lat_p99_ms"], r["lat_p99_ms"])
        reasons = []
        if d_tp is not None and d_tp < -threshold:
            reasons.append(f"throughput {d_tp:+.1f}%")
        if d_95 is not None and d_95 > threshold:
            reasons.append(f"p95 {d_95:+.1f}%")
        if d_99 is not None and d_99 > threshold:
            reasons.append(f"p99 {d_99:+.1f}%")
        if (r["errors"] or 0) > (b["errors"] or 0) and (r["errors"] or 0) > 0:
            reasons.append(f"errors {int(b['errors'] or 0)} -> {int(r['errors'])}")
        out.append({"row": r, "base": b, "d_tp": d_tp, "d_95": d_95, "d_99": d_99, "reasons": reasons})
    unmatched = [k for k in base if k not in matched]
    return out, unmatched


def _d(v):
    return "" if v is None else f"{v:+.1f}%"


def render(runs, base_runs, outdir, threshold, title, plt):
    rows = [r for run in runs for r in run["rows"]]
    base_rows = [r for run in base_runs for r in run["rows"]]
    base_groups = groups(base_rows)
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    md = [f"# {title}", "", f"Generated {now} by `bench/report/report.sh` from:", ""]
    md += [f"- `{run['source']}` ({run.get('suite') or '?'}, {len(run['rows'])} rows)" for run in runs]
    if base_runs:
        md += ["", f"Baseline (regression threshold {threshold:g}%):", ""]
        md += [f"- `{run['source']}`" for run in base_runs]
    md += ["", "## Machine", "", "| run | CPU | cores | memory | kernel | OS | load avg | versions |",
           "|---|---|---|---|---|---|---|---|"]
    for run in runs + base_runs:
        p = run["profile"] or {}
        ver = ", ".join(f"{k}: {v}" for k, v in sorted((p.get("versions") or {}).items()) if v)
        load = " ".join(f"{x:.1f}" for x in (p.get("loadavg_at_end") or []))
        tag = "baseline " if run in base_runs else ""
        md.append(f"| {tag}{run.get('suite') or os.path.basename(run['source'])} | {p.get('cpu_model', '')} | "
                  f"{p.get('cpu_cores_usable', '')} | {p.get('memory_mib', '')} MiB | {p.get('kernel', '')} | "
                  f"{p.get('os', '')} | {load} | {ver} |")
    quick = [run["source"] for run in runs if str(run["params"].get("quick")) == "1"]
    if quick:
        md += ["", "> **Quick (smoke) runs**: seconds-long steps; the numbers prove the pipeline works, "
               "they do not characterise the machine."]
    pngs = []
    for (suite, unit), tests in sorted(groups(rows).items()):
        md += ["", f"## {suite} — {unit}", ""]
        xlabel = next(iter(tests.values()))[0]["xlabel"]
        md += [f"| test | {xlabel} | throughput ({unit}) | qps | avg ms | p95 ms | p99 ms | errors |",
               "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for test, rs in sorted(tests.items()):
            for r in rs:
                md.append(f"| {test} | {r['x']} | {_fmt(r['throughput'])} | {_fmt(r['qps'])} | "
                          f"{_fmt(r['lat_avg_ms'], 3)} | {_fmt(r['lat_p95_ms'], 3)} | "
                          f"{_fmt(r['lat_p99_ms'], 3)} | {int(r['errors'] or 0)} |")
        bt = base_groups.get((suite, unit), {})
        for name, alt in plot_group(plt, outdir, suite, unit, tests, bt):
            pngs.append(name)
            md += ["", f"![{alt}]({name})"]
    regressions = []
    if base_runs:
        cmp_rows, unmatched = compare(rows, base_rows, threshold)
        regressions = [c for c in cmp_rows if c["reasons"]]
        md += ["", "## Change against the baseline", "",
               f"**{len(regressions)} regression(s)** beyond {threshold:g}% "
               f"over {len(cmp_rows)} comparable rows "
               "(throughput lower, p95/p99 higher, or new errors).", "",
               "| suite | test | x | throughput | Δ | p95 ms | Δ | p99 ms | Δ | verdict |",
               "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"]
        for c in cmp_rows:
            r, b = c["row"], c["base"]
            verdict = "**REGRESSION**: " + "; ".join(c["reasons"]) if c["reasons"] else "ok"
            md.append(f"| {r['suite']} | {r['test']} | {r['x']} | "
                      f"{_fmt(b['throughput'])} → {_fmt(r['throughput'])} | {_d(c['d_tp'])} | "
                      f"{_fmt(b['lat_p95_ms'], 3)} → {_fmt(r['lat_p95_ms'], 3)} | {_d(c['d_95'])} | "
                      f"{_fmt(b['lat_p99_ms'], 3)} → {_fmt(r['lat_p99_ms'], 3)} | {_d(c['d_99'])} | {verdict} |")
        if unmatched:
            md += ["", "Baseline rows with no counterpart in this run: "
                   + ", ".join(f"{s}/{t}@{x}" for s, t, x in unmatched[:30])]
        if not cmp_rows:
            md += ["", "No row of this run matches the baseline (same suite, test and x)."]
    md += ["", "## Reading this report", "",
           "Throughput should rise with threads/connections until a resource saturates, then flatten; "
           "past that point only latency grows. p99 reacts first to contention. "
           "See docs/benchmarking.md for each test and the pitfalls.", ""]
    with open(os.path.join(outdir, "report.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(md))
    return pngs, regressions


def main(argv=None):
    p = argparse.ArgumentParser(prog="bench/report/report.sh", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("results", nargs="+", help="results.json / results.csv files or their directories")
    p.add_argument("--out", help="report directory [bench-reports/<UTC time>]")
    p.add_argument("--baseline", action="append", default=[],
                   help="an earlier run's results (file or directory); repeatable")
    p.add_argument("--threshold", type=float, default=10.0,
                   help="percent change counted as a regression [10]")
    p.add_argument("--fail-on-regression", action="store_true", help="exit 3 when a regression is flagged")
    p.add_argument("--title", default="Benchmark report")
    a = p.parse_args(argv)
    if a.threshold < 0:
        p.error("--threshold must be >= 0")
    try:
        runs = [load(x) for x in a.results]
        base_runs = [load(x) for x in a.baseline]
    except InputError as e:
        print(f"report: error: {e}", file=sys.stderr)
        return 2
    outdir = a.out or os.path.join("bench-reports", dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ"))
    os.makedirs(outdir, exist_ok=True)
    import matplotlib  # late: --help and input errors need no matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    global NullLocator
    from matplotlib.ticker import NullLocator
    pngs, regressions = render(runs, base_runs, outdir, a.threshold, a.title, plt)
    print(f"report: {os.path.join(outdir, 'report.md')} with {len(pngs)} plots", file=sys.stderr)
    if base_runs:
        print(f"report: {len(regressions)} regression(s) beyond {a.threshold:g}%", file=sys.stderr)
        for c in regressions:
            r = c["row"]
            print(f"  REGRESSION {r['suite']}/{r['test']} at {r['xlabel']}={r['x']}: "
                  + "; ".join(c["reasons"]), file=sys.stderr)
    if regressions and a.fail_on_regression:
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
