#!/usr/bin/env python3
"""Result handling for the benchmark scripts (standard library only, so it runs in a bare
Debian image with python3).

  benchlib.py sysbench --records F --log LOG --test NAME --threads N [--group G] [--extra k=v]
  benchlib.py wrk      --records F --log LOG --test NAME --connections N --threads N
  benchlib.py openloop --records F --log LOG --test NAME --connections N --threads 1
                                                           (a zufang-openloop run: fixed rate)
  benchlib.py finish   --dir DIR --suite SUITE [k=v ...]   -> results.json, results.csv, profile.json
  benchlib.py profile                                      -> machine profile as JSON on stdout
  benchlib.py discover --url URL --out LUA [--paths-out F]  -> Lua config for bench/http/mix.lua
                                                           (and the same mix as request lines)
  benchlib.py login    --url URL --user U --password-file F --out TOKENFILE
  benchlib.py percentile --log LOG --pct 95                 -> percentile from a sysbench histogram
  benchlib.py failover-trials --dir DIR --rate N --timeout S --template TMPL [--docs FILE]
                                                           -> trials.md (+ records) from a failover run

Every parse fails loudly (exit 3) when the tool's output lacks the numbers we need, so a
changed or failed tool run never becomes a silent zero in a report.
"""
import argparse
import csv
import datetime as _dt
import itertools
import json
import math
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request

SCHEMA = 1
CSV_FIELDS = [
    "tool", "suite", "test", "group", "threads", "connections", "throughput", "unit", "qps",
    "lat_avg_ms", "lat_p95_ms", "lat_p99_ms", "errors", "duration_s",
]


class ParseError(Exception):
    pass


def _num(pattern, text, required=True, group=1):
    m = re.search(pattern, text, re.M)
    if not m:
        if required:
            raise ParseError(f"pattern not found in tool output: {pattern!r}")
        return None
    return float(m.group(group))


# --- sysbench ---------------------------------------------------------------------------
def histogram(text):
    """(value_ms, count) pairs of sysbench's --histogram output, in ascending order."""
    m = re.search(r"Latency histogram \(values are in milliseconds\)\n(.*?)\n\s*\n", text, re.S)
    if not m:
        return []
    rows = []
    for line in m.group(1).splitlines():
        hm = re.match(r"\s*([0-9.]+)\s*\|[* ]*\s(\d+)\s*$", line)
        if hm:
            rows.append((float(hm.group(1)), int(hm.group(2))))
    return rows


def hist_percentile(rows, pct):
    """sysbench's own rule (sb_histogram_get_pct): first bucket whose cumulative count reaches
    pct% of all events, that count rounded half up (sparse tails make the rounding visible)."""
    total = sum(c for _, c in rows)
    if total == 0:
        return None
    need = math.floor(total * pct / 100.0 + 0.5)
    acc = 0
    for value, count in rows:
        acc += count
        if acc >= need:
            return value
    return rows[-1][0]


