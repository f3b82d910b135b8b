#!/bin/bash
# Sourced by the MariaDB entrypoint on the first start of an empty data volume (docker-entrypoint-initdb.d,
# from the ConfigMap mysql-initdb): the least-privilege account the mysqld-exporter sidecar logs in with.
# Its password is mysql-secrets' exporter_password (k8s/tools/make-secrets.sh dev), never in a manifest.
# Run directly, it only explains itself (sourced, it must not change the entrypoint's shell options).
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  set -euo pipefail
  echo "usage: sourced by the MariaDB image's entrypoint from /docker-entrypoint-initdb.d (not run by hand)"
  exit 0
fi
pw_file=/run/secrets/mysql/exporter_password
if [[ -s $pw_file ]]; then
  docker_process_sql <<SQL
CREATE USER IF NOT EXISTS 'exporter'@'127.0.0.1' IDENTIFIED BY '$(head -n 1 "$pw_file")' WITH MAX_USER_CONNECTIONS 3;
GRANT PROCESS, REPLICATION CLIENT, SLAVE MONITOR, SELECT ON *.* TO 'exporter'@'127.0.0.1';
SQL
else
  echo "mysql-initdb: $pw_file missing, no exporter account" >&2
fi
