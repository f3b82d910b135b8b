"""Static checks: scripts, the agent configuration, the one API client and import-rules file, and the
compose profile's start order that makes `up --wait` return only after zabbix-init has finished."""
from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
import yaml

from rig import HERE, REPO, ZABBIX

AGENT2 = ZABBIX / "agent2"
SHELL_SCRIPTS = sorted([*(AGENT2 / "scripts").glob("*.sh"), AGENT2 / "render-secrets.sh",
                        *(ZABBIX / "images").glob("*.sh"), HERE / "run.sh"])
PY_SCRIPTS = [HERE / "batch-inserts.py", ZABBIX / "zabbix_api.py", ZABBIX / "zabbix_init.py"]


def rel(p) -> str:
    return str(p.relative_to(REPO))


def test_shellcheck_agent_image_and_test_scripts():
    p = subprocess.run(["shellcheck", "-x", *SHELL_SCRIPTS], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert p.returncode == 0, p.stdout


@pytest.mark.parametrize("script", SHELL_SCRIPTS + PY_SCRIPTS, ids=rel)
def test_help_works(script):
    cmd = [sys.executable, script] if script.suffix == ".py" else ["bash", script]
    p = subprocess.run([*cmd, "--help"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=30)
    assert p.returncode == 0 and p.stdout.strip(), p.stdout


def test_every_userparameter_script_exists():
    conf = (AGENT2 / "zabbix_agent2.d/zufang.conf").read_text()
    scripts = re.findall(r"/usr/local/lib/zufang-zabbix/([a-z-]+\.sh)", conf)
    assert scripts, "no UserParameter scripts found in zufang.conf"
    for s in scripts:
        f = AGENT2 / "scripts" / s
        assert f.is_file() and f.stat().st_mode & 0o111, f"{s} is missing or not executable"


def test_no_password_inline_in_the_agent_config():
    inline = [f"{rel(f)}: {line}" for f in AGENT2.rglob("*.conf") for line in f.read_text().splitlines()
              if re.match(r"^[^#]*Password=.", line, re.I)]
    assert not inline


def test_one_api_client_and_one_import_rules_file():
    """Every Zabbix JSON-RPC request is built by zabbix_api.py (the shell scripts and the live-stack
    Rust test call its command line), and configuration.import's rules exist once."""
    bodies = subprocess.run(["git", "grep", "-l", "-E", "[\"']jsonrpc[\"']|jsonrpc:", "--", "*.sh", "*.py", "*.rs",
                             ":!monitoring/zabbix/tests/test_static.py"],
                            cwd=REPO, stdout=subprocess.PIPE, text=True).stdout.split()
    assert bodies == ["monitoring/zabbix/zabbix_api.py"], f"JSON-RPC requests built outside zabbix_api.py: {bodies}"
    rules = subprocess.run(["git", "grep", "-l", "-e", "createMissing", "--", ":!monitoring/zabbix/tests/test_static.py"], cwd=REPO,
                           stdout=subprocess.PIPE, text=True).stdout.split()
    assert rules == ["monitoring/zabbix/templates/import-rules.json"], rules
    json.loads((ZABBIX / "templates/import-rules.json").read_text())


@pytest.fixture(scope="module")
def compose_zabbix() -> dict:
    """compose.yaml as Compose renders it with the zabbix profile (no .env needed for the config)."""
    p = subprocess.run(["docker", "compose", "-p", "zbx-config-check", "-f", "compose.yaml", "--profile", "zabbix",
                        "config", "--no-interpolate"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True)
    assert p.returncode == 0, p.stderr
    return yaml.safe_load(p.stdout)["services"]


def test_compose_up_wait_returns_after_zabbix_init(compose_zabbix):
    """`up --wait` waits for long-running services to be healthy; zabbix-agent2 starts only after
    zabbix-init exited 0, and zabbix_init.py exits 0 only when every host and template exists."""
    agent = compose_zabbix["zabbix-agent2"]
    assert agent["depends_on"]["zabbix-init"]["condition"] == "service_completed_successfully"
    assert "healthcheck" in agent, "without a healthcheck --wait would not wait for the agent either"
    init = compose_zabbix["zabbix-init"]
    assert init["depends_on"] == {"zabbix-web": {"condition": "service_healthy", "required": True}}, \
        "zabbix-init must not wait for a service that waits for it"
    assert init.get("restart") == "no"
    assert init["entrypoint"][:2] == ["python3", "/opt/zabbix-init/zabbix_init.py"]
    mounts = {v["target"]: v["source"] for v in init["volumes"] if v["type"] == "bind"}
    for target, src in (("/opt/zabbix-init/zabbix_init.py", "monitoring/zabbix/zabbix_init.py"),
                        ("/opt/zabbix-init/zabbix_api.py", "monitoring/zabbix/zabbix_api.py"),
                        ("/templates", "monitoring/zabbix/templates")):
        assert mounts.get(target) == str(REPO / src), f"{target}: {mounts.get(target)}"


def test_agent_image_carries_python_for_zabbix_init():
    docker = (ZABBIX / "images/agent2.Dockerfile").read_text()
    install = re.search(r"apt-get install[^\n]*", docker).group(0)
    assert re.search(r"\bpython3\b", install), install
