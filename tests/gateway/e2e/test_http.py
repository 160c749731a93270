"""The HTTP side, with hand-made requests: CORS preflight, methods and services augur does not
offer, Expect: 100-continue, size limits, keep-alive and concurrency, virtual-hosted-style
addressing, and robustness: garbage requests, oversized headers, slow clients and clients
that hang up mid-upload must get an error or be dropped while everyone else is served."""

import concurrent.futures
import hashlib
import http.client
import os
import socket
import time

import boto3
import pytest
from botocore.config import Config
from conftest import Augurd, expect_error, make_client
from s3util import (ADMIN, EMPTY_SHA256, build_request, parse_error, raw_exchange,
                    read_response, sign_v4, signed_raw)

import s3util


def check_raw_error(r, code, status):
    assert r is not None, "connection closed without an answer"
    assert r.status == status, r
    err = parse_error(r.body)
    assert err.get("Code") == code, r
    assert err.get("RequestId") == r.header("x-amz-request-id"), r
    s3util.note(code)


def still_serving(server, s3):
    """The daemon answers a normal signed request."""
    assert server.alive()
    assert s3.list_buckets()["ResponseMetadata"]["HTTPStatusCode"] == 200


# ---- what S3 answers with errors ------------------------------------------------------------


def test_cors_preflight_without_rules_is_400(server, bucket):
    req = build_request("OPTIONS", f"/{bucket}/some/key", {
        "Host": server.hostport, "Origin": "https://example.com",
        "Access-Control-Request-Method": "PUT", "Connection": "close"})
    r = raw_exchange(server.port, req)
    assert r.status == 400, r
    assert r.header("x-amz-request-id")
    assert parse_error(r.body).get("Code") == "CORSResponse"
    assert "access-control-allow-origin" not in r.headers


def test_method_not_allowed(server, bucket):
    r = signed_raw(server.port, "PATCH", f"/{bucket}/key", body=b"")
    check_raw_error(r, "MethodNotAllowed", 405)
    r = signed_raw(server.port, "POST", f"/{bucket}", body=b"")
    check_raw_error(r, "MethodNotAllowed", 405)
    r = signed_raw(server.port, "DELETE", "/")
    check_raw_error(r, "MethodNotAllowed", 405)


