"""A real Garage node for the tests: `docker run` of the image under test on its own network
(containers and volumes named zg-*), with secrets made by the stack's own init-secrets.sh, set up by
s3/init.py, and removed afterwards (ZG_KEEP=1 keeps them)."""
import os
import pathlib
import shutil
import subprocess
import tempfile
import time
import urllib.request

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
NET, NODE, META, DATA = "zg-net", "zg-s3", "zg-s3-meta", "zg-s3-data"


def docker(*args, check=True):
    return subprocess.run(["docker", *args], check=check, capture_output=True, text=True)


def node_ip():
    return docker("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                  NODE).stdout.strip()


def wait_http(url, seconds=60):
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


class Garage:
    def __init__(self, image, init_image, secrets):
        self.image, self.init_image, self.secrets = image, init_image, secrets

    def start(self):
        docker("run", "-d", "--name", NODE, "--network", NET, "--user", "10030:10030",
               "--read-only", "--tmpfs", "/tmp:uid=10030,gid=10030,mode=0700,size=64m",
               "--cap-drop", "ALL", "--security-opt", "no-new-privileges:true",
               "-v", f"{META}:/var/lib/garage/meta", "-v", f"{DATA}:/var/lib/garage/data",
               "-v", f"{self.secrets}/s3:/run/stack-secrets/s3:ro",
               "-v", f"{ROOT}/s3/garage.toml:/etc/garage.toml:ro",
               self.image, "/garage", "-c", "/etc/garage.toml", "server")
        self.ip = node_ip()
        self.s3_url, self.admin_url = f"http://{self.ip}:3900", f"http://{self.ip}:3903"
        wait_http(f"{self.admin_url}/health")

    def stop(self):
        docker("rm", "-f", NODE, check=False)

    def init(self):
        """s3-init as compose runs it: its image, uid 10030, read-only, the secrets folder only."""
        return subprocess.run(
            ["docker", "run", "--rm", "--network", NET, "--user", "10030:10030", "--read-only",
             "--cap-drop", "ALL", "--security-opt", "no-new-privileges:true",
             "-e", f"GARAGE_ADMIN_URL=http://{NODE}:3903", "-e", "PYTHONDONTWRITEBYTECODE=1",
             "-v", f"{ROOT}/s3/init.py:/opt/s3-init/init.py:ro",
             "-v", f"{self.secrets}/s3:/run/stack-secrets/s3:ro", self.init_image],
            capture_output=True, text=True)

    def secret(self, name):
        return (pathlib.Path(self.secrets) / "s3" / name).read_text().strip()

    def logs(self):
        r = docker("logs", NODE)
        return r.stdout + r.stderr


def cleanup():
    docker("rm", "-f", NODE, check=False)
    docker("volume", "rm", META, DATA, check=False)
    docker("network", "rm", NET, check=False)


@pytest.fixture(scope="session")
def garage():
    image = os.environ.get("ZG_GARAGE_IMAGE")
    if not image:
        pytest.fail("ZG_GARAGE_IMAGE names no image (s3/tests/run.sh sets it)")
    cleanup()
    secrets = tempfile.mkdtemp(prefix="zg-secrets-")
    subprocess.run(["bash", str(ROOT / "scripts/images/runtime/init-secrets.sh"), secrets],
                   env=dict(os.environ, LEGACY_DIR="/nonexistent"), check=True, capture_output=True)
    docker("network", "create", NET)
    g = Garage(image, os.environ.get("ZG_INIT_IMAGE", "zufang/s3-init:local"), secrets)
    g.start()
    r = g.init()
    assert r.returncode == 0, r.stdout + r.stderr
    g.first_init_output = r.stdout + r.stderr
    yield g
    if os.environ.get("ZG_KEEP") != "1":
        cleanup()
        shutil.rmtree(secrets, ignore_errors=True)
