"""Authentication and access end to end: presigned URLs (V4 and V2), wrong secrets and
unknown keys, clock skew, payload hashes, anonymous access to the public-read bucket only,
and the per-key bucket permissions of the credentials file."""

import datetime
import hashlib
import time
import types
import urllib.parse

import botocore.auth
import pytest
import requests
from conftest import expect_error, make_client, unique_bucket
from s3util import (ADMIN, LIMITED, READER, amz_now, parse_error, raw_exchange, build_request,
                    signed_raw)

import s3util


def check_raw_error(r, code, status):
    assert r.status == status, r
    err = parse_error(r.body)
    assert err.get("Code") == code, r
    assert err.get("RequestId") == r.header("x-amz-request-id"), r
    s3util.note(code)


# ---- presigned URLs -------------------------------------------------------------------------


def test_presigned_get(s3, bucket):
    s3.put_object(Bucket=bucket, Key="p/obj name", Body=b"presigned body")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "p/obj name"},
                                    ExpiresIn=300)
    assert "X-Amz-Signature=" in url
    r = requests.get(url, timeout=30)
    assert r.status_code == 200, r.text
    assert r.content == b"presigned body"
    assert r.headers["x-amz-request-id"]


def test_presigned_get_with_response_overrides(s3, bucket):
    s3.put_object(Bucket=bucket, Key="o", Body=b"x")
    url = s3.generate_presigned_url("get_object", Params={
        "Bucket": bucket, "Key": "o", "ResponseContentDisposition": "attachment; filename=o.txt"},
        ExpiresIn=300)
    r = requests.get(url, timeout=30)
    assert r.status_code == 200
    assert r.headers["content-disposition"] == "attachment; filename=o.txt"


def test_presigned_put(s3, bucket):
    url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "up"},
                                    ExpiresIn=300)
    r = requests.put(url, data=b"uploaded through a presigned URL", timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers["etag"] == '"%s"' % hashlib.md5(b"uploaded through a presigned URL").hexdigest()
    assert s3.get_object(Bucket=bucket, Key="up")["Body"].read() == \
        b"uploaded through a presigned URL"


def test_presigned_url_that_expired_is_access_denied(s3, bucket):
    s3.put_object(Bucket=bucket, Key="o", Body=b"x")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "o"},
                                    ExpiresIn=1)
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "late"},
                                        ExpiresIn=1)
    time.sleep(2.5)
    r = requests.get(url, timeout=30)
    assert r.status_code == 403
    err = parse_error(r.content)
    assert err["Code"] == "AccessDenied"
    assert err["RequestId"] == r.headers["x-amz-request-id"]
    r = requests.put(put_url, data=b"too late", timeout=30)
    assert r.status_code == 403 and parse_error(r.content)["Code"] == "AccessDenied"
    with expect_error(s3, "NoSuchKey", 404):
        s3.get_object(Bucket=bucket, Key="late")
    s3util.note("AccessDenied")


def test_presigned_url_with_tampered_key_or_wrong_secret(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="a", Body=b"x")
    s3.put_object(Bucket=bucket, Key="b", Body=b"y")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "a"},
                                    ExpiresIn=300)
    r = requests.get(url.replace(f"/{bucket}/a?", f"/{bucket}/b?"), timeout=30)
    assert r.status_code == 403 and parse_error(r.content)["Code"] == "SignatureDoesNotMatch"
    bad = make_client(server, (ADMIN[0], "not-the-secret"))
    url = bad.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "a"},
                                     ExpiresIn=300)
    r = requests.get(url, timeout=30)
    assert r.status_code == 403 and parse_error(r.content)["Code"] == "SignatureDoesNotMatch"


def test_presigned_url_valid_for_more_than_a_week_is_refused(s3, bucket):
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "o"},
                                    ExpiresIn=604801)
    r = requests.get(url, timeout=30)
    assert r.status_code in (400, 403)
    assert parse_error(r.content)["Code"] in ("AuthorizationQueryParametersError", "AccessDenied")


