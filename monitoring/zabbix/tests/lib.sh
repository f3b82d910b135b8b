# shellcheck shell=bash
# Helpers for monitoring/zabbix/tests/run.sh: a throw-away Zabbix 6.0 server, its PHP front end
# (JSON-RPC API only), agent 2 and a stub_status nginx, all on 127.0.0.1, all under $RUN_DIR.
# Sourced, not executed. Needs: ROOT, HERE, RUN_DIR, the ZBX_* ports, MARIADB_* from services.sh.

log() { printf '%s zabbix-test: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# Random secret kept in .cache/secrets (gitignored), created once.
secret() {
  local f="$ROOT/.cache/secrets/$1"
  if [[ ! -s $f ]]; then
    mkdir -p "$(dirname "$f")"
    head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 24 > "$f"
    chmod 600 "$f"
  fi
  cat "$f"
}

wait_port() { # host port seconds
  local i
  for ((i = 0; i < $3 * 4; i++)); do
    (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && return 0
    sleep 0.25
  done
  return 1
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# --- database -----------------------------------------------------------------------------
# The schema import takes ~45 s on a busy 2-core machine, so an imported schema is reused
# when it was made from the same package version and the import finished (marker row written last).
# Reuse is safe: the test deletes its own hosts/templates first, and nothing else uses zabbix_ci.
db_prepare() {
  local pkgver marker dbpw
  pkgver=$(dpkg-query -W -f='${Version}' zabbix-server-mysql)
  dbpw=$(secret zabbix_ci_db_password)
  mariadb --protocol=socket -e "
    CREATE USER IF NOT EXISTS 'zabbix_ci'@'127.0.0.1' IDENTIFIED BY '$dbpw';
    ALTER USER 'zabbix_ci'@'127.0.0.1' IDENTIFIED BY '$dbpw';
    CREATE DATABASE IF NOT EXISTS zabbix_ci_meta;
    CREATE TABLE IF NOT EXISTS zabbix_ci_meta.import (pkgver VARCHAR(64) PRIMARY KEY);"
  marker=$(mariadb --protocol=socket -N -e \
    "SELECT COUNT(*) FROM zabbix_ci_meta.import WHERE pkgver='$pkgver'" 2>/dev/null || echo 0)
  if [[ $marker == 1 && ${ZBX_FRESH_SCHEMA:-0} != 1 ]] &&
     mariadb --protocol=socket -N -e "SELECT mandatory FROM zabbix_ci.dbversion" >/dev/null 2>&1; then
    log "reusing the imported Zabbix schema (package $pkgver; ZBX_FRESH_SCHEMA=1 to re-import)"
  else
    log "importing the Zabbix $pkgver schema into zabbix_ci (under a minute)"
    mariadb --protocol=socket -e "
      DELETE FROM zabbix_ci_meta.import;
      DROP DATABASE IF EXISTS zabbix_ci;
      CREATE DATABASE zabbix_ci CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;"
    local f
    for f in schema images; do
      zcat "/usr/share/zabbix-server-mysql/$f.sql.gz" | mariadb --protocol=socket zabbix_ci
    done
    # data.sql is 130k one-row INSERTs: batched, 20 s instead of 2 minutes.
    zcat /usr/share/zabbix-server-mysql/data.sql.gz | python3 "$HERE/batch-inserts.py" |
      mariadb --protocol=socket zabbix_ci
    mariadb --protocol=socket -e "INSERT INTO zabbix_ci_meta.import VALUES ('$pkgver')"
  fi
  mariadb --protocol=socket -e "GRANT ALL PRIVILEGES ON zabbix_ci.* TO 'zabbix_ci'@'127.0.0.1'"
}

# --- server -------------------------------------------------------------------------------
server_start() {
  local dbpw
  dbpw=$(secret zabbix_ci_db_password)
  mkdir -p "$RUN_DIR/server"
  # Short cache/timer periods so that a test host's items and triggers take effect in seconds;
  # production keeps the defaults (CacheUpdateFrequency=60).
  cat > "$RUN_DIR/server/zabbix_server.conf" <<EOF
ListenIP=127.0.0.1
ListenPort=$ZBX_SERVER_PORT
LogType=file
LogFile=$RUN_DIR/server/zabbix_server.log
PidFile=$RUN_DIR/server/zabbix_server.pid
SocketDir=$RUN_DIR/server
DBHost=127.0.0.1
DBPort=${MARIADB_PORT:-3306}
DBName=zabbix_ci
DBUser=zabbix_ci
DBPassword=$dbpw
CacheUpdateFrequency=2
StartPollers=3
StartPollersUnreachable=1
StartTrappers=1
StartPingers=0
StartDiscoverers=0
StartHTTPPollers=0
StartTimers=1
StartEscalators=1
StartAlerters=1
StartPreprocessors=2
StartLLDProcessors=1
StartReportWriters=0
HousekeepingFrequency=0
UnreachablePeriod=15
UnavailableDelay=5
UnreachableDelay=5
Timeout=4
AllowRoot=1
# Debian's own MariaDB (10.11) is newer than the newest 6.0.14 knows (10.10); 6.0.19+ accepts it.
AllowUnsupportedDBVersions=1
FpingLocation=/usr/bin/fping
EOF
  chmod 600 "$RUN_DIR/server/zabbix_server.conf"
  nice zabbix_server -f -c "$RUN_DIR/server/zabbix_server.conf" >"$RUN_DIR/server/stdout.log" 2>&1 &
  echo $! > "$RUN_DIR/server.pid"
  wait_port 127.0.0.1 "$ZBX_SERVER_PORT" 60 || {
    tail -30 "$RUN_DIR/server/zabbix_server.log" >&2 || true; return 1; }
}

# --- front end (API only) -----------------------------------------------------------------
# Debian's front end reads /etc/zabbix/zabbix.conf.php (a patched constant). The test must not
# touch /etc, so it serves a copy of /usr/share/zabbix with the constant pointed at $RUN_DIR.
frontend_start() {
  local dbpw fe="$RUN_DIR/frontend"
  dbpw=$(secret zabbix_ci_db_password)
  rm -rf "$fe" && cp -a /usr/share/zabbix "$fe"
  sed -i "s|const CONFIG_FILE_PATH = '/etc/zabbix/zabbix.conf.php';|const CONFIG_FILE_PATH = '$RUN_DIR/zabbix.conf.php';|" \
    "$fe/include/classes/core/CConfigFile.php"
  grep -q "$RUN_DIR/zabbix.conf.php" "$fe/include/classes/core/CConfigFile.php" || {
    log "could not point the front end at its config (CConfigFile.php changed?)"; return 1; }
  cat > "$RUN_DIR/zabbix.conf.php" <<EOF
<?php
\$DB['TYPE'] = 'MYSQL';
\$DB['SERVER'] = '127.0.0.1';
\$DB['PORT'] = '${MARIADB_PORT:-3306}';
\$DB['DATABASE'] = 'zabbix_ci';
\$DB['USER'] = 'zabbix_ci';
\$DB['PASSWORD'] = '$dbpw';
\$DB['SCHEMA'] = '';
\$DB['ENCRYPTION'] = false;
\$DB['DOUBLE_IEEE754'] = true;
\$ZBX_SERVER = '127.0.0.1';
\$ZBX_SERVER_PORT = '$ZBX_SERVER_PORT';
\$ZBX_SERVER_NAME = 'zufang-ci';
\$IMAGE_FORMAT_DEFAULT = IMAGE_FORMAT_PNG;
EOF
  chmod 600 "$RUN_DIR/zabbix.conf.php"
  PHP_CLI_SERVER_WORKERS=2 nice php -d memory_limit=512M -d post_max_size=16M \
    -d max_execution_time=120 -S "127.0.0.1:$ZBX_WEB_PORT" -t "$fe" \
    >"$RUN_DIR/frontend.log" 2>&1 &
  echo $! > "$RUN_DIR/frontend.pid"
  wait_port 127.0.0.1 "$ZBX_WEB_PORT" 30
}

# --- JSON-RPC: the one client, shared with zabbix-init and the smoke test ------------------
# shellcheck source=SCRIPTDIR/../images/zabbix-api.sh
source "$HERE/../images/zabbix-api.sh"
ZBX_API_URL="http://127.0.0.1:$ZBX_WEB_PORT/api_jsonrpc.php"

# The front end answers before PHP has its sessions ready: retry the first login for 30 s.
api_login() {
  local i
  for ((i = 0; i < 30; i++)); do
    zbx_login Admin zabbix 2>/dev/null && return 0
    sleep 1
  done
  return 1
}

# --- agent 2 ------------------------------------------------------------------------------
# The repository's agent files with only the addresses changed for loopback: service names
# (mysql, redis) -> 127.0.0.1, script directory -> the repository checkout.
agent_config() {
  local a="$RUN_DIR/agent2"
  rm -rf "$a" && mkdir -p "$a/zabbix_agent2.d" "$a/secrets.d"
  local f
  for f in "$HERE"/../agent2/zabbix_agent2.d/*.conf; do
    sed -e "s|tcp://mysql:3306|tcp://127.0.0.1:${MARIADB_PORT:-3306}|" \
        -e "s|tcp://redis:6379|tcp://127.0.0.1:6379|" \
        -e "s|/usr/local/lib/zufang-zabbix|$(cd "$HERE/../agent2/scripts" && pwd)|g" \
        "$f" > "$a/zabbix_agent2.d/$(basename "$f")"
  done
  # The main file as shipped, with listen/log paths and the include directories moved.
  sed -e "s|^Server=.*|Server=127.0.0.1|" \
      -e "s|^ServerActive=.*|ServerActive=|" \
      -e "s|^ListenIP=.*|ListenIP=127.0.0.1|" \
      -e "s|^ListenPort=.*|ListenPort=$ZBX_AGENT_PORT|" \
      -e "s|^Hostname=.*|Hostname=zufang-ci-agent|" \
      -e "s|^LogType=.*|LogType=file|" \
      -e "s|^LogFile=.*|LogFile=$a/agent2.log|" \
      -e "s|^PidFile=.*|PidFile=$a/agent2.pid|" \
      -e "s|^ControlSocket=.*|ControlSocket=$a/agent2.sock|" \
      -e "s|^Include=/etc/zabbix/zabbix_agent2.d/\*.conf|Include=$a/zabbix_agent2.d/*.conf|" \
      -e "s|^Include=/run/zabbix/agent2.d/\*.conf|Include=$a/secrets.d/*.conf|" \
      "$HERE/../agent2/zabbix_agent2.conf" > "$a/zabbix_agent2.conf"
}

agent_start() {
  nice zabbix_agent2 -c "$RUN_DIR/agent2/zabbix_agent2.conf" >"$RUN_DIR/agent2/stdout.log" 2>&1 &
  echo $! > "$RUN_DIR/agent2.pid"
  wait_port 127.0.0.1 "$ZBX_AGENT_PORT" 30
}

# --- nginx with stub_status ---------------------------------------------------------------
nginx_start() {
  mkdir -p "$RUN_DIR/nginx"
  sed -e "s|@RUN_DIR@|$RUN_DIR/nginx|g" -e "s|@PORT@|$ZBX_NGINX_PORT|g" \
    "$HERE/nginx-stub-status.conf" > "$RUN_DIR/nginx/nginx.conf"
  nginx -e "$RUN_DIR/nginx/error.log" -c "$RUN_DIR/nginx/nginx.conf" -p "$RUN_DIR/nginx" -g 'daemon off;' \
    >"$RUN_DIR/nginx/stdout.log" 2>&1 &
  echo $! > "$RUN_DIR/nginx.pid"
  wait_port 127.0.0.1 "$ZBX_NGINX_PORT" 20
}

stop_all() {
  local p
  for p in nginx agent2 frontend server; do
    if [[ -s $RUN_DIR/$p.pid ]]; then
      # php -S with PHP_CLI_SERVER_WORKERS forks workers that outlive their parent: children first.
      # (zabbix_server stops its own workers on SIGTERM.)
      if [[ $p == frontend ]]; then pkill -P "$(cat "$RUN_DIR/$p.pid")" 2>/dev/null || true; fi
      kill "$(cat "$RUN_DIR/$p.pid")" 2>/dev/null || true
    fi
  done
  # zabbix_server forks its workers; they exit when the main process asks them to. Give it time.
  if [[ -s $RUN_DIR/server.pid ]]; then
    for _ in $(seq 1 40); do kill -0 "$(cat "$RUN_DIR/server.pid")" 2>/dev/null || break; sleep 0.25; done
  fi
}

# The agent's MariaDB account, with the grants the MySQL plugin's checks need and nothing more.
# Its password goes to a secrets directory the way compose mounts /run/secrets.
monitor_account() {
  local pw
  pw=$(secret zabbix_mysql_password)
  mariadb --protocol=socket -e "
    CREATE USER IF NOT EXISTS 'zbx_monitor'@'127.0.0.1' IDENTIFIED BY '$pw';
    ALTER USER 'zbx_monitor'@'127.0.0.1' IDENTIFIED BY '$pw';
    GRANT USAGE, REPLICATION CLIENT, PROCESS, SHOW DATABASES, SHOW VIEW ON *.* TO 'zbx_monitor'@'127.0.0.1';"
  mkdir -p "$RUN_DIR/secrets" && chmod 700 "$RUN_DIR/secrets"
  install -m 600 "$ROOT/.cache/secrets/zabbix_mysql_password" "$RUN_DIR/secrets/zabbix_mysql_password"
}
