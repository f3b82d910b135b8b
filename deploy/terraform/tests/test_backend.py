"""Where the state lives. The state holds the Redis AUTH token (ElastiCache takes it only as a plain
argument) and every resource's attributes: staging and prod keep it in S3, encrypted at rest, with
S3-native locking (`use_lockfile`, Terraform >= 1.10) so two applies cannot interleave. A local state
file on an operator's disk would be unencrypted, unshared and unlocked."""

from __future__ import annotations

import pytest

from conftest import ENVIRONMENTS, TF_ROOT, parse_file

REQUIRED = ("bucket", "key", "region")


def backend_problems(values: dict | None) -> list[str]:
    """What keeps a parsed <env>.s3.tfbackend from being a remote, encrypted, locked backend."""
    if values is None:
        return ["no backend file: the state would be a local, unencrypted, unlocked file"]
    problems = [f"{k} is not set" for k in REQUIRED if not str(values.get(k, "")).strip()]
    if values.get("encrypt") is not True:
        problems.append("encrypt = true is missing: the state (secrets included) would be stored in clear")
    if values.get("use_lockfile") is not True and not values.get("dynamodb_table"):
        problems.append("use_lockfile = true is missing: concurrent applies would corrupt the state")
    if values.get("skip_credentials_validation") or values.get("insecure"):
        problems.append("the backend must not skip credential or TLS checks")
    return problems


def backend_file(env: str) -> dict | None:
    path = TF_ROOT / "environments" / f"{env}.s3.tfbackend"
    return parse_file(path) if path.is_file() else None


def test_the_root_module_declares_the_s3_backend(environments):
    backends = [b for block in environments["stack"].terraform for b in block.get("backend", [])]
    assert backends == [{"s3": {}}], "stack/versions.tf: backend \"s3\" {} (partial; values per environment)"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_environment_state_is_remote_encrypted_and_locked(env):
    values = backend_file(env)
    assert backend_problems(values) == []
    assert env in values["key"], "each environment has its own state object"


def test_environments_do_not_share_a_state_object():
    keys = [backend_file(env)["key"] for env in ENVIRONMENTS]
    assert len(set(keys)) == len(keys)


@pytest.mark.parametrize("values, problem", [
    (None, "no backend file"),
    ({"bucket": "b", "key": "k", "region": "ap-east-1", "use_lockfile": True}, "encrypt = true is missing"),
    ({"bucket": "b", "key": "k", "region": "ap-east-1", "encrypt": False, "use_lockfile": True}, "encrypt = true is missing"),
    ({"bucket": "b", "key": "k", "region": "ap-east-1", "encrypt": True}, "use_lockfile = true is missing"),
    ({"key": "k", "region": "ap-east-1", "encrypt": True, "use_lockfile": True}, "bucket is not set"),
], ids=["absent", "no encrypt", "encrypt false", "unlocked", "no bucket"])
def test_the_backend_check_refuses_a_weak_backend(values, problem):
    """The check above can fail: each weakness is named."""
    assert any(problem in p for p in backend_problems(values)), backend_problems(values)
