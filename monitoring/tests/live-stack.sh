#!/usr/bin/env bash
# live-stack.sh: a real monitoring stack on loopback, without containers, for the live dashboard
# check: a zufang instance (scripts/ci/app-instance.sh), Debian's Prometheus, node/mysqld/redis/
# blackbox/nginx exporters against the local MariaDB and Redis, and an nginx standing in for one
# edge proxy (lb1: proxy to the app, /healthz, stub_status, TLS with a throw-away self-signed
# certificate). keepalived does not run here: its textfile metrics are written by the edge's real
# notify script (nginx/keepalived/notify.sh), called as keepalived calls it (lb1 MASTER, lb2 BACKUP).
# Rules: the real files, except TargetDown's `for:` (10 s instead of 2 m, test-only).
#
#   live-stack.sh start     start everything (idempotent: stops a previous run first)
#   live-stack.sh traffic   requests to the app directly and through the nginx (incl. 4xx, 429)
#   live-stack.sh stop      stop what start started (by recorded pid) and the app instance
#   live-stack.sh urls      print the endpoints
# Alertmanager runs with the committed configuration (secrets from generated files; receivers point
# at a closed local port, since a healthy stack sends nothing).
# Ports (this area's range 19090-19099): Prometheus 19090, node-exporter 19091, mysqld-exporter
# 19092, Alertmanager 19093, redis-exporter 19094, app 19095, blackbox 19096, nginx http 19097 /
# https 19098, nginx-exporter 19099.
# State, logs and generated secrets: .cache/monitoring-live/ (never committed).
set -euo pipefail

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
[[ "${1:-}" == "--help" || "${1:-}" == "-h" || $# -ne 1 ]] && { usage; [[ $# -eq 1 ]]; exit $?; }

root=$(cd "$(dirname "$0")/../.." && pwd)
: "${LIVE_DIR:=$root/.cache/monitoring-live}"
: "${APP_PORT:=19095}"
PROM=127.0.0.1:19090

need() { command -v "$1" >/dev/null || { echo "live-stack: $1 not found (run monitoring/tests/run.sh, which installs it)" >&2; exit 1; }; }

wait_http() { # URL [tries]
  local i
  for ((i = 0; i < ${2:-60}; i++)); do
    curl -fsS -o /dev/null --max-time 2 "$1" 2>/dev/null && return 0
    sleep 0.5
  done
  echo "live-stack: $1 did not answer" >&2
  return 1
}

spawn() { # NAME CMD... : background process, pid recorded for stop
  local name=$1; shift
  nohup "$@" >"$LIVE_DIR/log/$name.log" 2>&1 &
  echo $! >"$LIVE_DIR/pid/$name"
}

stop() {
  local f pid
  if [[ -d $LIVE_DIR/pid ]]; then
    for f in "$LIVE_DIR"/pid/*; do
      [[ -e $f ]] || continue
      pid=$(cat "$f")
      if kill -0 "$pid" 2>/dev/null; then kill "$pid" 2>/dev/null || true; fi
      rm -f "$f"
    done
  fi
  if [[ -x $root/scripts/ci/app-instance.sh ]]; then
    "$root/scripts/ci/app-instance.sh" stop monitoring >/dev/null 2>&1 || true
  fi
}

start() {
  for b in prometheus prometheus-node-exporter prometheus-mysqld-exporter prometheus-redis-exporter \
           prometheus-blackbox-exporter prometheus-nginx-exporter prometheus-alertmanager nginx openssl curl; do
    need "$b"
  done
  [[ -x $root/scripts/ci/app-instance.sh ]] || {
    echo "live-stack: scripts/ci/app-instance.sh is missing: the live check needs a real zufang instance" >&2; exit 1; }
  stop
  mkdir -p "$LIVE_DIR"/{log,pid,textfile,state,nginx/tmp,secrets}
  chmod 700 "$LIVE_DIR/secrets"; chmod 1777 "$LIVE_DIR/nginx/tmp"
  rm -rf "$LIVE_DIR/tsdb"

  eval "$("$root/scripts/ci/services.sh" --env)"
  echo "live-stack: starting zufang on 127.0.0.1:$APP_PORT (scripts/ci/app-instance.sh)" >&2
  "$root/scripts/ci/app-instance.sh" start monitoring "$APP_PORT" >"$LIVE_DIR/log/app-instance.log" 2>&1 || {
    tail -20 "$LIVE_DIR/log/app-instance.log" >&2; exit 1; }

  # keepalived's notify hook, as keepalived would call it on each node's transition.
  STATE_DIR=$LIVE_DIR/state TEXTFILE_DIR=$LIVE_DIR/textfile \
    "$root/nginx/keepalived/notify.sh" lb1 INSTANCE VI_EDGE MASTER 150 2>/dev/null
  STATE_DIR=$LIVE_DIR/state TEXTFILE_DIR=$LIVE_DIR/textfile \
    "$root/nginx/keepalived/notify.sh" lb2 INSTANCE VI_EDGE BACKUP 100 2>/dev/null

  # The stand-in proxy: the edge contract's endpoints only (not the edge's configuration).
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=lb1.zufang.test \
    -keyout "$LIVE_DIR/nginx/key.pem" -out "$LIVE_DIR/nginx/cert.pem" 2>/dev/null
  cat >"$LIVE_DIR/nginx/nginx.conf" <<EOF
worker_processes 1;
pid $LIVE_DIR/nginx/nginx.pid;
error_log $LIVE_DIR/log/nginx-error.log;
events { worker_connections 256; }
http {
  access_log $LIVE_DIR/log/nginx-access.log;
  client_body_temp_path $LIVE_DIR/nginx/tmp/body;
  proxy_temp_path $LIVE_DIR/nginx/tmp/proxy;
  fastcgi_temp_path $LIVE_DIR/nginx/tmp/fastcgi;
  uwsgi_temp_path $LIVE_DIR/nginx/tmp/uwsgi;
  scgi_temp_path $LIVE_DIR/nginx/tmp/scgi;
  upstream zufang_app { server 127.0.0.1:$APP_PORT max_fails=1 fail_timeout=5s; keepalive 8; }
  server {
    listen 127.0.0.1:19097;
    location = /healthz { default_type application/json; return 200 '{"status":"ok"}\n'; }
    location = /stub_status { stub_status; allow 127.0.0.1; deny all; }
    location /api/ {
      proxy_pass http://zufang_app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For \$remote_addr;
      # The client's host (nginx would send the upstream's name, which the app does not answer for).
      proxy_set_header Host \$host;
    }
  }
  server {
    listen 127.0.0.1:19098 ssl;
    ssl_certificate $LIVE_DIR/nginx/cert.pem;
    ssl_certificate_key $LIVE_DIR/nginx/key.pem;
    location /api/ {
      proxy_pass http://zufang_app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
    }
    location / { return 200 "ok\n"; }
  }
}
EOF
  spawn nginx nginx -p "$LIVE_DIR/nginx" -c "$LIVE_DIR/nginx/nginx.conf" -g 'daemon off;'

  local pw
  pw=$(cat "$MARIADB_PASSWORD_FILE")
  printf '[client]\nuser=%s\npassword=%s\nhost=%s\nport=%s\n' "$MARIADB_USER" "$pw" "$MARIADB_HOST" "$MARIADB_PORT" \
    >"$LIVE_DIR/secrets/my.cnf"
  chmod 600 "$LIVE_DIR/secrets/my.cnf"

  spawn node-exporter prometheus-node-exporter --web.listen-address=127.0.0.1:19091 \
    --collector.textfile.directory="$LIVE_DIR/textfile"
  spawn mysqld-exporter prometheus-mysqld-exporter --web.listen-address=127.0.0.1:19092 \
    --config.my-cnf="$LIVE_DIR/secrets/my.cnf"
  spawn redis-exporter prometheus-redis-exporter -web.listen-address 127.0.0.1:19094 \
    -redis.addr "redis://127.0.0.1:6379"
  spawn blackbox-exporter prometheus-blackbox-exporter --web.listen-address=127.0.0.1:19096 \
    --config.file="$root/monitoring/prometheus/blackbox.yml"
  wait_http http://127.0.0.1:19097/healthz
  spawn nginx-exporter prometheus-nginx-exporter -web.listen-address 127.0.0.1:19099 \
    -nginx.scrape-uri http://127.0.0.1:19097/stub_status

  local s
  for s in alertmanager_webhook_token alertmanager_smtp_password; do
    head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' >"$LIVE_DIR/secrets/$s"
  done
  sed -e "s#/run/secrets/#$LIVE_DIR/secrets/#g" \
      -e "s#http://alert-receiver:8080/alerts#http://127.0.0.1:9/alerts#g" \
      -e "s#^  - templates/\*.tmpl#  - $root/monitoring/alertmanager/templates/*.tmpl#" \
      -e "s#smtp.example.org:587#127.0.0.1:9#" \
      "$root/monitoring/alertmanager/alertmanager.yml" >"$LIVE_DIR/alertmanager.yml"
  mkdir -p "$LIVE_DIR/am-data"
  spawn alertmanager prometheus-alertmanager --config.file="$LIVE_DIR/alertmanager.yml" \
    --storage.path="$LIVE_DIR/am-data" --web.listen-address=127.0.0.1:19093 --cluster.listen-address=

  # The real rule files, with one test-only override: TargetDown waits 10 s instead of 2 m, so the
  # "stop a replica, see the alert in Alertmanager" check stays short.
  rm -rf "$LIVE_DIR/rules"; cp -r "$root/monitoring/prometheus/rules" "$LIVE_DIR/rules"
  awk '/- alert: TargetDown/ { t = 1 } t && /^ +for: / { sub(/for: .*/, "for: 10s"); t = 0 } { print }' \
    "$root/monitoring/prometheus/rules/prometheus.alerts.yaml" >"$LIVE_DIR/rules/prometheus.alerts.yaml"
  grep -q 'for: 10s' "$LIVE_DIR/rules/prometheus.alerts.yaml"
  sed "s#@RULES@#$LIVE_DIR/rules#g" "$root/monitoring/tests/prometheus-live.yml.in" \
    >"$LIVE_DIR/prometheus.yml"
  promtool check config "$LIVE_DIR/prometheus.yml" >/dev/null
  spawn prometheus prometheus --config.file="$LIVE_DIR/prometheus.yml" --storage.tsdb.path="$LIVE_DIR/tsdb" \
    --web.listen-address=$PROM --storage.tsdb.retention.time=1d
  for u in 19093/-/ready 19091/metrics 19092/metrics 19094/metrics 19096/metrics 19099/metrics 19090/-/ready; do
    wait_http "http://127.0.0.1:$u"
  done
  echo "live-stack: up (Prometheus http://$PROM)" >&2
}

