"""A live nginx with this configuration on 127.0.0.1 (serve mode, and redirect mode), no app behind it:
headers, caching, request ids, what is not public, TLS, status port, limits, the JSON access log."""
import gzip
import hashlib
import json
import os
import re
import socket
import ssl
import subprocess
import time

from edge_http import (HTTP, HTTPS, R_HTTP, R_HTTPS, R_STATUS, STATUS, assert_security_headers, get, index_assets,
                       request, unverified_tls)
from instances import answers
from shell import succeeds


def test_nginx_starts_serve_mode(live_main):
    assert live_main.proc.poll() is None and answers(f"http://127.0.0.1:{STATUS}/healthz"), "not running"


def test_nginx_starts_redirect_mode(live_redirect):
    assert live_redirect.proc.poll() is None and answers(f"http://127.0.0.1:{R_STATUS}/healthz"), "not running"


def test_check_nginx_sh_healthy_nginx_passes(live_main):
    succeeds("nginx/keepalived/check_nginx.sh", env={"NGINX_PID_FILE": str(live_main.pid_file),
                                                     "CHECK_URL": f"http://127.0.0.1:{STATUS}/healthz"})


def test_static_index_html_no_cache_and_security_headers(live_main):
    r = get("/")
    assert r.status == 200, f"status {r.status}"
    assert (r.h("content-type") or "").startswith("text/html"), r.h("content-type")
    assert r.h("cache-control") == "no-cache", f"HTML Cache-Control={r.h('cache-control')!r}, want no-cache"
    assert_security_headers(r)
    assert r.h("x-upstream") is None, "static file claims an upstream"


def test_static_hashed_asset_names_1_year_cache(live_main):
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


def test_static_gzip_for_text_assets_vary(live_main):
    js = [a for a in index_assets() if a.endswith(".js")][0]
    r = get(js, headers={"Accept-Encoding": "gzip"})
    assert r.h("content-encoding") == "gzip", f"no gzip for JS: {r.h('content-encoding')}"
    assert "Accept-Encoding" in (r.h("vary") or ""), f"Vary={r.h('vary')!r}"
    gzip.decompress(r.body)
    r = get(js)
    assert r.h("content-encoding") is None, "gzip sent to a client that did not ask"


def test_request_id_generated_when_absent(live_main):
    a, b = get("/").h("x-request-id"), get("/").h("x-request-id")
    assert re.fullmatch(r"[0-9a-f]{32}", a or ""), f"generated id {a!r} is not nginx's $request_id"
    assert a != b, "two requests got the same id"


def test_request_id_client_id_echoed(live_main):
    rid = "edge-test-" + os.urandom(6).hex()
    r = get("/", headers={"X-Request-ID": rid})
    assert r.h("x-request-id") == rid, f"sent {rid}, got {r.h('x-request-id')}"


def test_request_id_malformed_client_id_replaced(live_main):
    bad = "x y<script>" + "z" * 10
    r = get("/", headers={"X-Request-ID": bad})
    got = r.h("x-request-id")
    assert got != bad and re.fullmatch(r"[0-9a-f]{32}", got or ""), f"malformed id kept: {got!r}"


def test_edge_metrics_readyz_healthz_stub_status_dotfiles_404(live_main):
    for path in ("/metrics", "/readyz", "/healthz", "/stub_status", "/.git/config", "/.env"):
        for tls, port in ((False, HTTP), (True, HTTPS)):
            r = get(path, port=port, tls=tls)
            assert r.status == 404, f"{'https' if tls else 'http'} {path}: {r.status}"


