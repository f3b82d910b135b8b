#!/usr/bin/env python3
"""Generate the Grafana dashboards of the zufang stack (JSON, current schema) into
monitoring/grafana/dashboards/zufang/. The JSON files are committed; monitoring/tests/run.sh
regenerates them and fails when they differ, so edit this file, not the JSON.

Conventions: every panel and variable takes its datasource from the `datasource` template variable,
whose default is the uid `prometheus` (provisioned in provisioning/datasources/datasources.yaml), so
the compose Grafana needs no choice and another Grafana can pick its own Prometheus; ratios that would
be empty in a healthy stack (no 5xx yet) use `(... or <denominator> * 0)` so they draw 0 instead of
"No data".

Variants: `compose` (the committed JSON) and `k8s` (the kube-prometheus ConfigMaps that
monitoring/generate.py writes): the k8s one adds `cluster` and `namespace` variables, selects the app
by job and namespace and the exporters by namespace (their job names differ per overlay), and leaves
out the node and edge dashboards (kube-prometheus has its own node dashboards; a cluster's edge is its
Ingress/Gateway controller).

Threshold lines that mirror an alert come from monitoring/alerts.yaml (`limit()`), so a changed
threshold moves the rule, the Zabbix macro and the panel together.

Why not grafana-foundation-sdk: see monitoring/grafana/README.md.

Usage: dashboards.py [--variant compose|k8s] [--out DIR] [--check]
"""
import argparse
import importlib.util
import json
import os
import re
import sys
from decimal import Decimal

DS = {"type": "prometheus", "uid": "${datasource}"}
# The provisioned Prometheus (provisioning/datasources/datasources.yaml) is the variable's default.
DS_VAR = {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
          "current": {"selected": False, "text": "Prometheus", "value": "prometheus"}, "options": [],
          "refresh": 1, "regex": "", "hide": 0, "multi": False, "includeAll": False, "skipUrlSync": False}
SCHEMA_VERSION = 39
HERE = os.path.dirname(os.path.abspath(__file__))


def _alert_parameters():
    """The alerts' thresholds, from monitoring/alerts.yaml through the generator that renders the rules."""
    spec = importlib.util.spec_from_file_location("zufang_generate", os.path.join(HERE, "..", "generate.py"))
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    return gen.alert_parameters(gen.load_table(gen.Path(HERE).parent.parent))


ALERTS = _alert_parameters()


def limit(level, name, scale=1):
    """A panel's threshold line = the alert's threshold (`level` is "Alert/severity"), as a JSON number."""
    v = Decimal(str(ALERTS[level][name])) * scale
    return int(v) if v == v.to_integral_value() else float(v)
APP = 'job="app", replica=~"$replica"'
APPR = 'job="app", replica=~"$replica", route=~"$route"'


