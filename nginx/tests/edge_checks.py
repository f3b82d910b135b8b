#!/usr/bin/env python3
"""Behaviour checks for the zufang edge, run against a live nginx by nginx/tests/run.sh.

Each check prints one line, "ok   - NAME" or "FAIL - NAME: why"; run.sh counts them.
Groups (--group): static (nginx only), app (two app instances behind nginx), retry (one of them
stopped), recover (it restarted), browser (headless Chromium through nginx). Ports come from the command line; every
request goes to 127.0.0.1.
"""
import argparse
import base64
import gzip
import hashlib
import http.client
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

ARGS = None
RESULTS = []


def report(name, ok, why=""):
    RESULTS.append(ok)
    if ok:
        print(f"ok   - {name}", flush=True)
    else:
        print(f"FAIL - {name}: {why}", flush=True)


def run_check(name, fn):
    try:
        fn()
        report(name, True)
    except AssertionError as e:
        report(name, False, str(e) or "assertion failed")
    except Exception as e:  # a crash in a check is a failure of that check, not of the run
        report(name, False, f"{type(e).__name__}: {e}")


class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # lower-case name -> list of values
        self.body = body

    def h(self, name):
        values = self.headers.get(name.lower())
        return values[0] if values else None

    def json(self):
        data = self.body
        if self.h("content-encoding") == "gzip":
            data = gzip.decompress(data)
        return json.loads(data)


def request(method, path, port=None, headers=None, body=None, tls=False, timeout=10):
    port = port or ARGS.http_port
    if tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=timeout)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        hdrs = {}
        for k, v in r.getheaders():
            hdrs.setdefault(k.lower(), []).append(v)
        return Resp(r.status, hdrs, data)
    finally:
        conn.close()


def get(path, **kw):
    return request("GET", path, **kw)


def assert_security_headers(r, https=False):
    csp = r.h("content-security-policy") or ""
    assert "frame-ancestors 'none'" in csp, f"CSP lacks frame-ancestors 'none': {csp!r}"
    assert "default-src 'none'" in csp and "script-src 'self'" in csp, f"CSP too loose: {csp!r}"
    assert r.h("x-content-type-options") == "nosniff", f"X-Content-Type-Options={r.h('x-content-type-options')}"
    assert r.h("referrer-policy"), "no Referrer-Policy"
    assert r.h("x-frame-options") == "DENY", f"X-Frame-Options={r.h('x-frame-options')}"
    hsts = r.h("strict-transport-security")
    if https:
        assert hsts and "max-age=31536000" in hsts, f"no HSTS over https: {hsts!r}"
    else:
        assert hsts is None, f"HSTS sent over plain http: {hsts!r}"
    server = r.h("server") or ""
    assert not re.search(r"\d", server), f"Server header names a version: {server!r}"
    assert re.fullmatch(r"[A-Za-z0-9._-]{8,128}", r.h("x-request-id") or ""), f"bad X-Request-ID {r.h('x-request-id')!r}"


def index_assets():
    r = get("/")
    html = r.body.decode()
    return re.findall(r'(?:href|src)="(/assets/[^"]+)"', html)