def parse_sysbench(text, test):
    rec = {"tool": "sysbench"}
    rec["duration_s"] = _num(r"total time:\s+([0-9.]+)s", text)
    events = _num(r"total number of events:\s+([0-9.]+)", text)
    rec["lat_avg_ms"] = _num(r"^\s+avg:\s+([0-9.]+)", text)
    # sysbench prints avg with 2 decimals (0.00 for fast file reads); sum/events keeps precision.
    lat_sum = _num(r"^\s+sum:\s+([0-9.]+)", text, required=False)
    if lat_sum and events:
        rec["lat_avg_ms"] = lat_sum / events
    rows = histogram(text)
    if not rows:
        raise ParseError("no latency histogram (run sysbench with --histogram=on)")
    rec["lat_p95_ms"] = hist_percentile(rows, 95)
    rec["lat_p99_ms"] = hist_percentile(rows, 99)
    reported_p95 = _num(r"95th percentile:\s+([0-9.]+)", text, required=False)
    extra = {"events": events, "lat_max_ms": _num(r"^\s+max:\s+([0-9.]+)", text)}
    if reported_p95 is not None:
        extra["sysbench_p95_ms"] = reported_p95
    rec["errors"] = 0
    rec["qps"] = None
    if test.startswith("oltp"):
        rec["throughput"] = _num(r"transactions:\s+\d+\s+\(\s*([0-9.]+) per sec", text)
        rec["unit"] = "tps"
        rec["qps"] = _num(r"queries:\s+\d+\s+\(\s*([0-9.]+) per sec", text)
        rec["errors"] = int(_num(r"ignored errors:\s+(\d+)", text))
        extra["reconnects"] = int(_num(r"reconnects:\s+(\d+)", text))
    elif test.startswith("cpu"):
        rec["throughput"] = _num(r"events per second:\s+([0-9.]+)", text)
        rec["unit"] = "events/s"
    elif test.startswith("memory"):
        rec["throughput"] = _num(r"MiB transferred \(\s*([0-9.]+) MiB/sec\)", text)
        rec["unit"] = "MiB/s"
        extra["ops_per_s"] = _num(r"Total operations:\s+\d+\s+\(\s*([0-9.]+) per second\)", text)
    elif test.startswith("fileio"):
        r = _num(r"reads/s:\s+([0-9.]+)", text)
        w = _num(r"writes/s:\s+([0-9.]+)", text)
        extra["fsyncs_per_s"] = _num(r"fsyncs/s:\s+([0-9.]+)", text)
        extra["read_mib_s"] = _num(r"read, MiB/s:\s+([0-9.]+)", text)
        extra["written_mib_s"] = _num(r"written, MiB/s:\s+([0-9.]+)", text)
        rec["throughput"] = r + w
        rec["unit"] = "IOPS"
    else:  # threads, mutex: events over wall time
        rec["throughput"] = events / rec["duration_s"] if rec["duration_s"] else 0.0
        rec["unit"] = "events/s"
    rec["extra"] = extra
    return rec


# --- wrk --------------------------------------------------------------------------------
def parse_wrk(text):
    m = re.search(r"^WRK_JSON (\{.*\})\s*$", text, re.M)
    if not m:
        raise ParseError("no WRK_JSON summary line (did wrk run bench/http/mix.lua?)")
    s = json.loads(m.group(1))
    dur = s["duration_us"] / 1e6
    errs = s["errors"]
    socket_errors = errs["connect"] + errs["read"] + errs["write"] + errs["timeout"]
    return {
        "tool": "wrk",
        "duration_s": dur,
        "throughput": s["requests"] / dur if dur else 0.0,
        "unit": "req/s",
        "qps": None,
        "lat_avg_ms": s["latency"]["mean_us"] / 1000.0,
        "lat_p95_ms": s["latency"]["p95_us"] / 1000.0,
        "lat_p99_ms": s["latency"]["p99_us"] / 1000.0,
        "errors": socket_errors + errs["status"],
        "extra": {
            "requests": s["requests"], "bytes": s["bytes"],
            "lat_p50_ms": s["latency"]["p50_us"] / 1000.0,
            "lat_max_ms": s["latency"]["max_us"] / 1000.0,
            "socket_errors": errs, "status_classes": s.get("status", {}),
            "authenticated_share": s.get("auth_share"),
            "upstreams": s.get("upstreams", {}),
        },
    }


def parse_openloop(text):
    """The OPENLOOP_JSON line of bench/openloop (zufang-openloop): latency from each request's due
    time at a fixed rate, so the percentiles include the queueing a closed loop hides."""
    m = re.search(r"^OPENLOOP_JSON (\{.*\})\s*$", text, re.M)
    if not m:
        raise ParseError("no OPENLOOP_JSON summary line (did zufang-openloop run?)")
    s = json.loads(m.group(1))
    lat = s["latency_ms"]
    bad_status = sum(n for k, n in s["status"].items() if not k.startswith(("2", "3")))
    return {
        "tool": "openloop",
        "duration_s": s["elapsed_s"],
        "throughput": s["rate_achieved"],
        "unit": "req/s",
        "qps": None,
        "lat_avg_ms": lat["mean"],
        "lat_p95_ms": lat["p95"],
        "lat_p99_ms": lat["p99"],
        "errors": s["errors"] + bad_status,
        "extra": {
            "rate_target": s["rate"], "requests": s["requests"], "answers": s["answers"],
            "lat_p50_ms": lat["p50"], "lat_p90_ms": lat["p90"], "lat_p999_ms": lat["p999"],
            "lat_max_ms": lat["max"], "error_kinds": s["error_kinds"], "status_classes": s["status"],
            "keepalive": s["keepalive"], "timeout_s": s["timeout_s"],
        },
    }