class Dashboard:
    def __init__(self, uid, title, description, tags, variables=()):
        self.uid, self.title, self.description, self.tags = uid, title, description, tags
        self.variables = list(variables)
        self.panels, self.x, self.y, self.row_h, self.next_id = [], 0, 0, 0, 1

    def row(self, title):
        self._newline()
        self.panels.append({"type": "row", "title": title, "id": self._id(), "collapsed": False,
                            "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y}, "panels": []})
        self.y += 1

    def panel(self, kind, title, targets, w=12, h=8, unit=None, description="", decimals=None,
              thresholds=None, min_=None, max_=None, stack=False, options=None, mappings=None):
        if self.x + w > 24:
            self._newline()
        defaults = {"custom": {}}
        if kind == "timeseries":
            defaults["custom"] = {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10 if not stack else 30,
                                  "showPoints": "never", "spanNulls": False,
                                  "stacking": {"mode": "normal" if stack else "none", "group": "A"}}
        if unit:
            defaults["unit"] = unit
        if decimals is not None:
            defaults["decimals"] = decimals
        if min_ is not None:
            defaults["min"] = min_
        if max_ is not None:
            defaults["max"] = max_
        if mappings:
            defaults["mappings"] = mappings
        if thresholds:
            steps = [{"color": "green", "value": None}] + [{"color": c, "value": v} for v, c in thresholds]
            defaults["thresholds"] = {"mode": "absolute", "steps": steps}
            if kind == "timeseries":
                defaults["custom"]["thresholdsStyle"] = {"mode": "line"}
        opts = {"tooltip": {"mode": "multi", "sort": "desc"}, "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True}} \
            if kind == "timeseries" else {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                                           "colorMode": "value", "graphMode": "area", "textMode": "auto"} if kind == "stat" else {}
        if options:
            opts.update(options)
        p = {"type": kind, "title": title, "id": self._id(), "datasource": DS, "description": description,
             "gridPos": {"h": h, "w": w, "x": self.x, "y": self.y},
             "fieldConfig": {"defaults": defaults, "overrides": []}, "options": opts,
             "targets": [dict({"datasource": DS, "refId": chr(65 + i), "expr": e, "legendFormat": lf,
                               "range": True, "instant": False, "editorMode": "code"})
                         for i, (e, lf) in enumerate(targets)]}
        if kind == "table":
            for t in p["targets"]:
                t.update({"format": "table", "instant": True, "range": False})
        self.panels.append(p)
        self.x += w
        self.row_h = max(self.row_h, h)

    def _newline(self):
        self.y += self.row_h
        self.x, self.row_h = 0, 0

    def _id(self):
        self.next_id += 1
        return self.next_id - 1

    def json(self):
        return {
            "uid": self.uid, "title": self.title, "description": self.description, "tags": ["zufang"] + self.tags,
            "schemaVersion": SCHEMA_VERSION, "version": 1, "editable": False, "graphTooltip": 1,
            "timezone": "browser", "refresh": "30s", "time": {"from": "now-1h", "to": "now"},
            "timepicker": {}, "fiscalYearStartMonth": 0, "liveNow": False, "weekStart": "",
            "annotations": {"list": [{"builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                                      "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
                                      "name": "Annotations & Alerts", "type": "dashboard"}]},
            "links": [{"title": "zufang dashboards", "type": "dashboards", "tags": ["zufang"], "asDropdown": True,
                       "includeVars": False, "keepTime": True, "icon": "external link", "targetBlank": False,
                       "tooltip": "", "url": ""}],
            "templating": {"list": [DS_VAR] + self.variables},
            "panels": self.panels,
        }


def var(name, label, query, multi=True, include_all=True):
    return {"name": name, "label": label, "type": "query", "datasource": DS,
            "definition": query, "query": {"query": query, "refId": f"{name}-variable"},
            "refresh": 2, "sort": 1, "multi": multi, "includeAll": include_all,
            "allValue": ".*" if include_all else None, "current": {}, "options": [], "hide": 0,
            "regex": "", "skipUrlSync": False}


def service_overview():
    BURN = [(limit("ZufangErrorBudgetBurn/warning", "burn"), "orange"), (limit("ZufangErrorBudgetBurn/critical", "burn"), "red")]
    d = Dashboard("zufang-overview", "zufang / Service overview",
                  "The four golden signals of the zufang API per route, the SLOs (99.9 % non-5xx, "
                  "99 % within 250 ms) and how fast the error budget burns.", ["service", "slo"],
                  [var("replica", "Replica", 'label_values(http_requests_total{job="app"}, replica)'),
                   var("route", "Route", 'label_values(http_requests_total{job="app"}, route)')])
    d.row("SLO")
    d.panel("stat", "Availability, last hour (objective 99.9 %)",
            [("1 - job:slo_availability_errors:ratio_rate1h", "availability")], w=6, h=5, unit="percentunit",
            decimals=3, thresholds=[(0, "red"), (0.999, "green")],
            description="Share of API requests (scrapes and probes excluded) answered without a 5xx.")
    d.panel("stat", "Latency SLI, last hour (objective 99 % < 250 ms)",
            [("1 - job:slo_latency_errors:ratio_rate1h", "within 250 ms")], w=6, h=5, unit="percentunit",
            decimals=2, thresholds=[(0, "red"), (0.99, "green")])
    d.panel("stat", "Availability error budget left (3-day window)",
            [("1 - job:slo_availability_errors:ratio_rate3d / on (job) (1 - job:slo_availability_objective:ratio)", "budget left")],
            w=6, h=5, unit="percentunit", decimals=1, thresholds=[(0, "red"), (0.25, "orange"), (0.5, "green")],
            description="1 - (error ratio over 3 days / error budget 0.1 %). Below 0 the objective is missed.")
    d.panel("stat", "Latency error budget left (3-day window)",
            [("1 - job:slo_latency_errors:ratio_rate3d / on (job) (1 - job:slo_latency_objective:ratio)", "budget left")],
            w=6, h=5, unit="percentunit", decimals=1, thresholds=[(0, "red"), (0.25, "orange"), (0.5, "green")])
    d.panel("timeseries", "Availability budget burn rate",
            [(f"job:slo_availability_errors:ratio_rate{w} / on (job) (1 - job:slo_availability_objective:ratio)", w)
             for w in ("5m", "30m", "1h", "6h")],
            unit="x", thresholds=BURN,
            description=f"1x spends the 30-day budget in exactly 30 days. Alerts: {BURN[1][0]}x over 1h and 5m (page), "
                        f"{BURN[0][0]}x over 6h and 30m.")
    d.panel("timeseries", "Latency budget burn rate",
            [(f"job:slo_latency_errors:ratio_rate{w} / on (job) (1 - job:slo_latency_objective:ratio)", w)
             for w in ("5m", "30m", "1h", "6h")],
            unit="x", thresholds=BURN)
    d.row("Traffic")
    d.panel("timeseries", "Requests per second by route",
            [(f"sum by (route) (rate(http_requests_total{{{APPR}}}[$__rate_interval]))", "{{route}}")], unit="reqps")
    d.panel("timeseries", "Requests per second by status",
            [(f"sum by (status) (rate(http_requests_total{{{APPR}}}[$__rate_interval]))", "{{status}}")], unit="reqps", stack=True)
    d.panel("timeseries", "Requests per second by replica",
            [(f"sum by (replica) (rate(http_requests_total{{{APPR}}}[$__rate_interval]))", "{{replica}}")], unit="reqps",
            description="Even lines mean the proxies balance the load.")
    d.panel("timeseries", "Requests in flight",
            [(f"sum by (replica) (http_requests_in_flight{{{APP}}})", "{{replica}}")], unit="short")
    d.row("Errors")
    d.panel("timeseries", "5xx ratio by route",
            [(f"(sum by (route) (rate(http_requests_total{{{APPR}, status=~\"5..\"}}[$__rate_interval])) "
              f"or sum by (route) (rate(http_requests_total{{{APPR}}}[$__rate_interval])) * 0) "
              f"/ sum by (route) (rate(http_requests_total{{{APPR}}}[$__rate_interval]))", "{{route}}")],
            unit="percentunit", thresholds=[(limit("ZufangHigh5xxRatio/warning", "ratio"), "orange"),
                                            (limit("ZufangHigh5xxRatio/critical", "ratio"), "red")])
    d.panel("timeseries", "4xx per second by route and status",
            [(f"sum by (route, status) (rate(http_requests_total{{{APPR}, status=~\"4..\"}}[$__rate_interval]))",
              "{{route}} {{status}}")], unit="reqps",
            description="Client errors: validation (400/422), auth (401/403), not found (404), rate limited (429).")
    d.row("Latency")
    for q in ("0.5", "0.95", "0.99"):
        d.panel("timeseries", f"p{int(float(q) * 100)} latency by route",
                [(f"histogram_quantile({q}, sum by (route, le) (rate(http_request_duration_seconds_bucket{{{APPR}}}[$__rate_interval])))",
                  "{{route}}")], w=8, unit="s", thresholds=[(limit("ZufangHighLatencyP99/warning", "seconds"), "orange")])
    d.panel("timeseries", "Requests within 250 ms",
            [(f"sum(rate(http_request_duration_seconds_bucket{{{APPR}, le=\"0.25\"}}[$__rate_interval])) "
              f"/ sum(rate(http_request_duration_seconds_count{{{APPR}}}[$__rate_interval]))", "within 250 ms")],
            unit="percentunit", max_=1, thresholds=[(0.99, "green")])
    d.panel("timeseries", "Database query p99 by query",
            [(f"histogram_quantile(0.99, sum by (query, le) (rate(db_query_duration_seconds_bucket{{{APP}}}[$__rate_interval])))",
              "{{query}}")], unit="s")
    d.row("Saturation")
    d.panel("timeseries", "Database pool connections",
            [(f"sum by (state) (db_pool_connections{{{APP}}})", "{{state}}")], w=8, unit="short",
            description="active close to max: requests wait for a connection (database.acquire_timeout_ms).")
    d.panel("timeseries", "Cache requests by level and result",
            [(f"sum by (cache, result) (rate(cache_requests_total{{{APP}}}[$__rate_interval]))", "{{cache}} {{result}}")],
            w=8, unit="reqps")
    d.panel("timeseries", "Cache hit ratio",
            [(f"sum by (cache) (rate(cache_requests_total{{{APP}, result=\"hit\"}}[$__rate_interval])) "
              f"/ sum by (cache) (rate(cache_requests_total{{{APP}}}[$__rate_interval]))", "{{cache}}")],
            w=8, unit="percentunit", max_=1)
    d.panel("timeseries", "CPU per replica",
            [(f"rate(process_cpu_seconds_total{{{APP}}}[$__rate_interval])", "{{replica}}")], w=8, unit="percentunit",
            description="Cores used (1.0 = one core).")
    d.panel("timeseries", "Resident memory per replica",
            [(f"process_resident_memory_bytes{{{APP}}}", "{{replica}}")], w=8, unit="bytes")
    d.panel("timeseries", "Open file descriptors per replica",
            [(f"process_open_fds{{{APP}}}", "{{replica}}")], w=8, unit="short")
    d.row("Replicas")
    d.panel("stat", "Replicas up", [('sum(up{job="app"})', "up")], w=6, h=5,
            thresholds=[(0, "red"), (2, "orange"), (3, "green")])
    d.panel("table", "Build per replica",
            [('max by (replica, version, git_sha) (zufang_build_info{job="app"})', "")], w=18, h=5)
    broker_row(d)
    photos_row(d)
    return d


def photos_row(d):
    """The photo pipeline around the broker: uploads and the outbox (the app), the workers' jobs."""
    w, a = 'job="worker"', 'job="app"'
    d.row("Photo pipeline")
    d.panel("timeseries", "Uploads per second by outcome",
            [(f"sum by (outcome) (rate(zufang_photo_uploads_total{{{a}}}[$__rate_interval])) "
              f"or sum(rate(http_requests_total{{{a}}}[$__rate_interval])) * 0", "{{outcome}}")], w=8, unit="reqps",
            description="accepted = 202; the others are the refusals (size, type, pixels, per-house limit, rate) and 503s.")
    d.panel("timeseries", "Outbox: jobs not yet handed to the broker",
            [(f"max(zufang_outbox_pending_messages{{{a}}})", "pending"),
             (f"max(zufang_outbox_oldest_age_seconds{{{a}}})", "oldest (s)")], w=8,
            description="Rows written with their uploads and relayed by the replicas; a broker outage only grows these.")
    d.panel("stat", "Workers up", [(f"count(up{{{w}}} == 1) or vector(0)", "workers")], w=8,
            thresholds=[(0, "red"), (1, "green")])
    d.panel("timeseries", "Jobs per second by outcome",
            [(f"sum by (outcome) (rate(zufang_worker_jobs_total{{{w}}}[$__rate_interval])) "
              f"or sum(rate(process_cpu_seconds_total{{{w}}}[$__rate_interval])) * 0", "{{outcome}}")], w=8, unit="ops",
            description="ready; retry (a transient failure, back through a retry tier); dead (to the DLQ); skipped (a redelivery of a finished job).")
    d.panel("timeseries", "Job duration p50 / p99",
            [(f"histogram_quantile(0.5, sum by (le) (rate(zufang_worker_job_duration_seconds_bucket{{{w}}}[$__rate_interval])))", "p50"),
             (f"histogram_quantile(0.99, sum by (le) (rate(zufang_worker_job_duration_seconds_bucket{{{w}}}[$__rate_interval])))", "p99")],
            w=8, unit="s", description="From delivery to ack: download, decode, two renditions, upload, the database row.")
    d.panel("timeseries", "Jobs in progress and broker connection per worker",
            [(f"zufang_worker_jobs_in_progress{{{w}}}", "{{instance}} in progress"),
             (f"zufang_worker_broker_connected{{{w}}}", "{{instance}} connected")], w=8)


def broker_row(d):
    """The "flower" of the background jobs: RabbitMQ's own plugin (rabbitmq/README.md, Monitoring)."""
    q, n = 'job="rabbitmq-queues"', 'job="rabbitmq"'
    d.row("Message broker")
    d.panel("timeseries", "Queue depth: ready and unacked per queue",
            [(f"sum by (queue) (rabbitmq_detailed_queue_messages_ready{{{q}}})", "{{queue}} ready"),
             (f"sum by (queue) (rabbitmq_detailed_queue_messages_unacked{{{q}}})", "{{queue}} unacked")], w=8,
            thresholds=[(limit("RabbitMQQueueBacklogGrowing/warning", "messages"), "orange")],
            description="Ready: waiting for a worker; unacked: in a worker's hands. The line: the backlog alert's floor.")
    d.panel("timeseries", "Consumers per queue",
            [(f"sum by (queue) (rabbitmq_detailed_queue_consumers{{{q}}})", "{{queue}}")], w=8,
            description="photo.thumbnail needs at least one (the workers); the retry tiers and the DLQ have none by design.")
    d.panel("stat", "Dead-letter queue", [(f'sum(rabbitmq_detailed_queue_messages{{{q}, queue="photo.thumbnail.dlq"}})', "messages")],
            w=8, thresholds=[(limit("RabbitMQDeadLetterQueueNotEmpty/warning", "messages") + 1, "red")],
            description="Jobs that failed for good, waiting for an operator (docs/runbooks/RabbitMQDeadLetterQueueNotEmpty.md).")
    d.panel("timeseries", "Messages per second: publish, deliver, ack, redeliver",
            [(f"sum(rate(rabbitmq_global_messages_received_total{{{n}}}[$__rate_interval]))", "published"),
             (f"sum(rate(rabbitmq_global_messages_delivered_total{{{n}}}[$__rate_interval]))", "delivered"),
             (f"sum(rate(rabbitmq_global_messages_acknowledged_total{{{n}}}[$__rate_interval]))", "acked"),
             (f"sum(rate(rabbitmq_global_messages_redelivered_total{{{n}}}[$__rate_interval]))", "redelivered")],
            w=16, unit="ops", description="Node totals (the plugin's /metrics). Redeliveries: workers died or timed out holding a job.")
    d.panel("stat", "Resource alarms",
            [(f"max(rabbitmq_alarms_memory_used_watermark{{{n}}})", "memory"),
             (f"max(rabbitmq_alarms_free_disk_space_watermark{{{n}}})", "disk")], w=8,
            mappings=[{"type": "value", "options": {"0": {"text": "ok", "color": "green"},
                                                     "1": {"text": "ALARM", "color": "red"}}}],
            description="Either alarm blocks every publisher; the outbox keeps the jobs meanwhile.")


def edge():
    d = Dashboard("zufang-edge", "zufang / Edge",
                  "The two nginx proxies (stub_status), their keepalived VRRP state, the VIP as a client sees it, "
                  "TLS certificates. nginx's own upstream errors are not in stub_status: see the "
                  "'Upstream 502/503/504' panel for what the replicas answered, and the VIP probe for what clients got.",
                  ["edge", "nginx", "keepalived"],
                  [var("node", "Proxy", 'label_values(nginx_up{job="nginx"}, node)')])
    d.row("Proxies")
    d.panel("stat", "nginx up", [('nginx_up{job="nginx", node=~"$node"}', "{{node}}")], w=6, h=5,
            thresholds=[(0, "red"), (1, "green")],
            mappings=[{"type": "value", "options": {"0": {"text": "DOWN"}, "1": {"text": "UP"}}}])
    d.panel("timeseries", "Requests per second per proxy",
            [('sum by (node) (rate(nginx_http_requests_total{job="nginx", node=~"$node"}[$__rate_interval]))', "{{node}}")],
            w=9, h=8, unit="reqps", description="The VIP holder carries the traffic; the BACKUP only sees health checks.")
    d.panel("timeseries", "Active connections per proxy",
            [('nginx_connections_active{job="nginx", node=~"$node"}', "{{node}} active"),
             ('nginx_connections_waiting{job="nginx", node=~"$node"}', "{{node}} idle keep-alive")], w=9, h=8)
    d.panel("timeseries", "Connections reading / writing",
            [('nginx_connections_reading{job="nginx", node=~"$node"}', "{{node}} reading"),
             ('nginx_connections_writing{job="nginx", node=~"$node"}', "{{node}} writing")])
    d.panel("timeseries", "Dropped connections per second",
            [('rate(nginx_connections_accepted{job="nginx", node=~"$node"}[$__rate_interval]) '
              '- rate(nginx_connections_handled{job="nginx", node=~"$node"}[$__rate_interval])', "{{node}}")],
            unit="cps", description="accepted - handled: connections refused for lack of worker_connections.")
    d.row("Upstream (replicas)")
    d.panel("timeseries", "Upstream 502/503/504 answered by the replicas",
            [('sum by (replica, status) (rate(http_requests_total{job="app", status=~"502|503|504"}[$__rate_interval])) '
              'or sum by (replica) (rate(http_requests_total{job="app"}[$__rate_interval])) * 0', "{{replica}} {{status}}")],
            unit="reqps", description="From the app's own counter (0 lines when healthy). 502/504 that nginx makes itself "
                                      "(upstream refused or timed out) appear only in the proxies' access logs and the VIP probe.")
    d.panel("timeseries", "Replica readiness (/readyz probe)",
            [('probe_success{job="probe-readyz"}', "{{replica}}")], min_=0, max_=1,
            mappings=[{"type": "value", "options": {"0": {"text": "not ready"}, "1": {"text": "ready"}}}])
    d.row("keepalived")
    d.panel("state-timeline", "VRRP state per node",
            [('max by (node, state) (keepalived_vrrp_state{node=~"$node"}) == 1', "{{node}} {{state}}")], w=12,
            description="From the notify script's textfile (node-exporter). Written on transitions only.")
    d.panel("stat", "Live nodes claiming MASTER",
            [("vrrp_instance:keepalived_vrrp_master:sum", "{{vrrp_instance}}")], w=6, h=8,
            thresholds=[(0, "red"), (1, "green"), (2, "red")],
            description="Exactly 1 is healthy; 0 = nobody holds the VIP, 2 = split brain.")
    d.panel("stat", "MASTER flag per node", [('keepalived_vrrp_master{node=~"$node"}', "{{node}}")], w=6, h=8)
    d.row("VIP and TLS")
    d.panel("timeseries", "VIP probe success",
            [('probe_success{job="probe-vip"}', "{{probe}}")], w=8, min_=0, max_=1)
    d.panel("timeseries", "VIP probe duration",
            [('probe_duration_seconds{job="probe-vip"}', "{{probe}}")], w=8, unit="s")
    d.panel("timeseries", "VIP probe HTTP status",
            [('probe_http_status_code{job="probe-vip"}', "{{probe}}")], w=8)
    d.panel("stat", "TLS certificate expires in",
            [('probe_ssl_earliest_cert_expiry{job="probe-tls"} - time()', "{{instance}}")], w=12, h=5, unit="s",
            thresholds=[(0, "red"), (limit("TLSCertificateExpiring/critical", "days", 86400), "orange"),
                        (limit("TLSCertificateExpiring/warning", "days", 86400), "green")])
    d.panel("stat", "TLS probe success", [('probe_success{job="probe-tls"}', "{{instance}}")], w=12, h=5,
            thresholds=[(0, "red"), (1, "green")])
    return d


def data_store_header(d, row, name, up, uptime, used_title, used, alert, description=""):
    """The first row of a data store's dashboard: up, uptime, and the share of its limit in use, coloured
    at the warning and critical thresholds of its *NearMax alert."""
    d.row(row)
    d.panel("stat", f"{name} up", [(up, "up")], w=4, h=5, thresholds=[(0, "red"), (1, "green")])
    d.panel("stat", "Uptime", [(uptime, "uptime")], w=4, h=5, unit="s")
    d.panel("stat", used_title, [(used, "used")], w=4, h=5, unit="percentunit",
            thresholds=[(limit(f"{alert}/warning", "ratio"), "orange"), (limit(f"{alert}/critical", "ratio"), "red")],
            description=description)


def mariadb():
    m = 'job="mysql"'
    d = Dashboard("zufang-mariadb", "zufang / MariaDB", "MariaDB through mysqld-exporter, and the app's pool.",
                  ["mysql", "database"])
    data_store_header(d, "Availability and connections", "MariaDB", f"mysql_up{{{m}}}",
                      f"mysql_global_status_uptime{{{m}}}", "Connections used of max_connections",
                      f"mysql_global_status_threads_connected{{{m}}} / mysql_global_variables_max_connections{{{m}}}",
                      "MySQLConnectionsNearMax")
    d.panel("timeseries", "Threads connected / running vs max_connections",
            [(f"mysql_global_status_threads_connected{{{m}}}", "connected"),
             (f"mysql_global_status_threads_running{{{m}}}", "running"),
             (f"mysql_global_variables_max_connections{{{m}}}", "max_connections")], w=12, h=8)
    d.panel("timeseries", "App pool connections (all replicas)",
            [('sum by (state) (db_pool_connections{job="app"})', "{{state}}")])
    d.panel("timeseries", "Aborted connections per second",
            [(f"rate(mysql_global_status_aborted_connects{{{m}}}[$__rate_interval])", "aborted connects"),
             (f"rate(mysql_global_status_aborted_clients{{{m}}}[$__rate_interval])", "aborted clients")], unit="cps")
    d.row("Work")
    d.panel("timeseries", "Queries per second",
            [(f"rate(mysql_global_status_questions{{{m}}}[$__rate_interval])", "questions (client statements)")], unit="qps")
    d.panel("timeseries", "Commands per second",
            [(f'topk(8, rate(mysql_global_status_commands_total{{{m}, command=~"select|insert|update|delete|replace|begin|commit|rollback"}}[$__rate_interval]))',
              "{{command}}")], unit="qps", stack=True)
    d.panel("timeseries", "Slow queries per minute",
            [(f"rate(mysql_global_status_slow_queries{{{m}}}[$__rate_interval]) * 60", "slow queries")],
            thresholds=[(limit("MySQLSlowQueriesRising/warning", "per_minute"), "orange")])
    d.panel("timeseries", "App query p95 by query",
            [('histogram_quantile(0.95, sum by (query, le) (rate(db_query_duration_seconds_bucket{job="app"}[$__rate_interval])))',
              "{{query}}")], unit="s")
    d.row("InnoDB")
    d.panel("timeseries", "Buffer pool pages",
            [(f"mysql_global_status_buffer_pool_pages{{{m}}}", "{{state}}")], w=8)
    d.panel("timeseries", "Buffer pool hit ratio",
            [(f"1 - rate(mysql_global_status_innodb_buffer_pool_reads{{{m}}}[$__rate_interval]) "
              f"/ rate(mysql_global_status_innodb_buffer_pool_read_requests{{{m}}}[$__rate_interval])", "hit ratio")],
            w=8, unit="percentunit", max_=1,
            description="Reads served from memory. NaN (gap) while there are no read requests.")
    d.panel("timeseries", "Handler (row-level) operations per second",
            [(f'rate(mysql_global_status_handlers_total{{{m}, handler=~"read_.*|write|update|delete"}}[$__rate_interval])',
              "{{handler}}")], w=8, unit="ops",
            description="MariaDB has no Innodb_rows_* status counters; the handler counters show the row work of every engine.")
    d.panel("timeseries", "Network traffic",
            [(f"rate(mysql_global_status_bytes_received{{{m}}}[$__rate_interval])", "received"),
             (f"rate(mysql_global_status_bytes_sent{{{m}}}[$__rate_interval])", "sent")], unit="Bps")
    d.panel("timeseries", "Table lock waits and temporary disk tables",
            [(f"rate(mysql_global_status_table_locks_waited{{{m}}}[$__rate_interval])", "table locks waited"),
             (f"rate(mysql_global_status_created_tmp_disk_tables{{{m}}}[$__rate_interval])", "tmp disk tables")], unit="ops")
    d.row("Backups")
    b = 'job="node"'
    d.panel("stat", "Age of the newest full backup",
            [(f"time() - backup_last_success_timestamp_seconds{{{b}}}", "age")], w=6, h=6, unit="s",
            thresholds=[(limit("BackupTooOld/critical", "factor", 21600), "red")],
            description="From the backup service's textfile (node-exporter). BackupTooOld fires beyond 2 intervals (12 h by default).")
    d.panel("stat", "Last attempt",
            [(f"backup_last_run_success{{{b}}}", "result")], w=6, h=6,
            mappings=[{"type": "value", "options": {"0": {"text": "failed", "color": "red"},
                                                     "1": {"text": "succeeded", "color": "green"}}}])
    d.panel("stat", "Point-in-time window: binlog copy lag",
            [(f"time() - backup_binlog_copied_timestamp_seconds{{{b}}}", "lag")], w=6, h=6, unit="s",
            thresholds=[(limit("BackupBinlogCopyStale/critical", "seconds"), "red")],
            description="Seconds since the binlog copy last matched the server: writes newer than this would be lost with the data volume.")
    d.panel("timeseries", "Full backup size",
            [(f"backup_last_size_bytes{{{b}}}", "size")], w=6, h=6, unit="bytes")
    return d


def redis():
    r = 'job="redis"'
    d = Dashboard("zufang-redis", "zufang / Redis", "Redis through redis-exporter, and the app's two-level cache.",
                  ["redis", "cache"])
    data_store_header(d, "Availability and memory", "Redis", f"redis_up{{{r}}}", f"redis_uptime_in_seconds{{{r}}}",
                      "Memory used of maxmemory", f"redis_memory_used_bytes{{{r}}} / (redis_memory_max_bytes{{{r}}} > 0)",
                      "RedisMemoryNearMax", description="Empty when maxmemory is 0 (no limit).")
    d.panel("timeseries", "Memory used vs maxmemory",
            [(f"redis_memory_used_bytes{{{r}}}", "used"), (f"redis_memory_max_bytes{{{r}}}", "maxmemory")],
            w=12, unit="bytes")
    d.panel("timeseries", "Connected clients", [(f"redis_connected_clients{{{r}}}", "clients"),
                                                (f"redis_blocked_clients{{{r}}}", "blocked")])
    d.panel("timeseries", "Evicted and expired keys per second",
            [(f"rate(redis_evicted_keys_total{{{r}}}[$__rate_interval])", "evicted"),
             (f"rate(redis_expired_keys_total{{{r}}}[$__rate_interval])", "expired")], unit="ops",
            description="Evictions mean the working set does not fit: the RedisEvictingKeys alert.")
    d.row("Work")
    d.panel("timeseries", "Commands per second",
            [(f"rate(redis_commands_processed_total{{{r}}}[$__rate_interval])", "commands")], unit="ops")
    d.panel("timeseries", "Keyspace hit ratio",
            [(f"rate(redis_keyspace_hits_total{{{r}}}[$__rate_interval]) / (rate(redis_keyspace_hits_total{{{r}}}[$__rate_interval]) "
              f"+ rate(redis_keyspace_misses_total{{{r}}}[$__rate_interval]))", "hit ratio")], unit="percentunit", max_=1)
    d.panel("timeseries", "Keys per database", [(f"redis_db_keys{{{r}}}", "{{db}}")])
    d.panel("timeseries", "Network traffic",
            [(f"rate(redis_net_input_bytes_total{{{r}}}[$__rate_interval])", "in"),
             (f"rate(redis_net_output_bytes_total{{{r}}}[$__rate_interval])", "out")], unit="Bps")
    d.row("The app's cache")
    d.panel("timeseries", "App cache results (local LRU and Redis)",
            [('sum by (cache, result) (rate(cache_requests_total{job="app"}[$__rate_interval]))', "{{cache}} {{result}}")],
            unit="reqps", description="result=error on cache=redis: the app could not reach Redis and went to MariaDB.")
    d.panel("timeseries", "App Redis errors per second",
            [('sum by (replica) (rate(cache_requests_total{job="app", cache="redis", result="error"}[$__rate_interval])) '
              'or sum by (replica) (rate(cache_requests_total{job="app", cache="redis"}[$__rate_interval])) * 0', "{{replica}}")],
            unit="reqps")
    return d


def node():
    n = 'job="node", instance=~"$instance"'
    d = Dashboard("zufang-node", "zufang / Node (USE)",
                  "Utilisation, saturation and errors of the host(s): CPU, memory, disk, network (node-exporter).",
                  ["node", "use"], [var("instance", "Host", 'label_values(node_uname_info{job="node"}, instance)')])
    d.row("CPU")
    d.panel("timeseries", "CPU utilisation", [(f"instance:node_cpu_utilisation:rate5m{{{n}}}", "{{instance}}")],
            w=8, unit="percentunit", max_=1)
    d.panel("timeseries", "CPU by mode",
            [(f'sum by (mode) (rate(node_cpu_seconds_total{{{n}, mode!="idle"}}[$__rate_interval])) '
              f"/ on () group_left () count(node_cpu_seconds_total{{{n}, mode=\"idle\"}})", "{{mode}}")],
            w=8, unit="percentunit", stack=True)
    d.panel("timeseries", "Load per CPU (saturation)",
            [(f"instance:node_load1_per_cpu:ratio{{{n}}}", "load1 {{instance}}"),
             (f"instance:node_load5_per_cpu:ratio{{{n}}}", "load5 {{instance}}")], w=8, thresholds=[(1, "orange"), (limit("NodeHighLoad/warning", "per_cpu"), "red")])
    d.row("Memory")
    d.panel("timeseries", "Memory utilisation", [(f"instance:node_memory_utilisation:ratio{{{n}}}", "{{instance}}")],
            w=8, unit="percentunit", max_=1)
    d.panel("timeseries", "Memory", [(f"node_memory_MemTotal_bytes{{{n}}}", "total"),
                                     (f"node_memory_MemAvailable_bytes{{{n}}}", "available"),
                                     (f"node_memory_Cached_bytes{{{n}}}", "page cache")], w=8, unit="bytes")
    d.panel("timeseries", "Major page faults per second (saturation)",
            [(f"rate(node_vmstat_pgmajfault{{{n}}}[$__rate_interval])", "{{instance}}")], w=8, unit="ops")
    d.row("Disk")
    d.panel("timeseries", "Disk I/O utilisation",
            [(f"rate(node_disk_io_time_seconds_total{{{n}}}[$__rate_interval])", "{{device}}")], w=8, unit="percentunit")
    d.panel("timeseries", "Disk I/O saturation (weighted queue)",
            [(f"rate(node_disk_io_time_weighted_seconds_total{{{n}}}[$__rate_interval])", "{{device}}")], w=8)
    d.panel("timeseries", "Disk throughput",
            [(f"rate(node_disk_read_bytes_total{{{n}}}[$__rate_interval])", "{{device}} read"),
             (f"rate(node_disk_written_bytes_total{{{n}}}[$__rate_interval])", "{{device}} written")], w=8, unit="Bps")
    d.panel("timeseries", "Filesystem space used",
            [(f'1 - node_filesystem_avail_bytes{{{n}, fstype!~"tmpfs|overlay|squashfs"}} '
              f'/ node_filesystem_size_bytes{{{n}, fstype!~"tmpfs|overlay|squashfs"}}', "{{mountpoint}}")],
            unit="percentunit", max_=1, thresholds=[(0.75, "orange"), (0.9, "red")])
    d.panel("timeseries", "Filesystem free, predicted in 24 h",
            [(f'predict_linear(node_filesystem_avail_bytes{{{n}, fstype!~"tmpfs|overlay|squashfs"}}[6h], 86400)',
              "{{mountpoint}}")], unit="bytes", description="Below 0: the NodeFilesystemFillingUp alert's territory.")
    d.row("Network")
    d.panel("timeseries", "Network throughput",
            [(f'rate(node_network_receive_bytes_total{{{n}, device!="lo"}}[$__rate_interval])', "{{device}} in"),
             (f'rate(node_network_transmit_bytes_total{{{n}, device!="lo"}}[$__rate_interval])', "{{device}} out")],
            w=8, unit="Bps")
    d.panel("timeseries", "Network errors per second",
            [(f"rate(node_network_receive_errs_total{{{n}}}[$__rate_interval]) "
              f"+ rate(node_network_transmit_errs_total{{{n}}}[$__rate_interval])", "{{device}}")], w=8, unit="pps")
    d.panel("timeseries", "Network drops per second (saturation)",
            [(f"rate(node_network_receive_drop_total{{{n}}}[$__rate_interval]) "
              f"+ rate(node_network_transmit_drop_total{{{n}}}[$__rate_interval])", "{{device}}")], w=8, unit="pps")
    return d


def abuse():
    sms_alert = limit("ZufangSmsRateLimitRejectionsSpiking/warning", "per_second", 60)
    a = 'job="app", replica=~"$replica"'
    d = Dashboard("zufang-abuse", "zufang / Abuse & auth",
                  "SMS codes sent and rejected, logins, and the 401/403/429 answers: where scripts show up first.",
                  ["security", "auth"],
                  [var("replica", "Replica", 'label_values(http_requests_total{job="app"}, replica)')])
    d.row("SMS codes")
    d.panel("timeseries", "SMS codes sent per minute by result",
            [(f"sum by (sender, result) (rate(sms_codes_sent_total{{{a}}}[$__rate_interval])) * 60", "{{sender}} {{result}}")],
            unit="short", description="Each accepted code costs money with a real SMS provider.")
    d.panel("timeseries", "Rate-limit rejections per minute by limiter",
            [(f"sum by (limiter) (rate(rate_limit_rejections_total{{{a}}}[$__rate_interval])) * 60", "{{limiter}}")],
            unit="short", thresholds=[(sms_alert, "red")],
            description=f"sms_interval / sms_daily / sms_ip / login. Alert at {sms_alert}/min on an SMS limiter.")
    d.row("Logins")
    d.panel("timeseries", "Logins per minute by result",
            [(f"sum by (result) (rate(auth_logins_total{{{a}}}[$__rate_interval])) * 60", "{{result}}")], unit="short")
    d.panel("timeseries", "Login failure ratio",
            [(f'(sum(rate(auth_logins_total{{{a}, result=~"failure|throttled"}}[$__rate_interval])) '
              f"or sum(rate(auth_logins_total{{{a}}}[$__rate_interval])) * 0) "
              f"/ sum(rate(auth_logins_total{{{a}}}[$__rate_interval]))", "failed or throttled")],
            unit="percentunit", max_=1)
    d.row("Refusals")
    d.panel("timeseries", "401 / 403 / 429 per second by route",
            [(f'sum by (route, status) (rate(http_requests_total{{{a}, status=~"401|403|429"}}[$__rate_interval]))',
              "{{status}} {{route}}")], w=24, unit="reqps",
            description="401: missing/invalid token; 403: role or admin IP check; 429: a rate limiter.")
    for code in ("401", "403", "429"):
        d.panel("stat", f"{code} per minute",
                [(f'sum(rate(http_requests_total{{{a}, status="{code}"}}[5m])) * 60 '
                  f'or sum(rate(http_requests_total{{{a}}}[5m])) * 0', code)], w=8, h=5, decimals=1)
    return d


DASHBOARDS = {"service-overview": service_overview, "edge": edge, "mariadb": mariadb, "redis": redis,
              "node": node, "abuse-auth": abuse}
K8S_DASHBOARDS = ("service-overview", "mariadb", "redis", "abuse-auth")
K8S_SCOPE = 'cluster=~"$cluster", namespace=~"$namespace"'
JOB = re.compile(r'job="([a-z-]+)"')


def k8s_selectors(expr):
    """The app by its job (the ServiceMonitor's Service, `app` in every overlay) and namespace; an
    exporter by namespace only: its metric names are its own, its job name is the overlay's choice."""
    return JOB.sub(lambda m: f'job="app", {K8S_SCOPE}' if m.group(1) == "app" else K8S_SCOPE, expr)


# Rows about compose-only services (the backup service: in a cluster the managed database backs up;
# the broker: no overlay scrapes one yet).
COMPOSE_ONLY_ROWS = {"Backups", "Message broker"}


def k8s_variant(d):
    kept, skip = [], False
    for p in d["panels"]:
        if p["type"] == "row":
            skip = p["title"] in COMPOSE_ONLY_ROWS
        if not skip:
            kept.append(p)
    d["panels"] = kept
    for p in d["panels"]:
        for t in p.get("targets", []):
            t["expr"] = k8s_selectors(t["expr"])
    for v in d["templating"]["list"]:
        if v["type"] == "query":
            v["definition"] = k8s_selectors(v["definition"])
            v["query"]["query"] = k8s_selectors(v["query"]["query"])
    # kubernetes-mixin's pair: cluster (one value, or none, in a single-cluster setup: "All" matches
    # series without the label too), then the namespaces holding the app.
    scope = [var("cluster", "Cluster", 'label_values(up{job="app"}, cluster)'),
             var("namespace", "Namespace", 'label_values(up{job="app", cluster=~"$cluster"}, namespace)')]
    d["templating"]["list"][1:1] = scope
    d["tags"] = d["tags"] + ["kubernetes"]
    return d


def render(variant="compose"):
    names = DASHBOARDS if variant == "compose" else K8S_DASHBOARDS
    out = {}
    for name in names:
        d = DASHBOARDS[name]().json()
        if variant == "k8s":
            d = k8s_variant(d)
        out[f"{name}.json"] = json.dumps(d, indent=2, sort_keys=False) + "\n"
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(HERE, "dashboards", "zufang"))
    ap.add_argument("--check", action="store_true", help="fail if the files in --out differ from the generated ones")
    ap.add_argument("--variant", choices=("compose", "k8s"), default="compose",
                    help="k8s: the kube-prometheus variant (default --out is then required)")
    args = ap.parse_args()
    if args.variant == "k8s" and args.out == ap.get_default("out"):
        ap.error("--variant k8s writes elsewhere than the committed compose JSON: give --out")
    os.makedirs(args.out, exist_ok=True)
    stale = []
    for fname, text in render(args.variant).items():
        path = os.path.join(args.out, fname)
        if args.check:
            if not os.path.exists(path) or open(path).read() != text:
                stale.append(fname)
        else:
            open(path, "w").write(text)
            print(f"wrote {path}")
    if stale:
        print("stale dashboards (run monitoring/grafana/dashboards.py): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