def test_tls_hsts_tls12_tls13_alpn_h2(live_main):
    r = get("/", port=HTTPS, tls=True)
    assert r.status == 200, f"https status {r.status}"
    assert_security_headers(r, https=True)
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        ctx = unverified_tls()
        ctx.minimum_version = ctx.maximum_version = version
        ctx.set_alpn_protocols(["h2", "http/1.1"])
        with socket.create_connection(("127.0.0.1", HTTPS), timeout=5) as s:
            with ctx.wrap_socket(s) as t:
                assert t.version() == {ssl.TLSVersion.TLSv1_2: "TLSv1.2", ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[version]
                assert t.selected_alpn_protocol() == "h2", f"ALPN {t.selected_alpn_protocol()}"


def test_tls_1_1_refused(live_main):
    # openssl's client still speaks TLS 1.1 at security level 0; the server must refuse it.
    out = subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{HTTPS}", "-tls1_1",
         "-cipher", "DEFAULT@SECLEVEL=0"],
        input=b"", capture_output=True, timeout=10)
    text = (out.stdout + out.stderr).decode(errors="replace")
    # A failed handshake still prints a session summary, with "Cipher is (NONE)".
    assert not re.search(r"Cipher is (?!\(NONE\))", text), "TLS 1.1 handshake succeeded"
    assert out.returncode != 0, "openssl s_client reported success"


def test_status_port_healthz_stub_status(live_main):
    r = get("/healthz", port=STATUS)
    assert r.status == 200 and json.loads(r.body) == {"status": "ok"}, f"{r.status} {r.body!r}"
    r = get("/stub_status", port=STATUS)
    assert r.status == 200 and b"Active connections" in r.body, f"{r.status} {r.body[:80]!r}"
    r = get("/metrics", port=STATUS)
    assert r.status == 404, f"/metrics on the status port: {r.status}"


def test_http_mode_redirect_308_to_https_with_path_and_query(live_main, live_redirect):
    r = get("/api/districts/?page=2", port=R_HTTP)
    want = f"https://127.0.0.1:{R_HTTPS}/api/districts/?page=2"
    assert r.status == 308, f"status {r.status}"
    assert r.h("location") == want, f"Location {r.h('location')!r}, want {want!r}"
    assert r.h("x-content-type-options") == "nosniff", "redirect lacks security headers"


def test_limits_body_over_64k_413(live_main):
    r = request("POST", "/api/estates/", body=b"x" * 100_000,
                headers={"Content-Type": "application/json"})
    assert r.status == 413, f"100 kB body: {r.status}, want 413 (client_max_body_size 64k)"
    assert r.json()["error"]["code"] == "payload_too_large", f"body {r.body[:200]!r}"


def test_limits_login_post_burst_429_never_503(live_main):
    responses = [request("POST", "/api/tokens/", body=b"{}", headers={"Content-Type": "application/json"})
                 for _ in range(12)]
    statuses = [r.status for r in responses]
    assert 503 not in statuses, f"limit answered 503: {statuses}"
    n429 = statuses.count(429)
    # burst=5 nodelay: the first 6 pass, the other 6 within the same second are rejected.
    assert n429 >= 6, f"expected >= 6 x 429 from 12 rapid logins, got {statuses}"
    body = [r for r in responses if r.status == 429][0].json()
    assert body["error"]["code"] == "rate_limited" and body["error"]["message"], f"429 body {body}"


def test_limits_sms_post_burst_429(live_main):
    statuses = [request("POST", "/api/mobile-codes/13800138000/", body=b"",
                        headers={"Content-Type": "application/json"}).status for _ in range(8)]
    assert 503 not in statuses and statuses.count(429) >= 4, f"statuses {statuses}"


def test_limits_gets_are_not_login_limited(live_main):
    statuses = [get("/api/tokens/").status for _ in range(10)]
    assert 429 not in statuses, f"GETs on the login path were limited: {statuses}"


def test_log_json_access_log_with_request_id_and_upstream_timings(live_main):
    rid = "edge-log-" + os.urandom(6).hex()
    get("/", headers={"X-Request-ID": rid})
    time.sleep(0.3)
    lines = open(live_main.access_log, encoding="utf-8").read().splitlines()
    assert lines, "empty access log"
    records = [json.loads(line) for line in lines]  # every line must be JSON
    mine = [r for r in records if r.get("request_id") == rid]
    assert len(mine) == 1, f"request id {rid} found {len(mine)} times"
    for key in ("status", "request_time", "upstream_addr", "upstream_connect_time",
                "upstream_response_time", "remote_addr", "uri"):
        assert key in mine[0], f"log record lacks {key}: {mine[0]}"
