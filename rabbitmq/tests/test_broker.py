"""The broker's contract, against the real broker of conftest.py: topology and users from the
definitions, least privilege, the photo.uploaded path, retries through TTL queues, the dead-letter
paths, operator replay, metrics, secrets kept out of logs and inspect, and durability across a
SIGKILL of the broker. The last test restarts the broker: keep it last."""
from __future__ import annotations

import base64
import hashlib
import json
import re
import shlex
import time
import urllib.parse
import uuid
from pathlib import Path

import pika
import pytest
import yaml
from conftest import ROOT, VHOST, sh

EVENTS, RETRY, DEAD = "zufang.events", "zufang.retry", "zufang.dead"
WORK, DLQ = "photo.thumbnail", "photo.thumbnail.dlq"
RETRY_TIERS = {"photo.thumbnail.retry.5s": 5000, "photo.thumbnail.retry.30s": 30000, "photo.thumbnail.retry.5m": 300000}


def photo_uploaded(photo_id: int = 1) -> tuple[bytes, pika.BasicProperties]:
    """A message as rabbitmq/README.md specifies it."""
    body = {"schema_version": 1, "event": "photo.uploaded", "photo_id": photo_id, "house_id": 7,
            "object_key": f"originals/{photo_id:08d}.jpg", "occurred_at": "2026-12-06T00:00:00Z"}
    props = pika.BasicProperties(content_type="application/json", delivery_mode=2, message_id=str(uuid.uuid4()),
                                 type="photo.uploaded", app_id="zufang", timestamp=int(time.time()),
                                 headers={"schema_version": 1})
    return json.dumps(body).encode(), props


def publish(conn, exchange: str, key: str, body: bytes, props: pika.BasicProperties) -> None:
    """Publisher confirms + mandatory: returns only once the broker has the message."""
    ch = conn.channel()
    ch.confirm_delivery()
    ch.basic_publish(exchange, key, body, props, mandatory=True)
    ch.close()


def get_one(conn, queue: str, timeout: float = 10.0):
    """basic.get until a message arrives: (channel, method, properties, body), not yet acked."""
    ch = conn.channel()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        method, props, body = ch.basic_get(queue, auto_ack=False)
        if method:
            return ch, method, props, body
        time.sleep(0.2)
    raise AssertionError(f"no message in {queue} within {timeout}s")


def refused(action) -> int:
    """The AMQP reply code the broker closes the channel (or connection) with for ACTION."""
    with pytest.raises((pika.exceptions.ChannelClosedByBroker, pika.exceptions.ConnectionClosedByBroker)) as err:
        action()
    return err.value.reply_code


def depth(broker, queue: str) -> int:
    """Ready messages in QUEUE, from the queue itself (a passive declare), not from the management
    statistics, which lag by their 5 s collection interval."""
    with broker.connect("admin") as admin:
        return admin.channel().queue_declare(queue, passive=True).method.message_count


