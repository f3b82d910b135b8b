#!/bin/bash
# Subset of the official image's healthcheck.sh: --connect (a TCP client connects and the server
# answers) and --innodb_initialized (InnoDB is up). `mariadb-admin ping` succeeds even when the
# login is refused, which is what "the server answers" needs without a health-check account.
set -eu
for arg in "$@"; do
  case $arg in
    --connect|--innodb_initialized) ;;
    --help) echo "usage: healthcheck.sh [--connect] [--innodb_initialized]"; exit 0 ;;
    *) echo "healthcheck.sh: unsupported option $arg" >&2; exit 2 ;;
  esac
done
# A server started by the entrypoint for initialisation listens on the socket only, so a TCP
# answer means the real server is up.
mariadb-admin --protocol=tcp --host=127.0.0.1 --connect-timeout=2 ping >/dev/null 2>&1