def test_presigned_v2_query_urls(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="v2", Body=b"sigv2 query")
    v2 = make_client(server, ADMIN, signature_version="s3")
    url = v2.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "v2"},
                                    ExpiresIn=300)
    assert "Signature=" in url and "AWSAccessKeyId=" in url
    r = requests.get(url, timeout=30)
    assert r.status_code == 200 and r.content == b"sigv2 query"
    q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    q["Expires"] = str(int(time.time()) - 60)
    old = url.split("?")[0] + "?" + urllib.parse.urlencode(q)
    r = requests.get(old, timeout=30)
    assert r.status_code == 403, r.text
    assert parse_error(r.content)["Code"] in ("AccessDenied", "SignatureDoesNotMatch")


# ---- signatures -----------------------------------------------------------------------------


def test_wrong_secret_is_signature_does_not_match(server, bucket):
    bad = make_client(server, (ADMIN[0], "definitely-not-the-secret"))
    with expect_error(bad, "SignatureDoesNotMatch", 403):
        bad.list_objects_v2(Bucket=bucket)
    with expect_error(bad, "SignatureDoesNotMatch", 403):
        bad.put_object(Bucket=bucket, Key="x", Body=b"x")
    with expect_error(bad, "403", 403, record="SignatureDoesNotMatch"):
        bad.head_object(Bucket=bucket, Key="x")


def test_unknown_access_key_is_invalid_access_key_id(server, bucket):
    bad = make_client(server, ("AKIDNOBODYKNOWS0", "whatever"))
    with expect_error(bad, "InvalidAccessKeyId", 403):
        bad.list_buckets()
    with expect_error(bad, "InvalidAccessKeyId", 403):
        bad.get_object(Bucket=bucket, Key="x")


def test_sigv2_header_signing_works_and_checks_the_secret(server, bucket):
    v2 = make_client(server, ADMIN, signature_version="s3")
    v2.put_object(Bucket=bucket, Key="v2 key+plus", Body=b"signed with v2",
                  Metadata={"m": "v"}, ContentType="text/plain")
    g = v2.get_object(Bucket=bucket, Key="v2 key+plus")
    assert g["Body"].read() == b"signed with v2" and g["Metadata"] == {"m": "v"}
    bad = make_client(server, (ADMIN[0], "wrong"), signature_version="s3")
    with expect_error(bad, "SignatureDoesNotMatch", 403):
        bad.get_object(Bucket=bucket, Key="v2 key+plus")
    unknown = make_client(server, ("AKIDNOBODY", "wrong"), signature_version="s3")
    with expect_error(unknown, "InvalidAccessKeyId", 403):
        unknown.get_object(Bucket=bucket, Key="v2 key+plus")


def test_sigv2_bucket_requests_from_botocore(server, bucket):
    """botocore's SigV2 signer signs "/bucket/" for a path-style request it sends to "/bucket"
    (libs3 and s3cmd send "/bucket/" itself): S3 accepts it, so must augur."""
    v2 = make_client(server, ADMIN, signature_version="s3")
    v2.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert [o["Key"] for o in v2.list_objects(Bucket=bucket)["Contents"]] == ["k"]
    v2.head_bucket(Bucket=bucket)
    name = unique_bucket("v2-made")
    v2.create_bucket(Bucket=name)
    v2.delete_bucket(Bucket=name)


_REAL_DATETIME = datetime.datetime


class _SkewedDatetime(datetime.datetime):
    """datetime whose utcnow() runs an hour late, for botocore's signer."""

    @classmethod
    def utcnow(cls):
        return _REAL_DATETIME.utcnow() - datetime.timedelta(hours=1)


def _skewed_datetime_module():
    fake = types.ModuleType("datetime")
    fake.__dict__.update(datetime.__dict__)
    fake.datetime = _SkewedDatetime
    return fake


def test_skewed_client_clock_is_request_time_too_skewed(server, bucket, monkeypatch):
    skewed = make_client(server, ADMIN)
    monkeypatch.setattr(botocore.auth, "datetime", _skewed_datetime_module())
    with expect_error(skewed, "RequestTimeTooSkewed", 403):
        skewed.list_objects_v2(Bucket=bucket)
    with expect_error(skewed, "RequestTimeTooSkewed", 403):
        skewed.put_object(Bucket=bucket, Key="late", Body=b"x")
    monkeypatch.undo()
    assert skewed.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_stale_or_future_x_amz_date_is_request_time_too_skewed(server, bucket):
    for offset in (-20 * 60, 20 * 60, -86400 * 3):
        r = signed_raw(server.port, "GET", f"/{bucket}", amz_date=amz_now(offset))
        check_raw_error(r, "RequestTimeTooSkewed", 403)
    # within the 15 minutes S3 allows
    r = signed_raw(server.port, "GET", f"/{bucket}", amz_date=amz_now(-10 * 60))
    assert r.status == 200, r


