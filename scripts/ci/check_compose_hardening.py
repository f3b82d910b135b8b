#!/usr/bin/env python3
"""Least privilege over the RENDERED compose config (every profile): each service drops all
capabilities, sets no-new-privileges, adds back only the capabilities listed for it here, runs
privileged never, and has a read-only root filesystem unless it is listed here with the reason;
Prometheus has no unauthenticated lifecycle endpoint; every service mounts only its own secrets
volume (secrets-<consumer> at /run/stack-secrets/<consumer>, read-only), the exceptions listed
here with the reason. Prints each failed check (every check with -v) and 'N passed, N failed'.

usage: docker compose --profile '*' config --format json | check_compose_hardening.py [-v]
       check_compose_hardening.py --help
"""
import json
import sys

# What each service may add back, and why (compose.yaml says the same beside each cap_add).
EDGE_CAPS = {"NET_ADMIN", "NET_RAW", "NET_BIND_SERVICE", "CHOWN", "DAC_OVERRIDE", "SETUID", "SETGID"}
MARIADB_CAPS = {"CHOWN", "DAC_OVERRIDE", "FOWNER", "KILL", "SETUID", "SETGID"}
ALLOWED = {
    "lb1": EDGE_CAPS,
    "lb2": EDGE_CAPS,
    "mysql": MARIADB_CAPS,
    "zabbix-db": MARIADB_CAPS,
    "secrets-init": {"CHOWN", "DAC_OVERRIDE", "FOWNER"},
    # Hands a root-owned results folder (created by Docker for the bind mount) to the bench user.
    "bench-results": {"CHOWN"},
}

# Services whose root filesystem stays writable, and why.
RENDERS_EDGE = "the entrypoint renders nginx and keepalived configuration from the environment at start"
MARIADB_WRITES = "the MariaDB entrypoints write the socket folder and bootstrap files outside the datadir"
NEVER_RUN_HERE = "online-only image (no registry here): never started read-only, so left writable until it can be"
WRITABLE_ROOT = {
    "lb1": RENDERS_EDGE,
    "lb2": RENDERS_EDGE,
    "mysql": MARIADB_WRITES,
    "zabbix-db": MARIADB_WRITES,
    "zabbix-server": "the entrypoint writes the server configuration from the environment at start",
    "zabbix-web": "the entrypoint writes the PHP and web-server configuration from the environment at start",
    "grafana": NEVER_RUN_HERE,
    "jaeger": NEVER_RUN_HERE,
    "bench": "sysbench and the report renderer write scratch files beside the results",
}

# Services that read another consumer's secrets besides their own, and why.
EXTRA_SECRETS = {
    "backup-restore": ({"backup", "mysql"}, "replays binlogs as root over its private socket (mysql/root_password)"),
    "bench-account": ({"bench-account", "app"}, "creates the bench API account with the app's database settings"),
}


def secret_mounts(svc: dict) -> list:
    """(consumer, target, read_only) of each secrets-* volume a service mounts."""
    out = []
    for v in svc.get("volumes", []):
        src = v.get("source", "") if isinstance(v, dict) else ""
        if src.startswith("secrets-") or src == "secrets":
            out.append((src.removeprefix("secrets-"), v.get("target"), v.get("read_only", False)))
    return out


def main() -> int:
    if "--help" in sys.argv[1:]:
        print(__doc__.strip())
        return 0
    verbose = "-v" in sys.argv[1:]
    config = json.load(sys.stdin)
    passed = failed = 0

    def check(ok: bool, what: str) -> None:
        nonlocal passed, failed
        if verbose or not ok:
            print(("ok   - " if ok else "FAIL - ") + what)
        passed, failed = passed + ok, failed + (not ok)

    services = config.get("services", {})
    check(len(services) > 20, f"the rendered config has every profile's services ({len(services)})")
    for name, svc in sorted(services.items()):
        drop = {c.upper().removeprefix("CAP_") for c in svc.get("cap_drop", [])}
        add = {c.upper().removeprefix("CAP_") for c in svc.get("cap_add", [])}
        opts = svc.get("security_opt", [])
        check(drop == {"ALL"}, f"{name}: cap_drop [ALL] (has {sorted(drop)})")
        check(any(o.replace("=", ":") == "no-new-privileges:true" for o in opts), f"{name}: no-new-privileges")
        extra = add - ALLOWED.get(name, set())
        check(not extra, f"{name}: adds back only its listed capabilities (extra: {sorted(extra)})")
        check(not svc.get("privileged", False), f"{name}: not privileged")
        if name not in WRITABLE_ROOT:
            check(svc.get("read_only", False) is True, f"{name}: read-only root filesystem")
        if name == "secrets-init":
            continue
        mounts = secret_mounts(svc)
        consumers = {c for c, _, _ in mounts}
        allowed = EXTRA_SECRETS.get(name, (None, ""))[0]
        if mounts:
            check(len(consumers) == 1 or consumers == allowed,
                  f"{name}: mounts one consumer's secrets (has {sorted(consumers)})")
            check(all(t == f"/run/stack-secrets/{c}" and ro for c, t, ro in mounts)
                  and not consumers & {"shared", "secrets"},
                  f"{name}: secrets read-only at /run/stack-secrets/<consumer>, not the shared ones ({mounts})")
    prometheus = services.get("prometheus", {})
    check("--web.enable-lifecycle" not in (prometheus.get("command") or []),
          "prometheus: no unauthenticated lifecycle endpoint (/-/quit, /-/reload)")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