# ---------------------------------------------------------------------------------------- static
def static_checks():
    def index_html():
        r = get("/")
        assert r.status == 200, f"status {r.status}"
        assert (r.h("content-type") or "").startswith("text/html"), r.h("content-type")
        assert r.h("cache-control") == "no-cache", f"HTML Cache-Control={r.h('cache-control')!r}, want no-cache"
        assert_security_headers(r)
        assert r.h("x-upstream") is None, "static file claims an upstream"

    def hashed_assets():
        assets = index_assets()
        assert len(assets) >= 2, f"index.html references {assets}"
        for path in assets:
            r = get(path)
            assert r.status == 200, f"{path}: {r.status}"
            m = re.fullmatch(r"/assets/[a-z]+\.([0-9a-f]{10})\.(css|js)", path)
            assert m, f"{path} has no content hash in its name"
            digest = hashlib.sha256(r.body).hexdigest()[:10]
            assert digest == m.group(1), f"{path}: content hash is {digest} (run nginx/hash-assets.sh)"
            cc = r.h("cache-control") or ""
            assert "max-age=31536000" in cc, f"{path}: Cache-Control={cc!r}"
            assert_security_headers(r)

    def gzip_text():
        js = [a for a in index_assets() if a.endswith(".js")][0]
        r = get(js, headers={"Accept-Encoding": "gzip"})
        assert r.h("content-encoding") == "gzip", f"no gzip for JS: {r.h('content-encoding')}"
        assert "Accept-Encoding" in (r.h("vary") or ""), f"Vary={r.h('vary')!r}"
        gzip.decompress(r.body)
        r = get(js)
        assert r.h("content-encoding") is None, "gzip sent to a client that did not ask"

    def request_id_generated():
        a, b = get("/").h("x-request-id"), get("/").h("x-request-id")
        assert re.fullmatch(r"[0-9a-f]{32}", a or ""), f"generated id {a!r} is not nginx's $request_id"
        assert a != b, "two requests got the same id"

    def request_id_echoed():
        rid = "edge-test-" + os.urandom(6).hex()
        r = get("/", headers={"X-Request-ID": rid})
        assert r.h("x-request-id") == rid, f"sent {rid}, got {r.h('x-request-id')}"

    def request_id_sanitised():
        bad = "x y<script>" + "z" * 10
        r = get("/", headers={"X-Request-ID": bad})
        got = r.h("x-request-id")
        assert got != bad and re.fullmatch(r"[0-9a-f]{32}", got or ""), f"malformed id kept: {got!r}"

    def internal_paths_404():
        for path in ("/metrics", "/readyz", "/healthz", "/stub_status", "/.git/config", "/.env"):
            for tls, port in ((False, ARGS.http_port), (True, ARGS.https_port)):
                r = get(path, port=port, tls=tls)
                assert r.status == 404, f"{'https' if tls else 'http'} {path}: {r.status}"

    def https_hsts_h2():
        r = get("/", port=ARGS.https_port, tls=True)
        assert r.status == 200, f"https status {r.status}"
        assert_security_headers(r, https=True)
        for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            ctx.minimum_version = ctx.maximum_version = version
            ctx.set_alpn_protocols(["h2", "http/1.1"])
            with socket.create_connection(("127.0.0.1", ARGS.https_port), timeout=5) as s:
                with ctx.wrap_socket(s) as t:
                    assert t.version() == {ssl.TLSVersion.TLSv1_2: "TLSv1.2", ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[version]
                    assert t.selected_alpn_protocol() == "h2", f"ALPN {t.selected_alpn_protocol()}"

    def old_tls_refused():
        # openssl's client still speaks TLS 1.1 at security level 0; the server must refuse it.
        out = subprocess.run(
            ["openssl", "s_client", "-connect", f"127.0.0.1:{ARGS.https_port}", "-tls1_1",
             "-cipher", "DEFAULT@SECLEVEL=0"],
            input=b"", capture_output=True, timeout=10)
        text = (out.stdout + out.stderr).decode(errors="replace")
        # A failed handshake still prints a session summary, with "Cipher is (NONE)".
        assert not re.search(r"Cipher is (?!\(NONE\))", text), "TLS 1.1 handshake succeeded"
        assert out.returncode != 0, "openssl s_client reported success"

    def status_port():
        r = get("/healthz", port=ARGS.status_port)
        assert r.status == 200 and json.loads(r.body) == {"status": "ok"}, f"{r.status} {r.body!r}"
        r = get("/stub_status", port=ARGS.status_port)
        assert r.status == 200 and b"Active connections" in r.body, f"{r.status} {r.body[:80]!r}"
        r = get("/metrics", port=ARGS.status_port)
        assert r.status == 404, f"/metrics on the status port: {r.status}"

    def redirect_mode():
        r = get("/api/districts/?page=2", port=ARGS.redirect_http_port)
        want = f"https://127.0.0.1:{ARGS.redirect_https_port}/api/districts/?page=2"
        assert r.status == 308, f"status {r.status}"
        assert r.h("location") == want, f"Location {r.h('location')!r}, want {want!r}"
        assert r.h("x-content-type-options") == "nosniff", "redirect lacks security headers"

    def body_limit():
        r = request("POST", "/api/estates/", body=b"x" * 100_000,
                    headers={"Content-Type": "application/json"})
        assert r.status == 413, f"100 kB body: {r.status}, want 413 (client_max_body_size 64k)"
        assert r.json()["error"]["code"] == "payload_too_large", f"body {r.body[:200]!r}"

    def login_rate_limit():
        responses = [request("POST", "/api/tokens/", body=b"{}", headers={"Content-Type": "application/json"})
                     for _ in range(12)]
        statuses = [r.status for r in responses]
        assert 503 not in statuses, f"limit answered 503: {statuses}"
        n429 = statuses.count(429)
        # burst=5 nodelay: the first 6 pass, the other 6 within the same second are rejected.
        assert n429 >= 6, f"expected >= 6 x 429 from 12 rapid logins, got {statuses}"
        body = [r for r in responses if r.status == 429][0].json()
        assert body["error"]["code"] == "rate_limited" and body["error"]["message"], f"429 body {body}"

    def sms_rate_limit():
        statuses = [request("POST", "/api/mobile-codes/13800138000/", body=b"",
                            headers={"Content-Type": "application/json"}).status for _ in range(8)]
        assert 503 not in statuses and statuses.count(429) >= 4, f"statuses {statuses}"

    def get_not_rate_limited():
        statuses = [get("/api/tokens/").status for _ in range(10)]
        assert 429 not in statuses, f"GETs on the login path were limited: {statuses}"

    def access_log_json():
        rid = "edge-log-" + os.urandom(6).hex()
        get("/", headers={"X-Request-ID": rid})
        time.sleep(0.3)
        lines = open(ARGS.access_log, encoding="utf-8").read().splitlines()
        assert lines, "empty access log"
        records = [json.loads(line) for line in lines]  # every line must be JSON
        mine = [r for r in records if r.get("request_id") == rid]
        assert len(mine) == 1, f"request id {rid} found {len(mine)} times"
        for key in ("status", "request_time", "upstream_addr", "upstream_connect_time",
                    "upstream_response_time", "remote_addr", "uri"):
            assert key in mine[0], f"log record lacks {key}: {mine[0]}"

    for name, fn in [
        ("static: index.html no-cache + security headers", index_html),
        ("static: hashed asset names, 1-year cache", hashed_assets),
        ("static: gzip for text assets, Vary", gzip_text),
        ("request id: generated when absent", request_id_generated),
        ("request id: client id echoed", request_id_echoed),
        ("request id: malformed client id replaced", request_id_sanitised),
        ("edge: /metrics /readyz /healthz /stub_status dotfiles -> 404", internal_paths_404),
        ("tls: HSTS, TLS 1.2 + 1.3, ALPN h2", https_hsts_h2),
        ("tls: TLS 1.1 refused", old_tls_refused),
        ("status port: /healthz, /stub_status", status_port),
        ("http mode redirect: 308 to https with path and query", redirect_mode),
        ("limits: body over 64k -> 413", body_limit),
        ("limits: login POST burst -> 429, never 503", login_rate_limit),
        ("limits: SMS POST burst -> 429", sms_rate_limit),
        ("limits: GETs are not login-limited", get_not_rate_limited),
        ("log: JSON access log with request id and upstream timings", access_log_json),
    ]:
        run_check(name, fn)


# ------------------------------------------------------------------------------------------- app
def app_checks():
    ups = {f"127.0.0.1:{p}" for p in ARGS.app_ports}

    def api_through_edge():
        r = get("/api/districts/", headers={"Accept-Encoding": "gzip"})
        assert r.status == 200, f"status {r.status}: {r.body[:200]!r}"
        assert (r.h("content-type") or "").startswith("application/json"), r.h("content-type")
        assert r.h("x-upstream") in ups, f"X-Upstream {r.h('x-upstream')!r} not in {ups}"
        assert r.h("content-encoding") == "gzip", f"JSON not gzipped: {r.h('content-encoding')}"
        data = r.json()
        assert data, "empty district list"
        assert_security_headers(r)

    def request_id_reaches_log_with_upstream():
        rid = "edge-api-" + os.urandom(6).hex()
        r = get("/api/districts/", headers={"X-Request-ID": rid})
        assert r.h("x-request-id") == rid, f"echo {r.h('x-request-id')}"
        time.sleep(0.3)
        recs = [json.loads(line) for line in open(ARGS.access_log, encoding="utf-8")]
        mine = [x for x in recs if x.get("request_id") == rid]
        assert mine and mine[0]["upstream_addr"] == r.h("x-upstream"), f"log {mine}"
        assert mine[0]["upstream_connect_time"] not in ("", "-"), f"no connect time: {mine[0]}"

    def traceparent_passes_through():
        trace = os.urandom(16).hex()
        r = get("/api/districts/", headers={"traceparent": f"00-{trace}-{os.urandom(8).hex()}-01"})
        assert r.status == 200, f"status {r.status}"
        assert r.h("x-trace-id") == trace, \
            f"the app did not continue the client's trace: X-Trace-ID {r.h('x-trace-id')!r}, sent {trace}"
        assert len(r.headers.get("x-request-id", [])) == 1, f"X-Request-ID headers: {r.headers.get('x-request-id')}"

    def both_replicas_serve():
        seen = {}
        for _ in range(100):
            r = get("/api/districts/")
            assert r.status == 200, f"status {r.status}"
            seen[r.h("x-upstream")] = seen.get(r.h("x-upstream"), 0) + 1
        assert set(seen) == ups, f"replicas seen {seen}, want all of {ups}"
        fair = 100 / len(ups)
        assert min(seen.values()) >= fair / 2, f"a replica got less than half its fair share: {seen}"

    def internal_endpoints_hidden():
        port = ARGS.app_ports[0]
        for path in ("/metrics", "/readyz"):
            direct = urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5)
            assert direct.status == 200, f"the app itself answers {path} {direct.status}"
            r = get(path)
            assert r.status == 404, f"edge {path}: {r.status}, want 404"

    for name, fn in [
        ("api: /api/districts/ through the edge, gzip JSON, X-Upstream", api_through_edge),
        ("api: request id echoed and logged with the upstream", request_id_reaches_log_with_upstream),
        ("api: traceparent reaches the app (X-Trace-ID), one X-Request-ID", traceparent_passes_through),
        ("api: 100 GETs, each replica >= half its fair share (least_conn)", both_replicas_serve),
        ("api: app's /metrics and /readyz exist but the edge answers 404", internal_endpoints_hidden),
    ]:
        run_check(name, fn)