def wait_depth(broker, queue: str, want: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if depth(broker, queue) == want:
            return
        time.sleep(0.5)
    raise AssertionError(f"{queue}: {depth(broker, queue)} messages, expected {want}")


# ---- definitions ------------------------------------------------------------------------------

def test_the_definitions_load_every_exchange_queue_binding_and_policy(broker):
    template = json.loads((ROOT / "rabbitmq/definitions.json").read_text())
    queues = {q["name"]: q for q in broker.api(f"/queues/{VHOST}")}
    for q in template["queues"]:
        got = queues.get(q["name"])
        assert got, f"queue {q['name']} missing"
        assert got["durable"] and got["type"] == "quorum", got
    exchanges = {x["name"]: x for x in broker.api(f"/exchanges/{VHOST}")}
    assert exchanges[EVENTS]["type"] == "topic" and exchanges[EVENTS]["durable"]
    assert exchanges[RETRY]["type"] == "direct" and exchanges[DEAD]["type"] == "direct"
    bindings = {(b["source"], b["routing_key"], b["destination"]) for b in broker.api(f"/bindings/{VHOST}") if b["source"]}
    assert (EVENTS, "photo.uploaded", WORK) in bindings
    assert (DEAD, WORK, DLQ) in bindings
    for tier in RETRY_TIERS:
        assert (RETRY, tier, tier) in bindings
    policies = {p["name"]: p["definition"] for p in broker.api(f"/policies/{VHOST}")}
    # The policy each queue runs under, from the node itself (the management API fills it in
    # only with its first statistics round).
    listed = json.loads(sh("docker", "exec", broker.name, "rabbitmqctl", "-q", "--formatter", "json",
                           "list_queues", "-p", VHOST, "name", "policy").stdout)
    applied_policy = {q["name"]: q["policy"] for q in listed}

    def applied(queue: str) -> dict:
        """The definition of the policy the broker applies to QUEUE."""
        return policies[applied_policy[queue]]

    work = applied(WORK)
    assert work["delivery-limit"] == 5 and work["dead-letter-exchange"] == DEAD, work
    assert work["dead-letter-routing-key"] == WORK and work["dead-letter-strategy"] == "at-least-once", work
    ttls = []
    for tier, ttl in RETRY_TIERS.items():
        p = applied(tier)
        assert p["message-ttl"] == ttl and p["dead-letter-exchange"] == "" and p["dead-letter-routing-key"] == WORK, p
        ttls.append(p["message-ttl"])
    assert ttls == sorted(ttls), "retry tiers must back off"


def test_the_guest_user_and_the_default_vhost_do_not_exist(broker):
    assert {u["name"] for u in broker.api("/users")} == {"zufang-app", "zufang-worker", "zufang-admin"}
    assert [v["name"] for v in broker.api("/vhosts")] == [VHOST]
    with pytest.raises(pika.exceptions.ProbableAuthenticationError):
        broker.connect("guest", "guest")
    with pytest.raises(pika.exceptions.ProbableAuthenticationError):
        broker.connect("app", "not-the-password")


def test_only_the_administrator_reaches_the_management_api(broker):
    for user in ("app", "worker"):
        status, _ = broker.http(15672, "/api/overview", user=user)
        assert status == 401, f"zufang-{user} must not use the management UI/API (got {status})"
    status, _ = broker.http(15672, "/api/overview", user=None)
    assert status == 401
    assert broker.api("/whoami")["name"] == "zufang-admin"


def test_the_memory_and_disk_alarms_are_the_configured_absolute_values(broker):
    deadline = time.monotonic() + 30
    while "mem_limit" not in (node := broker.api("/nodes")[0]) and time.monotonic() < deadline:
        time.sleep(1)  # the node's figures appear with the first statistics round
    assert node["mem_limit"] == 256 * 1024 * 1024, node["mem_limit"]
    assert node["disk_free_limit"] == 512 * 1000 * 1000, node["disk_free_limit"]
    assert not node["mem_alarm"] and not node["disk_free_alarm"]


# ---- least privilege --------------------------------------------------------------------------

def test_the_app_publishes_photo_uploaded_and_it_lands_in_photo_thumbnail(broker, purge):
    body, props = photo_uploaded(11)
    with broker.connect("app") as app:
        publish(app, EVENTS, "photo.uploaded", body, props)
    wait_depth(broker, WORK, 1)
    with broker.connect("admin") as admin:
        ch, method, got_props, got = get_one(admin, WORK)
        assert json.loads(got) == json.loads(body) and got_props.message_id == props.message_id
        assert got_props.delivery_mode == 2 and got_props.content_type == "application/json"
        ch.basic_ack(method.delivery_tag)


def test_an_event_no_queue_is_bound_to_yet_is_kept_in_zufang_unroutable(broker, purge):
    body = json.dumps({"schema_version": 1, "event": "house.changed", "house_id": 7}).encode()
    props = pika.BasicProperties(content_type="application/json", delivery_mode=2, type="house.changed",
                                 message_id=str(uuid.uuid4()))
    with broker.connect("app") as app:
        publish(app, EVENTS, "house.changed", body, props)  # mandatory: a drop would be returned
    wait_depth(broker, "zufang.unroutable", 1)
    assert depth(broker, WORK) == 0


def test_the_app_may_not_consume_declare_or_publish_elsewhere(broker, purge):
    body, props = photo_uploaded()
    with broker.connect("app") as app:
        assert refused(lambda: app.channel().basic_consume(WORK, lambda *a: None)) == 403
        assert refused(lambda: app.channel().basic_get(WORK)) == 403
        assert refused(lambda: app.channel().queue_declare("zq-mine", durable=True)) == 403
        assert refused(lambda: app.channel().exchange_declare("zq-mine", "fanout")) == 403
        assert refused(lambda: app.channel().queue_bind(WORK, EVENTS, "house.changed")) == 403
        assert refused(lambda: publish(app, RETRY, "photo.thumbnail.retry.5s", body, props)) == 403
        assert refused(lambda: publish(app, DEAD, WORK, body, props)) == 403
        # Topic permissions: only the event routing keys of the contract on zufang.events.
        assert refused(lambda: publish(app, EVENTS, "photo.deleted.everything", body, props)) == 403
        # What exists may be checked without any permission (a passive declare).
        app.channel().exchange_declare(EVENTS, passive=True)
    assert depth(broker, WORK) == 0 and depth(broker, DLQ) == 0


def test_the_worker_consumes_photo_thumbnail_and_nothing_else(broker, purge):
    body, props = photo_uploaded(12)
    with broker.connect("app") as app:
        publish(app, EVENTS, "photo.uploaded", body, props)
    with broker.connect("worker") as worker:
        ch = worker.channel()
        ch.basic_qos(prefetch_count=4)
        for method, got_props, got in ch.consume(WORK, inactivity_timeout=10):
            assert method, "no delivery to the worker"
            assert json.loads(got)["schema_version"] == 1 and got_props.type == "photo.uploaded"
            ch.basic_ack(method.delivery_tag)
            break
        ch.cancel()
        assert refused(lambda: worker.channel().basic_get(DLQ)) == 403
        assert refused(lambda: publish(worker, EVENTS, "photo.uploaded", body, props)) == 403
        assert refused(lambda: worker.channel().queue_declare("zq-mine", durable=True)) == 403
        assert worker.channel().queue_declare(WORK, passive=True).method.message_count == 0
    wait_depth(broker, WORK, 0)


# ---- retries and dead letters -----------------------------------------------------------------

def test_a_failed_job_goes_through_a_retry_queue_and_comes_back_after_its_ttl(broker, purge):
    body, props = photo_uploaded(13)
    with broker.connect("app") as app:
        publish(app, EVENTS, "photo.uploaded", body, props)
    with broker.connect("worker") as worker:
        ch, method, got_props, got = get_one(worker, WORK)
        # The worker's retry step: a copy to the first tier with the attempt count, then the ack.
        headers = dict(got_props.headers or {}, **{"x-attempt": 1, "x-error": "store unavailable"})
        retry_props = pika.BasicProperties(content_type=got_props.content_type, delivery_mode=2,
                                           message_id=got_props.message_id, type=got_props.type, headers=headers)
        publish(worker, RETRY, "photo.thumbnail.retry.5s", got, retry_props)
        ch.basic_ack(method.delivery_tag)
        sent = time.monotonic()
        ch, method, back_props, back = get_one(worker, WORK, timeout=20)
        waited = time.monotonic() - sent
        ch.basic_ack(method.delivery_tag)
    assert 4.0 <= waited <= 15.0, f"came back after {waited:.1f}s, the tier's TTL is 5 s"
    assert back == body and back_props.message_id == props.message_id
    assert back_props.headers["x-attempt"] == 1
    death = back_props.headers["x-death"][0]
    assert death["queue"] == "photo.thumbnail.retry.5s" and death["reason"] == "expired", death
    assert depth(broker, DLQ) == 0


def test_a_rejected_job_and_an_explicit_dead_letter_reach_the_dlq(broker, purge):
    with broker.connect("app") as app:
        for i in (14, 15):
            publish(app, EVENTS, "photo.uploaded", *photo_uploaded(i))
    with broker.connect("worker") as worker:
        # A job the worker cannot ever do: basic.reject without requeue -> the queue's DLX.
        ch, method, _, first = get_one(worker, WORK)
        ch.basic_reject(method.delivery_tag, requeue=False)
        # Out of retries: the worker publishes it to zufang.dead with the reason, then acks.
        ch, method, p, second = get_one(worker, WORK)
        dead = pika.BasicProperties(content_type=p.content_type, delivery_mode=2, message_id=p.message_id,
                                    type=p.type, headers=dict(p.headers or {}, **{"x-attempt": 3, "x-error": "decode failed: truncated JPEG"}))
        publish(worker, DEAD, WORK, second, dead)
        ch.basic_ack(method.delivery_tag)
    wait_depth(broker, DLQ, 2)
    with broker.connect("admin") as admin:  # the operator inspects the DLQ
        seen = {}
        for _ in range(2):
            ch, method, p, b = get_one(admin, DLQ)
            seen[b] = p.headers or {}
            ch.basic_nack(method.delivery_tag, requeue=True)
            ch.close()
    assert seen[first]["x-death"][0]["reason"] == "rejected" and seen[first]["x-death"][0]["queue"] == WORK
    assert seen[second]["x-error"] == "decode failed: truncated JPEG"
    assert depth(broker, WORK) == 0


def test_a_poison_message_goes_to_the_dlq_after_the_delivery_limit_and_the_queue_keeps_flowing(broker, purge):
    poison, props = photo_uploaded(16)
    with broker.connect("app") as app:
        publish(app, EVENTS, "photo.uploaded", poison, props)
    deliveries = 0
    with broker.connect("worker") as worker:
        # A worker that dies mid-job: its channel goes away without an ack, the message returns.
        for _ in range(10):
            ch = worker.channel()
            method, _, body = ch.basic_get(WORK, auto_ack=False)
            if method is None:
                time.sleep(0.5)
                method, _, body = ch.basic_get(WORK, auto_ack=False)
            if method is None:
                break
            assert body == poison
            deliveries += 1
            ch.close()
    assert 5 <= deliveries <= 6, f"delivered {deliveries} times, the delivery limit is 5"
    wait_depth(broker, DLQ, 1)
    good, good_props = photo_uploaded(17)
    with broker.connect("app") as app:
        publish(app, EVENTS, "photo.uploaded", good, good_props)
    with broker.connect("worker") as worker:
        ch, method, _, body = get_one(worker, WORK)
        assert body == good
        ch.basic_ack(method.delivery_tag)
    with broker.connect("admin") as admin:
        ch, method, p, body = get_one(admin, DLQ)
        assert body == poison
        assert p.headers["x-death"][0]["reason"] == "delivery_limit", p.headers["x-death"]
        ch.basic_nack(method.delivery_tag, requeue=True)


def test_an_operator_replays_the_dlq_into_photo_thumbnail(broker, purge):
    with broker.connect("worker") as worker:
        for i in (18, 19):
            body, props = photo_uploaded(i)
            publish(worker, DEAD, WORK, body, props)
    wait_depth(broker, DLQ, 2)
    # The README's replay command, as written: a one-off shovel that stops when the DLQ is
    # drained, acking each message only after photo.thumbnail has confirmed it.
    readme = (ROOT / "rabbitmq/README.md").read_text()
    cmd = re.search(r"docker compose exec rabbitmq (rabbitmqctl set_parameter .*?)\n```", readme, re.S)
    assert cmd, "the replay command is missing from rabbitmq/README.md"
    args = shlex.split(cmd.group(1).replace("\\\n", " "))
    assert args[:6] == ["rabbitmqctl", "set_parameter", "-p", VHOST, "shovel", "replay-dlq"], args
    sh("docker", "exec", broker.name, *args)
    wait_depth(broker, WORK, 2, timeout=30)
    wait_depth(broker, DLQ, 0)
    deadline = time.monotonic() + 20
    while broker.api(f"/parameters/shovel/{VHOST}") and time.monotonic() < deadline:
        time.sleep(1)
    assert broker.api(f"/parameters/shovel/{VHOST}") == [], "the replay shovel removes itself"
    with broker.connect("worker") as worker:
        ch, method, props, body = get_one(worker, WORK)
        assert json.loads(body)["event"] == "photo.uploaded"
        ch.basic_ack(method.delivery_tag)


# ---- monitoring -------------------------------------------------------------------------------

def scrape_jobs() -> dict:
    config = yaml.safe_load((ROOT / "monitoring/prometheus/prometheus.yml").read_text())
    return {j["job_name"]: j for j in config["scrape_configs"] if j["job_name"].startswith("rabbitmq")}


def scrape(broker, job: dict) -> str:
    target = job["static_configs"][0]["targets"][0]
    assert target == "rabbitmq:15692", target
    query = urllib.parse.urlencode([(k, v) for k, vs in (job.get("params") or {}).items() for v in vs])
    status, text = broker.http(15692, job.get("metrics_path", "/metrics") + (f"?{query}" if query else ""), user=None)
    assert status == 200, status
    return text


def test_prometheus_scrapes_node_metrics_and_per_queue_depth_and_consumers(broker, purge):
    jobs = scrape_jobs()
    assert set(jobs) == {"rabbitmq", "rabbitmq-queues"}, set(jobs)
    node = scrape(broker, jobs["rabbitmq"])
    for metric in ("rabbitmq_queues", "rabbitmq_connections", "rabbitmq_alarms_memory_used_watermark",
                   "rabbitmq_process_resident_memory_bytes"):
        assert re.search(rf"^{metric}(\{{[^}}]*\}})? ", node, re.M), f"{metric} missing from /metrics"
    with broker.connect("app") as app:
        for i in range(3):
            publish(app, EVENTS, "photo.uploaded", *photo_uploaded(20 + i))
    with broker.connect("worker") as worker:
        ch = worker.channel()
        ch.basic_qos(prefetch_count=1)
        ch.basic_consume(WORK, lambda *a: None)
        labels = f'vhost="{VHOST}",queue="{WORK}"'
        want = {"rabbitmq_detailed_queue_messages": 3, "rabbitmq_detailed_queue_messages_unacked": 1,
                "rabbitmq_detailed_queue_consumers": 1}
        deadline, got = time.monotonic() + 30, {}
        while time.monotonic() < deadline:
            worker.process_data_events(time_limit=1)
            text = scrape(broker, jobs["rabbitmq-queues"])
            got = {m: re.search(rf"^{m}\{{{re.escape(labels)}\}} (\S+)$", text, re.M) for m in want}
            got = {m: float(v.group(1)) if v else None for m, v in got.items()}
            if got == want:
                break
        assert got == want, got
        assert "rabbitmq_detailed_queue_messages{" + f'vhost="{VHOST}",queue="{DLQ}"' + "} 0" in text


# ---- secrets ----------------------------------------------------------------------------------

def passwords(broker) -> dict:
    return {u: broker.password(u) for u in ("app", "worker", "admin")}


def test_the_rendered_definitions_hold_salted_sha256_hashes_of_the_secret_files(broker):
    out = sh("docker", "exec", broker.name, "stat", "-c", "%a %u", "/run/rabbitmq-definitions/definitions.json")
    assert out.stdout.split() == ["600", "999"], out.stdout
    rendered = sh("docker", "exec", broker.name, "cat", "/run/rabbitmq-definitions/definitions.json").stdout
    assert "@secret:" not in rendered
    users = {u["name"]: u for u in json.loads(rendered)["users"]}
    for short, password in passwords(broker).items():
        assert password not in rendered
        raw = base64.b64decode(users[f"zufang-{short}"]["password_hash"])
        salt, digest = raw[:4], raw[4:]
        assert len(raw) == 36 and hashlib.sha256(salt + password.encode()).digest() == digest
    template = (ROOT / "rabbitmq/definitions.json").read_text()
    assert set(re.findall(r'"password_hash": "([^"]*)"', template)) == {
        "@secret:app_password@", "@secret:worker_password@", "@secret:admin_password@"}


def test_no_password_appears_in_docker_logs_or_docker_inspect(broker):
    with broker.connect("app"), broker.connect("worker"):
        pass
    logs = sh("docker", "logs", broker.name)
    inspect = sh("docker", "inspect", broker.name).stdout
    for user, password in passwords(broker).items():
        assert password not in logs.stdout + logs.stderr, f"{user}'s password in docker logs"
        assert password not in inspect, f"{user}'s password in docker inspect"
    assert "rendered /run/rabbitmq-definitions/definitions.json (3 users)" in logs.stderr


@pytest.mark.parametrize("case", ["missing", "short"])
def test_the_entrypoint_refuses_a_missing_or_short_secret_and_names_the_file(broker, image, tmp_path, case):
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "app_password").write_text("A" * 32 + "\n")
    (secrets / "worker_password").write_text("B" * 32 + "\n")
    if case == "short":
        (secrets / "admin_password").write_text("tooshort\n")
    for f in secrets.iterdir():
        f.chmod(0o644)
    secrets.chmod(0o755)
    out = sh("docker", "run", "--rm", "--user", "999:999", "--read-only", "--network", "none",
             "--tmpfs", "/run/rabbitmq-definitions:uid=999,gid=999,mode=0700",
             "-v", f"{secrets}:/run/stack-secrets/rabbitmq:ro",
             "-v", f"{ROOT}/rabbitmq/entrypoint.sh:/etc/zufang-rabbitmq/entrypoint.sh:ro",
             "-v", f"{ROOT}/rabbitmq/definitions.json:/etc/zufang-rabbitmq/definitions.json:ro",
             "--entrypoint", "bash", image, "/etc/zufang-rabbitmq/entrypoint.sh", "rabbitmq-server", check=False)
    assert out.returncode == 1, out
    assert "/run/stack-secrets/rabbitmq/admin_password" in out.stderr, out.stderr
    assert "tooshort" not in out.stderr + out.stdout and "AAAA" not in out.stderr + out.stdout
    assert "RabbitMQ" not in out.stdout, "the server must not start"


