"""The edge's scripts: shellcheck, --help, the development certificate, the static site's asset names."""
import hashlib
import re
import subprocess

from shell import REPO, succeeds

SCRIPTS = ["nginx/docker-entrypoint.sh", "nginx/hash-assets.sh",
           *sorted(str(p.relative_to(REPO)) for p in (REPO / "nginx/keepalived").glob("*.sh")),
           "scripts/tls/make-dev-cert.sh", "nginx/tests/run.sh", "nginx/tests/failover-netns.sh"]


def test_shellcheck_is_clean_on_every_script():
    succeeds("shellcheck", *SCRIPTS)


def test_every_script_answers_help():
    for script in SCRIPTS:
        p = subprocess.run([script, "--help"], cwd=REPO, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=30)
        assert p.returncode == 0 and "usage" in p.stdout.lower(), f"{script} --help: {p.returncode} {p.stdout!r}"


def test_make_dev_cert_writes_a_certificate_and_a_600_key(tls):
    assert (tls / "tls.crt").stat().st_size > 0, "no certificate"
    mode = (tls / "tls.key").stat().st_mode & 0o777
    assert mode == 0o600, f"key mode {mode:o}"


def test_make_dev_cert_sans_include_loopback_the_vip_and_extra_san(tls):
    out = succeeds("openssl", "x509", "-in", tls / "tls.crt", "-noout", "-ext", "subjectAltName")
    sans = re.sub(r"[ \n]", "", out)
    want = r"IPAddress:127.0.0.1,IPAddress:0:0:0:0:0:0:0:1,IPAddress:172.28.10.100.*DNS:edge.test"
    assert re.search(want, sans), sans


def test_make_dev_cert_key_matches_certificate(tls):
    key = succeeds("openssl", "pkey", "-in", tls / "tls.key", "-pubout")
    cert = succeeds("openssl", "x509", "-in", tls / "tls.crt", "-noout", "-pubkey")
    assert key == cert, f"key's public half:\n{key}\ncertificate's:\n{cert}"


def test_static_asset_names_carry_their_content_hash_and_are_referenced():
    index = (REPO / "nginx/html/index.html").read_text()
    assets = sorted((REPO / "nginx/html/assets").glob("*.*.*"))
    assert assets, "no hashed assets in nginx/html/assets"
    for f in assets:
        digest = hashlib.sha256(f.read_bytes()).hexdigest()[:10]
        assert f".{digest}." in f.name, f"{f.name}: content hash is {digest} (run nginx/hash-assets.sh)"
        assert f'/assets/{f.name}"' in index, f"{f.name} not referenced by index.html"