# ----------------------------------------------------------------------------------------- retry
def retry_checks():
    live, dead = (f"127.0.0.1:{p}" for p in ARGS.app_ports)

    def post_not_replayed():
        seen = []
        for _ in range(6):
            r = request("POST", "/api/estates/", body=b'{"name":"edge-retry-test"}',
                        headers={"Content-Type": "application/json"})
            up = r.h("x-upstream") or ""
            seen.append((r.status, up))
            assert "," not in up, f"POST went to two upstreams: {up} ({r.status})"
            if dead in up:
                assert r.status == 502, f"POST to the dead replica answered {r.status}"
                assert r.json()["error"]["code"] == "upstream_unavailable", f"502 body {r.body[:200]!r}"
                return
        raise AssertionError(f"no POST was sent to the dead replica {dead}: {seen}")

    def get_retried():
        time.sleep(6)  # fail_timeout=5s: the dead replica is eligible again
        seen = []
        for _ in range(6):
            r = get("/api/districts/")
            seen.append((r.status, r.h("x-upstream")))
            assert r.status == 200, f"GET failed with one replica dead: {seen}"
        assert any(up == f"{dead}, {live}" for _, up in seen), \
            f"no GET was retried from the dead replica to the live one: {seen}"

    run_check("retry: POST to a dead replica fails (502), never replayed", post_not_replayed)
    run_check("retry: GETs succeed, retried from the dead replica to the live one", get_retried)


