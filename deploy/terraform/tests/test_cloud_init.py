"""The user data: files it references exist in the repository, the edge delivers the repository's
nginx/keepalived configuration completely, the app sets only configuration keys the app reads, and the
boot scripts work (run here against stand-ins for the AWS CLI; EC2 itself cannot run in CI)."""

from __future__ import annotations

import glob as globmod
import ipaddress
import json
import os
import re
import shutil
import stat
import subprocess
import tomllib
from pathlib import Path

import pytest

from conftest import REPO, TF_ROOT, which

NGINX = REPO / "nginx"
EDGE = TF_ROOT / "modules" / "edge"
APP = TF_ROOT / "modules" / "app"
SCRIPTS = sorted((TF_ROOT / "modules").glob("*/files/*.sh")) + [TF_ROOT / "tests" / "run.sh"]

FILE_CALL = re.compile(r'\b(file|filebase64|filemd5|templatefile)\("\$\{path\.module\}/([^"]+)"')


# --- referenced files exist ------------------------------------------------------------------------------
def test_every_path_module_file_reference_exists(modules):
    refs = [(name, m.group(2)) for name, cfg in modules.items() for m in FILE_CALL.finditer(cfg.text)]
    assert len(refs) >= 5, refs  # edge: 4 boot files; app: its boot_files map (nginx/ files: tests below)
    missing = [f"modules/{name}: {rel}" for name, rel in refs
               if "${" not in rel and not (TF_ROOT / "modules" / name / rel).is_file()]
    assert missing == []
    boot_files = modules["app"].locals["boot_files"]
    assert len(boot_files) >= 5
    assert [f["src"] for f in boot_files.values() if not (APP / "files" / f["src"]).is_file()] == []


def test_edge_nginx_dir_is_the_repositories_nginx_folder(modules):
    nginx_dir = modules["edge"].locals["nginx_dir"]
    assert nginx_dir == "${path.module}/../../../../nginx"
    assert (EDGE / "../../../../nginx").resolve() == NGINX.resolve()


def edge_file_list(modules) -> tuple[list[str], list[str]]:
    """(explicit files, fileset patterns) of local.nginx_files."""
    expr = modules["edge"].locals["nginx_files"]
    patterns = re.findall(r'fileset\(local\.nginx_dir, "([^"]+)"\)', expr)
    without_filesets = re.sub(r"fileset\([^)]*\)", "", expr)
    explicit = re.findall(r'"([^"]+)"', without_filesets)
    return explicit, patterns


def terraform_fileset(root: Path, pattern: str) -> list[str]:
    """fileset() semantics: files only, relative paths, ** crosses directories."""
    return sorted(os.path.relpath(p, root) for p in globmod.glob(str(root / pattern), recursive=True) if os.path.isfile(p))


def delivered(modules) -> set[str]:
    explicit, patterns = edge_file_list(modules)
    files = set(explicit)
    for p in patterns:
        files.update(terraform_fileset(NGINX, p))
    return files


def test_edge_user_data_files_exist_in_the_repository(modules):
    explicit, patterns = edge_file_list(modules)
    assert {"nginx.conf", "docker-entrypoint.sh", "keepalived/keepalived.conf.tmpl", "keepalived/notify.sh",
            "keepalived/notify-fifo.sh", "keepalived/check_nginx.sh", "keepalived/notify-eip-aws.sh",
            "keepalived/render.sh"} <= set(explicit)
    assert set(patterns) == {"conf.d/*.conf", "snippets/*.conf", "html/**"}
    missing = [f for f in explicit if not (NGINX / f).is_file()]
    assert missing == [], f"nginx/ lacks {missing}"
    empty = [p for p in patterns if not terraform_fileset(NGINX, p)]
    assert empty == [], f"these patterns match nothing under nginx/: {empty}"


def nginx_includes(path: Path) -> list[str]:
    text = re.sub(r"#.*", "", path.read_text())
    return re.findall(r"\binclude\s+([^;\s]+)\s*;", text)


def test_edge_delivers_every_file_the_nginx_configuration_includes(modules):
    files = delivered(modules)
    missing = []
    for conf in [f for f in files if f.endswith(".conf")]:
        for inc in nginx_includes(NGINX / conf):
            if inc.startswith("generated/"):
                continue  # written on the proxy by docker-entrypoint.sh render
            if inc == "mime.types":
                continue  # shipped by Debian's nginx package in /etc/nginx
            matches = [f for f in files if Path(f).match(inc) and f.count("/") == inc.count("/")]
            if not matches:
                missing.append(f"{conf} includes {inc}")
    assert missing == []


def test_edge_serves_the_static_site(modules):
    assert "html/index.html" in delivered(modules)


def test_edge_bootstrap_installs_only_delivered_files(modules):
    script = (EDGE / "files" / "edge-bootstrap.sh").read_text()
    files = delivered(modules)
    loop = re.search(r"for f in ([^;]+); do\n\s+install -o root -g root -m 0755 \"\$SRC_DIR/keepalived/\$f\"", script)
    assert loop, "the keepalived install loop moved; update this test"
    used = {f"keepalived/{f}" for f in loop.group(1).split()} | {"keepalived/keepalived.conf.tmpl", "docker-entrypoint.sh", "nginx.conf"}
    assert used <= files, used - files
    for d in ("conf.d", "snippets", "html"):
        assert f'"$SRC_DIR/{d}"' in script and any(f.startswith(d + "/") for f in files)


