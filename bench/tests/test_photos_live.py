"""One `bench/photos/photos.sh --quick` against a real pipeline on loopback
(bench/photos/loopback.sh: a release zufang and `zufang worker` on the local MariaDB and Redis and
the broker and store of scripts/ci/photo-services.sh). Run by `bench/tests/run.sh --photos`
(root, Docker); it fails, never skips, when the pipeline cannot start."""
import json
import os
import subprocess

import pytest

from helpers import ROOT, tail

LOOPBACK = "bench/photos/loopback.sh"


@pytest.fixture(scope="module")
def pipeline(bench):
    up = bench.run(LOOPBACK, "up")
    try:
        assert up.returncode == 0, f"loopback.sh up failed:\n{tail(up, 40)}"
        args = bench.ok(LOOPBACK, "args").stdout.splitlines()
        yield args
    finally:
        bench.run(LOOPBACK, "down")


@pytest.fixture(scope="module")
def quick_run(bench, pipeline):
    out = bench.work / "photos"
    r = bench.run("bench/photos/photos.sh", "--quick", *pipeline, "--out", out, nice=True)
    assert r.returncode == 0, f"photos.sh --quick failed:\n{tail(r, 60)}"
    return r, out, json.loads((out / "results.json").read_text())


def test_every_figure_is_measured_and_positive(quick_run):
    _, _, doc = quick_run
    by = {r["test"]: r for r in doc["results"]}
    assert sorted(by) == sorted(["upload", "thumbnail_latency", "worker_throughput", "worker_memory_12mp",
                                 "pillow_job", "pillow_job_12mp"]), sorted(by)
    for name, r in by.items():
        assert r["throughput"] > 0, (name, r)
    up, th = by["upload"], by["thumbnail_latency"]
    assert up["errors"] == 0 and up["extra"]["accepted"] == up["extra"]["requests"] == 6, up
    assert th["extra"]["ready"] == 6 and th["errors"] == 0, th
    assert 0 < up["extra"]["lat_p50_ms"] <= up["lat_p99_ms"], up
    assert 0 < th["extra"]["lat_p50_ms"] <= th["lat_p99_ms"], th
    wt = by["worker_throughput"]["extra"]
    assert wt["jobs"] == 4 and wt["cpu_s"] > 0 and wt["cpu_source"] == "cpu-cmd", wt
    mem = by["worker_memory_12mp"]["extra"]
    # A 12 MP RGB bitmap alone is 34 MiB: a job that decoded it cannot have cost less than that.
    assert by["worker_memory_12mp"]["throughput"] > 30 and mem["peak_hwm_mib"] > mem["idle_rss_mib"], mem


def test_results_follow_the_bench_conventions(quick_run):
    _, out, doc = quick_run
    assert doc["suite"] == "photos" and doc["params"]["quick"] == "1"
    assert doc["profile"]["versions"].get("pillow"), doc["profile"]
    csv_rows = (out / "results.csv").read_text().splitlines()
    assert len(csv_rows) == 1 + len(doc["results"])
    uploads = (out / "raw/uploads.jsonl").read_text().splitlines()
    assert len(uploads) == 6 and all(json.loads(u)["ready"] == "ready" for u in uploads)
    table = (out / "table.md").read_text()
    assert "jobs per CPU-second" in table and "| memory per 12 MP job |" in table


def test_progress_is_shown_and_the_photos_are_deleted_afterwards(bench, quick_run):
    r, _, _ = quick_run
    for want in ("uploads: 6 at 2", "thumbnails: 6 ready", "worker throughput:", "memory:", "Pillow photo.jpg",
                 "deleted 11 of the 11 photos"):
        assert want in r.stderr, f"no {want!r} in the progress:\n{tail(r, 40)}"
    left = bench.sql("SELECT COUNT(*) FROM zufang_photobench.house_photos")
    assert left == "0", f"{left} photos left in the benchmark's database"


def test_the_worker_is_running_again_after_the_run(bench, pipeline, quick_run):
    metrics = pipeline[pipeline.index("--worker-metrics") + 1]
    body = subprocess.run(["curl", "-fsS", metrics], capture_output=True, text=True, check=True).stdout
    assert "zufang_worker_broker_connected 1" in body
    assert os.path.exists(ROOT / ".cache/photo-bench/worker.pid")
