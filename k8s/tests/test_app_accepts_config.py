"""The real zufang binary accepts each overlay's configuration: `zufang check-config` with the rendered
ConfigMap's variables, the container's env and the rendered Secret written as files in a secrets dir
(exactly what a pod gets), on the image's config layers (app/config, ZUFANG_ENV=production)."""
from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import REPO, one
from test_consistency import effective_env, env_key, zufang_containers


def zufang_bin() -> str:
    path = os.environ.get("ZUFANG_BIN") or str(REPO / "target/debug/zufang")
    assert Path(path).is_file(), f"{path} missing: run k8s/tests/run.sh (builds it) or set ZUFANG_BIN"
    return path


def check_config(env: dict[str, str], secrets_dir: Path) -> subprocess.CompletedProcess:
    full = {"PATH": "/usr/bin:/bin", **env, "ZUFANG_CONFIG_DIR": str(REPO / "app/config"),
            "ZUFANG_SECRETS_DIR": str(secrets_dir)}
    return subprocess.run([zufang_bin(), "check-config"], env=full, capture_output=True, text=True, timeout=60)


def pod_view(rendered, target, tmp_path) -> tuple[dict[str, str], Path]:
    objs = rendered[target]
    # The API pod's view (the worker's container and Secret are checked in test_photos.py).
    owner, container = next((o, c) for o, c in zufang_containers(objs)
                            if o["kind"] == "Deployment" and o["metadata"]["name"] == "app" and c["name"] == "zufang")
    env = effective_env(objs, container)
    volume = next(v for v in owner["spec"]["template"]["spec"]["volumes"] if "secret" in v)
    secret = one(objs, "Secret", volume["secret"]["secretName"])
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    for key, value in secret["data"].items():
        (secrets_dir / key).write_bytes(base64.b64decode(value))
    return env, secrets_dir


@pytest.mark.parametrize("target", ("dev", "prod"))
def test_app_accepts_the_rendered_configuration(rendered, target, tmp_path):
    env, secrets_dir = pod_view(rendered, target, tmp_path)
    assert env["ZUFANG_ENV"] == "production"
    proc = check_config(env, secrets_dir)
    assert proc.returncode == 0, proc.stderr
    effective = json.loads(proc.stdout)
    assert effective["environment"] == "production"
    for name, value in env.items():
        key = env_key(name)
        if not key:
            continue
        got = effective[key[0]][key[1]]
        if isinstance(got, list):
            assert got == value.split(","), name
        else:
            assert str(got).lower() == value.lower() or str(got) == str(type(got)(value)), (name, got, value)
    for secret in ("database_password", "jwt_secret", "redis_password"):
        section, key = secret.split("_", 1)
        assert effective[section][key] == "[REDACTED]", f"{secret} not read from the secrets dir"


def test_app_rejects_what_the_manifests_must_not_do(rendered, tmp_path):
    """The check can fail: an unknown key, the "log" SMS sender, or production without its jwt_secret file,
    is refused."""
    env, secrets_dir = pod_view(rendered, "prod", tmp_path)
    bad = check_config({**env, "ZUFANG__DATABASE__HOSTNAME": "x"}, secrets_dir)
    assert bad.returncode != 0 and "hostname" in bad.stderr
    log_sender = check_config({**env, "ZUFANG__SMS__SENDER": "log"}, secrets_dir)
    assert log_sender.returncode != 0 and "sms.allow_log_sender_in_production" in log_sender.stderr
    (secrets_dir / "jwt_secret").unlink()
    assert check_config(env, secrets_dir).returncode != 0
