#!/usr/bin/env python3
"""The photo pipeline benchmark's helper (run by bench/photos/photos.sh; standard library, plus
Pillow for the sample photos and the baseline).

  photos.py gen --dir DIR                     -> photo.jpg (~3.5 MP) and photo-12mp.jpg (4000x3000)
  photos.py run --url URL --token-file F --dir DIR [...]  -> records.jsonl, raw/ (the measures)
  photos.py pillow-job FILE                   -> one Pillow thumbnail job, JSON on stdout
  photos.py table --results results.json [--docs FILE]     -> table.md (+ the section in FILE)

Every figure is measured, never assumed: a step that cannot measure its figure fails the run
(exit 4) with the reason, instead of leaving a zero in the table.
"""
import argparse
import concurrent.futures
import io
import json
import os
import re
import resource
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid

DOCS_BEGIN, DOCS_END = "<!-- photo-bench:begin -->", "<!-- photo-bench:end -->"
POLL_S = 0.1  # thumbnail readiness is seen with this resolution


class BenchError(Exception):
    """A figure could not be measured: the run stops with this message (exit 4)."""


def log(msg):
    print(f"[{time.strftime('%H:%M:%S', time.gmtime())}] photos: {msg}", file=sys.stderr, flush=True)


# --- sample photos ---------------------------------------------------------------------
def photo_like(width, height, seed):
    """A photo-like image: sky-to-floor gradients, a few lit 'walls' and 'windows', and grain
    (noise), so JPEG compresses it like a camera picture, not like a flat test card."""
    from PIL import Image, ImageDraw, ImageFilter

    base = Image.linear_gradient("L").resize((width, height))
    radial = Image.radial_gradient("L").resize((width, height))
    r = Image.eval(base, lambda v: 90 + v * 150 // 255)
    g = Image.eval(radial, lambda v: 200 - v * 120 // 255)
    b = Image.eval(base, lambda v: 230 - v * 170 // 255)
    img = Image.merge("RGB", (r, g, b))
    draw = ImageDraw.Draw(img)
    rnd = __import__("random").Random(seed)
    for _ in range(40):
        x0, y0 = rnd.randrange(width), rnd.randrange(height)
        w, h = rnd.randrange(width // 20, width // 4), rnd.randrange(height // 20, height // 4)
        colour = tuple(rnd.randrange(40, 240) for _ in range(3))
        draw.rectangle([x0, y0, x0 + w, y0 + h], fill=colour, outline=(20, 20, 20), width=3)
    img = img.filter(ImageFilter.GaussianBlur(2))
    # Colour grain (a noise channel each): a sensor's noise, and the detail that keeps the file
    # near a camera's size (~0.5 byte a pixel) instead of a flat card's.
    grain = Image.merge("RGB", [Image.effect_noise((width, height), 60) for _ in range(3)])
    return Image.blend(img, grain, 0.4)


def cmd_gen(args):
    os.makedirs(args.dir, exist_ok=True)
    for name, (w, h), q in (("photo.jpg", (2304, 1536), 90), ("photo-12mp.jpg", (4000, 3000), 90)):
        path = os.path.join(args.dir, name)
        photo_like(w, h, seed=w).save(path, "JPEG", quality=q)
        size = os.path.getsize(path)
        log(f"sample {name}: {w}x{h}, {size / 1048576:.2f} MiB")
        if size > 9.5 * 1048576:
            raise BenchError(f"{name} is {size} bytes: over the app's 10 MiB upload limit")
    return 0


def distinct(jpeg, tag):
    """The same JPEG with a comment segment (COM) after SOI: other bytes (another SHA-256, so
    no cache or dedup anywhere can serve it), the same pixels, no re-encode per upload."""
    if jpeg[:2] != b"\xff\xd8":
        raise BenchError("sample is not a JPEG")
    payload = tag.encode()
    return jpeg[:2] + b"\xff\xfe" + (len(payload) + 2).to_bytes(2, "big") + payload + jpeg[2:]


# --- HTTP ------------------------------------------------------------------------------
class Api:
    def __init__(self, url, token, timeout=30):
        self.base = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def request(self, method, path, body=None, headers=None):
        """(status, headers, parsed JSON body or None); network errors raise OSError."""
        h = {"Accept": "application/json", "Authorization": f"Bearer {self.token}", **(headers or {})}
        req = urllib.request.Request(self.base + path, data=body, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                status, hdrs, raw = resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as e:
            status, hdrs, raw = e.code, e.headers, e.read()
        try:
            doc = json.loads(raw) if raw else None
        except ValueError:
            doc = None
        return status, hdrs, doc

    def get(self, path):
        return self.request("GET", path)

    def upload(self, house, jpeg):
        boundary = uuid.uuid4().hex
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"bench.jpg\"\r\n"
                f"Content-Type: image/jpeg\r\n\r\n").encode() + jpeg + f"\r\n--{boundary}--\r\n".encode()
        return self.request("POST", f"/api/houses/{house}/photos/", body,
                            {"Content-Type": f"multipart/form-data; boundary={boundary}"})


def pick_houses(api, need, given):
    """{house id: free slots} holding at least NEED uploads: the given houses, or (an admin
    may write any house) houses from the list with room under the per-house limit."""
    status, _, me = api.get("/api/users/me/")
    if status != 200:
        raise BenchError(f"GET /api/users/me/ answered {status}: is the token valid?")
    if not given and "admin" not in (me.get("roles") or []):
        raise BenchError("the user is not an admin: name the houses it owns with --houses")
    limit = 20
    room, page = {}, 1
    candidates = list(given)
    while sum(room.values()) < need:
        if not candidates:
            if given:
                break
            status, _, doc = api.get(f"/api/houses/?size=50&page={page}&ordering=-published_at")
            if status != 200 or not doc or not doc.get("results"):
                break
            candidates = [h["id"] for h in doc["results"]]
            page += 1
        house = candidates.pop(0)
        status, _, doc = api.get(f"/api/houses/{house}/photos/?size=100")
        if status != 200:
            raise BenchError(f"GET /api/houses/{house}/photos/ answered {status}")
        live = sum(1 for p in doc["results"] if p.get("status") in ("processing", "ready"))
        if live < limit:
            room[house] = limit - live
    if sum(room.values()) < need:
        raise BenchError(f"houses with room for {need} photos not found (found {sum(room.values())} slots)")
    return room


# --- measuring -------------------------------------------------------------------------
def pct(values, p):
    """Nearest-rank percentile (the value at rank ceil(p/100 * n))."""
    if not values:
        return None
    s = sorted(values)
    return s[max(0, -(-len(s) * p // 100) - 1)]


class Run:
    def __init__(self, args, api):
        self.args, self.api = args, api
        self.tag = uuid.uuid4().hex[:8]
        self.seq = 0
        self.lock = threading.Lock()
        self.slots = {}
        self.uploaded = []  # (house, photo id) of every accepted upload, deleted at the end
        self.worker_stopped = False  # by this run: started again on the way out, whatever failed
        self.on_accepted = None  # the upload phase's poller list, fed as uploads are accepted
        self.raw = os.path.join(args.dir, "raw")
        with open(os.path.join(args.dir, "photo.jpg"), "rb") as f:
            self.jpeg = f.read()
        with open(os.path.join(args.dir, "photo-12mp.jpg"), "rb") as f:
            self.jpeg12 = f.read()

    def next_house(self):
        with self.lock:
            for house, free in self.slots.items():
                if free > 0:
                    self.slots[house] = free - 1
                    self.seq += 1
                    return house, self.seq
        raise BenchError("no house has room left")

    def upload_one(self, jpeg):
        """POST one distinct photo: dict with status, latency, photo path."""
        house, seq = self.next_house()
        body = distinct(jpeg, f"zufang photo bench {self.tag} {seq}")
        t0 = time.monotonic()
        try:
            status, hdrs, doc = self.api.upload(house, body)
        except OSError as e:
            return {"status": "error", "error": str(e), "sent": t0, "done": time.monotonic()}
        done = time.monotonic()
        out = {"status": status, "sent": t0, "done": done, "house": house}
        if status == 202 and doc:
            out["photo"] = f"/api/houses/{house}/photos/{doc['id']}/"
            with self.lock:
                self.uploaded.append((house, doc["id"]))
            if self.on_accepted:
                self.on_accepted(out)
        elif status == 429:
            out["error"] = (doc or {}).get("error", {}).get("message", "429")
        return out

    def wait_ready(self, accepted, deadline_s, finished=None):
        """Poll each photo every 100 ms until ready or failed: {path: (status, seen time)}.
        ACCEPTED may still grow (the uploads' list, polled while they go on) until FINISHED is
        set; the deadline counts from then."""
        seen, end = {}, None
        while True:
            current = list(accepted)
            pending = [a["photo"] for a in current if a["photo"] not in seen]
            if finished is None or finished.is_set():
                end = end or time.monotonic() + deadline_s
                if not pending or time.monotonic() > end:
                    break
            t = time.monotonic()
            for path in pending:
                status, _, doc = self.api.get(path)
                if status == 200 and doc.get("status") in ("ready", "failed"):
                    seen[path] = (doc["status"], time.monotonic())
            time.sleep(max(0.0, POLL_S - (time.monotonic() - t)))
        for path in pending:
            seen[path] = ("timeout", None)
        return seen

    # 1 + 2: uploads at a fixed rate, thumbnails from 202 to ready
    def upload_phase(self):
        a = self.args
        n = int(a.rate * a.duration)
        log(f"uploads: {n} at {a.rate}/s over {a.duration} s, latency from each upload's due time")
        results = [None] * n
        start = time.monotonic() + 0.2
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=17)
        futures = []
        # Thumbnails are polled while the uploads go on: a photo is seen ready when it is.
        live, finished = [], threading.Event()
        self.on_accepted = live.append
        poller = pool.submit(self.wait_ready, live, a.ready_timeout, finished)
        for i in range(n):
            due = start + i / a.rate
            time.sleep(max(0.0, due - time.monotonic()))
            futures.append((i, due, pool.submit(self.upload_one, self.jpeg)))
            if a.report_interval and i and i % max(1, int(a.rate * a.report_interval)) == 0:
                log(f"  {i}/{n} sent")
        for i, due, fut in futures:
            r = fut.result()
            r["due"] = due
            results[i] = r
        finished.set()
        self.on_accepted = None
        # The run lasts its schedule (n / rate) at least: the last upload is due 1/rate before its end.
        elapsed = max(max(r["done"] for r in results) - start, n / a.rate)
        accepted = [r for r in results if r["status"] == 202]
        limited = [r for r in results if r["status"] == 429]
        if limited:
            raise BenchError(f"{len(limited)} uploads answered 429 ({limited[0].get('error')}): the per-user "
                             f"hourly limit (photos.uploads_per_user_per_hour) or the edge's 2/s per address; "
                             f"raise the limit for the bench user or wait")
        if not accepted:
            raise BenchError(f"no upload was accepted: statuses {sorted({str(r['status']) for r in results})}")
        lat = [(r["done"] - r["due"]) * 1000 for r in accepted]
        log(f"uploads: {len(accepted)}/{n} accepted, p50 {pct(lat, 50):.0f} ms, p99 {pct(lat, 99):.0f} ms; "
            "waiting for the thumbnails")
        seen = poller.result()
        pool.shutdown()
        thumb, failed = [], 0
        for r in accepted:
            status, t = seen[r["photo"]]
            if status == "ready":
                thumb.append((t - r["done"]) * 1000)
            else:
                failed += 1
        with open(os.path.join(self.raw, "uploads.jsonl"), "w", encoding="utf-8") as f:
            for r in results:
                f.write(json.dumps({**r, "ready": seen.get(r.get("photo"), (None,))[0]}) + "\n")
        if not thumb:
            raise BenchError("no thumbnail became ready: is the worker running?")
        errors = n - len(accepted)
        rec_up = record("upload", len(accepted) / elapsed, "uploads/s", lat, errors, elapsed, {
            "rate_target": a.rate, "requests": n, "accepted": len(accepted),
            "statuses": _counts(str(r["status"]) for r in results), "bytes_per_upload": len(self.jpeg)})
        rec_th = record("thumbnail_latency", len(thumb) / elapsed, "photos/s", thumb, failed, elapsed, {
            "poll_ms": POLL_S * 1000, "ready": len(thumb), "not_ready": failed})
        log(f"thumbnails: {len(thumb)} ready, p50 {pct(thumb, 50):.0f} ms, p99 {pct(thumb, 99):.0f} ms")
        return [rec_up, rec_th]

    # the worker, through the operator's commands
    def sh(self, cmd, what):
        r = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise BenchError(f"{what} ({cmd!r}) failed with exit {r.returncode}: {r.stderr.strip()[-300:]}")
        return r.stdout

    def worker_status(self):
        text = self.sh(self.args.worker_status_cmd, "reading the worker's /proc status")
        kib = {k: int(v) for k, v in re.findall(r"^(VmRSS|VmHWM):\s+(\d+) kB", text, re.M)}
        if set(kib) != {"VmRSS", "VmHWM"}:
            raise BenchError(f"no VmRSS/VmHWM in the worker's status: {text[:200]!r}")
        return kib

    def worker_metrics(self):
        try:
            with urllib.request.urlopen(self.args.worker_metrics, timeout=5) as resp:
                return resp.read().decode()
        except (urllib.error.URLError, OSError):
            return None

    def worker_cpu(self):
        """The worker's CPU seconds: the --worker-cpu-cmd output (a cgroup cpu.stat, in
        microseconds, or a /proc/PID/stat, in clock ticks), else process_cpu_seconds_total from
        its /metrics (the Rust client counts whole seconds: a coarse figure on a short backlog)."""
        if not self.args.worker_cpu_cmd:
            text = self.worker_metrics()
            m = re.search(r"^process_cpu_seconds_total ([0-9.e+-]+)$", text or "", re.M)
            if not m:
                raise BenchError(f"no process_cpu_seconds_total at {self.args.worker_metrics}")
            return float(m.group(1))
        text = self.sh(self.args.worker_cpu_cmd, "reading the worker's CPU time")
        m = re.search(r"^usage_usec (\d+)$", text, re.M)
        if m:
            return int(m.group(1)) / 1e6
        fields = text.rsplit(")", 1)[-1].split()
        if len(fields) > 13:
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        raise BenchError(f"cannot read CPU time from {text[:200]!r} (want cpu.stat or /proc/PID/stat)")

    def stop_worker(self):
        self.worker_stopped = True
        self.sh(self.args.stop_worker_cmd, "stopping the worker")

    def start_worker(self):
        """Start the worker and wait until it consumes (broker connected) or its status answers."""
        t0 = time.monotonic()
        self.sh(self.args.start_worker_cmd, "starting the worker")
        self.worker_stopped = False
        while time.monotonic() - t0 < 60:
            if self.args.worker_metrics:
                text = self.worker_metrics() or ""
                if re.search(r"^zufang_worker_broker_connected 1$", text, re.M):
                    return t0
            else:
                try:
                    self.worker_status()
                    return t0
                except BenchError:
                    pass
            time.sleep(0.1)
        raise BenchError("the worker did not come up within 60 s of the start command")

    # 4: memory of one 12 MP job after a restart
    def memory_phase(self):
        log("memory: restarting the worker, then one 12 MP job")
        self.stop_worker()
        self.start_worker()
        time.sleep(1.0)
        idle = self.worker_status()
        idle_cpu = self.worker_cpu()
        r = self.upload_one(self.jpeg12)
        if r["status"] != 202:
            raise BenchError(f"the 12 MP upload answered {r['status']} {r.get('error', '')}")
        status, _ = self.wait_ready([r], self.args.ready_timeout)[r["photo"]]
        if status != "ready":
            raise BenchError(f"the 12 MP photo ended {status}, not ready")
        peak = self.worker_status()
        delta = (peak["VmHWM"] - idle["VmRSS"]) / 1024
        log(f"memory: idle RSS {idle['VmRSS'] / 1024:.1f} MiB, peak {peak['VmHWM'] / 1024:.1f} MiB: "
            f"{delta:.1f} MiB for the job")
        rec = record("worker_memory_12mp", delta, "MiB", [], 0, None, {
            "idle_rss_mib": idle["VmRSS"] / 1024, "idle_hwm_mib": idle["VmHWM"] / 1024,
            "peak_hwm_mib": peak["VmHWM"] / 1024, "bytes": len(self.jpeg12), "pixels": "4000x3000"})
        return rec, idle_cpu

    # 3: jobs per CPU-second, the worker started on a backlog
    def throughput_phase(self, startup_cpu):
        a = self.args
        log(f"worker throughput: stopping the worker, uploading {a.jobs} photos at {a.rate}/s")
        self.stop_worker()
        accepted = []
        for i in range(a.jobs):
            due = time.monotonic() + 1 / a.rate
            r = self.upload_one(self.jpeg)
            if r["status"] != 202:
                raise BenchError(f"backlog upload {i + 1} answered {r['status']} {r.get('error', '')}")
            accepted.append(r)
            time.sleep(max(0.0, due - time.monotonic()))
        time.sleep(max(1.0, a.relay_wait))  # the outbox relay publishes them (polls every 0.5 s idle)
        t0 = self.start_worker()
        seen = self.wait_ready(accepted, a.ready_timeout)
        ready = [t for s, t in seen.values() if s == "ready"]
        if len(ready) != len(accepted):
            raise BenchError(f"{len(accepted) - len(ready)} of the backlog's photos did not become ready")
        wall = max(ready) - t0
        cpu = self.worker_cpu() - startup_cpu
        if cpu <= 0:
            raise BenchError(f"the worker's CPU time did not grow ({cpu:.3f} s)")
        log(f"worker throughput: {len(ready)} jobs in {wall:.2f} s wall, {cpu:.2f} CPU s: "
            f"{len(ready) / cpu:.2f} jobs per CPU-second")
        return record("worker_throughput", len(ready) / cpu, "jobs/cpu-s", [], 0, wall, {
            "jobs": len(ready), "wall_s": wall, "cpu_s": cpu, "jobs_per_s_wall": len(ready) / wall,
            "startup_cpu_s": startup_cpu, "cpu_source": "cpu-cmd" if a.worker_cpu_cmd else "metrics (whole seconds)"})

    def cleanup(self):
        if self.worker_stopped:
            log("starting the worker again")
            try:
                self.start_worker()
            except (BenchError, subprocess.TimeoutExpired) as e:
                log(f"could not start the worker again: {e}")
        if self.args.keep_photos or not self.uploaded:
            return
        gone = 0
        for house, pid in self.uploaded:
            try:
                status, _, _ = self.api.request("DELETE", f"/api/houses/{house}/photos/{pid}/")
                gone += status == 204
            except OSError:
                pass
        log(f"deleted {gone} of the {len(self.uploaded)} photos this run uploaded")


def _counts(items):
    out = {}
    for i in items:
        out[i] = out.get(i, 0) + 1
    return out


def record(test, throughput, unit, lat_ms, errors, duration, extra):
    return {
        "tool": "photos", "test": test, "group": "photos", "threads": 1, "connections": None,
        "throughput": throughput, "unit": unit, "qps": None,
        "lat_avg_ms": statistics.fmean(lat_ms) if lat_ms else None,
        "lat_p95_ms": pct(lat_ms, 95), "lat_p99_ms": pct(lat_ms, 99), "errors": errors,
        "duration_s": duration, "extra": {**extra, "lat_p50_ms": pct(lat_ms, 50), "samples": len(lat_ms)},
    }


# 5: the Pillow baseline, one subprocess per measure
def cmd_pillow_job(args):
    from PIL import Image, ImageOps

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0, c0 = time.perf_counter(), time.process_time()
    if not args.idle:
        with Image.open(args.file) as im:
            im = ImageOps.exif_transpose(im)
            im.thumbnail((1280, 1280))
            large = io.BytesIO()
            im.save(large, "JPEG", quality=82)
            im.thumbnail((320, 320))
            small = io.BytesIO()
            im.save(small, "JPEG", quality=82)
    json.dump({"wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0,
               "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "before_kib": before},
              sys.stdout)
    return 0


def pillow_phase(args):
    def one(extra):
        r = subprocess.run([sys.executable, os.path.abspath(__file__), "pillow-job", *extra],
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise BenchError(f"the Pillow job failed: {r.stderr.strip()[-300:]}")
        return json.loads(r.stdout)

    idle = statistics.median(one(["--idle", "-"])["maxrss_kib"] for _ in range(3))
    recs = []
    for name, test in (("photo.jpg", "pillow_job"), ("photo-12mp.jpg", "pillow_job_12mp")):
        runs = [one([os.path.join(args.dir, name)]) for _ in range(args.pillow_runs)]
        cpu = statistics.median(r["cpu_s"] for r in runs)
        peak = max(r["maxrss_kib"] for r in runs)
        log(f"Pillow {name}: {runs and statistics.median(r['wall_s'] for r in runs) * 1000:.0f} ms a job, "
            f"{(peak - idle) / 1024:.1f} MiB above an idle interpreter")
        recs.append(record(test, 1 / cpu, "jobs/cpu-s", [r["wall_s"] * 1000 for r in runs], 0, None, {
            "runs": len(runs), "cpu_s_median": cpu, "peak_rss_mib": peak / 1024, "idle_rss_mib": idle / 1024,
            "rss_delta_mib": (peak - idle) / 1024, "file": name}))
    return recs


def cmd_run(args):
    # photos.sh stops its tool with SIGTERM on Ctrl-C: unwind, so the worker is started again
    # and the uploaded photos are deleted (the finally below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if not (args.worker_metrics or args.worker_cpu_cmd):
        raise BenchError("give --worker-metrics or --worker-cpu-cmd")
    with open(args.token_file, encoding="utf-8") as f:
        api = Api(args.url, f.readline().strip())
    run = Run(args, api)
    need = int(args.rate * args.duration) + args.jobs + 1
    run.slots = pick_houses(api, need, args.houses or [])
    log(f"{need} uploads planned into houses {sorted(run.slots)} (photos.uploads_per_user_per_hour must allow them)")
    recs = []
    try:
        recs += run.upload_phase()
        mem, startup_cpu = run.memory_phase()
        recs.append(mem)
        recs.append(run.throughput_phase(startup_cpu))
    finally:
        run.cleanup()
    recs += pillow_phase(args)
    with open(os.path.join(args.dir, "records.jsonl"), "a", encoding="utf-8") as f:
        for r in recs:
            f.write(json.dumps(r, sort_keys=True) + "\n")
    return 0


# --- the table -------------------------------------------------------------------------
def _ms(x):
    return "n/a" if x is None else f"{x:,.0f} ms"


def render_table(doc):
    """The Markdown section from a results.json document."""
    by = {r["test"]: r for r in doc["results"]}
    missing = [t for t in ("upload", "thumbnail_latency", "worker_throughput", "worker_memory_12mp",
                           "pillow_job", "pillow_job_12mp") if t not in by]
    if missing:
        raise BenchError(f"results lack {missing}")
    up, th, wt, wm = by["upload"], by["thumbnail_latency"], by["worker_throughput"], by["worker_memory_12mp"]
    pj, pj12 = by["pillow_job"], by["pillow_job_12mp"]
    p, prof = doc.get("params", {}), doc.get("profile", {})
    cpu_per_job = wt["extra"]["cpu_s"] / wt["extra"]["jobs"]
    lines = [
        f"Measured {doc.get('finished_utc', '?')} by `bench/photos/photos.sh` against {p.get('url', '?')} "
        f"on {prof.get('cpu_cores_usable', '?')} cores ({prof.get('cpu_model', '?')}): "
        f"{up['extra']['requests']} uploads at {up['extra']['rate_target']}/s of a "
        f"{up['extra']['bytes_per_upload'] / 1048576:.1f} MiB photo-like JPEG "
        f"({p.get('photo_pixels', '2304x1536')}, distinct bytes each), then a backlog of "
        f"{wt['extra']['jobs']} for the worker, one 4000x3000 JPEG for memory, and Pillow "
        f"{pj['extra']['runs']} times per file.",
        "",
        "| figure | zufang worker (Rust, `image` crate) | Pillow baseline (same files, this machine) | what bounds it |",
        "|---|---|---|---|",
        f"| upload throughput | {up['throughput']:.2f} uploads/s accepted of {up['extra']['rate_target']}/s "
        f"({up['errors']} not 202) | | the fixed rate: the edge allows 2 uploads/s per client address "
        f"(burst 10); each upload is streamed to the app and PUT to the store before the 202 |",
        f"| upload latency p50 / p99 | {_ms(up['extra']['lat_p50_ms'])} / {_ms(up['lat_p99_ms'])} | | "
        f"the body's transfer, the store's PUT and the row + outbox transaction; "
        f"{up['extra']['samples']} samples (p99 of few samples is near the max) |",
        f"| thumbnail latency (202 to ready) p50 / p99 | {_ms(th['extra']['lat_p50_ms'])} / {_ms(th['lat_p99_ms'])} | | "
        f"the outbox relay's poll (0.5 s when idle), the job itself, and this poll's 100 ms resolution |",
        f"| CPU per job ({p.get('photo_pixels', '2304x1536')} JPEG) | {cpu_per_job * 1000:,.0f} ms "
        f"(download, decode, 2 resizes, 2 encodes, upload, rows) | {pj['extra']['cpu_s_median'] * 1000:,.0f} ms "
        f"(decode, 2 resizes, 2 encodes; wall {_ms(pj['extra']['lat_p50_ms'])}) | the full-size decode and the "
        f"first resize: both decode every pixel (Pillow's `exif_transpose` copies the image, so `thumbnail` "
        f"cannot use libjpeg's reduced-size decode), Pillow then shrinks by a whole factor (`reduce`) before "
        f"its filter; the worker's column also holds the store's GET and two PUTs and the rows |",
        f"| worker throughput | **{wt['throughput']:.2f} jobs per CPU-second** "
        f"({wt['extra']['jobs_per_s_wall']:.2f} jobs/s wall: {wt['extra']['jobs']} jobs in "
        f"{wt['extra']['wall_s']:.1f} s from the start command) | {pj['throughput']:.2f} jobs per CPU-second | "
        f"CPU: the worker runs up to `worker.prefetch` (4) jobs at once, so wall time falls with cores "
        f"until the store or the database answers slower |",
        f"| memory per 12 MP job | **{wm['throughput']:.0f} MiB** (peak {wm['extra']['peak_hwm_mib']:.0f} MiB, "
        f"idle {wm['extra']['idle_rss_mib']:.0f} MiB RSS) | {pj12['extra']['rss_delta_mib']:.0f} MiB above an idle "
        f"interpreter (peak {pj12['extra']['peak_rss_mib']:.0f} MiB; {pj12['extra']['cpu_s_median'] * 1000:,.0f} ms "
        f"CPU) | the decoded bitmap (4000x3000 RGB = 34 MiB) plus the resize buffers and the original's bytes; "
        f"capped by `worker.max_decode_bytes` |",
    ]
    return "\n".join(lines) + "\n"


def cmd_table(args):
    with open(args.results, encoding="utf-8") as f:
        doc = json.load(f)
    table = render_table(doc)
    with open(os.path.join(os.path.dirname(os.path.abspath(args.results)), "table.md"), "w",
              encoding="utf-8") as f:
        f.write(table)
    print(table, end="")
    if args.docs:
        replace_section(args.docs, table)
    return 0


def replace_section(path, table):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if text.count(DOCS_BEGIN) != 1 or text.count(DOCS_END) != 1 or text.index(DOCS_BEGIN) > text.index(DOCS_END):
        raise BenchError(f"{path} lacks one {DOCS_BEGIN} line followed by one {DOCS_END} line")
    head, rest = text.split(DOCS_BEGIN, 1)
    _, tail = rest.split(DOCS_END, 1)
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"{head}{DOCS_BEGIN}\n{table}{DOCS_END}{tail}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("gen")
    s.add_argument("--dir", required=True)
    s = sub.add_parser("pillow-job")
    s.add_argument("file")
    s.add_argument("--idle", action="store_true", help="only the interpreter and Pillow: the RSS floor")
    s = sub.add_parser("table")
    s.add_argument("--results", required=True)
    s.add_argument("--docs")
    s = sub.add_parser("run")
    for opt in ("--url", "--token-file", "--dir", "--stop-worker-cmd", "--start-worker-cmd",
                "--worker-status-cmd"):
        s.add_argument(opt, required=True)
    s.add_argument("--worker-metrics")
    s.add_argument("--worker-cpu-cmd")
    s.add_argument("--rate", type=float, default=2.0)
    s.add_argument("--duration", type=float, default=20)
    s.add_argument("--jobs", type=int, default=16)
    s.add_argument("--houses", type=lambda v: [int(x) for x in v.replace(",", " ").split()])
    s.add_argument("--pillow-runs", type=int, default=10)
    s.add_argument("--ready-timeout", type=float, default=120)
    s.add_argument("--relay-wait", type=float, default=2)
    s.add_argument("--report-interval", type=float, default=5)
    s.add_argument("--keep-photos", action="store_true")
    a = p.parse_args(argv)
    try:
        return {"gen": cmd_gen, "pillow-job": cmd_pillow_job, "table": cmd_table, "run": cmd_run}[a.cmd](a)
    except BenchError as e:
        print(f"photos: error: {e}", file=sys.stderr)
        return 4


if __name__ == "__main__":
    sys.exit(main())