def edge_env_keys() -> list[str]:
    text = (EDGE / "main.tf").read_text()
    body = re.search(r"edge_env = \{\n\s+for node, n in local\.nodes : node => \{\n(.*?)\n\s+\}\n\s+\}", text, re.S)
    assert body, "local.edge_env moved; update this test"
    return re.findall(r"^\s+([A-Z_]+)\s+=", body.group(1), re.M)


def test_edge_env_gives_the_bootstrap_every_variable_it_requires():
    script = (EDGE / "files" / "edge-bootstrap.sh").read_text()
    required = re.search(r"for v in ([A-Z_ \\\n]+); do\n\s+\[\[ -n \$\{!v:-\} \]\]", script)
    assert required, "the bootstrap's required-variable loop moved; update this test"
    needed = set(required.group(1).replace("\\", " ").split())
    assert len(needed) >= 10
    assert needed <= set(edge_env_keys()), needed - set(edge_env_keys())


def test_edge_env_and_bootstrap_cover_what_render_sh_requires():
    render = (NGINX / "keepalived" / "render.sh").read_text()
    required = set(re.search(r"for v in ([A-Z_ ]+); do\n\s+\[\[ -n \$\{!v:-\} \]\] \|\| die", render).group(1).split())
    from_bootstrap = {"INTERFACE"}  # found at boot
    assert required - from_bootstrap <= set(edge_env_keys())
    assert "export INTERFACE " in (EDGE / "files" / "edge-bootstrap.sh").read_text()


def test_neither_terraform_nor_the_bootstrap_hands_keepalived_a_vrrp_password():
    """VRRPv3 has no authentication: a password passed along would only suggest a protection that is not there."""
    texts = {p: p.read_text() for p in [EDGE / "main.tf", EDGE / "variables.tf", EDGE / "outputs.tf",
                                         EDGE / "files" / "edge-bootstrap.sh"]}
    for path, text in texts.items():
        assert not re.search(r"VRRP_(AUTH_PASS|SECRET)|vrrp_secret|auth_pass", text, re.I), path


def staging_edge_addresses() -> tuple[str, str]:
    """What cidrhost(cidrsubnet(10.20.0.0/16, 8, i), 11 + i) gives for lb1 and lb2 in staging."""
    vpc = ipaddress.ip_network("10.20.0.0/16")
    subnets = list(vpc.subnets(new_prefix=24))
    return str(subnets[0].network_address + 11), str(subnets[1].network_address + 12)


@pytest.mark.parametrize("node, priority", [("lb1", 150), ("lb2", 100)])
def test_keepalived_config_renders_from_the_values_terraform_gives(modules, tmp_path, node, priority):
    lb1, lb2 = staging_edge_addresses()
    self_ip, peer_ip = (lb1, lb2) if node == "lb1" else (lb2, lb1)
    nodes = modules["edge"].locals["nodes"]
    assert nodes[node]["priority"] == priority
    env = {
        "PATH": os.environ["PATH"], "NODE_NAME": node, "STATE": "BACKUP", "PRIORITY": str(priority),
        "SELF_IP": self_ip, "PEER_IP": peer_ip, "VIP": "203.0.113.10", "VIP_PREFIX": "32", "VRID": "51",
        "INTERFACE": "ens5", "KEEPALIVED_DIR": "/etc/keepalived", "EIP_ALLOCATION_ID": "eipalloc-0a1b2c3d4e5f60718",
    }
    out = subprocess.run(["bash", str(NGINX / "keepalived" / "render.sh")], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    conf = out.stdout
    assert f"unicast_src_ip {self_ip}" in conf
    assert re.search(r"unicast_peer \{\s+" + re.escape(peer_ip) + r"\s+\}", conf)
    assert f"priority {priority}" in conf
    assert 'notify_master "/etc/keepalived/notify-eip-aws.sh eipalloc-0a1b2c3d4e5f60718"' in conf
    assert "@" not in re.sub(r"#.*", "", conf), "unrendered placeholder"


def test_edge_private_addresses_match_the_compose_hosts(modules):
    nodes = modules["edge"].locals["nodes"]
    assert nodes["lb1"]["private_ip"] == "${cidrhost(var.subnet_cidrs[0], 11)}"
    assert nodes["lb2"]["private_ip"] == "${cidrhost(var.subnet_cidrs[1], 12)}"


# --- the boot scripts, run against a stand-in for the AWS CLI ---------------------------------------------
def fake_aws(tmp_path: Path, body: str) -> Path:
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    aws = bindir / "aws"
    aws.write_text("#!/usr/bin/env bash\n# stand-in for the AWS CLI (no AWS account in CI)\n" + body)
    aws.chmod(0o755)
    return bindir


def nginx_prefix(tmp_path: Path, modules) -> Path:
    prefix = tmp_path / "nginx"
    for rel in delivered(modules):
        dst = prefix / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(NGINX / rel, dst)
    # mime.types comes from Debian's nginx package on the proxy, as here.
    mime = Path("/etc/nginx/mime.types")
    assert mime.is_file(), "Debian's nginx package provides /etc/nginx/mime.types (run.sh installs it)"
    shutil.copy2(mime, prefix / "mime.types")
    (prefix / "tls").mkdir()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=test",
                    "-keyout", str(prefix / "tls" / "tls.key"), "-out", str(prefix / "tls" / "tls.crt")],
                   check=True, capture_output=True)
    return prefix