def test_payload_hash_mismatch_stores_nothing(server, s3, bucket):
    body = b"the body that is sent"
    r = signed_raw(server.port, "PUT", f"/{bucket}/tampered", body=body,
                   payload_hash=hashlib.sha256(b"another body").hexdigest())
    check_raw_error(r, "XAmzContentSHA256Mismatch", 400)
    with expect_error(s3, "NoSuchKey", 404):
        s3.get_object(Bucket=bucket, Key="tampered")
    r = signed_raw(server.port, "PUT", f"/{bucket}/unsigned", body=body,
                   payload_hash="UNSIGNED-PAYLOAD")
    assert r.status == 200, r
    assert s3.get_object(Bucket=bucket, Key="unsigned")["Body"].read() == body


def test_unsigned_x_amz_header_is_refused(server, bucket):
    """Every x-amz-* header sent must be signed: an unsigned one could be injected."""
    headers = {"Host": f"127.0.0.1:{server.port}"}
    signed = s3util.sign_v4("PUT", f"/{bucket}/inj", [], headers, s3util.EMPTY_SHA256)
    signed["x-amz-meta-injected"] = "yes"
    signed["Content-Length"] = "0"
    signed["Connection"] = "close"
    r = raw_exchange(server.port, build_request("PUT", f"/{bucket}/inj", signed))
    assert r.status == 403, r
    assert r.error_code() in ("AccessDenied", "SignatureDoesNotMatch")


def test_date_header_is_used_without_x_amz_date(server, bucket):
    """SigV4 with the signing time in Date instead of X-Amz-Date."""
    now = datetime.datetime.now(datetime.timezone.utc)
    amz = now.strftime("%Y%m%dT%H%M%SZ")
    headers = {"Host": f"127.0.0.1:{server.port}",
               "Date": now.strftime("%a, %d %b %Y %H:%M:%S GMT")}
    h = _sign_without_amz_date("GET", f"/{bucket}", headers, amz)
    h["Connection"] = "close"
    r = raw_exchange(server.port, build_request("GET", f"/{bucket}", h))
    assert r.status == 200, r


def _sign_without_amz_date(method, path, headers, amz_date):
    import hmac
    access, secret = ADMIN[0], ADMIN[1]
    headers = dict(headers)
    headers["x-amz-content-sha256"] = s3util.EMPTY_SHA256
    names = sorted(h.lower() for h in headers)
    lower = {h.lower(): str(v).strip() for h, v in headers.items()}
    creq = "\n".join([method, path, "", "".join(f"{n}:{lower[n]}\n" for n in names),
                      ";".join(names), s3util.EMPTY_SHA256])
    scope = f"{amz_date[:8]}/{s3util.REGION}/s3/aws4_request"
    sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                     hashlib.sha256(creq.encode()).hexdigest()])
    sig = hmac.new(s3util.signing_key(secret, amz_date[:8]), sts.encode(),
                   hashlib.sha256).hexdigest()
    headers["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={access}/{scope}, "
                                f"SignedHeaders={';'.join(names)}, Signature={sig}")
    return headers


def test_malformed_authorization_header(server, bucket):
    for value in ("AWS4-HMAC-SHA256 garbage", "AWS4-HMAC-SHA256 Credential=x",
                  "Bearer token", "AWS no-colon"):
        req = build_request("GET", f"/{bucket}", {"Host": f"127.0.0.1:{server.port}",
                                                  "Authorization": value,
                                                  "X-Amz-Date": amz_now(),
                                                  "x-amz-content-sha256": s3util.EMPTY_SHA256,
                                                  "Connection": "close"})
        r = raw_exchange(server.port, req)
        assert r.status in (400, 403), (value, r)
        assert r.error_code(), r
        assert parse_error(r.body)["RequestId"] == r.header("x-amz-request-id")


# ---- anonymous access -----------------------------------------------------------------------