# ---- durability (restarts the broker: keep last) -----------------------------------------------

def test_zz_confirmed_messages_survive_a_sigkill_of_the_broker_and_a_new_container(broker, purge):
    bodies = []
    with broker.connect("app") as app:
        for i in range(3):
            body, props = photo_uploaded(30 + i)
            publish(app, EVENTS, "photo.uploaded", body, props)
            bodies.append(body)
    with broker.connect("worker") as worker:
        dead, props = photo_uploaded(40)
        publish(worker, DEAD, WORK, dead, props)
    broker.kill()  # SIGKILL: no clean shutdown, only what was confirmed and synced survives
    broker.remove()
    broker.start()
    # The management API's queue depths are sampled statistics (every few seconds), so a just
    # restarted broker may show an older count: wait for it; the bodies below prove nothing was lost.
    wait_depth(broker, WORK, 3)
    wait_depth(broker, DLQ, 1)
    with broker.connect("worker") as worker:
        got = []
        for _ in range(3):
            ch, method, _, body = get_one(worker, WORK)
            got.append(body)
            ch.basic_ack(method.delivery_tag)
    assert sorted(got) == sorted(bodies)
    with broker.connect("admin") as admin:
        ch, method, _, body = get_one(admin, DLQ)
        assert body == dead
        ch.basic_ack(method.delivery_tag)
    assert Path(broker.secrets).is_dir()