def run_edge_bootstrap_until_the_first_aws_call(tmp_path: Path, tls_required: str, tls_arn: str) -> tuple[subprocess.CompletedProcess, str]:
    """edge-bootstrap.sh with stand-ins for every tool it checks; the stand-in AWS CLI logs its call and
    fails, so the script stops at step 1 (fetching the bucket) before it touches the host."""
    bindir = fake_aws(tmp_path, f'echo "$*" >> "{tmp_path}/aws.log"\nexit 1\n')
    for tool in ("nginx", "keepalived", "openssl", "curl", "python3"):
        (bindir / tool).write_text("#!/usr/bin/env bash\n# stand-in: only checked for presence\nexit 1\n")
        (bindir / tool).chmod(0o755)
    (bindir / "id").write_text("#!/usr/bin/env bash\n# stand-in: the bootstrap runs as root on the proxy\necho 0\n")
    (bindir / "id").chmod(0o755)
    env_file = tmp_path / "edge.env"
    env_file.write_text("\n".join([
        "NODE_NAME=lb1", "STATE=BACKUP", "PRIORITY=150", "SELF_IP=10.20.0.11", "PEER_IP=10.20.1.12",
        "VIP=203.0.113.10", "VRID=51", "AWS_REGION=ap-east-1", "EIP_ALLOCATION_ID=eipalloc-0a1b2c3d4e5f60718",
        "CONFIG_BUCKET=zufang-staging-edge-config-1", "CONFIG_PREFIX=nginx/",
        f"TLS_SECRET_ARN={tls_arn}", f"TLS_REQUIRED={tls_required}", "SERVER_NAME=zufang.example",
        "APP_ASG_NAME=zufang-prod-app", "APP_PORT=8080", "EDGE_HTTP_MODE=redirect", "EDGE_HSTS_INCLUDE_SUBDOMAINS=false", ""]))
    env = {"PATH": f"{bindir}:{os.environ['PATH']}", "EDGE_ENV_FILE": str(env_file), "SRC_DIR": str(tmp_path / "src")}
    out = subprocess.run(["bash", str(EDGE / "files" / "edge-bootstrap.sh")], env=env, capture_output=True, text=True)
    log = tmp_path / "aws.log"
    return out, log.read_text() if log.exists() else ""


def test_edge_bootstrap_refuses_a_self_signed_fallback_when_a_certificate_is_required(tmp_path):
    out, aws_calls = run_edge_bootstrap_until_the_first_aws_call(tmp_path, "true", "")
    assert out.returncode != 0 and "TLS_REQUIRED=true but TLS_SECRET_ARN is empty" in out.stderr, out.stderr
    assert aws_calls == "", "it stops before fetching anything"


@pytest.mark.parametrize("tls_required, tls_arn", [
    ("false", ""), ("true", "arn:aws:secretsmanager:ap-east-1:123456789012:secret:zufang/edge-tls-AbCdEf")])
def test_edge_bootstrap_goes_on_with_a_certificate_or_when_none_is_required(tmp_path, tls_required, tls_arn):
    """The control: the same run passes the check and reaches the bucket fetch."""
    out, aws_calls = run_edge_bootstrap_until_the_first_aws_call(tmp_path, tls_required, tls_arn)
    assert "TLS_REQUIRED" not in out.stderr, out.stderr
    assert aws_calls.startswith("s3 sync --region ap-east-1"), out.stderr


# The group as Auto Scaling reports it: (instance id, lifecycle state, private address).
GROUP = [("i-0a1", "InService", "10.20.11.7"), ("i-0b2", "Terminating:Wait", "10.20.12.9"),
         ("i-0c3", "InService", "10.20.10.5"), ("i-0d4", "Pending", "10.20.10.6")]


def run_upstreams(tmp_path, modules, group, check=True, aws_down=False):
    """edge-upstreams.sh against a stand-in CLI that applies the script's own JMESPath filter."""
    asg = json.dumps({"AutoScalingGroups": [{"Instances": [
        {"InstanceId": i, "LifecycleState": s} for i, s, _ in group]}]})
    addr = {i: ip for i, _, ip in group}
    bindir = fake_aws(tmp_path, f"""
case "$*" in
  "autoscaling describe-auto-scaling-groups --region ap-east-1 --auto-scaling-group-names zufang-staging-app-1 --query "*)
     q=$(sed 's/.*--query \\(.*\\) --output text/\\1/' <<<"$*")
     [[ $q == "AutoScalingGroups[].Instances[?LifecycleState=='InService'].InstanceId[]" ]] || {{ echo "query: $q" >&2; exit 1; }}
     python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print("\\t".join(i["InstanceId"] for g in d["AutoScalingGroups"] for i in g["Instances"] if i["LifecycleState"]=="InService"))' '{asg}' ;;
  "ec2 describe-instances --region ap-east-1 --instance-ids "*"Name=instance-state-name,Values=running"*)
     ids=$(sed 's/.*--instance-ids \\(.*\\) --filters.*/\\1/' <<<"$*")
     out=(); for id in $ids; do case $id in {" ".join(f'{i}) out+=({ip}) ;;' for i, ip in addr.items())} *) echo "unknown $id" >&2; exit 1 ;; esac; done
     (IFS=$'\\t'; echo "${{out[*]}}") ;;
  *) echo "unexpected aws call: $*" >&2; exit 1 ;;
esac
""" if not aws_down else "echo 'stand-in: throttled' >&2\nexit 255\n")
    env_file = tmp_path / "edge.env"
    env_file.write_text("AWS_REGION=ap-east-1\nAPP_ASG_NAME=zufang-staging-app-1\nAPP_PORT=8080\nEDGE_HTTP_MODE=serve\n")
    prefix = tmp_path / "nginx"
    if not prefix.exists():
        prefix = nginx_prefix(tmp_path, modules)
    env = {"PATH": f"{bindir}:{os.environ['PATH']}", "EDGE_ENV_FILE": str(env_file), "NGINX_PREFIX": f"{prefix}/",
           "RENDER": str(prefix / "docker-entrypoint.sh")}
    out = subprocess.run(["bash", str(EDGE / "files" / "edge-upstreams.sh"), "--no-reload"], env=env,
                         capture_output=True, text=True)
    if not check:
        return prefix, out
    assert out.returncode == 0, out.stderr
    return prefix, (prefix / "generated" / "upstream-servers.conf").read_text()


