"""conftest.py - runs a real augurd on loopback for the end-to-end S3 tests.

One augurd serves the whole session (six dir nodes under a scratch directory, three keys and a
public-read bucket); tests that need a daemon of their own start one with Augurd directly.
The daemon is stopped with SIGTERM at the end, also when tests fail or pytest is interrupted,
and the session fails if it did not exit cleanly or its log holds a sanitizer report.

Environment:
  AUGURD_BIN       the daemon to test (default build/asan/augurd under the repository)
  AUGUR_TEST_TMP   where scratch directories go (default /tmp)
  AUGUR_E2E_KEEP   set to 1 to keep scratch directories (they are kept anyway on failure)
"""

import atexit
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Before botocore is imported: awscrt would sign (and refuse expired presigned URLs) itself.
os.environ["BOTO_DISABLE_CRT"] = "true"
# Keep the developer's own AWS configuration out of the tests.
for _v in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
           "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_CA_BUNDLE"):
    os.environ.pop(_v, None)
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"

import boto3  # noqa: E402
import botocore  # noqa: E402
import pytest  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import s3util  # noqa: E402
from s3util import ADMIN, LIMITED, PUBLIC_BUCKET, READER, SHARED_BUCKET  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
AUGURD_BIN = Path(os.environ.get("AUGURD_BIN", REPO / "build/asan/augurd")).resolve()
TMP_ROOT = Path(os.environ.get("AUGUR_TEST_TMP", "/tmp"))
KEEP = os.environ.get("AUGUR_E2E_KEEP") == "1"

SANITIZER_PATTERNS = re.compile(
    rb"runtime error:|ERROR: AddressSanitizer|ERROR: LeakSanitizer|SUMMARY: \w+Sanitizer")

_running = []  # every Augurd started, so an interrupted run still stops them


@atexit.register
def _kill_leftovers():
    for d in list(_running):
        d.stop()


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Augurd:
    """One augurd process on a fresh store of six dir nodes."""

    def __init__(self, name, public_read=PUBLIC_BUCKET, extra_gateway=""):
        TMP_ROOT.mkdir(parents=True, exist_ok=True)
        self.root = Path(tempfile.mkdtemp(prefix=f"augur-e2e-{name}-", dir=TMP_ROOT))
        self.nodes = [self.root / f"n{i}" for i in range(1, 7)]
        for n in self.nodes:
            n.mkdir()
        self.creds = self.root / "credentials"
        lines = ["# keys of the end-to-end tests"]
        for key in (ADMIN, READER, LIMITED):
            lines.append(" ".join(k for k in key if k))
        self.creds.write_text("\n".join(lines) + "\n")
        self.creds.chmod(0o600)
        self.public_read = public_read
        self.extra_gateway = extra_gateway
        self.conf = self.root / "augur.conf"
        self.log_path = self.root / "augurd.log"
        self.proc = None
        self.port = None
        self.returncode = None
        self.deaths = []  # tests during which the daemon died (it is restarted for the next)

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def hostport(self):
        return f"127.0.0.1:{self.port}"

    def _write_conf(self):
        # one node per line: the INI reader limits line length, continuation lines are indented
        nodes = ",\n    ".join(f"dir:{n}" for n in self.nodes)
        self.conf.write_text(
            "[general]\nlog_level = info\n"
            f"state_dir = {self.conf.parent}/state\n"
            f"[backend]\nnodes = {nodes}\n"
            f"[gateway]\nlisten = 127.0.0.1:{self.port}\ncredentials = {self.creds}\n"
            f"public_read = {self.public_read}\n{self.extra_gateway}\n")

    def start(self, keep_port=False):
        env = dict(os.environ)
        env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=1"
        env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"
        for attempt in range(5):
            if not (keep_port and self.port):
                self.port = free_port()
            self._write_conf()
            with open(self.log_path, "ab") as log:
                self.proc = subprocess.Popen([str(AUGURD_BIN), "-c", str(self.conf)],
                                             stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                             env=env, start_new_session=True)
            _running.append(self)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                try:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                        return self
                except OSError:
                    time.sleep(0.05)
            rc = self.proc.poll()
            text = self.log()
            if rc is not None and "cannot listen" in text and attempt < 4:
                _running.remove(self)
                continue  # someone took the port between free_port() and the bind
            self.stop()
            raise RuntimeError(f"augurd did not start (rc={rc}):\n{text[-4000:]}")
        raise RuntimeError("augurd: no free port")

    def restart(self):
        """Start again on the same nodes and port (clients keep working) after a crash."""
        self.stop()
        self.proc = None
        with open(self.log_path, "ab") as log:
            log.write(b"\n---- e2e: augurd restarted after it died ----\n")
        return self.start(keep_port=True)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        """SIGTERM, wait, SIGKILL if it hangs. Returns the exit status (-9 if killed)."""
        if self.proc is None:
            return self.returncode
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.returncode = self.proc.returncode
        self.proc = None
        if self in _running:
            _running.remove(self)
        return self.returncode

    def log(self):
        try:
            return self.log_path.read_bytes().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def sanitizer_report(self):
        data = self.log_path.read_bytes() if self.log_path.exists() else b""
        m = SANITIZER_PATTERNS.search(data)
        if not m:
            return None
        start = max(0, m.start() - 500)
        return data[start:start + 6000].decode("utf-8", "replace")

    def access_lines(self, request_id):
        return [line for line in self.log().splitlines()
                if " access " in line and request_id in line]

    def tmp_files(self):
        """Files under the nodes' tmp/ directories."""
        out = []
        for n in self.nodes:
            t = n / "tmp"
            if t.is_dir():
                out += [str(p) for p in t.rglob("*") if p.is_file()]
        return sorted(out)

    def check_clean_exit(self):
        """Stop and say what went wrong (None when the exit was clean)."""
        rc = self.stop()
        problems = []
        if rc != 0:
            problems.append(f"augurd exited with status {rc}")
        rep = self.sanitizer_report()
        if rep:
            problems.append("sanitizer report in the augurd log:\n" + rep)
        return "\n".join(problems) or None

    def cleanup(self):
        if not KEEP:
            shutil.rmtree(self.root, ignore_errors=True)