def test_anonymous_reads_the_public_bucket_only(s3_anon, public_bucket, bucket, s3):
    assert s3_anon.get_object(Bucket=public_bucket, Key="hello.txt")["Body"].read() == \
        b"hello, world\n"
    assert s3_anon.head_object(Bucket=public_bucket, Key="hello.txt")["ContentLength"] == 13
    assert "hello.txt" in [o["Key"] for o in
                           s3_anon.list_objects_v2(Bucket=public_bucket)["Contents"]]
    r = requests.get(f"{s3_anon.meta.endpoint_url}/{public_bucket}/hello.txt", timeout=30)
    assert r.status_code == 200 and r.content == b"hello, world\n"
    s3.put_object(Bucket=bucket, Key="secret", Body=b"s")
    with expect_error(s3_anon, "AccessDenied", 403):
        s3_anon.get_object(Bucket=bucket, Key="secret")
    with expect_error(s3_anon, "AccessDenied", 403):
        s3_anon.list_objects_v2(Bucket=bucket)
    with expect_error(s3_anon, "AccessDenied", 403):
        s3_anon.list_buckets()


def test_anonymous_cannot_write_even_to_the_public_bucket(s3_anon, public_bucket, s3):
    with expect_error(s3_anon, "AccessDenied", 403):
        s3_anon.put_object(Bucket=public_bucket, Key="graffiti", Body=b"x")
    with expect_error(s3_anon, "AccessDenied", 403):
        s3_anon.delete_object(Bucket=public_bucket, Key="hello.txt")
    with expect_error(s3_anon, "AccessDenied", 403):
        s3_anon.create_multipart_upload(Bucket=public_bucket, Key="graffiti")
    with expect_error(s3_anon, "AccessDenied", 403):
        s3_anon.delete_bucket(Bucket=public_bucket)
    with expect_error(s3_anon, "AccessDenied", 403):
        s3_anon.create_bucket(Bucket=unique_bucket("anon-made"))
    assert s3.get_object(Bucket=public_bucket, Key="hello.txt")["Body"].read() == \
        b"hello, world\n"


# ---- per-key permissions --------------------------------------------------------------------


def test_read_only_key_reads_but_cannot_write(s3_reader, shared_bucket, bucket):
    assert s3_reader.get_object(Bucket=shared_bucket, Key="readme")["Body"].read() == \
        b"shared data"
    with expect_error(s3_reader, "AccessDenied", 403):
        s3_reader.put_object(Bucket=shared_bucket, Key="new", Body=b"x")
    with expect_error(s3_reader, "AccessDenied", 403):
        s3_reader.delete_object(Bucket=shared_bucket, Key="readme")
    with expect_error(s3_reader, "AccessDenied", 403):
        s3_reader.get_object(Bucket=bucket, Key="anything")
    with expect_error(s3_reader, "AccessDenied", 403):
        s3_reader.create_bucket(Bucket=unique_bucket("reader-made"))


def test_list_buckets_shows_only_readable_buckets(s3_reader, s3_limited, shared_bucket,
                                                  public_bucket, bucket):
    names = [b["Name"] for b in s3_reader.list_buckets()["Buckets"]]
    assert shared_bucket in names and public_bucket in names
    assert bucket not in names
    names = [b["Name"] for b in s3_limited.list_buckets()["Buckets"]]
    assert shared_bucket not in names and bucket not in names


def test_prefix_permissions(s3_limited, s3):
    mine = unique_bucket("x").replace("t", "lim-t", 1)
    assert mine.startswith("lim-")
    s3.create_bucket(Bucket=mine)
    s3_limited.put_object(Bucket=mine, Key="k", Body=b"mine")
    assert s3_limited.get_object(Bucket=mine, Key="k")["Body"].read() == b"mine"
    with expect_error(s3_limited, "AccessDenied", 403):
        s3_limited.create_bucket(Bucket=unique_bucket("not-lim"))


