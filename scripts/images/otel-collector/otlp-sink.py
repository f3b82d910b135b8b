#!/usr/bin/env python3
"""otlp-sink: the offline stand-in for the OpenTelemetry Collector (Debian packages no otelcol).

Receives OTLP/HTTP trace exports (POST /v1/traces, protobuf or JSON, optionally gzip), decodes
every span and prints it as one JSON line on stdout (what the collector's `debug` exporter does),
keeps the last spans in memory (GET /api/traces/<trace_id hex>), and serves Prometheus metrics on
/metrics. Every port answers every path: 4318 (OTLP/HTTP), 8888 (metrics), 13133 (health).
Usage: otlp-sink [--config=IGNORED] | otlp-sink --healthcheck | otlp-sink --help
"""
import collections
import gzip
import json
import sys
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORTS = (4318, 8888, 13133)
MAX_SPANS = 20000
SPANS = collections.deque(maxlen=MAX_SPANS)
LOCK = threading.Lock()
COUNTS = {"spans": 0, "ok": 0, "bad": 0}


def fields(buf):
    """Yield (field_number, wire_type, value) from one protobuf message."""
    i, n = 0, len(buf)

    def varint():
        nonlocal i
        shift = result = 0
        while True:
            b = buf[i]
            i += 1
            result |= (b & 0x7F) << shift
            if b < 0x80:
                return result
            shift += 7

    while i < n:
        key = varint()
        num, wt = key >> 3, key & 7
        if wt == 0:
            yield num, wt, varint()
        elif wt == 1:
            yield num, wt, buf[i:i + 8]
            i += 8
        elif wt == 2:
            ln = varint()
            yield num, wt, buf[i:i + ln]
            i += ln
        elif wt == 5:
            yield num, wt, buf[i:i + 4]
            i += 4
        else:
            raise ValueError(f"unsupported wire type {wt}")


def any_value(buf):
    for num, wt, v in fields(buf):
        if num == 1 and wt == 2:
            return v.decode("utf-8", "replace")
        if num in (2, 3) and wt == 0:
            return v
        if num == 4 and wt == 1:
            return int.from_bytes(v, "little")
    return None


def attributes(kvs):
    out = {}
    for kv in kvs:
        key, val = "", None
        for num, _, v in fields(kv):
            if num == 1:
                key = v.decode("utf-8", "replace")
            elif num == 2:
                val = any_value(v)
        out[key] = val
    return out


def decode_protobuf(body):
    spans = []
    for num, _, rs in fields(body):
        if num != 1:
            continue
        resource, scope_spans = {}, []
        for n2, _, v2 in fields(rs):
            if n2 == 1:
                resource = attributes([v for n3, _, v in fields(v2) if n3 == 1])
            elif n2 == 2:
                scope_spans.append(v2)
        for ss in scope_spans:
            for n3, _, sp in fields(ss):
                if n3 != 2:
                    continue
                span = {"service.name": resource.get("service.name")}
                attrs = []
                for n4, _, v4 in fields(sp):
                    if n4 == 1:
                        span["trace_id"] = v4.hex()
                    elif n4 == 2:
                        span["span_id"] = v4.hex()
                    elif n4 == 4:
                        span["parent_span_id"] = v4.hex()
                    elif n4 == 5:
                        span["name"] = v4.decode("utf-8", "replace")
                    elif n4 == 9:
                        attrs.append(v4)
                span["attributes"] = attributes(attrs)
                spans.append(span)
    return spans


def decode_json(body):
    spans = []
    for rs in json.loads(body).get("resourceSpans", []):
        res = {a["key"]: next(iter(a.get("value", {}).values()), None)
               for a in rs.get("resource", {}).get("attributes", [])}
        for ss in rs.get("scopeSpans", []):
            for sp in ss.get("spans", []):
                spans.append({"service.name": res.get("service.name"),
                              "trace_id": sp.get("traceId", "").lower(),
                              "span_id": sp.get("spanId", "").lower(),
                              "parent_span_id": sp.get("parentSpanId", "").lower(),
                              "name": sp.get("name"),
                              "attributes": {a["key"]: next(iter(a.get("value", {}).values()), None)
                                             for a in sp.get("attributes", [])}})
    return spans


class Handler(BaseHTTPRequestHandler):
    server_version = "otlp-sink/1"

    def log_message(self, *args):  # access logs would drown the span lines
        pass

    def reply(self, code, body=b"", ctype="application/json"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        if self.path.split("?")[0] != "/v1/traces":
            return self.reply(404, b'{"error":"only /v1/traces"}')
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            if self.headers.get("Content-Encoding", "") == "gzip":
                body = gzip.decompress(body)
            if "json" in self.headers.get("Content-Type", ""):
                spans, ctype, ok = decode_json(body), "application/json", b"{}"
            else:
                spans, ctype, ok = decode_protobuf(body), "application/x-protobuf", b""
        except Exception as exc:  # a malformed export must not kill the receiver
            with LOCK:
                COUNTS["bad"] += 1
            print(json.dumps({"error": f"undecodable export: {exc}"}), flush=True)
            return self.reply(400, b'{"error":"undecodable"}')
        with LOCK:
            COUNTS["ok"] += 1
            COUNTS["spans"] += len(spans)
            SPANS.extend(spans)
        for s in spans:
            print(json.dumps({"span": s}, sort_keys=True), flush=True)
        self.reply(200, ok, ctype)

    def do_GET(self):
        path = self.path.split("?")[0]
        if path == "/metrics":
            with LOCK:
                text = ("# HELP otlp_sink_spans_received_total Spans decoded from OTLP exports.\n"
                        "# TYPE otlp_sink_spans_received_total counter\n"
                        f"otlp_sink_spans_received_total {COUNTS['spans']}\n"
                        "# HELP otlp_sink_exports_total OTLP export requests by result.\n"
                        "# TYPE otlp_sink_exports_total counter\n"
                        f'otlp_sink_exports_total{{result="ok"}} {COUNTS["ok"]}\n'
                        f'otlp_sink_exports_total{{result="undecodable"}} {COUNTS["bad"]}\n')
            return self.reply(200, text.encode(), "text/plain; version=0.0.4")
        if path.startswith("/api/traces/"):
            tid = path.rsplit("/", 1)[-1].lower()
            with LOCK:
                found = [s for s in SPANS if s.get("trace_id") == tid]
            return self.reply(200 if found else 404, json.dumps({"data": found}).encode())
        if path in ("/", "/healthz"):
            return self.reply(200, b'{"status":"Server available"}')
        return self.reply(404, b'{"error":"not found"}')


def main():
    args = sys.argv[1:]
    if "--help" in args:
        print(__doc__)
        return 0
    if "--healthcheck" in args:
        try:
            with urllib.request.urlopen("http://127.0.0.1:13133/", timeout=2) as r:
                return 0 if r.status == 200 else 1
        except OSError:
            return 1
    servers = [ThreadingHTTPServer(("0.0.0.0", p), Handler) for p in PORTS]
    for s in servers[1:]:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    print(json.dumps({"msg": "otlp-sink listening", "ports": PORTS}), flush=True)
    servers[0].serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