def make_client(server, key=ADMIN, signature_version="s3v4", **cfg):
    """A boto3 S3 client for server, path-style, no retries. key None: anonymous."""
    kwargs = {}
    if key is None:
        signature_version = botocore.UNSIGNED
        kwargs = {"aws_access_key_id": "x", "aws_secret_access_key": "x"}
    else:
        kwargs = {"aws_access_key_id": key[0], "aws_secret_access_key": key[1]}
    config = Config(signature_version=signature_version, s3={"addressing_style": "path"},
                    retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=10,
                    read_timeout=120, **cfg)
    client = boto3.session.Session().client("s3", endpoint_url=server.endpoint,
                                             region_name=s3util.REGION, config=config, **kwargs)
    client._e2e_last = {}
    client._e2e_missing_rid = []

    def after_call(http_response=None, model=None, **_):
        if http_response is None:
            return
        client._e2e_last = {"status": http_response.status_code,
                            "headers": {k.lower(): v for k, v in http_response.headers.items()},
                            # only error bodies: reading a GetObject body here would eat it
                            "body": http_response.content if http_response.status_code >= 300
                            else None,
                            "op": model.name if model else "?"}
        if "x-amz-request-id" not in client._e2e_last["headers"]:
            client._e2e_missing_rid.append(client._e2e_last["op"])

    client.meta.events.register("after-call.s3", after_call)
    return client


@contextlib.contextmanager
def expect_error(client, code, status, record=None):
    """Expect the block to raise ClientError with this S3 code and HTTP status; check that the
    response carries x-amz-request-id and that an error body names the same RequestId. For
    bodiless answers (HEAD, 304) botocore's code is the status: pass record= the S3 code the
    test stands for."""
    with pytest.raises(ClientError) as ei:
        yield ei
    resp = ei.value.response
    got_code = resp.get("Error", {}).get("Code")
    got_status = resp.get("ResponseMetadata", {}).get("HTTPStatusCode")
    assert (got_code, got_status) == (code, status), resp
    last = client._e2e_last
    rid = last.get("headers", {}).get("x-amz-request-id")
    assert rid, f"no x-amz-request-id on the {status} answer"
    if last.get("body"):
        err = s3util.parse_error(last["body"])
        assert err.get("Code") == code, last["body"]
        assert err.get("RequestId") == rid, (err, rid)
        assert err.get("Message"), last["body"]
    s3util.note(record or code)


