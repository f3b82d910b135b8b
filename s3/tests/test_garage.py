"""The object store's contract against a real Garage node (s3/README.md)."""
import urllib.request
import uuid

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

BUCKET = "zufang-photos"


def client(garage, key_id=None, secret=None, unsigned=False):
    cfg = Config(signature_version=UNSIGNED) if unsigned else Config(s3={"addressing_style": "path"})
    return boto3.client("s3", endpoint_url=garage.s3_url, region_name="garage", config=cfg,
                        aws_access_key_id=key_id or "unused", aws_secret_access_key=secret or "unused")


def app_client(garage):
    return client(garage, garage.secret("app_access_key_id"), garage.secret("app_secret_access_key"))


def error_code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def test_app_key_puts_gets_and_deletes_an_object(garage):
    s3, key = app_client(garage), f"test/{uuid.uuid4()}.jpg"
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"\xff\xd8 photo bytes")
    assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"\xff\xd8 photo bytes"
    s3.delete_object(Bucket=BUCKET, Key=key)
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=BUCKET, Key=key)
    assert error_code(e) in ("NoSuchKey", "404")


def test_worker_key_reads_what_the_app_wrote(garage):
    key = f"test/{uuid.uuid4()}"
    app_client(garage).put_object(Bucket=BUCKET, Key=key, Body=b"original")
    worker = client(garage, garage.secret("worker_access_key_id"), garage.secret("worker_secret_access_key"))
    assert worker.get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"original"
    worker.put_object(Bucket=BUCKET, Key=key + ".320.webp", Body=b"thumb")


def test_anonymous_get_and_put_are_refused(garage):
    key = f"test/{uuid.uuid4()}"
    app_client(garage).put_object(Bucket=BUCKET, Key=key, Body=b"private")
    anon = client(garage, unsigned=True)
    with pytest.raises(ClientError) as e:
        anon.get_object(Bucket=BUCKET, Key=key)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] in (401, 403)
    with pytest.raises(ClientError) as e:
        anon.put_object(Bucket=BUCKET, Key=key, Body=b"overwrite")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] in (401, 403)


def test_bucket_is_not_listable_anonymously(garage):
    with pytest.raises(ClientError) as e:
        client(garage, unsigned=True).list_objects_v2(Bucket=BUCKET)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] in (401, 403)


def test_a_wrong_secret_is_refused(garage):
    bad = client(garage, garage.secret("app_access_key_id"), "0" * 64)
    with pytest.raises(ClientError) as e:
        bad.list_objects_v2(Bucket=BUCKET)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_an_unknown_key_is_refused(garage):
    with pytest.raises(ClientError) as e:
        client(garage, "GK" + "0" * 24, "0" * 64).list_objects_v2(Bucket=BUCKET)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_metrics_are_served_on_the_admin_port(garage):
    with urllib.request.urlopen(f"{garage.admin_url}/metrics", timeout=5) as r:
        body = r.read().decode()
    assert r.status == 200
    assert "api_s3_request_counter" in body or "garage_" in body


def test_admin_api_refuses_requests_without_the_token(garage):
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"{garage.admin_url}/v2/GetClusterStatus", timeout=5)
    assert e.value.code in (401, 403)


def test_init_is_idempotent(garage):
    r = garage.init()
    assert r.returncode == 0, r.stdout + r.stderr
    assert "already applied" in r.stdout and "bucket zufang-photos exists" in r.stdout
    assert "imported" not in r.stdout


def test_no_secret_in_logs_or_init_output(garage):
    out = garage.logs() + garage.first_init_output + garage.init().stdout
    for name in ("app_secret_access_key", "worker_secret_access_key", "admin_token", "rpc_secret"):
        assert garage.secret(name) not in out, name


def test_data_survives_a_restart(garage):
    s3, key = app_client(garage), f"test/{uuid.uuid4()}"
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"kept")
    garage.stop()
    garage.start()
    assert app_client(garage).get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"kept"