# --------------------------------------------------------------------------------------- recover
def recover_checks():
    back = f"127.0.0.1:{ARGS.app_ports[1]}"

    def replica_used_again():
        # The restarted replica has the same address: nginx uses it again once fail_timeout (5 s)
        # has passed, without a reload (run.sh checks that the master pid did not change).
        start = time.time()
        seen = []
        while time.time() - start < 15:
            r = get("/api/districts/")
            seen.append((round(time.time() - start, 1), r.status, r.h("x-upstream")))
            assert r.status == 200, f"GET failed while the replica came back: {seen[-3:]}"
            if r.h("x-upstream") == back:
                print(f"       replica {back} served again {seen[-1][0]} s after its restart", flush=True)
                return
            time.sleep(0.25)
        raise AssertionError(f"{back} did not serve within 15 s: {seen[-4:]}")

    run_check("recover: a restarted replica serves again without an nginx reload", replica_used_again)


# --------------------------------------------------------------------------------------- browser
class CDP:
    """A minimal Chrome DevTools Protocol client over one websocket (websocket-client)."""

    def __init__(self, ws_url):
        import websocket  # from the venv (websocket-client)
        self.ws = websocket.create_connection(ws_url, timeout=30, suppress_origin=True)
        self.next_id = 0
        self.events = []

    def call(self, method, **params):
        self.next_id += 1
        my_id = self.next_id
        self.ws.send(json.dumps({"id": my_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == my_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def eval(self, expression):
        res = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in res:
            raise RuntimeError(f"page exception: {res['exceptionDetails']}")
        return res["result"].get("value")

    def wait_for(self, expression, what, timeout=15):
        deadline = time.time() + timeout
        value = None
        while time.time() < deadline:
            value = self.eval(expression)
            if value:
                return value
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what} (last value {value!r})")

    def wait_event(self, method, timeout=20):
        """Wait for an event (also one that arrived while waiting for a call's answer)."""
        deadline = time.time() + timeout
        seen = len(self.events)
        for e in self.events:
            if e["method"] == method:
                return e
        self.ws.settimeout(1)
        try:
            while time.time() < deadline:
                try:
                    msg = json.loads(self.ws.recv())
                except Exception:
                    continue
                if "method" in msg:
                    self.events.append(msg)
                    if msg["method"] == method:
                        return msg
        finally:
            self.ws.settimeout(30)
        raise AssertionError(f"no {method} within {timeout} s (events seen: {len(self.events) - seen})")

    def drain(self, seconds=0.3):
        self.ws.settimeout(seconds)
        try:
            while True:
                msg = json.loads(self.ws.recv())
                if "method" in msg:
                    self.events.append(msg)
        except Exception:
            pass
        finally:
            self.ws.settimeout(30)


def console_problems(events):
    problems = []
    for e in events:
        m, p = e["method"], e.get("params", {})
        if m == "Runtime.exceptionThrown":
            problems.append("exception: " + json.dumps(p.get("exceptionDetails", {}))[:300])
        elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert", "warning"):
            problems.append(f"console.{p.get('type')}: " + json.dumps(p.get("args"))[:300])
        elif m == "Log.entryAdded" and p.get("entry", {}).get("level") in ("error", "warning"):
            ent = p["entry"]
            problems.append(f"log {ent.get('source')}/{ent.get('level')}: {ent.get('text')} {ent.get('url', '')}")
    return problems


def api_json(path):
    with urllib.request.urlopen(f"http://127.0.0.1:{ARGS.http_port}{path}", timeout=10) as r:
        return json.loads(r.read())


def rows(data):
    return data if isinstance(data, list) else data.get("results", [])


def pick_route():
    """Find province -> city -> district whose district has estates, using the API itself."""
    for prov in rows(api_json("/api/districts/"))[:10]:
        p = api_json(f"/api/districts/{prov['id']}/")
        for city in p.get("children", [])[:5]:
            c = api_json(f"/api/districts/{city['id']}/")
            for dist in c.get("children", [])[:10]:
                page = api_json(f"/api/estates/?dist={dist['id']}")
                if rows(page):
                    return p, c, dist, rows(page)
    raise AssertionError("the seeded data has no district with estates reachable from the provinces")


def browser_checks():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        report("browser: chromium installed", False, "no chromium binary")
        return
    profile = tempfile.mkdtemp(prefix="edge-chromium-")
    proc = subprocess.Popen(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", "--no-default-browser-check", "--disable-extensions",
         f"--user-data-dir={profile}", "--remote-debugging-address=127.0.0.1",
         f"--remote-debugging-port={ARGS.devtools_port}", "--window-size=1280,1000", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=open(os.path.join(profile, "chromium.log"), "wb"))
    cdp = None
    try:
        deadline = time.time() + 30
        targets = None
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{ARGS.devtools_port}/json/list", timeout=2) as r:
                    targets = [t for t in json.loads(r.read()) if t.get("type") == "page"]
                if targets:
                    break
            except OSError:
                pass
            time.sleep(0.3)
        if not targets:
            report("browser: chromium DevTools reachable", False, "no page target within 30 s")
            return
        cdp = CDP(targets[0]["webSocketDebuggerUrl"])
        for domain in ("Page", "Runtime", "Log"):
            cdp.call(f"{domain}.enable")
        cdp.call("Page.addScriptToEvaluateOnNewDocument", source=(
            "window.__csp = [];"
            "document.addEventListener('securitypolicyviolation',"
            " e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"))
        state = {}

        def loads_provinces():
            cdp.events.clear()
            cdp.call("Page.navigate", url=f"http://127.0.0.1:{ARGS.http_port}/")
            cdp.wait_event("Page.loadEventFired")
            want = [p["name"] for p in rows(api_json("/api/districts/"))]
            got = cdp.wait_for("(() => { const b = [...document.querySelectorAll('#provinces button')];"
                               " return b.length ? b.map(x => x.textContent) : null; })()", "province list")
            assert got == want, f"page shows {got[:5]}..., API says {want[:5]}..."

        def drills_down():
            prov, city, dist, estates = pick_route()
            state.update(prov=prov, city=city, dist=dist, estates=estates)
            cdp.eval(f"document.querySelector('#provinces button[data-id=\"{prov['id']}\"]').click()")
            want = [c["name"] for c in prov["children"]]
            got = cdp.wait_for("(() => { const b = [...document.querySelectorAll('#cities button')];"
                               " return b.length ? b.map(x => x.textContent) : null; })()", "city list")
            assert got == want, f"cities {got} != API {want}"
            cdp.eval(f"document.querySelector('#cities button[data-id=\"{city['id']}\"]').click()")
            want = [d["name"] for d in city["children"]]
            got = cdp.wait_for("(() => { const b = [...document.querySelectorAll('#districts button')];"
                               " return b.length ? b.map(x => x.textContent) : null; })()", "district list")
            assert got == want, f"districts {got} != API {want}"
            cdp.eval(f"document.querySelector('#districts button[data-id=\"{dist['id']}\"]').click()")
            url = f"/api/estates/?dist={dist['id']}"
            cdp.wait_for(f"document.getElementById('estates').dataset.loaded === {json.dumps(url)}",
                         "estates of the district")
            names = cdp.eval("[...document.querySelectorAll('#estates-results tr td:first-child')]"
                             ".map(x => x.textContent)")
            assert names == [e["name"] for e in estates], f"estates {names} != API {[e['name'] for e in estates]}"
            crumbs = cdp.eval("[...document.querySelectorAll('#breadcrumb li')].map(x => x.textContent)")
            assert crumbs == [prov["name"], city["name"], dist["name"]], f"breadcrumb {crumbs}"

        def filters_estates():
            assert state, "no district chosen (drill-down failed)"
            dist, estates = state["dist"], state["estates"]
            target = estates[0]
            prefix = target["name"][:1]
            lo, hi = max(0, int(target["hot"]) - 5), int(target["hot"]) + 5
            query = urllib.parse.urlencode({"dist": dist["id"], "name": prefix, "minhot": lo, "maxhot": hi})
            url = f"/api/estates/?{query}"
            api = api_json(url)
            want = [e["name"] for e in rows(api)]
            assert target["name"] in want, f"API filter {url} does not return {target['name']}: {want}"
            cdp.eval(f"""(() => {{
                document.getElementById('name').value = {json.dumps(prefix)};
                document.getElementById('minhot').value = '{lo}';
                document.getElementById('maxhot').value = '{hi}';
                document.getElementById('estates-form').requestSubmit(); }})()""")
            cdp.wait_for(f"document.getElementById('estates').dataset.loaded === {json.dumps(url)}",
                         f"filtered estates {url}")
            names = cdp.eval("[...document.querySelectorAll('#estates-results tr td:first-child')]"
                             ".map(x => x.textContent)")
            assert names == want, f"page {names} != API {want}"
            count = cdp.eval("document.getElementById('estate-count').textContent")
            assert count.startswith(str(api.get("count", len(want)))), f"count text {count!r}, API count {api.get('count')}"

        def screenshot():
            shot = cdp.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
            os.makedirs(os.path.dirname(ARGS.screenshot), exist_ok=True)
            with open(ARGS.screenshot, "wb") as f:
                f.write(base64.b64decode(shot["data"]))
            assert os.path.getsize(ARGS.screenshot) > 10_000, "screenshot suspiciously small"

        def no_console_errors():
            cdp.drain()
            problems = console_problems(cdp.events)
            csp = cdp.eval("window.__csp")
            assert not csp, f"CSP violations: {csp}"
            assert not problems, "; ".join(problems)

        def shows_api_errors():
            # The API's own message for an invalid range must appear on the page as the API words it.
            dist = state["dist"]
            url = f"/api/estates/?dist={dist['id']}&minhot=50&maxhot=10"
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{ARGS.http_port}{url}", timeout=10)
                raise AssertionError(f"API accepted minhot > maxhot: {url}")
            except urllib.error.HTTPError as e:
                assert 400 <= e.code < 500, f"API answered {e.code}"
                message = json.loads(e.read())["error"]["message"]
            cdp.eval("""(() => {
                document.getElementById('name').value = '';
                document.getElementById('minhot').value = '50';
                document.getElementById('maxhot').value = '10';
                document.getElementById('estates-form').requestSubmit(); })()""")
            cdp.wait_for("document.getElementById('estates').dataset.loaded === 'error'", "error display")
            shown = cdp.eval("document.getElementById('error').textContent")
            visible = cdp.eval("!document.getElementById('error').hidden")
            assert visible and shown.startswith(message), f"page shows {shown!r}, API says {message!r}"

        for name, fn in [
            ("browser: page loads through the edge, province list = API", loads_provinces),
            ("browser: drill province -> city -> district, estates = API", drills_down),
            ("browser: estate filter (name prefix, hot range) = API", filters_estates),
            ("browser: screenshot saved", screenshot),
            ("browser: no console errors, no CSP violations", no_console_errors),
            ("browser: API error message shown on the page", shows_api_errors),
        ]:
            run_check(name, fn)
    finally:
        if cdp:
            try:
                cdp.ws.close()
            except Exception:
                pass
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(profile, ignore_errors=True)


def main():
    global ARGS
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--group", required=True, choices=["static", "app", "retry", "recover", "browser"])
    ap.add_argument("--http-port", type=int, default=18080)
    ap.add_argument("--https-port", type=int, default=18081)
    ap.add_argument("--status-port", type=int, default=18082)
    ap.add_argument("--redirect-http-port", type=int, default=18083)
    ap.add_argument("--redirect-https-port", type=int, default=18084)
    ap.add_argument("--app-ports", type=int, nargs=2, default=[18085, 18086],
                    help="live first; for --group retry the second one is the stopped replica")
    ap.add_argument("--devtools-port", type=int, default=18088)
    ap.add_argument("--access-log", default="")
    ap.add_argument("--screenshot", default="artifacts/edge/frontpage.png")
    ARGS = ap.parse_args()
    {"static": static_checks, "app": app_checks, "retry": retry_checks, "recover": recover_checks,
     "browser": browser_checks}[ARGS.group]()
    return 0 if all(RESULTS) else 1


if __name__ == "__main__":
    sys.exit(main())
