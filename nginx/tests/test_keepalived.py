"""keepalived: the rendered configuration (keepalived --config-test in a network namespace), render
errors, notify.sh's state file and textfile for every state, the AWS Elastic IP hook."""
import os
import re

import pytest

from shell import REPO, fails, succeeds

NOTIFY = "nginx/keepalived/notify.sh"


def ka_render(node, priority, self_ip, peer_ip) -> str:
    return succeeds("nginx/keepalived/render.sh", env={
        "NODE_NAME": node, "STATE": "BACKUP", "PRIORITY": str(priority), "SELF_IP": self_ip, "PEER_IP": peer_ip,
        "VIP": "10.99.0.100", "INTERFACE": "eth0", "VRRP_MIN_TTL": "255",
        "KEEPALIVED_DIR": str(REPO / "nginx/keepalived")})


@pytest.fixture(scope="module")
def confs(work):
    """lb1 and lb2 rendered from the template: node -> file."""
    out = {}
    for node, prio, self_ip, peer_ip in (("lb1", 250, "10.99.0.11", "10.99.0.12"),
                                         ("lb2", 240, "10.99.0.12", "10.99.0.11")):
        out[node] = work / f"{node}.conf"
        out[node].write_text(ka_render(node, prio, self_ip, peer_ip))
    return out


@pytest.fixture(scope="module")
def netns():
    """The config test resolves the interface: a namespace with an eth0 of its own."""
    name = os.environ.get("EDGE_KA_NETNS", f"edge-ka-{os.getpid()}")
    succeeds("ip", "netns", "add", name)
    try:
        succeeds("ip", "-n", name, "link", "add", "eth0", "type", "veth", "peer", "name", "eth1")
        yield name
    finally:
        succeeds("ip", "netns", "del", name)


def config_test(netns, path):
    return ["ip", "netns", "exec", netns, "keepalived", "--config-test", "--use-file", path]


@pytest.mark.parametrize("node", ["lb1", "lb2"])
def test_keepalived_config_test_accepts(netns, confs, node):
    succeeds(*config_test(netns, confs[node]))


def test_keepalived_config_test_negative_control_vrrp_version_2_refuses_the_sub_second_advert_int(
        netns, confs, work):
    # Why version 3: VRRPv2 counts advert_int in whole seconds and keepalived rounds 0.2 (an error).
    broken = work / "broken.conf"
    broken.write_text(confs["lb1"].read_text().replace("vrrp_version 3", "vrrp_version 2"))
    out = fails(*config_test(netns, broken))
    assert "must be an integer" in out, out


def block_after(text, keyword):
    """The line after the first line containing KEYWORD (grep -A1)."""
    lines = text.splitlines()
    i = next(i for i, line in enumerate(lines) if keyword in line)
    return "\n".join(lines[i:i + 2])


def test_render_lb1_lb2_as_unicast_peers_nopreempt_backup_tracked_check(confs):
    lb1, lb2 = confs["lb1"].read_text(), confs["lb2"].read_text()
    assert "10.99.0.12" in block_after(lb1, "unicast_peer"), "lb1's peer"
    assert "10.99.0.11" in block_after(lb2, "unicast_peer"), "lb2's peer"
    assert "priority 250" in lb1 and "priority 240" in lb2, "priorities"
    assert re.search(r"^ *nopreempt", lb2, re.M), "lb2 lacks nopreempt"
    assert re.search(r"^ *state BACKUP", lb1, re.M), "lb1 does not start as BACKUP"
    assert "chk_nginx" in block_after(lb1, "track_script"), "no tracked chk_nginx"


def test_render_vrrp_v3_sub_second_adverts_no_authentication_peer_source_and_ttl_checked(confs):
    for node, conf in confs.items():
        text = conf.read_text()
        assert re.search(r"^ *vrrp_version 3$", text, re.M), f"{node}: not VRRPv3"
        advert = float(re.search(r"^ *advert_int ([0-9.]+)", text, re.M).group(1))
        assert 0.1 <= advert < 1, f"{node}: advert_int {advert}"
        assert not re.search(r"^ *(authentication|auth_type|auth_pass)\b", text, re.M), f"{node}: authentication block"
        assert re.search(r"^ *check_unicast_src$", text, re.M), f"{node}: adverts from any source accepted"
        assert re.search(r"min_ttl 255 max_ttl 255", block_after(text, "unicast_peer")), f"{node}: TTL not checked"


RENDER_OK = {"NODE_NAME": "lb1", "PRIORITY": "1", "SELF_IP": "10.0.0.1", "PEER_IP": "10.0.0.2", "VIP": "10.0.0.3"}


def test_render_a_leftover_vrrp_auth_pass_is_ignored_with_a_note_and_never_rendered():
    # Compose and the cloud bootstrap may still pass one: it must neither fail nor reach the file.
    out = succeeds("nginx/keepalived/render.sh", env={**RENDER_OK, "VRRP_AUTH_PASS": "s3cr3tpw"})
    assert "VRRP_AUTH_PASS is ignored" in out and "s3cr3tpw" not in out, out


