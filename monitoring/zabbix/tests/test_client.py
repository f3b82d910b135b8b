"""zabbix_api.py's command line, as images/tests/ and tests/tests/zabbix.rs call it: the password on
stdin, results as JSON, an error reply as exit 1 with the error on stderr."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from rig import API_URL, ZABBIX


def cli(*args, auth: str = "", stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, ZABBIX / "zabbix_api.py", "--url", API_URL, *args], input=stdin,
                          text=True, capture_output=True, timeout=60,
                          env={**os.environ, "ZBX_AUTH": auth, "PYTHONDONTWRITEBYTECODE": "1"})


def test_the_clients_command_line_logs_in_from_stdin_and_calls(api):
    assert cli("version").stdout.strip().startswith("6.0.")
    login = cli("login", "Admin", stdin="zabbix\n")
    assert login.returncode == 0, login.stderr
    token = login.stdout.strip()
    hosts = cli("call", "host.get", '{"output": ["host"], "filter": {"host": ["Zabbix server"]}}', auth=token)
    assert hosts.returncode == 0, hosts.stderr
    assert [h["host"] for h in json.loads(hosts.stdout)] == ["Zabbix server"]


def test_the_clients_command_line_fails_on_an_error_reply():
    refused = cli("login", "Admin", stdin="wrong password\n")
    assert refused.returncode == 1 and "user.login" in refused.stderr, refused
    unauth = cli("call", "host.get", "{}")
    assert unauth.returncode == 1 and "host.get" in unauth.stderr, unauth
    bad = cli("call", "host.get", "{not json")
    assert bad.returncode == 2 and "PARAMS is not JSON" in bad.stderr, bad
