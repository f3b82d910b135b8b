"""The broker's place in the stack, from the files alone (and the image's own contract): the
compose service's networks, ports and hardening, the edge that never routes to it, the image pins
and offline mapping, the secrets generator, the scripts' lint."""
from __future__ import annotations

import json
import re
import subprocess

import pytest
from conftest import ROOT, compose_service, sh

ADMIN_PORTS = {"15672"}


@pytest.fixture(scope="module")
def svc() -> dict:
    return compose_service()


def test_the_service_sits_on_backend_monitoring_and_ops_with_a_fixed_hostname(svc):
    assert set(svc["networks"]) == {"backend", "monitoring", "ops"}, svc["networks"]
    assert svc["hostname"] == "rabbitmq", "the node's data folder is named after its hostname"
    assert svc["depends_on"]["secrets-init"]["condition"] == "service_completed_successfully"


def test_only_the_management_ui_is_published_and_only_on_the_ops_address(svc):
    ports = svc.get("ports", [])
    assert {p["target"] for p in ports} == {15672}, ports
    for p in ports:
        assert p["host_ip"] == "127.0.0.1", f"{p}: the UI belongs on OPS_BIND_ADDRESS (loopback by default)"
    raw = (ROOT / "compose.yaml").read_text()
    assert '"${OPS_BIND_ADDRESS:-127.0.0.1}:${RABBITMQ_UI_PORT:-15672}:15672"' in raw


def test_the_edge_never_routes_to_the_broker():
    nginx = "\n".join(p.read_text(errors="replace") for p in (ROOT / "nginx").rglob("*")
                      if p.is_file() and p.suffix in {".conf", ".tmpl", ".sh", ""})
    assert not re.search(r"rabbitmq|:15672|:15692|:5672", nginx), "the edge must not proxy to the broker"


def test_the_service_is_hardened_like_the_rest_of_the_stack(svc):
    assert svc["cap_drop"] == ["ALL"] and not svc.get("cap_add"), svc.get("cap_add")
    assert "no-new-privileges:true" in svc["security_opt"]
    assert svc["read_only"] is True and svc["user"] == "999:999"
    assert int(svc["mem_limit"]) == 512 * 1024 * 1024
    assert svc["healthcheck"]["test"][:2] == ["CMD", "rabbitmq-diagnostics"]
    assert svc["logging"]["driver"] == "json-file"
    targets = {v["target"]: v for v in svc["volumes"]}
    assert targets["/run/stack-secrets/rabbitmq"]["source"] == "secrets-rabbitmq"
    assert targets["/run/stack-secrets/rabbitmq"]["read_only"] is True
    assert targets["/var/lib/rabbitmq"]["source"] == "rabbitmq-data"
    # The project's own check over every service of the rendered config.
    rendered = sh("docker", "compose", "-p", "zq-config", "-f", str(ROOT / "compose.yaml"),
                  "--profile", "*", "config", "--format", "json").stdout
    out = subprocess.run(["python3", str(ROOT / "scripts/ci/check_compose_hardening.py"), "-v"],
                         input=rendered, capture_output=True, text=True)
    ours = [line for line in out.stdout.splitlines() if line.split(" - ")[-1].startswith("rabbitmq:")]
    assert out.returncode == 0 and len(ours) >= 6 and all(line.startswith("ok") for line in ours), out.stdout


def test_the_registry_image_is_pinned_and_the_offline_build_maps_to_it():
    env = dict(line.split("=", 1) for line in (ROOT / ".env").read_text().splitlines()
               if "=" in line and not line.startswith("#"))
    assert re.fullmatch(r"rabbitmq:[0-9.]+-management@sha256:[0-9a-f]{64}", env["RABBITMQ_IMAGE"])
    assert env["RABBITMQ_UI_PORT"] == "15672"
    build = (ROOT / "scripts/images/build.sh").read_text()
    assert "[RABBITMQ_IMAGE]=rabbitmq" in build
    listed = sh(str(ROOT / "scripts/images/build.sh"), "--list", "--no-app").stdout
    assert re.search(r"^zufang-offline/rabbitmq:[0-9a-f]{16}$", listed, re.M), listed


def test_secrets_init_writes_the_three_passwords_for_uid_999(tmp_path):
    sh("bash", str(ROOT / "scripts/images/runtime/init-secrets.sh"), str(tmp_path))
    folder = tmp_path / "rabbitmq"
    names = {p.name for p in folder.iterdir()}
    template = (ROOT / "rabbitmq/definitions.json").read_text()
    assert names == set(re.findall(r"@secret:([a-z_]+)@", template)) == {"app_password", "worker_password", "admin_password"}
    for p in folder.iterdir():
        st = p.stat()
        assert (st.st_uid, oct(st.st_mode & 0o777)) == (999, "0o400"), p
        assert len(p.read_text().strip()) == 32
    # The app's and worker's copies (when they mount them) come from the same shared values.
    shared = tmp_path / "_shared"
    assert (shared / "rabbitmq_app_password").read_text() == (folder / "app_password").read_text()
    assert (shared / "rabbitmq_worker_password").read_text() == (folder / "worker_password").read_text()


def test_the_definitions_grant_least_privilege():
    d = json.loads((ROOT / "rabbitmq/definitions.json").read_text())
    perms = {p["user"]: p for p in d["permissions"]}
    assert perms["zufang-app"] == {"user": "zufang-app", "vhost": "zufang", "configure": "^$",
                                 "write": "^zufang\\.events$", "read": "^$"}
    assert perms["zufang-worker"]["configure"] == "^$"
    assert perms["zufang-worker"]["read"] == "^photo\\.thumbnail$"
    assert perms["zufang-worker"]["write"] == "^zufang\\.(retry|dead)$"
    tags = {u["name"]: u["tags"] for u in d["users"]}
    assert tags == {"zufang-app": "", "zufang-worker": "", "zufang-admin": "administrator"}


def test_the_scripts_are_shellcheck_clean_and_have_help():
    scripts = [ROOT / "rabbitmq/entrypoint.sh", ROOT / "rabbitmq/tests/run.sh"]
    sh("shellcheck", *map(str, scripts))
    for s in scripts:
        out = sh("bash", str(s), "--help")
        assert out.stdout.startswith("usage:"), out.stdout


def test_the_offline_image_keeps_the_official_contract(image):
    out = sh("docker", "run", "--rm", "--entrypoint", "bash", image, "-c",
             'id -u; id -g; echo "$HOME"; command -v rabbitmq-server rabbitmqctl rabbitmq-diagnostics rabbitmq-plugins; '
             'cat /etc/rabbitmq/enabled_plugins; rabbitmqctl version 2>/dev/null || true')
    lines = out.stdout.split()
    assert lines[:3] == ["999", "999", "/var/lib/rabbitmq"], lines
    assert len([x for x in lines if x.startswith("/")]) >= 5
    assert "[rabbitmq_management,rabbitmq_prometheus]." in out.stdout
    config = sh("docker", "image", "inspect", image, "-f", "{{json .Config}}").stdout
    cfg = json.loads(config)
    assert cfg["Cmd"] == ["rabbitmq-server"] and "/var/lib/rabbitmq" in (cfg.get("Volumes") or {})
    assert {"5672/tcp", "15672/tcp", "15692/tcp"} <= set(cfg.get("ExposedPorts") or {})
