#!/usr/bin/env python3
"""Live check of monitoring/alertmanager/alertmanager.yml on a real Alertmanager.

run.sh starts Alertmanager on loopback with the committed configuration, changed only where a
test machine must differ (secret files in a temporary directory, webhook URL -> this script's
sink). This script then posts alerts through the v2 API and asserts:
  * inhibitions: TargetDown silences its instance's error/latency alerts but not another
    instance's; a critical silences its warning twin (same alertname and object) only;
    MySQLDown silences ZufangReplicaNotReady; NginxDown silences KeepalivedFault of its node only;
  * delivery: the oncall route's webhook receives the critical alert, with the bearer token read
    from the secret file (credentials_file), and never receives an inhibited alert.
Usage: check_alertmanager.py --alertmanager URL --sink-port PORT --token-file FILE
"""
import argparse
import http.server
import json
import sys
import threading
import time
import urllib.request
from datetime import datetime, timedelta, timezone

received = []


class Sink(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (http.server API)
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        received.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": json.loads(body)})
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def post_alerts(base, alerts):
    now = datetime.now(timezone.utc)
    payload = [{"labels": a, "annotations": {"summary": "test " + a["alertname"]},
                "startsAt": now.isoformat(), "endsAt": (now + timedelta(minutes=10)).isoformat(),
                "generatorURL": "http://127.0.0.1/test"} for a in alerts]
    req = urllib.request.Request(base.rstrip("/") + "/api/v2/alerts", data=json.dumps(payload).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    urllib.request.urlopen(req, timeout=10).read()


def get_alerts(base):
    return json.load(urllib.request.urlopen(base.rstrip("/") + "/api/v2/alerts", timeout=10))


def key(labels):
    return tuple(sorted(labels.items()))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--alertmanager", required=True)
    ap.add_argument("--sink-port", type=int, required=True)
    ap.add_argument("--token-file", required=True)
    ap.add_argument("--timeout", type=float, default=60)
    args = ap.parse_args()
    token = open(args.token_file).read().strip()
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", args.sink_port), Sink)
    threading.Thread(target=srv.serve_forever, daemon=True).start()

    # (labels, expected state)
    cases = [
        ({"alertname": "TargetDown", "job": "app", "instance": "app1:8080", "replica": "app1", "severity": "warning"}, "active"),
        ({"alertname": "ZufangHigh5xxRatio", "instance": "app1:8080", "replica": "app1", "severity": "warning"}, "suppressed"),
        ({"alertname": "ZufangHighLatencyP99", "instance": "app1:8080", "replica": "app1", "quantile": "0.99", "severity": "warning"}, "suppressed"),
        ({"alertname": "ZufangHigh5xxRatio", "instance": "app2:8080", "replica": "app2", "severity": "warning"}, "active"),
        ({"alertname": "RedisMemoryNearMax", "job": "redis", "instance": "redis-exporter:9121", "severity": "critical"}, "active"),
        ({"alertname": "RedisMemoryNearMax", "job": "redis", "instance": "redis-exporter:9121", "severity": "warning"}, "suppressed"),
        ({"alertname": "RedisEvictingKeys", "job": "redis", "instance": "redis-exporter:9121", "severity": "warning"}, "active"),
        ({"alertname": "MySQLDown", "job": "mysql", "instance": "mysqld-exporter:9104", "severity": "critical"}, "active"),
        ({"alertname": "ZufangReplicaNotReady", "job": "probe-readyz", "instance": "app3:8080", "replica": "app3", "severity": "warning"}, "suppressed"),
        ({"alertname": "NginxDown", "job": "nginx", "instance": "nginx-exporter-lb2:9113", "node": "lb2", "severity": "warning"}, "active"),
        ({"alertname": "KeepalivedFault", "job": "node", "node": "lb2", "vrrp_instance": "VI_EDGE", "state": "FAULT", "severity": "warning"}, "suppressed"),
        ({"alertname": "KeepalivedFault", "job": "node", "node": "lb1", "vrrp_instance": "VI_EDGE", "state": "FAULT", "severity": "warning"}, "active"),
    ]
    post_alerts(args.alertmanager, [c[0] for c in cases])
    passed = failed = 0
    deadline = time.time() + args.timeout
    states = {}
    while time.time() < deadline:
        states = {key(a["labels"]): a["status"] for a in get_alerts(args.alertmanager)}
        if all(states.get(key(l), {}).get("state") == exp for l, exp in cases):
            break
        time.sleep(1)
    for labels, exp in cases:
        st = states.get(key(labels), {})
        ok = st.get("state") == exp and (exp != "suppressed" or bool(st.get("inhibitedBy")))
        print(f"{'ok  ' if ok else 'FAIL'} {labels['alertname']} {labels.get('instance') or labels.get('node')} "
              f"{labels['severity']}: {st.get('state')} (expected {exp})")
        passed, failed = passed + ok, failed + (not ok)

    # Delivery: the critical RedisMemoryNearMax reaches the oncall webhook with the file's token.
    def delivered(alertname, severity):
        return [r for r in received for a in r["body"].get("alerts", [])
                if a["labels"].get("alertname") == alertname and a["labels"].get("severity") == severity]
    while time.time() < deadline and not delivered("RedisMemoryNearMax", "critical"):
        time.sleep(1)
    hits = delivered("RedisMemoryNearMax", "critical")
    ok = bool(hits) and all(r["auth"] == f"Bearer {token}" for r in hits)
    print(f"{'ok  ' if ok else 'FAIL'} critical alert delivered to the oncall webhook with the bearer token from the secret file "
          f"({len(hits)} deliveries, receiver {hits[0]['body'].get('receiver') if hits else None})")
    passed, failed = passed + ok, failed + (not ok)
    ok = bool(hits) and hits[0]["body"].get("receiver") == "oncall"
    print(f"{'ok  ' if ok else 'FAIL'} delivered by receiver oncall")
    passed, failed = passed + ok, failed + (not ok)
    # Warning groups flush after group_wait (30 s): wait for a non-inhibited warning to arrive,
    # then a little longer, so "not delivered" means inhibited rather than "not yet".
    deadline = time.time() + args.timeout
    while time.time() < deadline and not delivered("RedisEvictingKeys", "warning"):
        time.sleep(1)
    ok = bool(delivered("RedisEvictingKeys", "warning"))
    print(f"{'ok  ' if ok else 'FAIL'} a warning alert (RedisEvictingKeys) delivered after group_wait")
    passed, failed = passed + ok, failed + (not ok)
    time.sleep(3)
    suppressed = {key(l) for l, exp in cases if exp == "suppressed"}
    leaked = [a["labels"]["alertname"] for r in received for a in r["body"].get("alerts", []) if key(a["labels"]) in suppressed]
    ok = not leaked
    print(f"{'ok  ' if ok else 'FAIL'} no inhibited alert was delivered (leaked: {leaked})")
    passed, failed = passed + ok, failed + (not ok)
    srv.shutdown()
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
