"""Real command-line clients and a current SDK against the session's augurd: the AWS CLI,
s3cmd (SigV4 and SigV2), libs3's `s3` tool (SigV2), and the AWS SDK for JavaScript v3 (flexible
checksums, aws-chunked bodies). Each runs a script of its own and fails at the first step that
goes wrong; its output is shown on failure."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import HERE, client_env, unique_bucket

JS_DIR = HERE / "js"


def run_client(argv, env, cwd=None, timeout=600):
    r = subprocess.run(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=timeout)
    out = r.stdout.decode("utf-8", "replace")
    assert r.returncode == 0, f"{argv[0]} {argv[1] if len(argv) > 1 else ''} failed " \
                              f"(exit {r.returncode}):\n{out[-8000:]}"
    return out


def need(path):
    if not Path(path).exists():
        pytest.fail(f"{path} is missing: install its Debian package (see tests/gateway/run_e2e.sh)",
                    pytrace=False)


def test_awscli(server, scratch):
    need(os.environ.get("AWS_CLI", "/usr/bin/aws"))
    out = run_client(["bash", str(HERE / "awscli.sh"), unique_bucket("awscli"),
                      str(scratch)], client_env(server))
    assert "awscli: all steps passed" in out


@pytest.mark.parametrize("sig", ["v4", "v2"])
def test_s3cmd(server, scratch, sig):
    need(os.environ.get("S3CMD", "/usr/bin/s3cmd"))
    out = run_client(["bash", str(HERE / "s3cmd.sh"), unique_bucket("s3cmd-" + sig),
                      str(scratch), sig], client_env(server))
    assert f"s3cmd ({sig}): all steps passed" in out


def test_libs3(server, scratch):
    need(os.environ.get("S3_TOOL", "/usr/bin/s3"))
    out = run_client(["bash", str(HERE / "libs3.sh"), unique_bucket("libs3"), str(scratch)],
                     client_env(server))
    assert "libs3: all steps passed" in out


def test_aws_sdk_for_javascript_v3(server):
    node = shutil.which("node")
    if not node:
        pytest.fail("node is missing: install Debian's nodejs", pytrace=False)
    if not (JS_DIR / "node_modules" / "@aws-sdk" / "client-s3").is_dir():
        pytest.fail(f"@aws-sdk/client-s3 is not installed: run `npm ci --prefix {JS_DIR}`",
                    pytrace=False)
    env = client_env(server)
    env["AUGUR_S3_BUCKET"] = unique_bucket("sdk-js-v3")
    env["NODE_NO_WARNINGS"] = "1"  # the SDK warns about Node.js versions it will stop supporting
    out = run_client([node, "--test", "sdk_v3.test.mjs"], env, cwd=JS_DIR)
    assert "# fail 0" in out, out
    assert "# pass 0" not in out, out
