"""HTTP helpers for the edge suite: every request goes to 127.0.0.1, on the suite's fixed ports."""
from __future__ import annotations

import gzip
import http.client
import json
import re
import ssl
import urllib.request

# The nginx under test: serve mode, redirect mode, the two zufang instances behind it, Chromium.
HTTP, HTTPS, STATUS = 18080, 18081, 18082
R_HTTP, R_HTTPS, R_STATUS = 18083, 18084, 18087
APP1, APP2 = 18085, 18086
DEVTOOLS = 18088
APP_UPSTREAMS = (f"127.0.0.1:{APP1}", f"127.0.0.1:{APP2}")


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


def unverified_tls():
    """A client TLS context that accepts the suite's self-signed certificate."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def request(method, path, port=None, headers=None, body=None, tls=False, timeout=10, source=None):
    """One request to 127.0.0.1:PORT; `source` binds the client to another loopback address."""
    port = port or HTTP
    bind = (source, 0) if source else None
    if tls:
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=unverified_tls(), timeout=timeout,
                                           source_address=bind)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout, source_address=bind)
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


def api_json(path):
    with urllib.request.urlopen(f"http://127.0.0.1:{HTTP}{path}", timeout=10) as r:
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
