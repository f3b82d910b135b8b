#!/usr/bin/env python3
"""The one Zabbix JSON-RPC client of the repository (standard library only).

Imported by zabbix_init.py (the compose profile's one-shot, in the agent 2 image) and by the
pytest suite in tests/; its command line serves the image tests (images/tests/) and tests/tests/zabbix.rs.

  python3 zabbix_api.py [--url URL] version
  python3 zabbix_api.py [--url URL] login USER            password on stdin -> the session token
  python3 zabbix_api.py [--url URL] call METHOD [PARAMS]  PARAMS as JSON (default {}) -> .result as JSON
  python3 zabbix_api.py [--url URL] import TEMPLATE.yaml  configuration.import with the one rules file

Environment: ZBX_API_URL (when --url is not given), ZBX_AUTH (the token of `login`, for call/import),
ZBX_API_TIMEOUT (seconds, default 120: an import of the big template takes a while on 2 cores).
An error reply exits 1 with the error on stderr.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

# The import rules live beside the templates; one copy, read by every importer.
IMPORT_RULES = "import-rules.json"


class ZabbixError(Exception):
    """The API answered with an error, or not at all."""


class ZabbixAPI:
    def __init__(self, url: str, auth: str | None = None, timeout: float | None = None):
        self.url = url
        self.auth = auth
        self.timeout = timeout if timeout is not None else float(os.environ.get("ZBX_API_TIMEOUT", "120"))

    def call(self, method: str, params=None):
        body = {"jsonrpc": "2.0", "method": method, "params": {} if params is None else params, "id": 1}
        # apiinfo.version and user.login refuse a request that carries a session.
        if self.auth and method not in ("apiinfo.version", "user.login"):
            body["auth"] = self.auth
        req = urllib.request.Request(self.url, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json-rpc"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                raw = resp.read()
        except (urllib.error.URLError, OSError) as err:
            raise ZabbixError(f"Zabbix API {method} at {self.url}: {err}") from err
        try:
            reply = json.loads(raw)
        except ValueError as err:
            raise ZabbixError(f"Zabbix API {method}: not JSON: {raw[:400]!r}") from err
        if "result" not in reply:
            raise ZabbixError(f"Zabbix API {method}: {json.dumps(reply.get('error', reply))[:400]}")
        return reply["result"]

    def version(self) -> str:
        return self.call("apiinfo.version", [])

    def wait_version(self, seconds: float, every: float = 3) -> str:
        """The API version once the front end answers; ZabbixError after `seconds`."""
        deadline = time.monotonic() + seconds
        while True:
            try:
                return self.version()
            except ZabbixError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(every)

    def login(self, user: str, password: str) -> str:
        self.auth = None
        self.auth = self.call("user.login", {"username": user, "password": password})
        return self.auth

    def import_template(self, path: Path) -> bool:
        path = Path(path)
        rules = json.loads((path.parent / IMPORT_RULES).read_text(encoding="utf-8"))
        return self.call("configuration.import",
                         {"format": "yaml", "source": path.read_text(encoding="utf-8"), "rules": rules})

    def group_id(self, name: str) -> str:
        """The host group's id; the group is created when missing."""
        found = self.call("hostgroup.get", {"output": ["groupid"], "filter": {"name": [name]}})
        if found:
            return found[0]["groupid"]
        return self.call("hostgroup.create", {"name": name})["groupids"][0]

    def template_ids(self, names) -> dict[str, str]:
        found = self.call("template.get", {"output": ["templateid", "host"], "filter": {"host": list(names)}})
        return {t["host"]: t["templateid"] for t in found}

    def host_ids(self, names) -> dict[str, str]:
        found = self.call("host.get", {"output": ["hostid", "host"], "filter": {"host": list(names)}})
        return {h["host"]: h["hostid"] for h in found}

    def create_host(self, name: str, group: str, templates, macros: dict[str, str], agent: dict | None) -> str:
        """A host in `group` linked to `templates` (names), with user macros (names without {$ }) and an
        agent interface (`agent`: {"dns": ...} or {"ip": ...}, port) or none."""
        tids = self.template_ids(templates)
        missing = sorted(set(templates) - set(tids))
        if missing:
            raise ZabbixError(f"host {name}: template(s) {', '.join(missing)} not imported")
        interfaces = []
        if agent:
            interfaces = [{"type": 1, "main": 1, "useip": 1 if agent.get("ip") else 0, "ip": agent.get("ip", ""),
                           "dns": agent.get("dns", ""), "port": str(agent.get("port", 10050))}]
        return self.call("host.create", {
            "host": name, "groups": [{"groupid": self.group_id(group)}],
            "templates": [{"templateid": tids[t]} for t in templates],
            "macros": [{"macro": "{$" + k + "}", "value": v} for k, v in macros.items()],
            "interfaces": interfaces,
        })["hostids"][0]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default=os.environ.get("ZBX_API_URL"), help="api_jsonrpc.php URL (ZBX_API_URL)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("version")
    sub.add_parser("login").add_argument("user")
    c = sub.add_parser("call")
    c.add_argument("method")
    c.add_argument("params", nargs="?", default="{}")
    sub.add_parser("import").add_argument("template", type=Path)
    args = ap.parse_args(argv)
    if not args.url:
        ap.error("no API URL: give --url or set ZBX_API_URL")
    api = ZabbixAPI(args.url, os.environ.get("ZBX_AUTH") or None)
    try:
        if args.cmd == "version":
            out = api.version()
        elif args.cmd == "login":
            out = api.login(args.user, sys.stdin.readline().rstrip("\r\n"))
        elif args.cmd == "call":
            try:
                params = json.loads(args.params)
            except ValueError as err:
                ap.error(f"PARAMS is not JSON: {err}")
            out = api.call(args.method, params)
        else:
            out = api.import_template(args.template)
    except (ZabbixError, OSError, ValueError) as err:
        print(err, file=sys.stderr)
        return 1
    print(out if isinstance(out, str) else json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