PARSERS = {"wrk": parse_wrk, "openloop": parse_openloop}


def _extra_pairs(pairs):
    out = {}
    for p in pairs or []:
        k, _, v = p.partition("=")
        if k:
            out[k] = v
    return out


def cmd_parse(args, tool):
    with open(args.log, encoding="utf-8", errors="replace") as f:
        text = f.read()
    try:
        rec = parse_sysbench(text, args.test) if tool == "sysbench" else PARSERS[tool](text)
    except (ParseError, KeyError, ValueError) as e:
        print(f"benchlib: cannot parse {args.log}: {e}", file=sys.stderr)
        return 3
    rec.update({
        "test": args.test, "group": args.group or args.test,
        "threads": args.threads, "connections": args.connections,
    })
    rec["extra"].update(_extra_pairs(args.extra))
    for k in ("throughput", "qps", "lat_avg_ms", "lat_p95_ms", "lat_p99_ms", "duration_s"):
        if isinstance(rec.get(k), float):
            rec[k] = round(rec[k], 4)
    rec["log"] = os.path.basename(args.log)
    with open(args.records, "a", encoding="utf-8") as f:
        f.write(json.dumps(rec, sort_keys=True) + "\n")
    x = f"threads={args.threads}" if tool == "sysbench" else f"connections={args.connections}"
    qps = f" ({rec['qps']:.1f} qps)" if rec.get("qps") else ""
    print(f"  {args.test} {x}: {rec['throughput']:.1f} {rec['unit']}{qps}, "
          f"avg {rec['lat_avg_ms']:.2f} ms, p95 {rec['lat_p95_ms']:.2f} ms, "
          f"p99 {rec['lat_p99_ms']:.2f} ms, errors {rec['errors']}", file=sys.stderr)
    return 0


# --- machine profile --------------------------------------------------------------------
def _first_line(cmd):
    if not shutil.which(cmd[0]):
        return None
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0] if text else None


def _line_starting(path, prefix):
    """The first line of a text file that starts with prefix, or None (also when unreadable)."""
    try:
        with open(path, encoding="utf-8") as f:
            return next((line for line in f if line.startswith(prefix)), None)
    except OSError:
        return None


def profile():
    line = _line_starting("/proc/cpuinfo", "model name")
    cpu_model = line.split(":", 1)[1].strip() if line else None
    line = _line_starting("/proc/meminfo", "MemTotal:")
    mem_kib = int(line.split()[1]) if line else None
    line = _line_starting("/etc/os-release", "PRETTY_NAME=")
    os_name = line.split("=", 1)[1].strip().strip('"') if line else None
    try:
        load = list(os.getloadavg())
    except OSError:
        load = None
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "hostname": platform.node(),
        "cpu_model": cpu_model or platform.processor() or "unknown",
        "cpu_cores_online": os.cpu_count(),
        "cpu_cores_usable": usable,
        "memory_mib": round(mem_kib / 1024) if mem_kib else None,
        "kernel": platform.release(),
        "os": os_name,
        "container": os.path.exists("/.dockerenv") or os.path.exists("/run/.containerenv"),
        "loadavg_at_end": load,
        "versions": {
            "sysbench": _first_line(["sysbench", "--version"]),
            "wrk": (_first_line(["wrk", "--version"]) or "").split(" [")[0] or None,
            "python": platform.python_version(),
        },
    }


def cmd_finish(args):
    records = []
    path = os.path.join(args.dir, "records.jsonl")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            records = [json.loads(line) for line in f if line.strip()]
    for r in records:
        r["suite"] = args.suite
    prof = profile()
    params = _extra_pairs(args.params)
    for k in list(params):
        if k.startswith("version_"):
            prof["versions"][k[len("version_"):]] = params.pop(k)
    doc = {
        "schema": SCHEMA,
        "suite": args.suite,
        "finished_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "params": params,
        "profile": prof,
        "results": records,
    }
    with open(os.path.join(args.dir, "results.json"), "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2, sort_keys=True)
        f.write("\n")
    with open(os.path.join(args.dir, "profile.json"), "w", encoding="utf-8") as f:
        json.dump(prof, f, indent=2, sort_keys=True)
        f.write("\n")
    with open(os.path.join(args.dir, "results.csv"), "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS, extrasaction="ignore")
        w.writeheader()
        for r in records:
            w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in CSV_FIELDS})
    if not records:
        print("benchlib: no results were recorded", file=sys.stderr)
        return 4
    return 0


