#!/usr/bin/env python3
"""Check the Grafana dashboards statically and, with --prometheus, against live data.

Static (always):
  * dashboard uids and titles are unique; schemaVersion is current (>= 39); no ${DS_...} placeholders;
  * every datasource reference (panels, targets, variables) is {type, uid} with a uid provisioned
    in monitoring/grafana/provisioning/datasources/*.yaml, or `${var}` naming a datasource variable of
    that type whose default is such a uid;
  * every panel has targets, every target an expr, and every expr (and variable query) parses as
    PromQL: promtool check rules on a generated rule file, one group per expression;
  * every metric name in a panel, a variable or a Prometheus rule is in metric-catalog.yaml
    (with its source) or is a recording rule from monitoring/prometheus/rules/.
Live (--prometheus URL, e.g. http://127.0.0.1:9090):
  * every panel query, with variables set to "all" (.*), returns at least one series, unless the
    panel is in the allow-list (live-allowlist.yaml, section --context) with a reason; an
    allow-listed panel that does return data fails too (the list must stay true);
  * every variable's label_values() query returns at least one value;
  * --verify-sources SRC,... : every catalog metric of those sources exists in that Prometheus.
Usage: check_dashboards.py [--prometheus URL] [--context local|compose] [--verify-sources LIST]
"""
import argparse
import glob
import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
MON = os.path.dirname(HERE)
KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
            "bool", "offset", "inf", "nan", "Inf", "NaN"}
HIST_SUFFIXES = ("_bucket", "_sum", "_count")


class Report:
    def __init__(self):
        self.passed, self.failed = 0, 0

    def check(self, ok, what, detail=""):
        if ok:
            self.passed += 1
        else:
            self.failed += 1
            print(f"FAIL {what}{': ' + detail if detail else ''}")
        return ok


def load_dashboards(root):
    out = []
    for path in sorted(glob.glob(os.path.join(root, "**", "*.json"), recursive=True)):
        out.append((path, json.load(open(path))))
    return out


def all_panels(panels):
    for p in panels:
        yield p
        yield from all_panels(p.get("panels", []))