def test_render_without_vrrp_min_ttl_checks_the_source_but_not_the_ttl():
    # Peers in two subnets (the cloud's two zones) reach each other through a router.
    out = succeeds("nginx/keepalived/render.sh", env=RENDER_OK)
    assert "check_unicast_src" in out and "min_ttl" not in out, out
    assert re.search(r"unicast_peer \{\s+10\.0\.0\.2\s+\}", out), out


def test_render_rejects_a_vrrp_min_ttl_out_of_range():
    fails("nginx/keepalived/render.sh", env={**RENDER_OK, "VRRP_MIN_TTL": "0"})


def test_render_rejects_a_priority_out_of_range():
    fails("nginx/keepalived/render.sh", env={**RENDER_OK, "PRIORITY": "255"})


def test_render_rejects_a_missing_peer_ip():
    env = {k: v for k, v in RENDER_OK.items() if k != "PEER_IP"}
    fails("env", "-u", "PEER_IP", "nginx/keepalived/render.sh", env=env)


def test_render_eip_allocation_id_adds_the_cloud_notify_master_hook():
    out = succeeds("nginx/keepalived/render.sh", env={**RENDER_OK, "EIP_ALLOCATION_ID": "eipalloc-0abc123"})
    assert 'notify_master "/etc/keepalived/notify-eip-aws.sh eipalloc-0abc123"' in out, out


def notify(d, state):
    return ["env", f"STATE_DIR={d}/state", f"TEXTFILE_DIR={d}/textfile", NOTIFY, "lb1", "INSTANCE", "VI_EDGE", state]


SAMPLE_LINE = re.compile(r"^(# (HELP|TYPE) keepalived_vrrp_(state|master) .+"
                         r"|keepalived_vrrp_(state|master)\{[^}]*\} [01])$")


@pytest.mark.parametrize("want", ["MASTER", "BACKUP", "FAULT"])
def test_notify_writes_the_state_file_and_the_textfile(work, want):
    d = work / "notify"
    succeeds(*notify(d, want))
    assert (d / "state/lb1.state").read_text().strip() == want
    prom = (d / "textfile/keepalived_lb1.prom").read_text()
    lines = prom.splitlines()
    master = 1 if want == "MASTER" else 0
    assert f'keepalived_vrrp_master{{node="lb1",instance="VI_EDGE"}} {master}' in lines, prom
    for s in ("MASTER", "BACKUP", "FAULT"):
        v = 1 if s == want else 0
        assert f'keepalived_vrrp_state{{node="lb1",instance="VI_EDGE",state="{s}"}} {v}' in lines, prom
    # Only comments and samples; no temp files left behind for the textfile collector to read.
    assert all(SAMPLE_LINE.match(line) for line in lines), f"malformed line in {prom}"
    files = [p for p in (d / "textfile").rglob("*") if p.is_file()]
    assert len(files) == 1, files


def test_notify_stop_leaves_no_master_series_at_1(work):
    d = work / "notify-stop"
    succeeds(*notify(d, "MASTER"))
    succeeds(*notify(d, "STOP"))
    prom = (d / "textfile/keepalived_lb1.prom").read_text()
    assert not re.search(r" 1$", prom, re.M), prom


def test_notify_logs_every_transition(work):
    d = work / "notify-log"
    for state in ("MASTER", "BACKUP", "FAULT", "STOP"):
        succeeds(*notify(d, state))
    log = (d / "state/lb1.log").read_text()
    assert log.count("node=lb1 INSTANCE=VI_EDGE state=") == 4, log


def test_notify_rejects_an_unknown_state(work):
    fails(*notify(work / "notify", "BOGUS"))


def test_notify_eip_aws_reassociates_the_eip_with_this_eni_retrying(work):
    calls = work / "aws.calls"
    aws = work / "bin/aws"
    aws.parent.mkdir(exist_ok=True)
    # A stand-in `aws` CLI that fails twice, then succeeds, recording its arguments.
    aws.write_text(f"""#!/usr/bin/env bash
echo "$*" >> "{calls}"
[[ $(wc -l < "{calls}") -ge 3 ]] || {{ echo "throttled" >&2; exit 1; }}
echo '{{"AssociationId": "eipassoc-1"}}'
""")
    aws.chmod(0o755)
    succeeds("nginx/keepalived/notify-eip-aws.sh", "eipalloc-0abc123",
             env={"AWS_CLI": str(aws), "INSTANCE_ENI": "eni-0123", "AWS_REGION": "eu-central-1"})
    lines = calls.read_text().splitlines()
    assert len(lines) == 3, lines
    assert ("ec2 associate-address --region eu-central-1 --allocation-id eipalloc-0abc123 "
            "--network-interface-id eni-0123 --allow-reassociation") in lines, lines
