#!/bin/bash
# /docker-entrypoint-initdb.d script for the stack's `mysql` (sourced by the MariaDB entrypoint on
# the first start, official and offline image alike; compose.yaml mounts it): the account
# the Zabbix agent 2 MySQL plugin logs in with (session "zufang", user zbx_monitor), least
# privilege: status and process list, no table data.
# Mode 0644 on purpose: the official entrypoint sources a non-executable *.sh (an executable one
# runs as a child process without docker_process_sql).
# On a database created before the profile existed, run it once by hand:
#   docker compose exec mysql bash -c 'export MYSQL_PWD=$(cat /run/stack-secrets/mysql/root_password);
#     docker_process_sql() { mariadb -uroot; }; . /docker-entrypoint-initdb.d/20-zabbix-monitor-user.sh'
if [[ "${1:-}" == "--help" ]]; then
  sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0
fi
pw_file=/run/stack-secrets/mysql/zabbix_mysql_password
if [[ -s $pw_file ]]; then
  pw=$(head -n 1 "$pw_file")
  docker_process_sql <<SQL
CREATE USER IF NOT EXISTS 'zbx_monitor'@'%' IDENTIFIED BY '${pw}' WITH MAX_USER_CONNECTIONS 3;
GRANT USAGE, REPLICATION CLIENT, PROCESS, SHOW DATABASES, SHOW VIEW ON *.* TO 'zbx_monitor'@'%';
SQL
  echo "initdb: created the zbx_monitor account (Zabbix agent 2)"
else
  echo "initdb: $pw_file missing, no zbx_monitor account" >&2
fi
