#!/usr/bin/env python3
"""One-shot `zabbix-init` of the compose profile: through the front end's JSON-RPC API, replace the
default Admin password with the generated one, import templates/*.yaml, create the stack's hosts
(README's table) with their templates and macros, and exit 0 only when every one of them exists.
zabbix-agent2 starts after this exits 0 (compose `service_completed_successfully`), so
`docker compose --profile zabbix up -d --wait` returns once the hosts and templates are there.
Idempotent: templates are re-imported (updated), existing hosts are left as they are, the password
is changed once.
  zabbix_init.py            (runs in the zabbix-agent2 image; zabbix_api.py beside it)
Environment (defaults):
  ZBX_API_URL=http://zabbix-web:8080/api_jsonrpc.php   ZBX_TEMPLATES_DIR=/templates
  ZBX_ADMIN_PASSWORD_FILE=/run/stack-secrets/zabbix/admin_password
  ZBX_AGENT_DNS=zabbix-agent2 (agent interface of every host but "edge"); ZBX_AGENT_PORT=10050
  ZBX_INIT_APPS="app1 app2 app3"  ZBX_INIT_LBS="lb1 lb2"  ZBX_INIT_DATA=mysql  ZBX_API_WAIT=180
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from zabbix_api import ZabbixAPI, ZabbixError

APP_TEMPLATES = ["zufang by HTTP", "zufang app by Zabbix agent 2"]
LB_TEMPLATES = ["zufang edge by Zabbix agent 2"]
PAIR_TEMPLATES = ["zufang edge pair"]
DATA_TEMPLATES = ["zufang data by Zabbix agent 2"]


def log(msg: str) -> None:
    print(f"zabbix-init: {msg}", file=sys.stderr, flush=True)


def env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def stack_hosts(apps, lbs, data) -> list[tuple[str, str, list[str], dict[str, str], bool]]:
    """(host, group, templates, macros, has an agent interface) of every host the stack monitors."""
    hosts = []
    for a in apps:
        url = f"http://{a}:8080"
        hosts.append((a, "app", APP_TEMPLATES, {"ZUFANG.METRICS.URL": f"{url}/metrics",
                                                 "ZUFANG.HEALTHZ.URL": f"{url}/healthz",
                                                 "ZUFANG.READYZ.URL": f"{url}/readyz"}, True))
    # The keepalived items read <host name>.state: the host is named after the node.
    for lb in lbs:
        hosts.append((lb, "lb", LB_TEMPLATES, {"NGINX.STUB_STATUS.URL": f"http://{lb}:8081/stub_status"}, True))
    if lbs:
        hosts.append(("edge", "edge", PAIR_TEMPLATES, {"ZUFANG.EDGE.HOSTGROUP": "lb"}, False))
    for d in data:
        hosts.append((d, "mysql", DATA_TEMPLATES, {}, True))
    return hosts


def set_admin_password(api: ZabbixAPI, password: str, source: str) -> None:
    def login(pw: str) -> bool:
        try:
            api.login("Admin", pw)
            return True
        except ZabbixError:
            return False
    if login(password):
        log("Admin already has the generated password")
        return
    if not login("zabbix"):
        raise ZabbixError("cannot log in as Admin with the generated or the default password")
    uid = api.call("user.get", {"output": ["userid"], "filter": {"username": "Admin"}})[0]["userid"]
    api.call("user.update", {"userid": uid, "passwd": password})
    # A new session under the new password (6.0 may end the old ones on a password change).
    if not login(password):
        raise ZabbixError("login with the new Admin password failed")
    log(f"Admin password set from {source}")


def run() -> None:
    url = env("ZBX_API_URL", "http://zabbix-web:8080/api_jsonrpc.php")
    templates_dir = Path(env("ZBX_TEMPLATES_DIR", "/templates"))
    pw_file = Path(env("ZBX_ADMIN_PASSWORD_FILE", "/run/stack-secrets/zabbix/admin_password"))
    agent = {"dns": env("ZBX_AGENT_DNS", "zabbix-agent2"), "port": env("ZBX_AGENT_PORT", "10050")}
    hosts = stack_hosts(env("ZBX_INIT_APPS", "app1 app2 app3").split(), env("ZBX_INIT_LBS", "lb1 lb2").split(),
                        env("ZBX_INIT_DATA", "mysql").split())
    try:
        password = pw_file.read_text(encoding="utf-8").strip("\r\n")
    except OSError as err:
        raise ZabbixError(f"{pw_file} missing (secrets-init): {err}") from err
    if not password:
        raise ZabbixError(f"{pw_file} is empty (secrets-init)")

    api = ZabbixAPI(url)
    log(f"Zabbix API {api.wait_version(float(env('ZBX_API_WAIT', '180')))} at {url}")
    set_admin_password(api, password, str(pw_file))

    files = sorted(templates_dir.glob("*.yaml"))
    if not files:
        raise ZabbixError(f"no templates in {templates_dir}")
    for f in files:
        api.import_template(f)
        log(f"imported {f.name}")

    existing = api.host_ids(h[0] for h in hosts)
    for name, group, templates, macros, has_agent in hosts:
        if name in existing:
            log(f"host {name} exists: left as it is")
            continue
        api.create_host(name, group, templates, macros, agent if has_agent else None)
        log(f"host {name} created ({group}: {'; '.join(templates)})")

    # The default host "Zabbix server" polls an agent on 127.0.0.1 that the server container does not
    # have: disabled, so its unreachable-agent errors do not fill the log.
    zs = api.call("host.get", {"output": ["hostid", "status"], "filter": {"host": ["Zabbix server"]}})
    if zs and zs[0]["status"] == "0":
        api.call("host.update", {"hostid": zs[0]["hostid"], "status": 1})
        log('disabled the default host "Zabbix server"')

    # Completion is what `up --wait` waits for: read everything back rather than trust the calls.
    wanted_templates = {t for h in hosts for t in h[2]}
    missing = sorted(wanted_templates - set(api.template_ids(wanted_templates)))
    missing += sorted({h[0] for h in hosts} - set(api.host_ids(h[0] for h in hosts)))
    if missing:
        raise ZabbixError(f"missing after the run: {', '.join(missing)}")
    log(f"done: {len(wanted_templates)} templates, {len(hosts)} hosts")


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] in ("--help", "-h"):
        print(__doc__.strip())
        return 0
    try:
        run()
    except ZabbixError as err:
        log(str(err))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