# --- HTTP helpers for the wrk mix -------------------------------------------------------
ID_KEYS = ("id", "distid", "estateid", "houseid", "district_id", "estate_id", "house_id")


def _get_json(url, token=None, timeout=10):
    req = urllib.request.Request(url, headers={"Accept": "application/json"})
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read().decode("utf-8"))


def _ids(doc, limit=200):
    items = doc.get("results", doc) if isinstance(doc, dict) else doc
    out = []
    if isinstance(items, list):
        for it in items:
            if isinstance(it, dict):
                for k in ID_KEYS:
                    if isinstance(it.get(k), int):
                        out.append(it[k])
                        break
    return out[:limit]


def _children_ids(doc):
    """District ids nested in a district detail (the tree's next level), whatever the key."""
    out = []
    if isinstance(doc, dict):
        for v in doc.values():
            if isinstance(v, list):
                out.extend(_ids(v))
    return out


def _lua_list(xs):
    return "{" + ",".join(str(int(x)) for x in xs) + "}"


def _lua_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _items(doc):
    items = doc.get("results", []) if isinstance(doc, dict) else doc
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


def _col(items, key):
    return sorted({i[key] for i in items if isinstance(i.get(key), int)})


def cmd_discover(args):
    """Sample real ids and value ranges from the target, so the mix asks for rows that exist
    (a 404 is cheaper than a hit and would flatter the numbers)."""
    base = args.url.rstrip("/")
    try:
        dist_doc = _get_json(f"{base}/api/districts/?size=100")
        est_items = _items(_get_json(f"{base}/api/estates/?size=100"))
        house_items = _items(_get_json(f"{base}/api/houses/?size=100"))
        districts = _ids(dist_doc)
        children = []
        for d in districts[:5]:
            children.extend(_children_ids(_get_json(f"{base}/api/districts/{d}/")))
    except (urllib.error.URLError, OSError, ValueError) as e:
        print(f"benchlib: target {base} did not answer the API: {e}", file=sys.stderr)
        return 5
    estates = _ids(est_items)
    houses = _ids(house_items)
    missing = [n for n, v in (("districts", districts), ("estates", estates), ("houses", houses)) if not v]
    if missing:
        print(f"benchlib: {base} returned no {', '.join(missing)} (is the database seeded?)",
              file=sys.stderr)
        return 5
    weights = {}
    for part in args.mix.split(","):
        k, _, v = part.partition("=")
        if not v.strip().isdigit():
            print(f"benchlib: bad --mix entry {part!r} (want name=weight)", file=sys.stderr)
            return 2
        weights[k.strip()] = int(v)
    known = {"districts", "district", "hot_cities", "estates", "estate", "houses", "house", "me"}
    unknown = set(weights) - known
    if unknown:
        print(f"benchlib: unknown --mix names {sorted(unknown)}; known: {sorted(known)}",
              file=sys.stderr)
        return 2
    prices = [i["price"] for i in house_items if isinstance(i.get("price"), int)] or [1000, 10000]
    hots = [i["hot"] for i in est_items if isinstance(i.get("hot"), int)] or [0, 100]
    lines = [
        "-- generated by benchlib.py discover; read by mix.lua",
        "return {",
        f"  auth_share = {float(args.auth_share)},",
        f"  token_file = {_lua_str(args.token_file or '')},",
        f"  interval = {int(args.interval)},",
        "  weights = {" + ",".join(f"{k}={v}" for k, v in weights.items()) + "},",
        f"  districts = {_lua_list(districts + children)},",
        f"  estate_dists = {_lua_list(_col(est_items, 'district_id') or districts)},",
        f"  house_cities = {_lua_list(_col(house_items, 'city_id') or districts)},",
        f"  house_dists = {_lua_list(_col(house_items, 'district_id') or districts)},",
        f"  estates = {_lua_list(estates)},",
        f"  houses = {_lua_list(houses)},",
        f"  price_lo = {min(prices)}, price_hi = {max(prices)},",
        f"  hot_lo = {min(hots)}, hot_hi = {max(hots)},",
        "}",
    ]
    with open(args.out, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    if args.paths_out:
        pools = {"districts": districts + children, "estate_dists": _col(est_items, "district_id") or districts,
                 "house_cities": _col(house_items, "city_id") or districts,
                 "house_dists": _col(house_items, "district_id") or districts, "estates": estates,
                 "houses": houses, "price": (min(prices), max(prices)), "hot": (min(hots), max(hots))}
        with open(args.paths_out, "w", encoding="utf-8") as f:
            f.write("\n".join(mix_paths(weights, pools, float(args.auth_share), bool(args.token_file),
                                         args.paths_count)) + "\n")
    print(f"  target ok: {len(districts)} districts (+{len(children)} children), "
          f"{len(estates)} estates, {len(houses)} houses sampled", file=sys.stderr)
    return 0


def mix_paths(weights, pools, auth_share, have_token, count, seed=1):
    """COUNT request lines of the same mix as mix.lua draws for wrk, for zufang-openloop's --paths:
    a path, or 'AUTH path' for one sent with the JWT (the auth share, and every /api/users/me/)."""
    rnd = random.Random(seed)
    kinds = [(k, w) for k, w in weights.items() if w > 0 and (k != "me" or have_token)] or [("districts", 1)]
    names, cum = [k for k, _ in kinds], list(itertools.accumulate(w for _, w in kinds))

    def price():
        lo = rnd.randint(*pools["price"])
        return lo, rnd.randint(lo, pools["price"][1])

    def estates():
        q = ["size=10", f"page={rnd.randint(1, 2)}"]
        r = rnd.randint(1, 3)
        if r == 1:
            q.append(f"dist={rnd.choice(pools['estate_dists'])}")
        if r == 2:
            lo = rnd.randint(*pools["hot"])
            q += [f"minhot={lo}", f"maxhot={rnd.randint(lo, pools['hot'][1])}"]
        q.append("ordering=" + rnd.choice(["-hot", "name", "id"]))
        return "/api/estates/?" + "&".join(q)

    def houses():
        q = ["size=10"]
        r = rnd.randint(1, 4)
        if r == 1:
            q.append(f"district={rnd.choice(pools['house_dists'])}")
        if r == 2:
            q.append(f"city={rnd.choice(pools['house_cities'])}")
        if r <= 3:
            lo, hi = price()
            q += [f"minprice={lo}", f"maxprice={hi}"]
        q.append("ordering=" + rnd.choice(["price", "-price", "-published_at", "area"]))
        return "/api/houses/?" + "&".join(q)

    paths = {
        "districts": lambda: "/api/districts/",
        "district": lambda: f"/api/districts/{rnd.choice(pools['districts'])}/",
        "hot_cities": lambda: "/api/hot-cities/",
        "estate": lambda: f"/api/estates/{rnd.choice(pools['estates'])}/",
        "house": lambda: f"/api/houses/{rnd.choice(pools['houses'])}/",
        "me": lambda: "/api/users/me/",
        "estates": estates,
        "houses": houses,
    }
    out = []
    for _ in range(count):
        kind = rnd.choices(names, cum_weights=cum)[0]
        auth = kind == "me" or (have_token and rnd.random() < auth_share)
        out.append(("AUTH " if auth else "") + paths[kind]())
    return out


def _try_http(what, request):
    """request() or, when it fails with an HTTP status or a network or JSON error, None after one
    line on stderr naming WHAT and the cause."""
    try:
        return request()
    except urllib.error.HTTPError as e:
        print(f"benchlib: {what}: HTTP {e.code}", file=sys.stderr)
    except (urllib.error.URLError, OSError, ValueError) as e:
        print(f"benchlib: {what}: {e}", file=sys.stderr)
    return None


def cmd_login(args):
    with open(args.password_file, encoding="utf-8") as f:
        password = f.read().rstrip("\n")
    body = json.dumps({args.field: args.user, "password": password}).encode()
    req = urllib.request.Request(
        args.url.rstrip("/") + "/api/tokens/", data=body, method="POST",
        headers={"Content-Type": "application/json", "Accept": "application/json"})
    def post():
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read().decode("utf-8"))
    doc = _try_http("login failed: POST /api/tokens/", post)
    if doc is None:
        return 6
    token = None
    for k in ("token", "access", "access_token"):
        if isinstance(doc.get(k), str):
            token = doc[k]
            break
    if not token:
        print(f"benchlib: login answered without a token (keys: {sorted(doc)})", file=sys.stderr)
        return 6
    fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    # Prove the token works before spending a sweep on 401s.
    me = _try_http("token check failed: GET /api/users/me/",
                   lambda: _get_json(args.url.rstrip("/") + "/api/users/me/", token=token))
    return 6 if me is None else 0


