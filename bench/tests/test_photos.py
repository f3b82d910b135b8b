"""bench/photos/: the photo pipeline benchmark's options, its sample photos and Pillow baseline,
and the table it writes into docs/performance.md. The run against a live pipeline is
test_photos_live.py (`bench/tests/run.sh --photos`)."""
import json
import subprocess
import sys

import pytest

from helpers import ROOT

PHOTOS = "bench/photos/photos.sh"
HELPER = ROOT / "bench/photos/photos.py"
PIL_PYTHON = "/usr/bin/python3"  # Debian's python3-pil, which run.sh installs

sys.path.insert(0, str(ROOT / "bench/photos"))
import photos  # noqa: E402  (the helper's table writer and JPEG tagging, tested in-process)


def test_help_names_the_rate_limit_and_the_worker_commands(bench):
    out = bench.ok(PHOTOS, "--help").stdout
    for want in ("--out", "--quick", "--duration", "--rate", "2 uploads/s per", "--stop-worker-cmd",
                 "--worker-metrics", "--docs", "uploads_per_user_per_hour"):
        assert want in out, f"--help lacks {want!r}:\n{out}"
    assert "usage" in bench.ok("bench/photos/loopback.sh", "--help").stdout


@pytest.mark.parametrize("args, message", [
    (["--rate", "0"], "--rate must be a positive number"),
    (["--rate", "two"], "--rate must be a positive number"),
    (["--duration", "-3"], "--duration must be a positive integer"),
    (["--jobs", "0"], "--jobs must be a positive integer"),
    (["--url", "172.28.10.100"], "--url must be a base URL"),
    (["--houses", "7;rm"], "--houses must be house ids"),
    (["--password", "hunter22"], "secrets are not accepted on the command line"),
    (["--frobnicate"], "unknown option '--frobnicate'"),
    (["--duration"], "--duration needs a value"),
    ([], "give --user with --password-file, or --token-file"),
    (["--user", "alice"], "--user needs --password-file"),
    (["--token-file", "/nonexistent/token"], "token file '/nonexistent/token' is not readable"),
    (["--worker-metrics", "localhost:9102"], "--worker-metrics must be a URL"),
])
def test_bad_arguments_exit_2_naming_the_problem(bench, args, message):
    auth = [] if any(a in args for a in ("--user", "--token-file", "--password")) or not args else \
        ["--token-file", "/dev/null"]
    r = bench.expect_rc(2, PHOTOS, *auth, *args)
    assert message in r.stderr, r.stderr


def test_docs_without_the_markers_is_refused_before_anything_runs(bench):
    doc = bench.work / "no-markers.md"
    doc.write_text("# Performance\n")
    r = bench.expect_rc(2, PHOTOS, "--token-file", "/dev/null", "--docs", doc)
    assert "lacks the <!-- photo-bench:begin -->" in r.stderr, r.stderr


def test_without_pillow_it_exits_127_with_the_package_to_install(bench):
    r = bench.expect_rc(127, PHOTOS, "--token-file", "/dev/null", env={"PHOTOS_PYTHON": "/nonexistent/python3"})
    assert "python3-pil" in r.stderr, r.stderr


