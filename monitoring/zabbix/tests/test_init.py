"""The compose profile's one-shot (monitoring/zabbix/zabbix_init.py) against the real server: it sets
the generated Admin password, imports the templates and creates the stack's hosts, and exits 0 only
when all of them exist (what `up --wait` waits for, through zabbix-agent2's depends_on)."""
from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys

import pytest

from rig import API_URL, ZABBIX, ZabbixAPI, ZabbixError, reset_admin_password

HOSTS = {  # host -> its templates, as README's table and compose's zabbix-init have them
    "app1": ["zufang app by Zabbix agent 2", "zufang by HTTP"],
    "app2": ["zufang app by Zabbix agent 2", "zufang by HTTP"],
    "app3": ["zufang app by Zabbix agent 2", "zufang by HTTP"],
    "lb1": ["zufang edge by Zabbix agent 2"],
    "lb2": ["zufang edge by Zabbix agent 2"],
    "edge": ["zufang edge pair"],
    "mysql": ["zufang data by Zabbix agent 2"],
}


def delete_hosts(api, names) -> None:
    ids = list(api.host_ids(names).values())
    if ids:
        api.call("host.delete", ids)


@pytest.fixture(scope="module")
def admin_password(api, run_dir):
    """The generated password zabbix-init sets; afterwards the default comes back, so the reused schema
    and the rest of the suite log in as before, and the stack's hosts go (nothing polls them here)."""
    pw = secrets.token_urlsafe(18)
    f = run_dir / "admin_password"
    f.write_text(pw + "\n")
    f.chmod(0o600)
    delete_hosts(api, HOSTS)
    yield f
    reset_admin_password()
    api.login("Admin", "zabbix")
    delete_hosts(api, HOSTS)


def init(password_file, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, ZABBIX / "zabbix_init.py"], text=True, timeout=300,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          env={**os.environ, "ZBX_API_URL": API_URL, "ZBX_ADMIN_PASSWORD_FILE": str(password_file),
                               "ZBX_TEMPLATES_DIR": str(ZABBIX / "templates"), "ZBX_API_WAIT": "30",
                               "PYTHONDONTWRITEBYTECODE": "1", **env})


def test_zabbix_init_creates_every_host_with_its_templates_and_macros(api, admin_password):
    run = init(admin_password)
    assert run.returncode == 0, run.stdout
    assert "done: 5 templates, 7 hosts" in run.stdout
    api.login("Admin", admin_password.read_text().strip())
    got = api.call("host.get", {"output": ["host", "status"], "selectParentTemplates": ["host"],
                                "selectMacros": ["macro", "value"], "selectInterfaces": ["dns", "port"],
                                "filter": {"host": list(HOSTS) + ["Zabbix server"]}})
    by_name = {h["host"]: h for h in got}
    assert {h: sorted(t["host"] for t in by_name[h]["parentTemplates"]) for h in HOSTS if h in by_name} == HOSTS
    # 8 hosts: the stack's 7 and the schema's "Zabbix server", disabled (no agent in its container)
    assert by_name["Zabbix server"]["status"] == "1"
    macros = {m["macro"]: m["value"] for m in by_name["app2"]["macros"]}
    assert macros["{$ZUFANG.METRICS.URL}"] == "http://app2:8080/metrics"
    assert by_name["app2"]["interfaces"] == [{"dns": "zabbix-agent2", "port": "10050"}]
    assert by_name["edge"]["interfaces"] == []


def test_zabbix_init_replaced_the_default_admin_password(admin_password):
    with pytest.raises(ZabbixError):
        ZabbixAPI(API_URL).login("Admin", "zabbix")
    ZabbixAPI(API_URL).login("Admin", admin_password.read_text().strip())


def test_zabbix_init_again_is_idempotent(admin_password):
    run = init(admin_password)
    assert run.returncode == 0, run.stdout
    assert "host app1 exists: left as it is" in run.stdout
    assert "Admin already has the generated password" in run.stdout


def test_zabbix_init_fails_when_a_host_cannot_be_completed(api, admin_password, run_dir):
    """A template that is neither on the server nor among the files: exit 1, so compose never starts the
    agent and `up --wait` fails loudly instead of returning with hosts missing."""
    api.login("Admin", admin_password.read_text().strip())
    data_tpl = api.template_ids(["zufang data by Zabbix agent 2"])
    api.call("template.delete", list(data_tpl.values()))
    only_http = run_dir / "templates-http-only"
    only_http.mkdir(exist_ok=True)
    for name in ("zufang_by_http.yaml", "import-rules.json"):
        shutil.copy(ZABBIX / "templates" / name, only_http / name)
    run = init(admin_password, ZBX_TEMPLATES_DIR=str(only_http), ZBX_INIT_APPS="", ZBX_INIT_LBS="",
               ZBX_INIT_DATA="zci-init-data")
    assert run.returncode == 1, run.stdout
    assert "zufang data by Zabbix agent 2 not imported" in run.stdout
    assert not api.host_ids(["zci-init-data"])


def test_zabbix_init_refuses_a_missing_password_file(run_dir):
    run = init(run_dir / "no-such-file")
    assert run.returncode == 1 and "no-such-file missing" in run.stdout, run.stdout

