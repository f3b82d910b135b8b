"""Agent 2 on its own: the rendered plugin secrets, and every UserParameter and plugin session through
`zabbix_agent2 -t` with the repository's configuration (addresses moved to loopback)."""
from __future__ import annotations

import pytest

from rig import DEAD_PORT


def test_render_secrets_writes_the_mysql_session_password_0600(zbx):
    f = zbx.dir / "agent2/secrets.d/plugin-secrets.conf"
    assert oct(f.stat().st_mode & 0o777) == "0o600"
    pw = (zbx.dir / "secrets/zabbix_mysql_password").read_text().strip()
    assert f"Plugins.Mysql.Sessions.zufang.Password={pw}" in f.read_text().splitlines()


@pytest.fixture
def state_dir(zbx):
    d = zbx.dir / "state"
    d.mkdir(exist_ok=True)
    return d


@pytest.mark.parametrize("content, expected", [
    ("MASTER\n", "MASTER"), ("BACKUP\n", "BACKUP"), ("FAULT\n", "FAULT"),
    ("MASTER\n\n", "MASTER"),          # a trailing empty line is tolerated
    ("garbage\n", "UNKNOWN"),          # invalid content
])
def test_keepalived_state_reads_the_notify_scripts_file(zbx, state_dir, content, expected):
    (state_dir / "lb1.state").write_text(content)
    assert zbx.agent_test(f"zufang.keepalived.state[lb1,{state_dir}]") == expected


@pytest.mark.parametrize("node", ["nosuch", ".."], ids=["missing file", "path-like node name"])
def test_keepalived_state_is_unknown_without_a_valid_file(zbx, state_dir, node):
    assert zbx.agent_test(f"zufang.keepalived.state[{node},{state_dir}]") == "UNKNOWN"


@pytest.mark.parametrize("key, expected", [
    (f"zufang.app.healthz[http://127.0.0.1:{DEAD_PORT}/healthz]", "0"),
    (f"zufang.app.readyz[http://127.0.0.1:{DEAD_PORT}/readyz]", "0"),
    ('mysql.ping["zufang"]', "1"),     # session zufang, password from the rendered file
    ('redis.ping["zufang"]', "1"),
    (f"mysql.ping[tcp://127.0.0.1:{DEAD_PORT}]", "0"),
    (f"redis.ping[tcp://127.0.0.1:{DEAD_PORT}]", "0"),
], ids=["healthz, nothing listening", "readyz, nothing listening", "mysql.ping session zufang",
        "redis.ping session zufang", "mysql.ping closed port", "redis.ping closed port"])
def test_agent_keys(zbx, key, expected):
    assert zbx.agent_test(key) == expected

