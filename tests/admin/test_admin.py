"""test_admin.py - the admin endpoint of a real augurd: /metrics in valid Prometheus text format
(checked with promtool) that counts the S3 traffic sent, /status as text and JSON through
`augur status`, and nothing served without the admin token.

Environment: AUGURD_BIN, AUGUR_BIN (default build/asan/...), AUGUR_TEST_TMP (default /tmp).
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
AUGURD = Path(os.environ.get("AUGURD_BIN", REPO / "build/asan/augurd")).resolve()
AUGUR = Path(os.environ.get("AUGUR_BIN", REPO / "build/asan/augur")).resolve()
TMP = Path(os.environ.get("AUGUR_TEST_TMP", "/tmp"))
TOKEN = "admin-token-for-the-tests-0123456789"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def daemon():
    TMP.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="augur-admin-", dir=TMP))
    nodes = [root / f"n{i}" for i in range(6)]
    for n in nodes:
        n.mkdir()
    creds, token = root / "credentials", root / "admin.token"
    creds.write_text("AKADMIN admin-secret-0123456789\n")
    token.write_text(TOKEN + "\n")
    creds.chmod(0o600)
    token.chmod(0o600)
    s3, admin = free_port(), free_port()
    conf = root / "augur.conf"
    node_list = ",\n    ".join(f"dir:{n}" for n in nodes)
    conf.write_text(f"[general]\nstate_dir = {root}/state\n"
                    f"[backend]\nnodes = {node_list}\n"
                    f"[gateway]\nlisten = 127.0.0.1:{s3}\ncredentials = {creds}\n"
                    f"public_read = open\n"
                    f"[cache]\nram_size = 2M\nblock_size = 64K\n"
                    f"[admin]\nlisten = 127.0.0.1:{admin}\ntoken_file = {token}\n")
    log = root / "augurd.log"
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=1")
    proc = subprocess.Popen([str(AUGURD), "-c", str(conf)], stdout=open(log, "ab"),
                            stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", admin), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.05)
    yield {"conf": conf, "s3": s3, "admin": admin, "root": root, "token": token, "proc": proc}
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0, log.read_text()[-3000:]
    shutil.rmtree(root, ignore_errors=True)


def get(port, path, token=TOKEN):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, r.read().decode()


def test_metrics_count_traffic_and_pass_promtool(daemon):
    # anonymous requests against a missing bucket: counted like any other request
    for _ in range(3):
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(f"http://127.0.0.1:{daemon['s3']}/open/nothing", timeout=10)
    status, text = get(daemon["admin"], "/metrics")
    assert status == 200
    assert 'augur_s3_requests_total{method="GET",resource="object",status="4xx"} 3' in text
    assert 'augur_node_up{node="dir:' in text
    assert "augur_cache_hits_total{tier=\"ram\"}" in text
    assert "augur_s3_request_duration_seconds_bucket" in text
    assert 'augur_node_operations_total{node="dir:' in text
    assert 'augur_node_errors_total{node="dir:' in text
    assert 'augur_node_read_seconds_count{node="dir:' in text
    check = subprocess.run(["promtool", "check", "metrics"], input=text, text=True,
                           capture_output=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_nothing_is_served_without_the_token(daemon):
    for token in (None, "wrong-token-0123456789"):
        with pytest.raises(urllib.error.HTTPError) as e:
            get(daemon["admin"], "/metrics", token)
        assert e.value.code == 401


def test_augur_status_prints_nodes_and_tiers(daemon):
    out = subprocess.run([str(AUGUR), "-c", str(daemon["conf"]), "status"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "nodes:" in out.stdout and "cache tiers:" in out.stdout
    js = subprocess.run([str(AUGUR), "-c", str(daemon["conf"]), "status", "--json"],
                        capture_output=True, text=True, timeout=60)
    assert js.returncode == 0, js.stderr
    doc = json.loads(js.stdout)
    assert len(doc["nodes"]) == 6 and all(n["up"] for n in doc["nodes"])
    assert set(doc["cache"]) == {"ram", "redis", "ssd"}
    assert doc["open_uploads"] == 0
    assert all("mean_read_ms" in n and n["errors"] == 0 for n in doc["nodes"])


def test_augur_status_fails_clearly_when_augurd_is_not_there(daemon, tmp_path):
    conf = tmp_path / "other.conf"
    conf.write_text(daemon["conf"].read_text().replace(
        f"127.0.0.1:{daemon['admin']}", f"127.0.0.1:{free_port()}"))
    out = subprocess.run([str(AUGUR), "-c", str(conf), "status"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 1
    assert out.stderr.count("\n") == 1 and "does not answer" in out.stderr


def metric(text, name):
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


def test_predictor_learns_reads_prefetches_and_saves_its_model(daemon):
    conf = str(daemon["conf"])
    run = lambda *a: subprocess.run([str(AUGUR), "-c", conf, *a], capture_output=True,
                                    text=True, timeout=60)
    assert run("mb", "open").returncode == 0
    blob = daemon["root"] / "blob"
    for i in range(20):  # 20 objects of 4 blocks: 5 MiB read in a loop through a 2 MiB cache
        blob.write_bytes(bytes([i]) * (256 << 10))
        assert run("put", str(blob), f"open/obj{i:02d}").returncode == 0
    for _ in range(6):
        for i in range(20):
            with urllib.request.urlopen(f"http://127.0.0.1:{daemon['s3']}/open/obj{i:02d}",
                                        timeout=30) as r:
                assert r.read() == bytes([i]) * (256 << 10)
    time.sleep(0.5)  # the predictor thread catches up (it batches)
    status, text = get(daemon["admin"], "/metrics")
    assert 'augur_predictor_info{model="markov"} 1' in text
    assert metric(text, "augur_predictor_events_total") >= 6 * 20 * 4
    assert metric(text, "augur_predictor_dropped_total") == 0
    assert metric(text, "augur_predictor_guesses_total") > 0
    assert metric(text, "augur_predictor_prefetches_total") > 0
    check = subprocess.run(["promtool", "check", "metrics"], input=text, text=True,
                           capture_output=True)
    assert check.returncode == 0, check.stdout + check.stderr
    doc = json.loads(run("status", "--json").stdout)
    assert doc["predictor"]["model"] == "markov" and doc["predictor"]["events"] >= 480
    assert "predictor: markov" in run("status").stdout
    # SIGTERM saves the model in the state directory
    daemon["proc"].send_signal(signal.SIGTERM)
    assert daemon["proc"].wait(30) == 0
    assert (daemon["root"] / "state" / "predictor.model").stat().st_size > 0
