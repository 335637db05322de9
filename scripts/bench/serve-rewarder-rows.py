#!/usr/bin/env python3
"""The rewarder's operator page and blob rows, measured (docs/BENCHMARKS.md).

    scripts/bench/serve-rewarder-rows.py MODE     (TALLY: the binary, default target/debug/tally)

MODE: `files` / `pgsealed`: `GET /` 200 times over 25 computed epochs (every
other one settled), on the file store or on PostgreSQL sealed at rest;
`filesblob`, `filesblobsealed`, `pgplain`, `pgblobsealed`: a 16 MiB blob
uploaded 10 times (stored once) and read 10 times. PostgreSQL modes make a
database `rwbench_<MODE>` on 127.0.0.1:5432 (user postgres). Set
REQUEST_TIMEOUT_MS=600000 for the sealed blob modes of a debug build.
"""
import json, os, subprocess, sys, time, urllib.request, statistics, shutil, hashlib, tempfile
T = os.path.abspath(os.environ.get("TALLY", "target/debug/tally"))
mode = sys.argv[1]
d = os.path.join(tempfile.mkdtemp(prefix="rwbench-"), mode)
os.makedirs(d); os.chmod(d, 0o700)
def run(*a, **k): return subprocess.run([T, *a], check=True, capture_output=True, **k).stdout
open(f"{d}/trusted.json", "wb").write(run("reward", "keygen", "--out", f"{d}/pol.key"))
pol = '{"schema":"tally/reward/policy/v1","id":"storage","version":1,"pool":1000000,"funding_account":"pool:storage","residual_sink":"treasury","weights":{"bytes_stored":10000},"min_payout":1,"rounding":"largest_remainder","valid_from":0,"valid_until":4102444800}'
open(f"{d}/policy.json", "w").write(pol)
signed = run("reward", "sign-policy", "--policy", f"{d}/policy.json", "--key-file", f"{d}/pol.key")
args = ["serve", "--listen", "127.0.0.1:0", "--data-dir", f"{d}/data", "--reward-trusted-keys", f"{d}/trusted.json"]
env = dict(os.environ); env.pop("DATABASE_URL", None)
if mode.startswith("pg"):
    db = f"rwbench_{mode}"
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-c", f"DROP DATABASE IF EXISTS {db}"], check=True, capture_output=True)
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-c", f"CREATE DATABASE {db}"], check=True, capture_output=True)
    args += ["--database", f"postgres://postgres@127.0.0.1:5432/{db}"]
if mode.endswith("sealed"):
    run("serve", "--at-rest-new-key", f"{d}/k.key")
    args += ["--at-rest-key-file", f"{d}/k.key"]
p = subprocess.Popen([T, *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
addr = p.stdout.readline().decode().rsplit("http://", 1)[1].strip()
p.stdout.readline()
tok = open(f"{d}/data/admin.token").read().strip()
def req(method, path, body=None, key=None, ctype="application/json"):
    r = urllib.request.Request(f"http://{addr}{path}", data=body, method=method)
    r.add_header("Authorization", f"Bearer {tok}")
    if body is not None: r.add_header("Content-Type", ctype)
    if key: r.add_header("Idempotency-Key", key)
    with urllib.request.urlopen(r, timeout=120) as resp: return resp.status, resp.read()
_, b = req("POST", "/v1/rewarder/policies", signed, "pol")
pcid = json.loads(b)["cid"]
def timed(f, n):
    xs = []
    for _ in range(n):
        t = time.perf_counter(); f(); xs.append((time.perf_counter() - t) * 1000)
    xs.sort(); return statistics.median(xs), xs[int(len(xs) * 0.99) - 1]
if mode in ("files", "pgsealed"):
    for i in range(25):
        accts = ",".join('{"account":"p%d-%d","counters":{"bytes_stored":%d}}' % (i, j, j + 1) for j in range(50))
        doc = '{"schema":"tally/reward/inputs/v1","epoch":"b-%02d","window":{"start":%d,"end":%d},"producer":"meter","accounts":[%s]}' % (i, 1000 + i * 100, 1100 + i * 100, accts)
        _, b = req("POST", "/v1/blobs", doc.encode(), ctype="application/octet-stream")
        icid = json.loads(b)["cid"]
        req("POST", f"/v1/rewarder/epochs/b-{i:02d}/compute", json.dumps({"inputs_cid": icid, "policy_cid": pcid}).encode(), f"c{i}")
        if i % 2 == 0: req("POST", f"/v1/rewarder/epochs/b-{i:02d}/settle", b"", f"s{i}")
    _, page = req("GET", "/")
    rows = page.decode().count("<tr><td><code>")
    p50, p99 = timed(lambda: req("GET", "/"), 200)
    print(f"{mode}: GET / with 25 epochs ({rows} rows, {len(page)} bytes): p50 {p50:.2f} ms p99 {p99:.2f} ms")
else:
    blob = hashlib.shake_256(b"x").digest(16 << 20)
    p50u, p99u = timed(lambda: req("POST", "/v1/blobs", blob, ctype="application/octet-stream"), 10)
    _, b = req("POST", "/v1/blobs", blob, ctype="application/octet-stream")
    cid = json.loads(b)["cid"]
    p50g, p99g = timed(lambda: req("GET", f"/v1/blobs/{cid}"), 10)
    print(f"{mode}: 16 MiB blob POST p50 {p50u:.0f} ms (10 runs, stored once) GET p50 {p50g:.0f} ms max {p99g:.0f} ms")
p.terminate(); p.wait()
shutil.rmtree(os.path.dirname(d), ignore_errors=True)