@pytest.fixture(scope="module")
def samples(bench):
    out = bench.work / "samples"
    r = subprocess.run([PIL_PYTHON, HELPER, "gen", "--dir", out], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return out


def test_sample_photos_are_camera_sized_jpegs_under_the_upload_limit(samples):
    from_pil = subprocess.run([PIL_PYTHON, "-c", """
import sys
from PIL import Image
for name in ("photo.jpg", "photo-12mp.jpg"):
    with Image.open(sys.argv[1] + "/" + name) as im:
        print(name, im.format, im.size[0], im.size[1], len(im.getcolors(1 << 24) or []))
""", samples], capture_output=True, text=True, check=True).stdout.split("\n")
    small, big = (line.split() for line in from_pil[:2])
    assert small[1:4] == ["JPEG", "2304", "1536"] and big[1:4] == ["JPEG", "4000", "3000"]
    assert int(small[4]) > 100_000, "a photo has many colours, not a flat test card"
    for name, lo in (("photo.jpg", 1 << 20), ("photo-12mp.jpg", 3 << 20)):
        size = (samples / name).stat().st_size
        assert lo < size < 10 << 20, f"{name}: {size} bytes"


def test_each_upload_gets_distinct_bytes_and_the_same_pixels(samples):
    jpeg = (samples / "photo.jpg").read_bytes()
    a, b = photos.distinct(jpeg, "run 1"), photos.distinct(jpeg, "run 2")
    assert len({a, b, jpeg}) == 3
    tagged = samples / "tagged.jpg"
    tagged.write_bytes(a)
    same = subprocess.run([PIL_PYTHON, "-c", """
import sys
from PIL import Image
with Image.open(sys.argv[1]) as x, Image.open(sys.argv[2]) as y:
    print(x.tobytes() == y.tobytes())
""", samples / "photo.jpg", tagged], capture_output=True, text=True, check=True).stdout.strip()
    assert same == "True"
    with pytest.raises(photos.BenchError):
        photos.distinct(b"\x89PNG....", "x")


def test_the_pillow_job_reports_time_and_peak_memory(samples):
    runs = {}
    for args in (["--idle", "-"], [samples / "photo-12mp.jpg"]):
        r = subprocess.run([PIL_PYTHON, HELPER, "pillow-job", *args], capture_output=True, text=True, check=True)
        runs[args[0]] = json.loads(r.stdout)
    job = runs[samples / "photo-12mp.jpg"]
    assert job["cpu_s"] > 0 and job["wall_s"] > 0
    # A 12 MP image decoded (34 MiB as RGB) and thumbnailed needs memory beyond the interpreter's.
    assert job["maxrss_kib"] - runs["--idle"]["maxrss_kib"] > 20 * 1024, runs


def results_doc():
    def rec(test, throughput, unit, p50=None, p99=None, errors=0, **extra):
        return {"test": test, "throughput": throughput, "unit": unit, "lat_p99_ms": p99, "errors": errors,
                "extra": {"lat_p50_ms": p50, "samples": 40, **extra}}
    return {
        "finished_utc": "2026-12-06T04:30:00Z",
        "params": {"url": "http://172.28.10.100", "photo_pixels": "2304x1536"},
        "profile": {"cpu_cores_usable": 2, "cpu_model": "Test CPU"},
        "results": [
            rec("upload", 1.98, "uploads/s", 41.0, 97.0, requests=40, rate_target=2.0, bytes_per_upload=1929000),
            rec("thumbnail_latency", 1.9, "photos/s", 612.0, 1410.0),
            rec("worker_throughput", 7.5, "jobs/cpu-s", jobs=16, cpu_s=2.13, wall_s=3.2, jobs_per_s_wall=5.0),
            rec("worker_memory_12mp", 61.0, "MiB", peak_hwm_mib=75.0, idle_rss_mib=14.0),
            rec("pillow_job", 9.1, "jobs/cpu-s", 130.0, runs=10, cpu_s_median=0.11),
            rec("pillow_job_12mp", 3.3, "jobs/cpu-s", 300.0, runs=10, cpu_s_median=0.3, rss_delta_mib=89.0,
                peak_rss_mib=115.0),
        ],
    }


def test_the_table_shows_each_figure_beside_its_baseline_and_bound():
    table = photos.render_table(results_doc())
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    assert rows[0].startswith("| figure | zufang worker"), rows
    body = "\n".join(rows)
    for want in ("1.98 uploads/s accepted of 2.0/s", "41 ms / 97 ms", "612 ms / 1,410 ms",
                 "**7.50 jobs per CPU-second**", "9.10 jobs per CPU-second", "**61 MiB**",
                 "89 MiB above an idle interpreter", "2 uploads/s per client address", "133 ms"):
        assert want in body, f"table lacks {want!r}:\n{table}"
    assert all(row.count("|") == 5 for row in rows), "every row has the four columns"


def test_a_results_file_missing_a_figure_is_refused_not_tabled_as_zero():
    doc = results_doc()
    doc["results"] = [r for r in doc["results"] if r["test"] != "worker_memory_12mp"]
    with pytest.raises(photos.BenchError, match="worker_memory_12mp"):
        photos.render_table(doc)


def test_docs_section_is_replaced_between_the_markers_and_the_rest_kept(bench):
    res = bench.work / "tabled" / "results.json"
    res.parent.mkdir()
    res.write_text(json.dumps(results_doc()))
    doc = bench.work / "perf.md"
    doc.write_text("# Performance\n\n## Photo pipeline\n\n<!-- photo-bench:begin -->\nold table\n"
                   "<!-- photo-bench:end -->\n\nHand-written notes.\n")
    r = subprocess.run([sys.executable, HELPER, "table", "--results", res, "--docs", doc],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    text = doc.read_text()
    assert "old table" not in text and "**7.50 jobs per CPU-second**" in text
    assert text.startswith("# Performance\n\n## Photo pipeline\n\n<!-- photo-bench:begin -->\nMeasured ")
    assert text.endswith("<!-- photo-bench:end -->\n\nHand-written notes.\n")
    assert (res.parent / "table.md").read_text() in text
    doc.write_text("no markers\n")
    r = subprocess.run([sys.executable, HELPER, "table", "--results", res, "--docs", doc],
                       capture_output=True, text=True)
    assert r.returncode == 4 and "lacks one <!-- photo-bench:begin -->" in r.stderr, r.stderr
    assert doc.read_text() == "no markers\n"


def test_docs_performance_has_the_section_the_script_writes():
    text = (ROOT / "docs/performance.md").read_text()
    assert text.count(photos.DOCS_BEGIN) == 1 and text.count(photos.DOCS_END) == 1
    assert text.index("## Photo pipeline") < text.index(photos.DOCS_BEGIN) < text.index(photos.DOCS_END)


def test_percentiles_are_nearest_rank():
    assert photos.pct(list(range(1, 101)), 99) == 99
    assert photos.pct(list(range(1, 101)), 50) == 50
    assert photos.pct([5.0], 99) == 5.0
    assert photos.pct([], 50) is None
    assert photos.pct([3, 1, 2], 100) == 3

