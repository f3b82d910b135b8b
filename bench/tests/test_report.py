"""bench/report/report.sh on the results of the sysbench and HTTP runs of this session."""
import json
import re

from helpers import REPORT

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_report_writes_markdown_and_nonempty_png_plots(bench, host_quick, oltp_quick):
    inputs = [host_quick[1], oltp_quick.out]
    http = bench.work / "http"  # the HTTP sweep's results when its tests ran (test_http.py)
    if (http / "results.json").exists():
        inputs.append(http / "results.csv")
    out = bench.work / "report"
    bench.ok(REPORT, *inputs, "--out", out)
    md = (out / "report.md").read_text()
    assert "## oltp — tps" in md and "## host — IOPS" in md, md[:2000]
    machine = md.split("## Machine", 1)[1].splitlines()[1:4] if "## Machine" in md else []
    assert any(any(c.isalpha() for c in line) for line in machine), "no machine section"
    pngs = [p.strip("()") for p in re.findall(r"\([a-z0-9-]*\.png\)", md)]
    for name in pngs:
        data = (out / name).read_bytes()
        assert data[:8] == PNG_MAGIC, f"{name} is not a PNG"
        assert len(data) > 5000, f"{name} is tiny"
    assert len(pngs) >= 8, f"{len(pngs)} plots"


def test_baseline_flags_regressions_beyond_the_threshold(bench, oltp_quick):
    doc = json.loads((oltp_quick.out / "results.json").read_text())
    for r in doc["results"]:
        r["throughput"] *= 0.5
        r["lat_p99_ms"] *= 2
    worse = bench.work / "worse.json"
    worse.write_text(json.dumps(doc))
    r = bench.expect_rc(3, REPORT, worse, "--baseline", oltp_quick.out, "--threshold", "10",
                        "--fail-on-regression", "--out", bench.work / "cmp")
    assert "8 regression" in r.stderr, r.stderr
    assert "REGRESSION" in (bench.work / "cmp/report.md").read_text()
    r = bench.ok(REPORT, oltp_quick.out, "--baseline", oltp_quick.out, "--fail-on-regression",
                 "--out", bench.work / "same")
    assert "0 regression" in r.stderr, r.stderr
    bench.expect_rc(2, REPORT, bench.work / "does-not-exist", "--out", bench.work / "none")
