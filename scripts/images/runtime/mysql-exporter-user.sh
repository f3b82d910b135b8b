#!/bin/bash
# /docker-entrypoint-initdb.d script (sourced by the MariaDB entrypoint on first start, official
# and offline image alike): the account mysqld-exporter logs in with, least privilege: server
# status, replication and the performance schema; no SELECT on any application table.
pw_file=/run/stack-secrets/mysql/mysqld_exporter_password
if [[ -s $pw_file ]]; then
  pw=$(head -n 1 "$pw_file")
  docker_process_sql <<SQL
CREATE USER IF NOT EXISTS 'exporter'@'%' IDENTIFIED BY '${pw}' WITH MAX_USER_CONNECTIONS 3;
GRANT PROCESS, REPLICATION CLIENT, SLAVE MONITOR ON *.* TO 'exporter'@'%';
GRANT SELECT ON performance_schema.* TO 'exporter'@'%';
SQL
  echo "initdb: created the exporter account"
else
  echo "initdb: $pw_file missing, no exporter account" >&2
fi
