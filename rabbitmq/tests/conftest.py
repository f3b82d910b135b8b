"""A real broker for the suite: the image run.sh names (ZQ_RABBITMQ_IMAGE), started with `docker run`
from the `rabbitmq` service of the rendered compose.yaml (entrypoint, command, user, read-only
root, tmpfs, capabilities, mounts of rabbitmq/), on its own network, containers named zq-*,
secrets made by the stack's own init-secrets.sh. Removed at the end (ZQ_KEEP=1 keeps them)."""
from __future__ import annotations

import base64
import json
import logging
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pika
import pytest

ROOT = Path(__file__).resolve().parents[2]
VHOST = "zufang"
# pika logs every refused connection attempt while the broker boots: the tests assert on outcomes.
logging.getLogger("pika").setLevel(logging.CRITICAL)


def sh(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, check=check, timeout=timeout)


def compose_service(name: str = "rabbitmq") -> dict:
    """The service as compose renders it from compose.yaml and .env alone (no override)."""
    out = sh("docker", "compose", "-p", "zq-config", "-f", str(ROOT / "compose.yaml"),
             "--profile", "*", "config", "--format", "json", timeout=60)
    return json.loads(out.stdout)["services"][name]


def run_args(svc: dict, secrets_dir: Path, data_volume: str) -> list[str]:
    """`docker run` options equal to the compose service's, with the test's secrets and volume."""
    args = ["--hostname", svc["hostname"], "--user", svc["user"]]
    if svc.get("read_only"):
        args.append("--read-only")
    for cap in svc.get("cap_drop", []):
        args += ["--cap-drop", cap]
    for cap in svc.get("cap_add", []):
        args += ["--cap-add", cap]
    for opt in svc.get("security_opt", []):
        args += ["--security-opt", opt]
    for t in svc.get("tmpfs", []):
        args += ["--tmpfs", t]
    if svc.get("mem_limit"):
        args += ["--memory", str(svc["mem_limit"])]
    for key, value in (svc.get("environment") or {}).items():
        args += ["-e", f"{key}={value}"]
    for v in svc.get("volumes", []):
        target, ro = v["target"], ",readonly" if v.get("read_only") else ""
        if v["type"] == "bind":
            args += ["--mount", f"type=bind,source={v['source']},target={target}{ro}"]
        elif v["source"] == "secrets-rabbitmq":
            args += ["--mount", f"type=bind,source={secrets_dir},target={target}{ro}"]
        elif v["source"] == "rabbitmq-data":
            args += ["--mount", f"type=volume,source={data_volume},target={target}"]
        else:
            raise AssertionError(f"unexpected volume in the rabbitmq service: {v}")
    args += ["--entrypoint", svc["entrypoint"][0]]
    return args


class Broker:
    """One broker container; start() / kill() / remove() keep the same data volume and hostname."""

    def __init__(self, image: str, prefix: str, work: Path):
        self.image, self.prefix, self.work = image, prefix, work
        self.name, self.network, self.volume = f"{prefix}-rabbit", prefix, f"{prefix}-data"
        self.secrets = work / "secrets" / "rabbitmq"
        self.svc = compose_service()
        self.host = ""

    def password(self, user: str) -> str:
        return (self.secrets / f"{user}_password").read_text().splitlines()[0]

    def start(self, timeout: float = 120) -> None:
        sh("docker", "rm", "-f", self.name, check=False)
        sh("docker", "run", "-d", "--name", self.name, "--network", self.network,
           *run_args(self.svc, self.secrets, self.volume), self.image,
           *self.svc["entrypoint"][1:], *self.svc["command"])
        self.host = sh("docker", "inspect", "-f",
                       f"{{{{(index .NetworkSettings.Networks \"{self.network}\").IPAddress}}}}", self.name).stdout.strip()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.healthy() and self.amqp_ok():
                return
            if sh("docker", "inspect", "-f", "{{.State.Running}}", self.name).stdout.strip() != "true":
                break
            time.sleep(2)
        logs = sh("docker", "logs", "--tail", "40", self.name, check=False)
        raise AssertionError(f"broker not ready in {timeout}s:\n{logs.stdout[-4000:]}{logs.stderr[-4000:]}")

    def healthy(self) -> bool:
        """The compose healthcheck's own command, run in the container."""
        test = self.svc["healthcheck"]["test"]
        assert test[0] == "CMD", test
        return sh("docker", "exec", self.name, *test[1:], check=False, timeout=30).returncode == 0

    def amqp_ok(self) -> bool:
        try:
            self.connect("admin").close()
            return True
        except pika.exceptions.AMQPError:
            return False

    def connect(self, user: str, password: str | None = None) -> pika.BlockingConnection:
        creds = pika.PlainCredentials(f"zufang-{user}" if user in ("app", "worker", "admin") else user,
                                      self.password(user) if password is None else password)
        return pika.BlockingConnection(pika.ConnectionParameters(
            host=self.host, port=5672, virtual_host=VHOST, credentials=creds,
            connection_attempts=1, socket_timeout=5, blocked_connection_timeout=30))

    def http(self, port: int, path: str, user: str | None = "admin", method: str = "GET",
             body: dict | None = None) -> tuple[int, str]:
        req = urllib.request.Request(f"http://{self.host}:{port}{path}", method=method,
                                     data=None if body is None else json.dumps(body).encode())
        if body is not None:
            req.add_header("Content-Type", "application/json")
        if user:
            token = base64.b64encode(f"zufang-{user}:{self.password(user)}".encode()).decode()
            req.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(req, timeout=15) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def api(self, path: str, **kw):
        status, text = self.http(15672, "/api" + path, **kw)
        assert 200 <= status < 300, f"{path}: {status} {text[:300]}"
        return json.loads(text) if text else None

    def kill(self) -> None:
        sh("docker", "kill", self.name)

    def remove(self) -> None:
        sh("docker", "rm", "-f", self.name, check=False)


@pytest.fixture(scope="session")
def image() -> str:
    img = os.environ.get("ZQ_RABBITMQ_IMAGE", "")
    assert img, "ZQ_RABBITMQ_IMAGE is not set: run rabbitmq/tests/run.sh"
    return img


@pytest.fixture(scope="session")
def broker(image):
    prefix = f"zq-{os.getpid()}"
    work = Path(tempfile.mkdtemp(prefix="zq-rabbitmq."))
    os.chmod(work, 0o711)
    # The stack's generator: the same folder layout, owners (uid 999) and modes as secrets-init.
    sh("bash", str(ROOT / "scripts/images/runtime/init-secrets.sh"), str(work / "secrets"))
    sh("docker", "network", "create", prefix)
    b = Broker(image, prefix, work)
    try:
        b.start()
        yield b
    finally:
        if os.environ.get("ZQ_KEEP") != "1":
            b.remove()
            sh("docker", "volume", "rm", "-f", b.volume, check=False)
            sh("docker", "network", "rm", prefix, check=False)
            shutil.rmtree(work, ignore_errors=True)


@pytest.fixture
def purge(broker):
    """Every queue of the topology empty before a test, so each counts only its own messages."""
    names = [q["name"] for q in broker.api(f"/queues/{VHOST}")]
    for n in names:
        broker.http(15672, f"/api/queues/{VHOST}/{urllib.parse.quote(n, safe='')}/contents", method="DELETE")
    return names