def test_put_object_tagging_is_not_implemented(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    with expect_error(s3, "NotImplemented", 501):
        s3.put_object_tagging(Bucket=bucket, Key="k",
                              Tagging={"TagSet": [{"Key": "a", "Value": "b"}]})


def test_sts_style_post_to_the_root_is_not_implemented(server):
    body = b"Action=AssumeRole&Version=2011-06-15&RoleArn=arn:aws:iam::1:role/x"
    r = signed_raw(server.port, "POST", "/", body=body,
                   headers={"Content-Type": "application/x-www-form-urlencoded"})
    check_raw_error(r, "NotImplemented", 501)


def test_real_sts_and_iam_clients_get_an_s3_error(server, s3):
    for service, call in (("sts", lambda c: c.get_caller_identity()),
                          ("iam", lambda c: c.list_users())):
        client = boto3.session.Session().client(
            service, endpoint_url=server.endpoint, region_name="us-east-1",
            aws_access_key_id=ADMIN[0], aws_secret_access_key=ADMIN[1],
            config=Config(retries={"max_attempts": 1}))
        with pytest.raises(Exception) as ei:
            call(client)
        assert "Error" in str(ei.value) or "error" in str(ei.value)
    still_serving(server, s3)


def test_entity_too_large(server, bucket):
    headers = {"Host": server.hostport, "Content-Length": str((5 << 30) + 1)}
    headers = sign_v4("PUT", f"/{bucket}/huge", [], headers, "UNSIGNED-PAYLOAD")
    headers["Connection"] = "close"
    r = raw_exchange(server.port, build_request("PUT", f"/{bucket}/huge", headers))
    check_raw_error(r, "EntityTooLarge", 400)


def test_put_without_content_length_is_refused(server, bucket):
    headers = {"Host": server.hostport, "Transfer-Encoding": "chunked"}
    headers = sign_v4("PUT", f"/{bucket}/nolen", [], headers, "UNSIGNED-PAYLOAD")
    headers["Connection"] = "close"
    r = raw_exchange(server.port, build_request("PUT", f"/{bucket}/nolen", headers,
                                                b"5\r\nhello\r\n0\r\n\r\n"))
    check_raw_error(r, "MissingContentLength", 411)


def test_bad_percent_encoding_in_the_path_is_invalid_uri(server, bucket):
    for path in (f"/{bucket}/bad%zzescape", f"/{bucket}/nul%00byte", f"/{bucket}/cut%4"):
        r = signed_raw(server.port, "GET", path)
        check_raw_error(r, "InvalidURI", 400)


def test_key_too_long_by_hand(server, bucket):
    r = signed_raw(server.port, "PUT", f"/{bucket}/" + "x" * 1025, body=b"1")
    check_raw_error(r, "KeyTooLongError", 400)


# ---- HTTP behaviour -------------------------------------------------------------------------


def test_expect_100_continue(server, s3, bucket):
    body = os.urandom(300000)
    headers = {"Host": server.hostport, "Content-Length": str(len(body)),
               "Expect": "100-continue"}
    headers = sign_v4("PUT", f"/{bucket}/expect", [], headers, "UNSIGNED-PAYLOAD")
    headers["Connection"] = "close"
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(build_request("PUT", f"/{bucket}/expect", headers))
        interim = read_response(sock)
        assert interim.status == 100, interim
        sock.sendall(body)
        final = read_response(sock)
    assert final.status == 200, final
    assert final.header("etag") == '"%s"' % hashlib.md5(body).hexdigest()
    assert s3.get_object(Bucket=bucket, Key="expect")["Body"].read() == body


def test_expect_100_continue_refused_before_the_body(server, bucket):
    """A request that will fail is answered at once, without 100 Continue, so the client does
    not send the body at all."""
    headers = {"Host": server.hostport, "Content-Length": "1048576", "Expect": "100-continue"}
    headers = sign_v4("PUT", f"/{bucket}/nope", [], headers, "UNSIGNED-PAYLOAD",
                      key=(ADMIN[0], "wrong secret"))
    headers["Connection"] = "close"
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(build_request("PUT", f"/{bucket}/nope", headers))
        r = read_response(sock)
    check_raw_error(r, "SignatureDoesNotMatch", 403)


def test_keep_alive_serves_many_requests_on_one_connection(server, bucket):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    seen = set()
    sock_ids = set()
    for i in range(20):
        body = b"keep-alive %d" % i
        h = sign_v4("PUT", f"/{bucket}/ka{i}", [], {"Host": server.hostport},
                    hashlib.sha256(body).hexdigest())
        conn.request("PUT", f"/{bucket}/ka{i}", body=body, headers=h)
        r = conn.getresponse()
        r.read()
        assert r.status == 200
        sock_ids.add(id(conn.sock))
        h = sign_v4("GET", f"/{bucket}/ka{i}", [], {"Host": server.hostport}, EMPTY_SHA256)
        conn.request("GET", f"/{bucket}/ka{i}", headers=h)
        r = conn.getresponse()
        assert r.status == 200 and r.read() == body
        seen.add(r.getheader("x-amz-request-id"))
        sock_ids.add(id(conn.sock))
        # errors keep the connection too
        h = sign_v4("GET", f"/{bucket}/missing{i}", [], {"Host": server.hostport}, EMPTY_SHA256)
        conn.request("GET", f"/{bucket}/missing{i}", headers=h)
        r = conn.getresponse()
        assert r.status == 404 and parse_error(r.read())["Code"] == "NoSuchKey"
        sock_ids.add(id(conn.sock))
    conn.close()
    assert len(seen) == 20
    assert len(sock_ids) == 1, "the connection was not kept alive"


def test_http_1_0_request(server, bucket, s3):
    s3.put_object(Bucket=bucket, Key="old", Body=b"http/1.0")
    h = sign_v4("GET", f"/{bucket}/old", [], {"Host": server.hostport}, EMPTY_SHA256)
    req = build_request("GET", f"/{bucket}/old", h).replace(b"HTTP/1.1", b"HTTP/1.0", 1)
    r = raw_exchange(server.port, req)
    assert r.status == 200 and r.body == b"http/1.0", r


def test_head_reports_the_length_without_a_body(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="h", Body=b"x" * 12345)
    r = signed_raw(server.port, "HEAD", f"/{bucket}/h")
    assert r.status == 200
    assert r.header("content-length") == "12345"
    assert r.header("etag")
    assert r.header("x-amz-request-id")


def test_concurrent_clients(server, bucket):
    clients = [make_client(server) for _ in range(16)]  # botocore clients are slow to make

    def work(i):
        c = clients[i % len(clients)]
        data = os.urandom(1000 + i * 997)
        c.put_object(Bucket=bucket, Key=f"conc/{i}", Body=data)
        for _ in range(3):
            assert c.get_object(Bucket=bucket, Key=f"conc/{i}")["Body"].read() == data
        return i

    with concurrent.futures.ThreadPoolExecutor(len(clients)) as ex:
        assert sorted(ex.map(work, range(48))) == list(range(48))
    c = make_client(server)
    assert c.list_objects_v2(Bucket=bucket, Prefix="conc/")["KeyCount"] == 48


def test_concurrent_writers_of_one_key_leave_one_whole_version(server, s3, bucket):
    bodies = [bytes([i]) * (200000 + i) for i in range(12)]
    clients = [make_client(server) for _ in bodies]

    def put(i):
        clients[i].put_object(Bucket=bucket, Key="contended", Body=bodies[i])

    with concurrent.futures.ThreadPoolExecutor(12) as ex:
        list(ex.map(put, range(len(bodies))))
    got = s3.get_object(Bucket=bucket, Key="contended")["Body"].read()
    assert got in bodies


# ---- virtual-hosted style -------------------------------------------------------------------


@pytest.fixture(scope="module")
def vhost_server():
    d = Augurd("vhost", extra_gateway="domain = s3.augur.test")
    d.start()
    yield d
    problem = d.check_clean_exit()
    assert problem is None, problem
    d.cleanup()


def test_virtual_hosted_style_requests(vhost_server):
    port = vhost_server.port
    path_style = make_client(vhost_server)
    path_style.create_bucket(Bucket="vhosted")
    host = f"vhosted.s3.augur.test:{port}"
    body = b"addressed by host name"
    r = signed_raw(port, "PUT", "/dir/key", headers={"Host": host}, body=body)
    assert r.status == 200, r
    r = signed_raw(port, "GET", "/dir/key", headers={"Host": host})
    assert r.status == 200 and r.body == body, r
    r = signed_raw(port, "GET", "/", [("list-type", "2")], headers={"Host": host})
    assert r.status == 200 and b"<Key>dir/key</Key>" in r.body, r
    assert path_style.get_object(Bucket="vhosted", Key="dir/key")["Body"].read() == body
    # a SigV2 client signs "/bucket/key" for a virtual-hosted request
    v2 = make_client(vhost_server, ADMIN, signature_version="s3")
    assert v2.get_object(Bucket="vhosted", Key="dir/key")["Body"].read() == body


# ---- robustness -----------------------------------------------------------------------------


@pytest.mark.parametrize("garbage", [
    b"\x00\x01\x02\x03\r\n\r\n",
    b"GARBAGE\r\n\r\n",
    b"GET\r\n\r\n",
    b"GET / HTTP/9.9\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n",
    b"GET / HTTP/1.1\r\nNo colon in this header\r\n\r\n",
    b"PUT /b/k HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\n",
    b"GET /" + b"%" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    b"\r\n" * 100,
])
def test_garbage_gets_an_error_and_the_server_keeps_serving(server, s3, garbage):
    try:
        r = raw_exchange(server.port, garbage, timeout=3)
    except (ConnectionError, socket.timeout, ValueError):
        r = None  # being hung up on, or left waiting for a request, is a fine answer
    if r is not None:
        assert r.status >= 400, r
    still_serving(server, s3)


def test_oversized_headers_are_refused_and_the_server_keeps_serving(server, s3, bucket):
    for headers in ({"X-Big": "a" * (200 << 10)},
                    {f"x-many-{i}": "v" * 100 for i in range(2000)}):
        headers = {"Host": server.hostport, **headers, "Connection": "close"}
        try:
            r = raw_exchange(server.port, build_request("GET", f"/{bucket}", headers))
        except (ConnectionError, BrokenPipeError, ConnectionResetError):
            r = None
        if r is not None:
            assert r.status in (400, 413, 414, 431), r
    try:
        r = raw_exchange(server.port, build_request("GET", "/" + "a" * (200 << 10),
                                                    {"Host": server.hostport}))
        if r is not None:
            assert r.status in (400, 413, 414, 431), r
    except (ConnectionError, BrokenPipeError, ConnectionResetError):
        pass
    still_serving(server, s3)


def test_slow_clients_do_not_block_others(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    slow = []
    try:
        for _ in range(40):
            s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            s.sendall(b"GET /" + bucket.encode() + b"/k HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Sl")
            slow.append(s)
        t0 = time.monotonic()
        for _ in range(10):
            assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"
        assert time.monotonic() - t0 < 20
    finally:
        for s in slow:
            s.close()
    still_serving(server, s3)


def wait_for(predicate, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def hang_up_mid_body(server, method, target, query, total, sent, hash_mode="UNSIGNED-PAYLOAD"):
    headers = {"Host": server.hostport, "Content-Length": str(total)}
    headers = sign_v4(method, target, query, headers, hash_mode)
    q = "&".join(f"{k}={v}" for k, v in query)
    req = build_request(method, target + ("?" + q if q else ""), headers)
    s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    s.sendall(req)
    chunk = os.urandom(1 << 16)
    left = sent
    while left > 0:
        n = min(left, len(chunk))
        s.sendall(chunk[:n])
        left -= n
    time.sleep(0.3)  # let the daemon start writing stripes
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    s.close()  # with linger 0: a reset, as a client that dies


def test_client_disconnecting_mid_upload_leaves_nothing(server, s3, bucket):
    before = set(server.tmp_files())
    hang_up_mid_body(server, "PUT", f"/{bucket}/partial", [], 16 << 20, 6 << 20)
    assert wait_for(lambda: set(server.tmp_files()) <= before), \
        f"left in the nodes' tmp/: {sorted(set(server.tmp_files()) - before)}"
    with expect_error(s3, "404", 404, record="NoSuchKey"):
        s3.head_object(Bucket=bucket, Key="partial")
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    # the same with a signed payload hash that can never match
    hang_up_mid_body(server, "PUT", f"/{bucket}/partial2", [], 8 << 20, 3 << 20,
                     hash_mode=hashlib.sha256(b"").hexdigest())
    assert wait_for(lambda: set(server.tmp_files()) <= before)
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    still_serving(server, s3)


def test_overwrite_interrupted_mid_upload_keeps_the_old_version(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="victim", Body=b"old and whole")
    before = set(server.tmp_files())
    hang_up_mid_body(server, "PUT", f"/{bucket}/victim", [], 12 << 20, 5 << 20)
    assert wait_for(lambda: set(server.tmp_files()) <= before)
    assert s3.get_object(Bucket=bucket, Key="victim")["Body"].read() == b"old and whole"


def test_client_disconnecting_mid_part_leaves_no_part(server, s3, bucket):
    uid = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    before = set(server.tmp_files())
    hang_up_mid_body(server, "PUT", f"/{bucket}/mp", [("partNumber", "1"), ("uploadId", uid)],
                     10 << 20, 4 << 20)
    assert wait_for(lambda: set(server.tmp_files()) <= before)
    assert not s3.list_parts(Bucket=bucket, Key="mp", UploadId=uid).get("Parts")
    s3.abort_multipart_upload(Bucket=bucket, Key="mp", UploadId=uid)
    assert wait_for(lambda: set(server.tmp_files()) <= before)


def test_truncated_body_then_timeout_stores_nothing(server, s3, bucket):
    """A body shorter than Content-Length, with the connection closed cleanly (FIN)."""
    headers = sign_v4("PUT", f"/{bucket}/short", [], {"Host": server.hostport,
                                                      "Content-Length": "1000"},
                      "UNSIGNED-PAYLOAD")
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(build_request("PUT", f"/{bucket}/short", headers, b"only a few bytes"))
        s.shutdown(socket.SHUT_WR)
        try:
            r = read_response(s)
        except (ConnectionError, socket.timeout):
            r = None
    if r is not None:
        assert r.status >= 400
    with expect_error(s3, "NoSuchKey", 404):
        s3.get_object(Bucket=bucket, Key="short")
    still_serving(server, s3)