# ---- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def server():
    if not AUGURD_BIN.exists():
        pytest.exit(f"{AUGURD_BIN} does not exist: build it (make build/asan/augurd) or set "
                    "AUGURD_BIN", returncode=2)
    d = Augurd("main")
    d.start()
    yield d
    problem = d.check_clean_exit()
    if d.deaths:
        problem = (f"augurd died during {', '.join(d.deaths)}\n" + (problem or "")).strip()
    if problem:
        pytest.fail(f"{problem}\n(log: {d.log_path})", pytrace=False)
    d.cleanup()


@pytest.fixture(autouse=True)
def _server_stays_up(request, server):
    """After every test: the daemon is still serving (a crash names the test that caused it)."""
    s3util.CURRENT_TEST[0] = request.node.nodeid
    if not server.alive():
        server.restart()  # the test that killed it has failed already
    yield
    if not server.alive():
        server.deaths.append(request.node.nodeid)
        pytest.fail("augurd died during this test; log tail:\n" + server.log()[-6000:],
                    pytrace=False)


@pytest.fixture(scope="session")
def s3(server):
    return make_client(server, ADMIN)


@pytest.fixture(autouse=True)
def _request_ids_everywhere(s3):
    """Every answer the admin client received carried x-amz-request-id."""
    del s3._e2e_missing_rid[:]
    yield
    assert not s3._e2e_missing_rid, f"answers without x-amz-request-id: {s3._e2e_missing_rid}"


@pytest.fixture(scope="session")
def s3_reader(server):
    return make_client(server, READER)


@pytest.fixture(scope="session")
def s3_limited(server):
    return make_client(server, LIMITED)


@pytest.fixture(scope="session")
def s3_anon(server):
    return make_client(server, None)


@pytest.fixture(scope="session")
def public_bucket(s3):
    s3.create_bucket(Bucket=PUBLIC_BUCKET)
    s3.put_object(Bucket=PUBLIC_BUCKET, Key="hello.txt", Body=b"hello, world\n",
                  ContentType="text/plain")
    return PUBLIC_BUCKET


@pytest.fixture(scope="session")
def shared_bucket(s3):
    s3.create_bucket(Bucket=SHARED_BUCKET)
    s3.put_object(Bucket=SHARED_BUCKET, Key="readme", Body=b"shared data")
    return SHARED_BUCKET


_bucket_counter = [0]


def unique_bucket(hint):
    _bucket_counter[0] += 1
    base = re.sub(r"[^a-z0-9]+", "-", hint.lower()).strip("-")[:40].strip("-") or "b"
    return f"t{_bucket_counter[0]:03d}-{base}"


@pytest.fixture
def bucket(s3, request):
    """A fresh bucket named after the test."""
    name = unique_bucket(request.node.name.replace("test_", "", 1))
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def scratch(server, request):
    """A scratch directory for the test's files."""
    d = server.root / "scratch" / re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)[:80]
    d.mkdir(parents=True, exist_ok=True)
    return d


def client_env(server, key=ADMIN):
    """Environment for a command-line client talking to server."""
    env = dict(os.environ)
    env.update({
        "AUGUR_S3_ENDPOINT": server.endpoint,
        "AUGUR_S3_HOSTPORT": server.hostport,
        "AUGUR_S3_ACCESS_KEY": key[0],
        "AUGUR_S3_SECRET_KEY": key[1],
        "AWS_ACCESS_KEY_ID": key[0],
        "AWS_SECRET_ACCESS_KEY": key[1],
        "AWS_DEFAULT_REGION": s3util.REGION,
        "AWS_REGION": s3util.REGION,
        "AWS_PAGER": "",
        "AWS_MAX_ATTEMPTS": "1",
    })
    return env


def pytest_terminal_summary(terminalreporter):
    seen = sorted(s3util.SEEN_CODES)
    if seen:
        terminalreporter.write_line("S3 error codes produced: " + " ".join(seen))
