"""Through the live nginx to two real zufang instances (scripts/ci/app-instance.sh): compressed JSON,
request id and traceparent end to end, balancing, the apps' internal endpoints hidden."""
import json
import os
import time
import urllib.request

import pytest

from edge_http import APP1, APP_UPSTREAMS, HTTP, HTTPS, assert_security_headers, get, request

UPS = set(APP_UPSTREAMS)


@pytest.mark.parametrize("name", ["edge", "edge2"])
def test_app_instance_starts(apps, name):
    assert apps[name].returncode == 0, f"app instance {name}:\n{apps[name].stdout[-2000:]}"


def test_api_districts_through_the_edge_gzip_json_x_upstream(live_main, both_apps):
    r = get("/api/districts/", headers={"Accept-Encoding": "gzip"})
    assert r.status == 200, f"status {r.status}: {r.body[:200]!r}"
    assert (r.h("content-type") or "").startswith("application/json"), r.h("content-type")
    assert r.h("x-upstream") in UPS, f"X-Upstream {r.h('x-upstream')!r} not in {UPS}"
    assert r.h("content-encoding") == "gzip", f"JSON not gzipped: {r.h('content-encoding')}"
    data = r.json()
    assert data, "empty district list"
    assert_security_headers(r)


def test_x_upstream_only_for_debug_clients_but_logged_for_all(live_main, both_apps):
    # EDGE_DEBUG_CLIENTS defaults to 127.0.0.1/32 and ::1/128: 127.0.0.2 is any other client.
    rid = "edge-untrusted-" + os.urandom(6).hex()
    r = request("GET", "/api/districts/", headers={"X-Request-ID": rid}, source="127.0.0.2")
    assert r.status == 200, f"status {r.status}: {r.body[:200]!r}"
    assert r.h("x-upstream") is None, f"an untrusted client was told the backend {r.h('x-upstream')!r}"
    assert r.h("x-request-id") == rid, "the request id is for everyone"
    time.sleep(0.3)
    recs = [json.loads(line) for line in open(live_main.access_log, encoding="utf-8")]
    mine = [x for x in recs if x.get("request_id") == rid]
    assert mine and mine[0]["upstream_addr"] in UPS, f"the access log keeps the upstream: {mine}"


def test_api_request_id_echoed_and_logged_with_the_upstream(live_main, both_apps):
    rid = "edge-api-" + os.urandom(6).hex()
    r = get("/api/districts/", headers={"X-Request-ID": rid})
    assert r.h("x-request-id") == rid, f"echo {r.h('x-request-id')}"
    time.sleep(0.3)
    recs = [json.loads(line) for line in open(live_main.access_log, encoding="utf-8")]
    mine = [x for x in recs if x.get("request_id") == rid]
    assert mine and mine[0]["upstream_addr"] == r.h("x-upstream"), f"log {mine}"
    assert mine[0]["upstream_connect_time"] not in ("", "-"), f"no connect time: {mine[0]}"


def test_api_traceparent_reaches_the_app_one_x_request_id(live_main, both_apps):
    trace = os.urandom(16).hex()
    r = get("/api/districts/", headers={"traceparent": f"00-{trace}-{os.urandom(8).hex()}-01"})
    assert r.status == 200, f"status {r.status}"
    assert r.h("x-trace-id") == trace, \
        f"the app did not continue the client's trace: X-Trace-ID {r.h('x-trace-id')!r}, sent {trace}"
    assert len(r.headers.get("x-request-id", [])) == 1, f"X-Request-ID headers: {r.headers.get('x-request-id')}"


def test_edge_drops_a_malformed_traceparent_the_app_itself_would_accept(live_main, both_apps):
    # Version 01 with the four version-00 fields is a traceparent the app's propagator continues
    # when a trusted proxy passes it; the edge accepts only well-formed version 00.
    trace = os.urandom(16).hex()
    odd = f"01-{trace}-{os.urandom(8).hex()}-01"
    direct = get("/api/districts/", port=APP1, headers={"traceparent": odd})
    assert direct.h("x-trace-id") == trace, f"the app itself does not continue {odd!r}: the check proves nothing"
    r = get("/api/districts/", headers={"traceparent": odd, "tracestate": "vendor=evil"})
    assert r.status == 200, f"status {r.status}"
    assert r.h("x-trace-id") and r.h("x-trace-id") != trace, f"the edge passed {odd!r} on"


def test_edge_answers_made_up_methods_itself_with_501_json(live_main, both_apps):
    for method in ("FOOBAR", "PROPFIND", "X-CUSTOM"):
        r = request(method, "/api/districts/")
        assert r.status == 501, f"{method}: status {r.status}"
        assert r.h("x-upstream") is None, f"{method} reached a replica ({r.h('x-upstream')})"
        assert r.json()["error"]["code"] == "method_not_implemented", r.body[:200]
    # The API's own methods still reach it (a 405 with Allow comes from the app).
    r = request("PUT", "/api/districts/")
    assert r.status == 405 and r.h("x-upstream") in UPS, f"PUT: {r.status} {r.h('x-upstream')}"


def test_a_client_forwarded_header_does_not_change_the_links(live_main, both_apps):
    r = get("/api/estates/?size=1", headers={"Forwarded": "for=203.0.113.9;host=evil.example;proto=https"})
    assert r.status == 200, f"status {r.status}"
    nxt = r.json()["next"]
    assert nxt and nxt.startswith("http://127.0.0.1") and "evil.example" not in nxt, \
        f"next link {nxt!r} follows the client's Forwarded header"


def test_links_keep_the_scheme_host_and_port_the_client_used(live_main, both_apps):
    for port, tls, scheme in ((HTTP, False, "http"), (HTTPS, True, "https")):
        r = get("/api/estates/?size=1", port=port, tls=tls)
        assert r.status == 200, f"status {r.status}"
        nxt = r.json()["next"]
        assert nxt and nxt.startswith(f"{scheme}://127.0.0.1:{port}/api/estates/"), \
            f"next link {nxt!r}: not the {scheme} origin on :{port} the client used"


def test_api_100_gets_each_replica_gets_at_least_half_its_fair_share(live_main, both_apps):
    seen = {}
    for _ in range(100):
        r = get("/api/districts/")
        assert r.status == 200, f"status {r.status}"
        seen[r.h("x-upstream")] = seen.get(r.h("x-upstream"), 0) + 1
    assert set(seen) == UPS, f"replicas seen {seen}, want all of {UPS}"
    fair = 100 / len(UPS)
    assert min(seen.values()) >= fair / 2, f"a replica got less than half its fair share: {seen}"


def test_api_apps_metrics_and_readyz_exist_but_the_edge_answers_404(live_main, both_apps):
    port = APP1
    for path in ("/metrics", "/readyz"):
        direct = urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5)
        assert direct.status == 200, f"the app itself answers {path} {direct.status}"
        r = get(path)
        assert r.status == 404, f"edge {path}: {r.status}, want 404"