# --- the hard-failover benchmark (bench/failover/hard-kill.sh) ---------------------------
DOCS_BEGIN, DOCS_END = "<!-- failover-bench:begin -->", "<!-- failover-bench:end -->"


def _ka_settings(template):
    """The keepalived settings the run used, read from the template: name -> value."""
    with open(template, encoding="utf-8") as f:
        text = f.read()
    out = {}
    for key in ("vrrp_version", "advert_int", "interval", "fall", "rise", "timeout"):
        m = re.search(rf"^\s*{key}\s+([0-9.]+)", text, re.M)
        out[key] = m.group(1) if m else "?"
    return out


def cmd_failover_trials(args):
    """Split the open-loop request log of a failover run into its trials (from 3 s before each kill
    to 3 s before the next) and write the table: VIP move time, requests, failures (anything but a
    2xx/3xx answer within the client timeout), requests slower than 1 s, p99 and max latency."""
    raw = os.path.join(args.dir, "raw")
    trials = []
    with open(os.path.join(raw, "trials.tsv"), encoding="utf-8") as f:
        for line in f:
            i, frm, to, t0, ms = line.split()
            trials.append({"trial": int(i), "from": frm, "to": to, "t0": float(t0), "moved_ms": int(ms)})
    if not trials:
        print("benchlib: no trials recorded", file=sys.stderr)
        return 4
    with open(os.path.join(raw, "requests.csv"), encoding="utf-8") as f:
        reqs = [(float(r["due_unix_s"]), float(r["latency_ms"]), r["outcome"]) for r in csv.DictReader(f)]
    if not reqs:
        print("benchlib: the request log is empty", file=sys.stderr)
        return 4
    starts = [t["t0"] - 3 for t in trials] + [math.inf]
    for k, t in enumerate(trials):
        mine = [r for r in reqs if starts[k] <= r[0] < starts[k + 1]]
        lat = sorted(r[1] for r in mine)
        t["requests"] = len(mine)
        t["failed"] = sum(1 for r in mine if not (r[2].isdigit() and r[2][0] in "23"))
        t["over_1s"] = sum(1 for x in lat if x > 1000)
        t["p99_ms"] = lat[max(0, math.ceil(0.99 * len(lat)) - 1)] if lat else 0.0
        t["max_ms"] = lat[-1] if lat else 0.0
    with open(os.path.join(raw, "keepalived.log"), encoding="utf-8", errors="replace") as f:
        masters = sum(1 for line in f if "Entering MASTER STATE" in line)
    flaps = masters - (1 + len(trials))  # lb1's first election, then one per kill
    ka = _ka_settings(args.template)
    total = sum(t["requests"] for t in trials)
    failed = sum(t["failed"] for t in trials)
    within = sum(1 for t in trials if 0 <= t["moved_ms"] <= 1000)
    lines = [
        f"Measured {_dt.datetime.now(_dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')} by "
        f"`bench/failover/hard-kill.sh` on {os.cpu_count()} cores: keepalived VRRPv{ka['vrrp_version']}, "
        f"`advert_int {ka['advert_int']}`, priorities 250/240, `nopreempt`, check `interval {ka['interval']}` "
        f"`fall {ka['fall']}` `rise {ka['rise']}`; {args.rate} requests/s open loop to the VIP "
        f"(zufang-openloop, a new connection per request, client timeout {args.timeout} s) from a client namespace.",
        "",
        "| trial | killed | VIP moved after | requests | failed | slower than 1 s | p99 | max |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for t in trials:
        moved = f"{t['moved_ms']} ms" if t["moved_ms"] >= 0 else "not within 5 s"
        lines.append(f"| {t['trial']} | {t['from']} | {moved} | {t['requests']} | {t['failed']} | {t['over_1s']} "
                     f"| {t['p99_ms']:.0f} ms | {t['max_ms']:.0f} ms |")
    pct = 100.0 * failed / total if total else 0.0
    lines += [
        f"| **all** | | **{within} of {len(trials)} within 1 s** | **{total}** | **{failed} ({pct:.2f} %)** | "
        f"{sum(t['over_1s'] for t in trials)} | | |",
        "",
        f"VRRP transitions beyond the kills (flapping): {flaps}.",
    ]
    table = "\n".join(lines) + "\n"
    with open(os.path.join(args.dir, "trials.md"), "w", encoding="utf-8") as f:
        f.write(table)
    with open(os.path.join(args.dir, "records.jsonl"), "a", encoding="utf-8") as f:
        for t in trials:
            f.write(json.dumps({"tool": "failover", "test": "hard_kill", "group": "hard_kill", "threads": 1,
                                "connections": None, "throughput": None, "unit": "ms", "qps": None,
                                "lat_avg_ms": t["moved_ms"], "lat_p95_ms": None, "lat_p99_ms": t["p99_ms"],
                                "errors": t["failed"], "duration_s": None, "extra": t}, sort_keys=True) + "\n")
    print(table, end="")
    if args.docs:
        with open(args.docs, encoding="utf-8") as f:
            doc = f.read()
        if DOCS_BEGIN not in doc or DOCS_END not in doc:
            print(f"benchlib: {args.docs} lacks the {DOCS_BEGIN} / {DOCS_END} lines", file=sys.stderr)
            return 2
        head, rest = doc.split(DOCS_BEGIN, 1)
        _, tail = rest.split(DOCS_END, 1)
        with open(args.docs, "w", encoding="utf-8") as f:
            f.write(f"{head}{DOCS_BEGIN}\n{table}{DOCS_END}{tail}")
    return 0


def cmd_percentile(args):
    with open(args.log, encoding="utf-8") as f:
        v = hist_percentile(histogram(f.read()), args.pct)
    if v is None:
        return 3
    print(v)
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    for tool in ("sysbench", "wrk", "openloop"):
        s = sub.add_parser(tool)
        s.add_argument("--records", required=True)
        s.add_argument("--log", required=True)
        s.add_argument("--test", required=True)
        s.add_argument("--group")
        s.add_argument("--threads", type=int, required=True)
        s.add_argument("--connections", type=int)
        s.add_argument("--extra", action="append")
    s = sub.add_parser("finish")
    s.add_argument("--dir", required=True)
    s.add_argument("--suite", required=True)
    s.add_argument("params", nargs="*")
    sub.add_parser("profile")
    s = sub.add_parser("discover")
    s.add_argument("--url", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--auth-share", default="0")
    s.add_argument("--token-file")
    s.add_argument("--interval", default="0")
    s.add_argument("--mix", required=True)
    s.add_argument("--paths-out", help="also write request lines for zufang-openloop --paths")
    s.add_argument("--paths-count", type=int, default=5000)
    s = sub.add_parser("login")
    s.add_argument("--url", required=True)
    s.add_argument("--user", required=True)
    s.add_argument("--field", default="username")
    s.add_argument("--password-file", required=True)
    s.add_argument("--out", required=True)
    s = sub.add_parser("failover-trials")
    s.add_argument("--dir", required=True)
    s.add_argument("--rate", type=int, required=True)
    s.add_argument("--timeout", type=int, required=True)
    s.add_argument("--template", required=True)
    s.add_argument("--docs")
    s = sub.add_parser("percentile")
    s.add_argument("--log", required=True)
    s.add_argument("--pct", type=float, required=True)
    a = p.parse_args(argv)
    if a.cmd in ("sysbench", "wrk", "openloop"):
        return cmd_parse(a, a.cmd)
    if a.cmd == "finish":
        return cmd_finish(a)
    if a.cmd == "profile":
        json.dump(profile(), sys.stdout, indent=2, sort_keys=True)
        print()
        return 0
    if a.cmd == "discover":
        return cmd_discover(a)
    if a.cmd == "login":
        return cmd_login(a)
    if a.cmd == "failover-trials":
        return cmd_failover_trials(a)
    return cmd_percentile(a)


if __name__ == "__main__":
    sys.exit(main())