traffic() {
  local app=http://127.0.0.1:$APP_PORT edge=http://127.0.0.1:19097 base i tel=13800138$((RANDOM % 900 + 100))
  for ((i = 0; i < 5; i++)); do
    for base in "$app" "$edge"; do
      curl -s -o /dev/null "$base/api/districts/"
      curl -s -o /dev/null "$base/api/hot-cities/"
      curl -s -o /dev/null "$base/api/estates/?page=1&size=5&ordering=-hot"
      curl -s -o /dev/null "$base/api/houses/?minprice=1000&maxprice=9000&page=1&size=10"
      curl -s -o /dev/null "$base/api/estates/1/"
      curl -s -o /dev/null "$base/api/houses/1/"
      curl -s -o /dev/null "$base/api/houses/999999999/"          # 404
      curl -s -o /dev/null "$base/api/houses/?minprice=900&maxprice=100"  # 400
      curl -s -o /dev/null "$base/api/users/me/"                  # 401
    done
  done
  curl -s -o /dev/null "$app/no-such-path"                        # unmatched 404
  # Auth and abuse: the second code for the same number within the resend interval is rejected.
  # A random documentation address per call (X-Forwarded-For is trusted from 127.0.0.1), so the
  # per-IP hourly limit of earlier runs does not reject the first code too: sms_codes_sent_total
  # only exists once a code has been sent.
  local ip=198.51.100.$((RANDOM % 254 + 1))
  curl -s -o /dev/null -X POST -H "X-Forwarded-For: $ip" "$app/api/mobile-codes/$tel/"
  curl -s -o /dev/null -X POST -H "X-Forwarded-For: $ip" "$app/api/mobile-codes/$tel/"
  curl -s -o /dev/null -X POST -H "X-Forwarded-For: $ip" "$app/api/mobile-codes/$tel/"
  curl -s -o /dev/null -X POST -H 'Content-Type: application/json' \
    -d '{"username":"nobody-monitoring","password":"wrong-password"}' "$app/api/tokens/"
  curl -s -o /dev/null -H 'Authorization: Bearer not-a-token' "$app/api/admin/roles/"
  echo "live-stack: traffic sent" >&2
}

case $1 in
  start) start ;;
  stop) stop ;;
  traffic) traffic ;;
  urls) echo "prometheus http://$PROM  app http://127.0.0.1:$APP_PORT  nginx http://127.0.0.1:19097" ;;
  *) usage >&2; exit 2 ;;
esac