def test_copy_needs_read_access_to_the_source_bucket(s3, s3_limited, bucket):
    """CopyObject and UploadPartCopy read the source: a key that may not read the source
    bucket must not be able to copy out of it into a bucket it may write."""
    s3.put_object(Bucket=bucket, Key="secret", Body=b"not for the limited key")
    mine = unique_bucket("copy").replace("t", "lim-t", 1)
    s3.create_bucket(Bucket=mine)
    with expect_error(s3_limited, "AccessDenied", 403):
        s3_limited.copy_object(Bucket=mine, Key="stolen", CopySource=f"{bucket}/secret")
    uid = s3_limited.create_multipart_upload(Bucket=mine, Key="stolen")["UploadId"]
    with expect_error(s3_limited, "AccessDenied", 403):
        s3_limited.upload_part_copy(Bucket=mine, Key="stolen", UploadId=uid, PartNumber=1,
                                    CopySource=f"{bucket}/secret")
    s3_limited.abort_multipart_upload(Bucket=mine, Key="stolen", UploadId=uid)
    with expect_error(s3, "NoSuchKey", 404):
        s3.get_object(Bucket=mine, Key="stolen")


@pytest.mark.parametrize("path", ["/", "/{bucket}", "/{bucket}/key"])
def test_request_ids_are_unique_and_logged_once(server, bucket, path):
    ids = set()
    for _ in range(3):
        r = signed_raw(server.port, "GET", path.format(bucket=bucket))
        rid = r.header("x-amz-request-id")
        assert rid and rid not in ids
        ids.add(rid)
    deadline = time.monotonic() + 5
    while True:
        counts = {rid: len(server.access_lines(rid)) for rid in ids}
        if all(c == 1 for c in counts.values()) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert all(c == 1 for c in counts.values()), counts


def test_secrets_never_reach_the_log(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"},
                                    ExpiresIn=60)
    requests.get(url, timeout=30)
    sig = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))["X-Amz-Signature"]
    log = server.log()
    for secret in (ADMIN[1], READER[1], LIMITED[1], sig):
        assert secret not in log


# ---- aws-chunked bodies with chunk signatures -----------------------------------------------


def signed_chunked_body(data, seed_sig, amz_date, secret, chunk=16384, tamper=None):
    """STREAMING-AWS4-HMAC-SHA256-PAYLOAD framing: every chunk signed, chained from the
    request's signature. tamper=i flips a byte of chunk i after signing it."""
    import hmac as _hmac
    key = s3util.signing_key(secret, amz_date[:8])
    scope = f"{amz_date[:8]}/{s3util.REGION}/s3/aws4_request"
    prev = seed_sig
    out = b""
    pieces = [data[i:i + chunk] for i in range(0, len(data), chunk)] + [b""]
    for i, piece in enumerate(pieces):
        sts = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, prev, s3util.EMPTY_SHA256,
                         hashlib.sha256(piece).hexdigest()])
        sig = _hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
        if tamper == i:
            piece = bytes([piece[0] ^ 1]) + piece[1:]
        out += b"%x;chunk-signature=%s\r\n" % (len(piece), sig.encode()) + piece + b"\r\n"
        prev = sig
    return out


@pytest.mark.parametrize("tamper", [None, 0, 2])
def test_signed_aws_chunked_upload(server, s3, bucket, tamper):
    data = bytes(range(256)) * 200  # 51200 bytes: four chunks of 16 KiB at most
    amz_date = amz_now()
    key = f"chunked-{tamper}"
    headers = {"Host": server.hostport, "Content-Encoding": "aws-chunked",
               "x-amz-decoded-content-length": str(len(data))}
    body_len = len(signed_chunked_body(data, "0" * 64, amz_date, ADMIN[1]))
    headers["Content-Length"] = str(body_len)
    h = s3util.sign_v4("PUT", f"/{bucket}/{key}", [], headers,
                       "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", amz_date=amz_date)
    seed = h["Authorization"].rsplit("Signature=", 1)[1]
    body = signed_chunked_body(data, seed, amz_date, ADMIN[1], tamper=tamper)
    assert len(body) == body_len
    h["Connection"] = "close"
    r = raw_exchange(server.port, build_request("PUT", f"/{bucket}/{key}", h, body))
    if tamper is None:
        assert r.status == 200, r
        assert r.header("etag") == '"%s"' % hashlib.md5(data).hexdigest()
        got = s3.get_object(Bucket=bucket, Key=key)
        assert got["Body"].read() == data
        assert "ContentEncoding" not in got
    else:
        check_raw_error(r, "SignatureDoesNotMatch", 403)
        with expect_error(s3, "NoSuchKey", 404):
            s3.get_object(Bucket=bucket, Key=key)