def datasource_refs(obj, path="$"):
    """Every value under a 'datasource' key, anywhere in the dashboard."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == "datasource":
                yield path + "." + k, v
            else:
                yield from datasource_refs(v, path + "." + k)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from datasource_refs(v, f"{path}[{i}]")


def substitute(expr, rate_interval="1m"):
    expr = re.sub(r"\$\{?__rate_interval\}?", rate_interval, expr)
    expr = re.sub(r"\$\{?__interval\}?", "1m", expr)
    expr = re.sub(r"\$\{?__range\}?", "1h", expr)
    return re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)(?::\w+)?\}?", ".*", expr)


def variable_expr(query):
    """label_values(selector, label) -> an equivalent PromQL expression (None for label_values(label))."""
    q = query["query"] if isinstance(query, dict) else query
    m = re.fullmatch(r"\s*label_values\((.*),\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*", q, re.S)
    if m:
        return f"count by ({m.group(2)}) ({m.group(1)})"
    if re.fullmatch(r"\s*label_values\(\s*[A-Za-z_]\w*\s*\)\s*", q):
        return None
    m = re.fullmatch(r"\s*query_result\((.*)\)\s*", q, re.S)
    return m.group(1) if m else q


def metric_names(expr):
    s = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    s = re.sub(r"'(?:[^'\\]|\\.)*'", "''", s)
    s = re.sub(r"\{[^}]*\}", "", s)
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", s)
    s = re.sub(r"\[[^\]]*\]", "", s)
    names = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", s):
        tok, before, after = m.group(0), s[:m.start()], s[m.end():].lstrip()
        if before and (before[-1].isdigit() or before[-1] == "."):
            continue  # 1e9, 5m
        if after.startswith("(") or tok in KEYWORDS:
            continue
        names.add(tok)
    return names


def load_catalog():
    cat = yaml.safe_load(open(os.path.join(HERE, "metric-catalog.yaml")))["sources"]
    known = {}
    for src, spec in cat.items():
        for name, kind in spec["metrics"].items():
            known[name] = (src, kind["kind"] if isinstance(kind, dict) else kind)
    return cat, known


def load_rules():
    recorded, exprs = set(), []
    for path in sorted(glob.glob(os.path.join(MON, "prometheus", "rules", "*.yaml"))):
        for g in yaml.safe_load(open(path))["groups"]:
            for r in g["rules"]:
                if "record" in r:
                    recorded.add(r["record"])
                exprs.append((f"{os.path.basename(path)}:{r.get('record') or r.get('alert')}", r["expr"]))
    return recorded, exprs


def known_metric(name, known, recorded):
    if name in known or name in recorded:
        return True
    for suf in HIST_SUFFIXES:
        base = name[: -len(suf)]
        if name.endswith(suf) and known.get(base, (None, None))[1] == "histogram":
            return True
    return False


def promtool_parse(items, report):
    """items: [(label, expr)] -> one rule group per expression so a failure names its panel."""
    groups = [{"name": label, "rules": [{"record": "check:parse", "expr": expr}]} for label, expr in items]
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        yaml.safe_dump({"groups": groups}, f)
        tmp = f.name
    try:
        res = subprocess.run(["promtool", "check", "rules", tmp], capture_output=True, text=True)
    finally:
        os.unlink(tmp)
    report.check(res.returncode == 0, f"promtool parses all {len(items)} dashboard expressions",
                 (res.stdout + res.stderr).strip()[-3000:])


def query(url, expr):
    data = urllib.parse.urlencode({"query": expr}).encode()
    req = urllib.request.Request(url.rstrip("/") + "/api/v1/query", data=data)
    try:
        body = json.load(urllib.request.urlopen(req, timeout=30))
    except urllib.error.HTTPError as e:
        body = json.load(e)
    if body.get("status") != "success":
        raise RuntimeError(body.get("error", body))
    return body["data"]["result"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dashboards", default=os.path.join(MON, "grafana", "dashboards"))
    ap.add_argument("--min-dashboards", type=int, default=6, help="fail when fewer dashboards are found")
    ap.add_argument("--prometheus", help="base URL of a Prometheus to run every panel query against")
    ap.add_argument("--context", default="compose", help="allow-list section for legitimately empty panels")
    ap.add_argument("--allowlist", default=os.path.join(HERE, "live-allowlist.yaml"))
    ap.add_argument("--rate-interval", default="1m", help="value for $__rate_interval (>= 4x scrape interval)")
    ap.add_argument("--verify-sources", default="", help="comma-separated catalog sources whose metrics must all exist")
    args = ap.parse_args()
    rep = Report()

    ds_uids = {}
    for path in glob.glob(os.path.join(MON, "grafana", "provisioning", "datasources", "*.yaml")):
        for ds in yaml.safe_load(open(path)).get("datasources", []):
            ds_uids[ds["uid"]] = ds["type"]
    rep.check("prometheus" in ds_uids and "jaeger" in ds_uids, "datasources prometheus and jaeger are provisioned",
              str(ds_uids))

    dashboards = load_dashboards(args.dashboards)
    rep.check(len(dashboards) >= args.min_dashboards, f"at least {args.min_dashboards} dashboards found ({len(dashboards)})")
    cat, known = load_catalog()
    recorded, rule_exprs = load_rules()
    uids, titles, parse_items, live_items, var_items = {}, {}, [], [], []
    for path, d in dashboards:
        name = os.path.relpath(path, args.dashboards)
        uid = d.get("uid")
        rep.check(bool(uid) and uid not in uids, f"{name}: uid {uid!r} is set and unique", f"also in {uids.get(uid)}")
        uids[uid] = name
        rep.check(d.get("title") not in titles, f"{name}: title unique")
        titles[d.get("title")] = name
        rep.check(d.get("schemaVersion", 0) >= 39, f"{name}: schemaVersion >= 39", str(d.get("schemaVersion")))
        rep.check("${DS_" not in json.dumps(d) and "__inputs" not in d, f"{name}: no ${{DS_...}} import placeholders")
        # ${name} of a datasource variable stands for its default (current) uid.
        ds_vars = {f"${{{v['name']}}}": (v.get("current") or {}).get("value")
                   for v in d.get("templating", {}).get("list", []) if v.get("type") == "datasource"}
        for v in d.get("templating", {}).get("list", []):
            if v.get("type") == "datasource":
                default = (v.get("current") or {}).get("value")
                rep.check(ds_uids.get(default) == v.get("query"),
                          f"{name} ${v['name']}: default {default!r} is a provisioned {v.get('query')} datasource")
        for where, ref in datasource_refs(d):
            ds_uid = ds_vars.get(ref.get("uid"), ref.get("uid")) if isinstance(ref, dict) else None
            ok = isinstance(ref, dict) and (ds_uid in ds_uids and ds_uids[ds_uid] == ref.get("type")
                                            or ref.get("type") == "grafana")
            rep.check(ok, f"{name} {where}: datasource {ref!r} resolves to a provisioned uid")
        for v in d.get("templating", {}).get("list", []):
            if v.get("type") != "query":
                continue
            e = variable_expr(v["query"])
            if e:
                label = f"{uid}/${v['name']}"
                parse_items.append((label, substitute(e)))
                var_items.append((label, substitute(e)))
                for m in metric_names(substitute(e)):
                    rep.check(known_metric(m, known, recorded), f"{label}: metric {m} is in the catalog")
        panels = [p for p in all_panels(d.get("panels", [])) if p.get("type") != "row"]
        rep.check(len(panels) > 0, f"{name}: has panels")
        for p in panels:
            title = p.get("title", "?")
            targets = p.get("targets", [])
            rep.check(len(targets) > 0 and all(t.get("expr") for t in targets), f"{uid}/{title}: has PromQL targets")
            rep.check("gridPos" in p, f"{uid}/{title}: has gridPos")
            for t in targets:
                e = substitute(t.get("expr", ""), args.rate_interval)
                label = f"{uid}/{title}/{t.get('refId')}"
                parse_items.append((label, e))
                live_items.append((f"{uid}/{title}", label, e))
                for m in metric_names(e):
                    rep.check(known_metric(m, known, recorded), f"{label}: metric {m} is in the catalog",
                              "add it to monitoring/tests/metric-catalog.yaml with its source, or fix the name")
    for label, e in rule_exprs:
        for m in metric_names(e):
            rep.check(known_metric(m, known, recorded), f"rule {label}: metric {m} is in the catalog")
    promtool_parse(parse_items, rep)
    print(f"static: {len(dashboards)} dashboards, {len(live_items)} panel queries, {len(var_items)} variable queries")

    if args.prometheus:
        allow = yaml.safe_load(open(args.allowlist)) or {}
        allowed = {}
        for e in allow.get(args.context) or []:
            # An entry with while_empty applies only while that query returns nothing: it expires
            # by itself when the feature it waits for shows up in the metrics.
            cond = e.get("while_empty")
            if cond and query(args.prometheus, cond):
                print(f"  allow-list entry {e['panel']!r} no longer applies ({cond} has data)")
                continue
            allowed[e["panel"]] = e["reason"]
        seen_panels = {p for p, _, _ in live_items}
        for panel in allowed:
            rep.check(panel in seen_panels, f"allow-list entry {panel!r} names an existing panel")
        results = {}
        for panel, label, e in live_items:
            try:
                n = len(query(args.prometheus, e))
            except Exception as ex:  # a query error is a failure whatever the allow-list says
                rep.check(False, f"live {label}: query runs", str(ex))
                continue
            results[panel] = results.get(panel, 0) + n
        for panel, n in results.items():
            if panel in allowed:
                rep.check(n == 0, f"live {panel}: allow-listed as empty ({allowed[panel]})",
                          f"it returns {n} series now: remove it from {os.path.basename(args.allowlist)}")
                print(f"  empty (allowed) {panel}: {allowed[panel]}")
            else:
                if rep.check(n > 0, f"live {panel}: returns >= 1 series", "no data"):
                    print(f"  ok {n:4d} series  {panel}")
        for label, e in var_items:
            try:
                n = len(query(args.prometheus, e))
            except Exception as ex:
                n = 0
                print(f"  error {ex}")
            rep.check(n > 0, f"live variable {label}: has values")
        for src in [s for s in args.verify_sources.split(",") if s]:
            for m, kind in cat[src]["metrics"].items():
                spec = kind if isinstance(kind, dict) else {"kind": kind}
                name = m + "_count" if spec["kind"] == "histogram" else m
                n = len(query(args.prometheus, f"count({{__name__=\"{name}\"}})"))
                cond = spec.get("absent_ok_while_empty")
                if n == 0 and cond and not query(args.prometheus, cond):
                    print(f"  catalog {src}: {name} absent, allowed while {cond} is empty: {spec.get('reason')}")
                    continue
                rep.check(n > 0, f"catalog {src}: {name} exists in {args.prometheus}")
    print(f"{rep.passed} passed, {rep.failed} failed")
    return 1 if rep.failed else 0


if __name__ == "__main__":
    sys.exit(main())
