#!/bin/bash
# Shared by the stack's MariaDB account scripts (mysql-*-user*.sh), mounted beside them as
# /docker-entrypoint-initdb.d/00-zufang-sql.sh. The entrypoint sources it first (it only defines
# a function); a script run by hand sources it from its own folder.
#   zufang_sql   runs the SQL on stdin: through docker_process_sql during the entrypoint's first
#                start, else as root over the local socket with the root password from the mysql
#                secrets (an option file on a pipe: the password is never an argument).
zufang_sql() {
  if declare -F docker_process_sql >/dev/null; then
    docker_process_sql
    return
  fi
  local root_pw_file=${ROOT_PASSWORD_FILE:-/run/stack-secrets/mysql/root_password} client=mariadb
  command -v mariadb >/dev/null 2>&1 || client=mysql
  [[ -r $root_pw_file ]] || { echo "initdb: cannot read $root_pw_file (run as root in the mysql container)" >&2; return 1; }
  "$client" --defaults-extra-file=<(printf '[client]\nuser=root\npassword="%s"\n' "$(head -n 1 "$root_pw_file")") \
    --protocol=socket
}