def test_upstream_refresh_renders_only_the_in_service_app_instances(tmp_path, modules):
    prefix, servers = run_upstreams(tmp_path, modules, GROUP)
    lines = [l for l in servers.splitlines() if l.startswith("server ")]
    # The terminating (draining) and the pending instance are not in the pool.
    assert [l.split()[1] for l in lines] == ["10.20.10.5:8080", "10.20.11.7:8080"]


def test_upstream_refresh_falls_back_to_a_placeholder_when_the_group_is_empty(tmp_path, modules):
    _, servers = run_upstreams(tmp_path, modules, [("i-0b2", "Terminating:Wait", "10.20.12.9")])
    assert [l.split()[1] for l in servers.splitlines() if l.startswith("server ")] == ["127.0.0.2:8080"]


def test_upstream_refresh_keeps_the_pool_when_aws_does_not_answer(tmp_path, modules):
    prefix, before = run_upstreams(tmp_path, modules, GROUP)
    _, out = run_upstreams(tmp_path, modules, GROUP, check=False, aws_down=True)
    assert out.returncode != 0
    assert (prefix / "generated" / "upstream-servers.conf").read_text() == before, "an API error must not empty the pool"


def test_rendered_edge_configuration_passes_nginx_t(tmp_path, modules):
    nginx = which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    assert nginx, "nginx is required (run.sh installs it)"
    prefix, _ = run_upstreams(tmp_path, modules, GROUP)
    out = subprocess.run([nginx, "-t", "-p", f"{prefix}/", "-c", str(prefix / "nginx.conf"), "-e", "stderr"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "syntax is ok" in out.stderr


@pytest.mark.parametrize("include, value", [("false", "max-age=31536000"), ("true", "max-age=31536000; includeSubDomains")])
def test_edge_render_sends_hsts_with_subdomains_only_when_told(tmp_path, modules, include, value):
    """EDGE_HSTS_INCLUDE_SUBDOMAINS (the edge module's hsts_include_subdomains) reaches the header map."""
    prefix = nginx_prefix(tmp_path, modules)
    env = {"PATH": os.environ["PATH"], "NGINX_PREFIX": f"{prefix}/", "APP_UPSTREAMS": "10.20.10.5:8080",
           "EDGE_HTTP_MODE": "redirect", "EDGE_HSTS_INCLUDE_SUBDOMAINS": include, "TLS_SELF_SIGNED": "never"}
    out = subprocess.run(["bash", str(prefix / "docker-entrypoint.sh"), "render"], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    hsts = (prefix / "generated" / "hsts.conf").read_text()
    assert re.search(r'https\s+"' + re.escape(value) + '";', hsts), hsts
    assert re.search(r'default\s+"";', hsts), "no HSTS over plain http"
    assert "include generated/hsts.conf;" in (prefix / "snippets" / "tls.conf").read_text()
    bad = subprocess.run(["bash", str(prefix / "docker-entrypoint.sh"), "render"], capture_output=True, text=True,
                         env={**env, "EDGE_HSTS_INCLUDE_SUBDOMAINS": "yes"})
    assert bad.returncode != 0 and "EDGE_HSTS_INCLUDE_SUBDOMAINS must be true or false" in bad.stderr


def test_fetch_secrets_writes_one_private_file_per_secret(tmp_path):
    bindir = fake_aws(tmp_path, r"""
[[ "$1 $2" == "secretsmanager get-secret-value" ]] || { echo "unexpected: $*" >&2; exit 1; }
while (( $# )); do [[ $1 == --secret-id ]] && id=$2; shift; done
printf 'value-of-%s\n' "${id##*:}"
""")
    uid = os.getuid()
    env_file = tmp_path / "secrets.env"
    env_file.write_text(
        f"AWS_REGION=ap-east-1\nCONTAINER_UID={uid}\n"
        "SECRET_database_password=arn:aws:secretsmanager:ap-east-1:1:secret:db\n"
        "SECRET_jwt_secret=arn:aws:secretsmanager:ap-east-1:1:secret:jwt\n")
    out_dir = tmp_path / "run" / "secrets"
    env = {"PATH": f"{bindir}:{os.environ['PATH']}", "SECRETS_ENV_FILE": str(env_file), "SECRETS_DIR": str(out_dir)}
    out = subprocess.run(["bash", str(APP / "files" / "fetch-secrets.sh")], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert sorted(p.name for p in out_dir.iterdir()) == ["database_password", "jwt_secret"]
    assert (out_dir / "database_password").read_text() == "value-of-db\n"
    for p in out_dir.iterdir():
        assert stat.S_IMODE(p.stat().st_mode) == 0o400 and p.stat().st_uid == uid
    assert stat.S_IMODE(out_dir.stat().st_mode) == 0o700


def run_fetch_secrets(tmp_path: Path, secrets_env: str, answers: dict[str, str], *args: str) -> tuple[subprocess.CompletedProcess, Path]:
    """fetch-secrets.sh against stand-ins: the AWS CLI answers ANSWERS by secret id, systemctl logs its calls."""
    table = "\n".join(f"  {arn}) printf '%s\\n' {json.dumps(v)} ;;" for arn, v in answers.items())
    bindir = fake_aws(tmp_path, f"""
while (( $# )); do [[ $1 == --secret-id ]] && id=$2; shift; done
case $id in
{table}
  *) echo "unknown secret $id" >&2; exit 1 ;;
esac
""")
    systemctl = bindir / "systemctl"
    systemctl.write_text(f'#!/usr/bin/env bash\n# stand-in for systemctl\necho "$*" >> "{tmp_path}/systemctl.log"\n')
    systemctl.chmod(0o755)
    env_file = tmp_path / "secrets.env"
    env_file.write_text(f"AWS_REGION=ap-east-1\nCONTAINER_UID={os.getuid()}\n" + secrets_env)
    out_dir = tmp_path / "run" / "secrets"
    env = {"PATH": f"{bindir}:{os.environ['PATH']}", "SECRETS_ENV_FILE": str(env_file), "SECRETS_DIR": str(out_dir)}
    out = subprocess.run(["bash", str(APP / "files" / "fetch-secrets.sh"), *args], env=env, capture_output=True, text=True)
    return out, out_dir


RDS_SECRET = "arn:aws:secretsmanager:ap-east-1:1:secret:rds!db-1"
RDS_ENV = f"SECRET_database_password={RDS_SECRET}\nJSONKEY_database_password=password\n"


def test_fetch_secrets_takes_the_password_field_of_rds_managed_secret(tmp_path):
    out, out_dir = run_fetch_secrets(tmp_path, RDS_ENV, {RDS_SECRET: '{"username":"zufang","password":"s3cr3t-from-rds"}'})
    assert out.returncode == 0, out.stderr
    assert (out_dir / "database_password").read_text() == "s3cr3t-from-rds\n"
    assert "s3cr3t" not in out.stderr


@pytest.mark.parametrize("document", ['{"username":"zufang"}', "not json", '{"password":""}'])
def test_fetch_secrets_refuses_a_json_secret_without_the_field(tmp_path, document):
    out, out_dir = run_fetch_secrets(tmp_path, RDS_ENV, {RDS_SECRET: document})
    assert out.returncode != 0 and "database_password" in out.stderr
    assert not (out_dir / "database_password").exists() and list(out_dir.iterdir()) == []


def test_fetch_secrets_restarts_the_app_only_when_a_secret_changed(tmp_path):
    first = {RDS_SECRET: '{"username":"zufang","password":"before-rotation"}'}
    out, out_dir = run_fetch_secrets(tmp_path, RDS_ENV, first)  # the start: ExecStartPre
    assert out.returncode == 0, out.stderr
    log = tmp_path / "systemctl.log"
    out, _ = run_fetch_secrets(tmp_path, RDS_ENV, first, "--restart-on-change", "zufang.service")
    assert out.returncode == 0 and not log.exists(), "nothing changed: no restart"
    rotated = {RDS_SECRET: '{"username":"zufang","password":"after-rotation"}'}
    out, _ = run_fetch_secrets(tmp_path, RDS_ENV, rotated, "--restart-on-change", "zufang.service")
    assert out.returncode == 0, out.stderr
    assert (out_dir / "database_password").read_text() == "after-rotation\n"
    assert log.read_text().splitlines() == ["restart zufang.service"]


def test_the_refresh_timer_runs_fetch_secrets_with_restart(modules):
    service = (APP / "files" / "zufang-secrets-refresh.service").read_text()
    assert "ExecStart=/usr/local/sbin/zufang-fetch-secrets --restart-on-change zufang.service" in service
    assert ("ExecStart=/usr/bin/env SECRETS_ENV_FILE=/etc/zufang/worker-secrets.env SECRETS_DIR=/run/zufang/worker-secrets "
            "/usr/local/sbin/zufang-fetch-secrets --restart-on-change zufang-worker.service") in service
    timer = (APP / "files" / "zufang-secrets-refresh.timer").read_text()
    assert "RandomizedDelaySec=" in timer, "servers restart at different moments, not all at once"
    assert '["systemctl", "enable", "--now", "zufang-secrets-refresh.timer"]' in modules["app"].text


def test_fetch_secrets_refuses_an_unknown_line(tmp_path):
    env_file = tmp_path / "secrets.env"
    env_file.write_text("AWS_REGION=ap-east-1\nCONTAINER_UID=1\nPASSWORD=oops\n")
    bindir = fake_aws(tmp_path, "exit 1\n")
    env = {"PATH": f"{bindir}:{os.environ['PATH']}", "SECRETS_ENV_FILE": str(env_file), "SECRETS_DIR": str(tmp_path / "s")}
    out = subprocess.run(["bash", str(APP / "files" / "fetch-secrets.sh")], env=env, capture_output=True, text=True)
    assert out.returncode != 0 and "unknown line PASSWORD" in out.stderr


def run_health_report(tmp_path: Path, healthy: bool) -> tuple[subprocess.CompletedProcess, list[str]]:
    """health-report.sh once, with stand-ins for curl (the app and IMDSv2) and the AWS CLI."""
    bindir = fake_aws(tmp_path, f'echo "$*" >> "{tmp_path}/aws.log"\n')
    curl = bindir / "curl"
    curl.write_text(f"""#!/usr/bin/env bash
# stand-in for curl: the app's /healthz and the instance metadata service
case "$*" in
  *"http://127.0.0.1:8080/healthz"*) {"exit 0" if healthy else "exit 7"} ;;
  *"-X PUT http://169.254.169.254/latest/api/token"*) echo token-1 ;;
  *"X-aws-ec2-metadata-token: token-1 http://169.254.169.254/latest/meta-data/instance-id"*) echo i-0abc123 ;;
  *) echo "unexpected curl call: $*" >&2; exit 1 ;;
esac
""")
    curl.chmod(0o755)
    env_file = tmp_path / "health.env"
    env_file.write_text("AWS_REGION=ap-east-1\nAPP_PORT=8080\nFAILURES=3\n")
    env = {"PATH": f"{bindir}:{os.environ['PATH']}", "HEALTH_ENV_FILE": str(env_file), "STATE_DIR": str(tmp_path / "state")}
    out = subprocess.run(["bash", str(APP / "files" / "health-report.sh")], env=env, capture_output=True, text=True)
    log = tmp_path / "aws.log"
    return out, log.read_text().splitlines() if log.exists() else []


def test_health_report_replaces_the_server_after_consecutive_failures(tmp_path):
    for attempt in (1, 2):
        out, calls = run_health_report(tmp_path, healthy=False)
        assert out.returncode == 0 and calls == [], f"attempt {attempt}: {out.stderr}"
    out, calls = run_health_report(tmp_path, healthy=False)
    assert out.returncode == 0, out.stderr
    assert calls == ["autoscaling set-instance-health --region ap-east-1 --instance-id i-0abc123 "
                     "--health-status Unhealthy --should-respect-grace-period"]


def test_health_report_counts_only_consecutive_failures(tmp_path):
    for healthy in (False, False, True, False, False):
        out, calls = run_health_report(tmp_path, healthy=healthy)
        assert out.returncode == 0, out.stderr
    assert calls == [], "a success in between resets the count"
    assert (tmp_path / "state" / "health-failures").read_text().strip() == "2"


# --- the app's configuration keys ----------------------------------------------------------------------------
def default_toml() -> dict:
    path = REPO / "app" / "config" / "default.toml"
    assert path.is_file(), "app/config/default.toml is the authoritative key list"
    return tomllib.loads(path.read_text())


def test_every_zufang_key_in_the_app_user_data_exists_in_default_toml(modules):
    config = default_toml()
    # What reaches an instance: the module's .tf files and its boot files (not the README's prose).
    text = "\n".join(p.read_text() for p in [*APP.glob("*.tf"), *APP.glob("files/*")])
    keys = sorted(set(re.findall(r"\bZUFANG__([A-Z0-9_]+?)__([A-Z0-9_]+)\b", text)))
    assert len(keys) >= 10, keys
    # The photo pipeline's keys have their own file and their own test (below).
    pending = set(modules["app"].locals["photo_env"])
    unknown = [f"ZUFANG__{s}__{k}" for s, k in keys if k.lower() not in config.get(s.lower(), {}) and f"ZUFANG__{s}__{k}" not in pending]
    assert unknown == []


def test_photo_settings_reach_the_container_only_once_the_app_reads_them(modules):
    """photos.env holds the object store's (and the broker's) settings under the keys the app and the
    worker read ([s3], [amqp]). The app refuses unknown keys at startup, so no unit may hand that file
    to a container while app/config/default.toml lacks any of them; once it has them all, zufang.service
    (migrate and serve) and zufang-worker.service must hand it over, or they run without bucket and broker."""
    config = default_toml()
    photo_env = modules["app"].locals["photo_env"]
    assert {"ZUFANG__S3__BUCKET", "ZUFANG__S3__REGION"} <= set(photo_env)
    assert "/etc/zufang/photos.env" in (APP / "main.tf").read_text()
    sections = [re.fullmatch(r"ZUFANG__([A-Z0-9_]+?)__([A-Z0-9_]+)", k).groups() for k in photo_env]
    unread = [f"{s.lower()}.{k.lower()}" for s, k in sections if k.lower() not in config.get(s.lower(), {})]
    units = {p.name: p.read_text() for p in (APP / "files").glob("*.service")}
    handing = sorted(name for name, text in units.items() if "--env-file /etc/zufang/photos.env" in text)
    if unread:
        assert handing == [], f"{handing} pass photos.env to the app, which does not read {unread} yet"
    else:
        assert handing == ["zufang-worker.service", "zufang.service"]
        assert units["zufang.service"].count("--env-file /etc/zufang/photos.env") == 2
        assert units["zufang-worker.service"].count("--env-file /etc/zufang/photos.env") == 1


def test_photo_settings_are_the_contracts_for_aws(modules):
    """The bucket through the instance role (AWS's endpoint, virtual-hosted, no key files), the broker
    over AMQPS as the broker module's user, its password the secret file amqp.password."""
    env = modules["app"].locals["photo_env"]
    assert env["ZUFANG__S3__ENDPOINT"] == "" and env["ZUFANG__S3__PATH_STYLE"] is False
    assert env["ZUFANG__AMQP__TLS"] is True and env["ZUFANG__AMQP__USERNAME"] == "${var.broker_username}"
    assert env["ZUFANG__AMQP__HOST"] == "${local.broker_url.host}" and env["ZUFANG__AMQP__PORT"] == "${local.broker_url.port}"
    assert env["ZUFANG__AMQP__VHOST"] == json.loads((REPO / "rabbitmq/definitions.json").read_text())["vhosts"][0]["name"]
    for unit in ("zufang.service", "zufang-worker.service"):
        assert "s3_access_key_id" not in (APP / "files" / unit).read_text()
    assert set(modules["app"].locals["photo_secret_arns"]) == {"amqp_password"}
    # The worker's folder: the database's password and the broker's, nothing else (no JWT key).
    assert "worker_secret_arns = merge({ database_password = var.db_password_secret_arn }, local.photo_secret_arns)" in modules["app"].text


def test_the_worker_runs_as_its_own_unit_with_its_own_secrets(modules):
    unit = (APP / "files" / "zufang-worker.service").read_text()
    run = next(line for line in unit.splitlines() if line.startswith("ExecStart=/usr/bin/docker run"))
    assert run.endswith("${APP_IMAGE} worker"), "the worker subcommand of the app's image"
    assert "--env-file /etc/zufang/zufang.env --env-file /etc/zufang/photos.env" in run
    assert "-v /run/zufang/worker-secrets:/run/secrets:ro" in run and "/run/zufang/secrets:" not in run
    assert " -p " not in run, "nothing published: the worker's port stays inside"
    assert "Environment=SECRETS_ENV_FILE=/etc/zufang/worker-secrets.env SECRETS_DIR=/run/zufang/worker-secrets" in unit
    assert "ExecStartPre=/usr/local/sbin/zufang-fetch-secrets" in unit
    assert re.search(r"^After=.*\bzufang\.service\b", unit, re.M), "after the app's start pulled the image and migrated"
    stop = int(re.search(r"--stop-timeout (\d+)", run).group(1))
    assert stop == int(re.search(r"docker stop -t (\d+)", unit).group(1)) > 25, "worker.shutdown_timeout_seconds is 25"
    assert int(re.search(r"^TimeoutStopSec=(\d+)", unit, re.M).group(1)) > stop
    assert '["systemctl", "enable", "--now", "zufang-worker"]' in modules["app"].text
    assert '"/etc/systemd/system/zufang-worker.service"' in modules["app"].text


def test_the_app_connects_to_both_data_stores_with_tls(modules):
    env = modules["app"].locals["app_env_base"]
    assert env["ZUFANG__DATABASE__SSL_MODE"] == "verify_identity", "verify the server's certificate and host name"
    assert env["ZUFANG__REDIS__TLS"] is True
    ca = modules["app"].locals["rds_ca_container_path"]
    assert env["ZUFANG__DATABASE__SSL_CA"] == "${local.rds_ca_container_path}" and ca == "/etc/ssl/certs/rds-global-bundle.pem"
    # The unit mounts the fetched bundle at exactly that path, for migrate and serve alike.
    unit = (APP / "files" / "zufang.service").read_text()
    assert "ExecStartPre=/usr/local/sbin/zufang-fetch-rds-ca" in unit
    assert unit.count("-v ${RDS_CA_MOUNT} ") == 2 and unit.count("-v ${HOST_CA_MOUNT} ") == 2
    assert env["SSL_CERT_FILE"] == "${local.container_ca_path}", "Redis TLS: the mounted public roots"
    assert "RDS_CA_MOUNT=${local.rds_ca_host_path}:${local.rds_ca_container_path}:ro" in (APP / "main.tf").read_text()


def run_fetch_rds_ca(tmp_path: Path, body: str, existing: str | None = None) -> tuple[subprocess.CompletedProcess, Path]:
    """fetch-rds-ca.sh with a stand-in curl that writes BODY to its -o file (no network in CI)."""
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    src = tmp_path / "served.pem"
    src.write_text(body)
    curl = bindir / "curl"
    curl.write_text(f"""#!/usr/bin/env bash
# stand-in for curl: serves {src} for the trust store URL only, over https only
[[ " $* " == *" --proto =https "* && "${{!#}}" == https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem ]] || {{ echo "unexpected curl call: $*" >&2; exit 2; }}
[[ -s {src} ]] || exit 22
while (( $# )); do [[ $1 == -o ]] && out=$2; shift; done
cp {src} "$out"
""")
    curl.chmod(0o755)
    target = tmp_path / "tls" / "rds-global-bundle.pem"
    if existing is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(existing)
    env = {"PATH": f"{bindir}:{os.environ['PATH']}", "RDS_CA_FILE": str(target)}
    out = subprocess.run(["bash", str(APP / "files" / "fetch-rds-ca.sh")], env=env, capture_output=True, text=True)
    return out, target


def ca_pem(tmp_path: Path, cn: str) -> str:
    key, crt = tmp_path / f"{cn}.key", tmp_path / f"{cn}.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", f"/CN={cn}",
                    "-keyout", str(key), "-out", str(crt)], check=True, capture_output=True)
    return crt.read_text()


def test_fetch_rds_ca_writes_the_bundle(tmp_path):
    bundle = ca_pem(tmp_path, "Amazon RDS test Root CA") + ca_pem(tmp_path, "Amazon RDS test Region CA")
    out, target = run_fetch_rds_ca(tmp_path, bundle)
    assert out.returncode == 0, out.stderr
    assert target.read_text() == bundle and "(2 certificates)" in out.stderr
    assert stat.S_IMODE(target.stat().st_mode) == 0o644, "public CA certificates, readable by the container's user"


@pytest.mark.parametrize("body", ["<html>maintenance</html>\n", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", ""],
                         ids=["not PEM", "truncated certificate", "fetch fails"])
def test_fetch_rds_ca_refuses_a_bad_bundle_and_keeps_the_old_one(tmp_path, body):
    old = ca_pem(tmp_path, "Amazon RDS old Root CA")
    out, target = run_fetch_rds_ca(tmp_path, body, existing=old)
    assert out.returncode == 0 and "keeping the bundle in place" in out.stderr, out.stderr
    assert target.read_text() == old
    assert [p.name for p in target.parent.iterdir()] == [target.name], "no temporary file left behind"


def test_fetch_rds_ca_without_any_bundle_stops_the_start(tmp_path):
    out, target = run_fetch_rds_ca(tmp_path, "")
    assert out.returncode != 0 and "no bundle in" in out.stderr
    assert not target.exists()


def test_app_user_data_points_the_app_at_the_data_tier(modules):
    env = modules["app"].locals["app_env_base"]
    assert env["ZUFANG_ENV"] == "production"
    assert env["ZUFANG__DATABASE__HOST"] == "${var.db_host}"
    assert env["ZUFANG__REDIS__HOST"] == "${var.redis_host}"
    assert env["ZUFANG__APPLICATION__HOST"] == "0.0.0.0"
    assert env["ZUFANG__APPLICATION__TRUSTED_PROXIES"] == '${join(",", var.trusted_proxy_cidrs)}'


def test_secret_files_are_ones_the_app_reads(modules):
    config = default_toml()
    names = set(modules["app"].locals["secret_arns_base"]) | {"sms_webhook_token"}
    assert names == {"database_password", "redis_password", "jwt_secret", "sms_webhook_token"}
    assert "sms_webhook_token = var.sms_webhook_token_secret_arn" in modules["app"].text
    for name in names:
        section, key = name.split("_", 1)
        assert key in config[section], f"{name} is not {section}.{key} of default.toml"


def test_container_uid_matches_the_image_user(modules):
    dockerfile = (REPO / "app" / "Dockerfile").read_text()
    user = re.findall(r"^USER\s+(\d+)", dockerfile, re.M)
    assert user, "app/Dockerfile has no numeric USER"
    assert modules["app"].variables["container_uid"]["default"] == int(user[-1])


@pytest.mark.parametrize("name", ["zufang.service", "zufang-worker.service"])
def test_app_unit_uses_only_variables_the_user_data_defines(modules, name):
    unit = (APP / "files" / name).read_text()
    used = set(re.findall(r"\$\{([A-Z_]+)\}", unit))
    runtime = re.search(r'content\s+= "APP_IMAGE=[^"]*"', (APP / "main.tf").read_text()).group(0)
    defined = set(re.findall(r"([A-Z_]+)=", runtime))
    assert used and used <= defined, used - defined
    assert "EnvironmentFile=/etc/zufang/runtime.env" in unit
    assert "--env-file /etc/zufang/zufang.env" in unit and re.search(r"-v /run/zufang/(worker-)?secrets:/run/secrets:ro", unit)


# --- size and hygiene ------------------------------------------------------------------------------------
@pytest.mark.parametrize("module, files", [
    ("edge", ["edge-bootstrap.sh", "edge-upstreams.sh", "zufang-edge-upstreams.service", "zufang-edge-upstreams.timer"]),
    ("app", ["fetch-secrets.sh", "fetch-rds-ca.sh", "zufang.service", "zufang-worker.service", "health-report.sh", "zufang-health-report.service",
             "zufang-health-report.timer", "zufang-secrets-refresh.service", "zufang-secrets-refresh.timer"]),
])
def test_user_data_stays_under_the_ec2_limit(module, files):
    texts = [(TF_ROOT / "modules" / module / "files" / f).read_text() for f in files]
    # yamlencode indents each embedded line by 4 spaces; + YAML framing and the env files (about
    # 1 KiB when rendered with real values). EC2 rejects user data over 16 KiB.
    rendered = sum(len(t.encode()) + 4 * t.count("\n") for t in texts) + 2048
    assert rendered < 16384, rendered


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(TF_ROOT)))
def test_scripts_have_help_and_strict_mode(script):
    text = script.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in text
    out = subprocess.run(["bash", str(script), "--help"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and "usage" in out.stdout.lower(), out.stderr


def test_scripts_are_shellcheck_clean():
    shellcheck = which("shellcheck")
    assert shellcheck, "shellcheck is required (run.sh installs it)"
    out = subprocess.run([shellcheck, *map(str, SCRIPTS)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout
