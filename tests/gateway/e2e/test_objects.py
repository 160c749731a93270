"""Object operations through boto3: PutObject (Content-MD5), GetObject (ranges, conditional
requests, response-* overrides, partNumber), HeadObject, DeleteObject, DeleteObjects,
CopyObject (directives and x-amz-copy-source-if-*), kept headers and user metadata, key
rules."""

import base64
import datetime
import hashlib
import os

import pytest
from conftest import expect_error
from s3util import parse_error, signed_raw

import s3util


def md5_b64(data):
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def etag_of(data):
    return '"' + hashlib.md5(data).hexdigest() + '"'


def http_date(dt):
    return dt.strftime("%a, %d %b %Y %H:%M:%S GMT")


@pytest.fixture
def obj(s3, bucket):
    """A 100-byte object: (bucket, key, data)."""
    data = bytes(range(100))
    s3.put_object(Bucket=bucket, Key="obj", Body=data)
    return bucket, "obj", data


# ---- PUT and GET ----------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 4095, 65536, 1 << 20, 3 * (1 << 20) + 7])
def test_put_get_roundtrip(s3, bucket, size):
    data = os.urandom(size)
    r = s3.put_object(Bucket=bucket, Key=f"sz/{size}", Body=data)
    assert r["ETag"] == etag_of(data)
    g = s3.get_object(Bucket=bucket, Key=f"sz/{size}")
    assert g["Body"].read() == data
    assert g["ContentLength"] == size
    assert g["ETag"] == etag_of(data)
    assert g["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_overwrite_replaces_content_and_etag(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"first")
    s3.put_object(Bucket=bucket, Key="k", Body=b"second version")
    g = s3.get_object(Bucket=bucket, Key="k")
    assert g["Body"].read() == b"second version"
    assert g["ETag"] == etag_of(b"second version")


@pytest.mark.parametrize("key", ["with space", "plus+sign", "percent%41", "unicodé/ключ/鍵",
                                 "a/b/c/d/e", "semi;colon", "q?uestion", "hash#tag",
                                 "amp&equals=", "tilde~", "quote'\"", "star*", "brace{}",
                                 "back\\slash", "comma,", "at@", "colon:", "dollar$"])
def test_keys_with_special_characters_roundtrip(s3, bucket, key):
    s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == key.encode()
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert key in listed
    s3.delete_object(Bucket=bucket, Key=key)


def test_put_with_correct_content_md5(s3, bucket):
    data = b"checked by md5"
    r = s3.put_object(Bucket=bucket, Key="md5", Body=data, ContentMD5=md5_b64(data))
    assert r["ETag"] == etag_of(data)


def test_put_with_wrong_content_md5_is_bad_digest_and_stores_nothing(s3, bucket):
    with expect_error(s3, "BadDigest", 400):
        s3.put_object(Bucket=bucket, Key="md5", Body=b"the real body",
                      ContentMD5=md5_b64(b"another body"))
    with expect_error(s3, "NoSuchKey", 404):
        s3.get_object(Bucket=bucket, Key="md5")


def test_put_with_malformed_content_md5_is_invalid_digest(s3, bucket):
    with expect_error(s3, "InvalidDigest", 400):
        s3.put_object(Bucket=bucket, Key="md5", Body=b"x", ContentMD5="not-base64-md5")


def test_put_accepts_canned_acls(s3, bucket):
    for acl in ("private", "public-read", "bucket-owner-full-control"):
        s3.put_object(Bucket=bucket, Key=f"acl-{acl}", Body=b"x", ACL=acl)
    assert s3.get_object_acl(Bucket=bucket, Key="acl-private")["Grants"]
    s3.put_object_acl(Bucket=bucket, Key="acl-private", ACL="private")
    with expect_error(s3, "InvalidArgument", 400):
        s3.put_object(Bucket=bucket, Key="acl-bad", Body=b"x", ACL="nope")


def test_metadata_and_kept_headers_are_returned_by_get_and_head(s3, bucket):
    expires = datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    s3.put_object(Bucket=bucket, Key="meta", Body=b"<h1>hi</h1>", ContentType="text/html",
                  ContentEncoding="identity", ContentDisposition='attachment; filename="a.html"',
                  CacheControl="max-age=60", Expires=expires, ContentLanguage="en-GB",
                  Metadata={"color": "blue", "Mixed-Case": "Value With Spaces"})
    for r in (s3.head_object(Bucket=bucket, Key="meta"), s3.get_object(Bucket=bucket, Key="meta")):
        assert r["ContentType"] == "text/html"
        assert r["ContentEncoding"] == "identity"
        assert r["ContentDisposition"] == 'attachment; filename="a.html"'
        assert r["CacheControl"] == "max-age=60"
        assert r["Expires"] == expires
        assert r["ContentLanguage"] == "en-GB"
        assert r["Metadata"] == {"color": "blue", "mixed-case": "Value With Spaces"}
        assert r["ContentLength"] == len(b"<h1>hi</h1>")


def test_default_content_type(s3, bucket):
    s3.put_object(Bucket=bucket, Key="ct", Body=b"x")
    assert s3.head_object(Bucket=bucket, Key="ct")["ContentType"] in ("binary/octet-stream",
                                                                      "application/octet-stream")


def test_too_much_user_metadata_is_refused(s3, bucket):
    with expect_error(s3, "MetadataTooLarge", 400):
        s3.put_object(Bucket=bucket, Key="big-meta", Body=b"x", Metadata={"m": "v" * 2100})


def test_head_object(s3, obj):
    b, k, data = obj
    r = s3.head_object(Bucket=b, Key=k)
    assert r["ContentLength"] == len(data)
    assert r["ETag"] == etag_of(data)
    assert r["AcceptRanges"] == "bytes"
    age = datetime.datetime.now(datetime.timezone.utc) - r["LastModified"]
    assert abs(age.total_seconds()) < 600


def test_get_and_head_missing_key(s3, bucket):
    with expect_error(s3, "NoSuchKey", 404):
        s3.get_object(Bucket=bucket, Key="nope")
    with expect_error(s3, "404", 404, record="NoSuchKey"):
        s3.head_object(Bucket=bucket, Key="nope")
    assert s3._e2e_last["headers"].get("x-amz-request-id")


def test_no_such_key_error_body(server, s3, bucket):
    r = signed_raw(server.port, "GET", f"/{bucket}/missing%20key")
    assert r.status == 404
    err = parse_error(r.body)
    assert err["Code"] == "NoSuchKey"
    assert err["Key"] == "missing key"
    assert err["RequestId"] == r.header("x-amz-request-id")
    assert r.header("content-type").startswith("application/xml")


def test_key_of_1024_bytes_is_fine_and_1025_too_long(s3, bucket):
    ok = "/".join(["k" * 255] * 3 + ["k" * 254, "k"])  # components are limited to 255 bytes
    assert len(ok) == 1024
    s3.put_object(Bucket=bucket, Key=ok, Body=b"x")
    assert s3.get_object(Bucket=bucket, Key=ok)["Body"].read() == b"x"
    with expect_error(s3, "KeyTooLongError", 400):
        s3.put_object(Bucket=bucket, Key="k" * 1025, Body=b"x")
    with expect_error(s3, "KeyTooLongError", 400):
        s3.get_object(Bucket=bucket, Key="é" * 513)  # 1026 bytes


def test_keys_that_cannot_be_paths_are_refused(s3, bucket):
    for key in ("a/../b", "a//b", "./x"):
        with expect_error(s3, "InvalidArgument", 400):
            s3.put_object(Bucket=bucket, Key=key, Body=b"x")


# ---- ranges ---------------------------------------------------------------------------------


@pytest.mark.parametrize("rng,lo,hi", [("bytes=0-9", 0, 9), ("bytes=10-19", 10, 19),
                                       ("bytes=90-", 90, 99), ("bytes=-7", 93, 99),
                                       ("bytes=95-1000", 95, 99), ("bytes=-500", 0, 99),
                                       ("bytes=99-99", 99, 99)])
def test_range_requests(s3, obj, rng, lo, hi):
    b, k, data = obj
    r = s3.get_object(Bucket=b, Key=k, Range=rng)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert r["Body"].read() == data[lo:hi + 1]
    assert r["ContentRange"] == f"bytes {lo}-{hi}/{len(data)}"
    assert r["ContentLength"] == hi - lo + 1


def test_range_beyond_end_is_invalid_range(s3, obj):
    b, k, _ = obj
    with expect_error(s3, "InvalidRange", 416):
        s3.get_object(Bucket=b, Key=k, Range="bytes=100-")
    with expect_error(s3, "InvalidRange", 416):
        s3.get_object(Bucket=b, Key=k, Range="bytes=500-600")


def test_unparseable_or_multiple_ranges_return_everything(s3, obj):
    b, k, data = obj
    for rng in ("bytes=5-2", "lines=1-2", "bytes=0-1,5-6"):
        r = s3.get_object(Bucket=b, Key=k, Range=rng)
        assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
        assert r["Body"].read() == data


def test_range_across_stripes_of_a_large_object(s3, bucket):
    data = os.urandom(5 * (1 << 20) + 123)
    s3.put_object(Bucket=bucket, Key="large", Body=data)
    for lo, hi in ((0, 0), (1048570, 1048590), (3 * (1 << 20) - 1, 4 * (1 << 20) + 1),
                   (len(data) - 10, len(data) - 1)):
        r = s3.get_object(Bucket=bucket, Key="large", Range=f"bytes={lo}-{hi}")
        assert r["Body"].read() == data[lo:hi + 1]


# ---- conditional requests -------------------------------------------------------------------


def test_if_match(s3, obj):
    b, k, data = obj
    r = s3.get_object(Bucket=b, Key=k, IfMatch=etag_of(data))
    assert r["Body"].read() == data
    r = s3.get_object(Bucket=b, Key=k, IfMatch="*")
    assert r["Body"].read() == data
    with expect_error(s3, "PreconditionFailed", 412):
        s3.get_object(Bucket=b, Key=k, IfMatch='"0123456789abcdef0123456789abcdef"')
    with expect_error(s3, "412", 412, record="PreconditionFailed"):
        s3.head_object(Bucket=b, Key=k, IfMatch='"0123456789abcdef0123456789abcdef"')


def test_if_none_match_gives_304_with_etag_and_last_modified(server, s3, obj):
    b, k, data = obj
    with expect_error(s3, "304", 304, record="NotModified"):
        s3.get_object(Bucket=b, Key=k, IfNoneMatch=etag_of(data))
    with expect_error(s3, "304", 304, record="NotModified"):
        s3.head_object(Bucket=b, Key=k, IfNoneMatch=etag_of(data))
    r = s3.get_object(Bucket=b, Key=k, IfNoneMatch='"other"')
    assert r["Body"].read() == data
    # the raw answer: no body, and the validators the client needs to keep its copy
    raw = signed_raw(server.port, "GET", f"/{b}/{k}", headers={"If-None-Match": etag_of(data)})
    assert raw.status == 304
    assert raw.header("etag") == etag_of(data)
    assert raw.header("last-modified").endswith("GMT")
    assert raw.header("x-amz-request-id")
    assert raw.body == b""


def test_if_modified_since(s3, obj):
    b, k, data = obj
    lm = s3.head_object(Bucket=b, Key=k)["LastModified"]
    earlier = lm - datetime.timedelta(days=1)
    with expect_error(s3, "304", 304, record="NotModified"):
        s3.get_object(Bucket=b, Key=k, IfModifiedSince=lm)
    assert s3.get_object(Bucket=b, Key=k, IfModifiedSince=earlier)["Body"].read() == data


def test_if_unmodified_since(s3, obj):
    b, k, data = obj
    lm = s3.head_object(Bucket=b, Key=k)["LastModified"]
    earlier = lm - datetime.timedelta(days=1)
    with expect_error(s3, "PreconditionFailed", 412):
        s3.get_object(Bucket=b, Key=k, IfUnmodifiedSince=earlier)
    assert s3.get_object(Bucket=b, Key=k, IfUnmodifiedSince=lm)["Body"].read() == data


def test_if_match_wins_over_if_unmodified_since(s3, obj):
    """RFC 7232 and S3: when If-Match holds, If-Unmodified-Since is not evaluated."""
    b, k, data = obj
    lm = s3.head_object(Bucket=b, Key=k)["LastModified"]
    r = s3.get_object(Bucket=b, Key=k, IfMatch=etag_of(data),
                      IfUnmodifiedSince=lm - datetime.timedelta(days=1))
    assert r["Body"].read() == data


def test_conditions_with_ranges(s3, obj):
    b, k, data = obj
    r = s3.get_object(Bucket=b, Key=k, IfMatch=etag_of(data), Range="bytes=0-3")
    assert r["Body"].read() == data[:4]


# ---- response-* overrides -------------------------------------------------------------------


def test_response_overrides(s3, obj):
    b, k, _ = obj
    r = s3.get_object(Bucket=b, Key=k, ResponseContentType="image/png",
                      ResponseContentDisposition="inline; filename=x.png",
                      ResponseCacheControl="no-cache", ResponseContentLanguage="fr",
                      ResponseContentEncoding="identity",
                      ResponseExpires=datetime.datetime(2031, 5, 6, tzinfo=datetime.timezone.utc))
    h = r["ResponseMetadata"]["HTTPHeaders"]
    assert h["content-type"] == "image/png"
    assert h["content-disposition"] == "inline; filename=x.png"
    assert h["cache-control"] == "no-cache"
    assert h["content-language"] == "fr"
    assert h["content-encoding"] == "identity"
    assert h["expires"].startswith("Tue, 06 May 2031")


def test_response_overrides_replace_stored_headers(s3, bucket):
    s3.put_object(Bucket=bucket, Key="o", Body=b"x", CacheControl="max-age=5",
                  ContentDisposition="inline")
    r = s3.get_object(Bucket=bucket, Key="o", ResponseCacheControl="no-store",
                      ResponseContentDisposition="attachment")
    assert r["CacheControl"] == "no-store"
    assert r["ContentDisposition"] == "attachment"


# ---- partNumber -----------------------------------------------------------------------------


def test_get_and_head_part_1_of_a_simple_object(s3, obj):
    b, k, data = obj
    r = s3.get_object(Bucket=b, Key=k, PartNumber=1)
    assert r["Body"].read() == data
    r = s3.head_object(Bucket=b, Key=k, PartNumber=1)
    assert r["ContentLength"] == len(data)
    with expect_error(s3, "InvalidPartNumber", 416):
        s3.get_object(Bucket=b, Key=k, PartNumber=2)


# ---- DELETE ---------------------------------------------------------------------------------


def test_delete_object(s3, obj):
    b, k, _ = obj
    r = s3.delete_object(Bucket=b, Key=k)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    with expect_error(s3, "NoSuchKey", 404):
        s3.get_object(Bucket=b, Key=k)
    # deleting what is not there succeeds, as on S3
    assert s3.delete_object(Bucket=b, Key=k)["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_delete_objects(s3, bucket):
    for i in range(6):
        s3.put_object(Bucket=bucket, Key=f"d/{i}", Body=b"x")
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": f"d/{i}"} for i in
                                                             (0, 1, 2)] + [{"Key": "d/none"}]})
    assert sorted(d["Key"] for d in r["Deleted"]) == ["d/0", "d/1", "d/2", "d/none"]
    assert not r.get("Errors")
    left = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert left == ["d/3", "d/4", "d/5"]


def test_delete_objects_quiet(s3, bucket):
    for i in range(3):
        s3.put_object(Bucket=bucket, Key=f"q/{i}", Body=b"x")
    r = s3.delete_objects(Bucket=bucket, Delete={"Quiet": True, "Objects": [
        {"Key": f"q/{i}"} for i in range(3)]})
    assert not r.get("Deleted") and not r.get("Errors")
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_delete_objects_reports_per_key_errors(s3, bucket):
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "fine"},
                                                             {"Key": "x" * 1025}]})
    assert [d["Key"] for d in r["Deleted"]] == ["fine"]
    assert len(r["Errors"]) == 1 and r["Errors"][0]["Key"] == "x" * 1025


def test_delete_objects_with_malformed_xml(server, bucket):
    body = b"<Delete><Object><Key>a</Key></Object>"
    r = signed_raw(server.port, "POST", f"/{bucket}", [("delete", "")], body=body,
                   headers={"Content-MD5": md5_b64(body)})
    assert r.status == 400 and r.error_code() == "MalformedXML", r
    assert parse_error(r.body)["RequestId"] == r.header("x-amz-request-id")
    s3util.note("MalformedXML")
    body = b"<Delete></Delete>"
    r = signed_raw(server.port, "POST", f"/{bucket}", [("delete", "")], body=body,
                   headers={"Content-MD5": md5_b64(body)})
    assert r.status == 400 and r.error_code() == "MalformedXML", r


def test_delete_objects_checks_content_md5(server, bucket):
    body = b"<Delete><Object><Key>a</Key></Object></Delete>"
    r = signed_raw(server.port, "POST", f"/{bucket}", [("delete", "")], body=body,
                   headers={"Content-MD5": md5_b64(b"something else")})
    assert r.status == 400 and r.error_code() == "BadDigest", r


# ---- COPY -----------------------------------------------------------------------------------


def test_copy_object_keeps_metadata_by_default(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"copy me", ContentType="text/plain",
                  Metadata={"a": "1"}, CacheControl="max-age=9")
    r = s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    assert r["CopyObjectResult"]["ETag"] == etag_of(b"copy me")
    g = s3.get_object(Bucket=bucket, Key="dst")
    assert g["Body"].read() == b"copy me"
    assert g["ContentType"] == "text/plain"
    assert g["Metadata"] == {"a": "1"}
    assert g["CacheControl"] == "max-age=9"


def test_copy_object_replace_directive(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"copy me", ContentType="text/plain",
                  Metadata={"a": "1"})
    s3.copy_object(Bucket=bucket, Key="dst", CopySource=f"{bucket}/src",
                   MetadataDirective="REPLACE", ContentType="application/json",
                   Metadata={"b": "2"})
    g = s3.head_object(Bucket=bucket, Key="dst")
    assert g["ContentType"] == "application/json"
    assert g["Metadata"] == {"b": "2"}
    # replacing an object's own metadata in place is how clients edit metadata
    s3.copy_object(Bucket=bucket, Key="src", CopySource=f"{bucket}/src",
                   MetadataDirective="REPLACE", Metadata={"c": "3"})
    assert s3.head_object(Bucket=bucket, Key="src")["Metadata"] == {"c": "3"}
    assert s3.get_object(Bucket=bucket, Key="src")["Body"].read() == b"copy me"


def test_copy_object_onto_itself_without_changes_is_invalid(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"x")
    with expect_error(s3, "InvalidRequest", 400):
        s3.copy_object(Bucket=bucket, Key="src", CopySource=f"{bucket}/src")


def test_copy_between_buckets_and_with_special_keys(s3, bucket):
    other = bucket + "-2"
    s3.create_bucket(Bucket=other)
    key = "dir/with space+plus/é"
    s3.put_object(Bucket=bucket, Key=key, Body=b"far away")
    s3.copy_object(Bucket=other, Key="copied", CopySource={"Bucket": bucket, "Key": key})
    assert s3.get_object(Bucket=other, Key="copied")["Body"].read() == b"far away"


def test_copy_from_missing_source(s3, bucket):
    with expect_error(s3, "NoSuchKey", 404):
        s3.copy_object(Bucket=bucket, Key="dst", CopySource=f"{bucket}/missing")
    with expect_error(s3, "NoSuchBucket", 404):
        s3.copy_object(Bucket=bucket, Key="dst", CopySource="no-such-bucket-e2e/missing")


def test_copy_source_conditions(s3, bucket):
    data = b"conditional source"
    s3.put_object(Bucket=bucket, Key="src", Body=data)
    src = {"Bucket": bucket, "Key": "src"}
    lm = s3.head_object(Bucket=bucket, Key="src")["LastModified"]
    s3.copy_object(Bucket=bucket, Key="ok", CopySource=src, CopySourceIfMatch=etag_of(data))
    s3.copy_object(Bucket=bucket, Key="ok2", CopySource=src,
                   CopySourceIfModifiedSince=lm - datetime.timedelta(days=1))
    for kw in ({"CopySourceIfMatch": '"deadbeefdeadbeefdeadbeefdeadbeef"'},
               {"CopySourceIfNoneMatch": etag_of(data)},
               {"CopySourceIfModifiedSince": lm},
               {"CopySourceIfUnmodifiedSince": lm - datetime.timedelta(days=1)}):
        with expect_error(s3, "PreconditionFailed", 412):
            s3.copy_object(Bucket=bucket, Key="nope", CopySource=src, **kw)
    with expect_error(s3, "NoSuchKey", 404):
        s3.get_object(Bucket=bucket, Key="nope")


def test_copy_with_bad_metadata_directive(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"x")
    with expect_error(s3, "InvalidArgument", 400):
        s3.copy_object(Bucket=bucket, Key="dst", CopySource=f"{bucket}/src",
                       MetadataDirective="MERGE")


def test_object_sub_resources_not_offered(s3, obj):
    b, k, _ = obj
    with expect_error(s3, "NotImplemented", 501):
        s3.put_object_tagging(Bucket=b, Key=k, Tagging={"TagSet": [{"Key": "a", "Value": "b"}]})
    with expect_error(s3, "NotImplemented", 501):
        s3.get_object_tagging(Bucket=b, Key=k)


# ---- flexible checksums ---------------------------------------------------------------------


def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ (0x82F63B78 if c & 1 else 0)
        table.append(c)
    return table


_CRC32C = _crc32c_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = _CRC32C[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def checksum_b64(alg, data):
    import zlib
    if alg == "crc32":
        raw = zlib.crc32(data).to_bytes(4, "big")
    elif alg == "crc32c":
        raw = crc32c(data).to_bytes(4, "big")
    else:
        raw = hashlib.new(alg, data).digest()
    return base64.b64encode(raw).decode()


@pytest.mark.parametrize("alg", ["crc32", "crc32c", "sha1", "sha256"])
def test_checksum_headers_are_verified(server, s3, bucket, alg):
    data = os.urandom(50000)
    name = f"x-amz-checksum-{alg}"
    r = signed_raw(server.port, "PUT", f"/{bucket}/ck-{alg}", body=data,
                   headers={name: checksum_b64(alg, data)})
    assert r.status == 200, r
    assert r.header(name) == checksum_b64(alg, data)
    g = signed_raw(server.port, "GET", f"/{bucket}/ck-{alg}",
                   headers={"x-amz-checksum-mode": "ENABLED"})
    assert g.status == 200 and g.body == data
    assert g.header(name) == checksum_b64(alg, data)
    # a range is not the object the checksum describes
    g = signed_raw(server.port, "GET", f"/{bucket}/ck-{alg}",
                   headers={"x-amz-checksum-mode": "ENABLED", "Range": "bytes=0-9"})
    assert g.status == 206 and g.header(name) is None
    r = signed_raw(server.port, "PUT", f"/{bucket}/ck-bad-{alg}", body=data,
                   headers={name: checksum_b64(alg, data + b"!")})
    assert r.status == 400 and r.error_code() == "BadDigest", r
    assert parse_error(r.body)["RequestId"] == r.header("x-amz-request-id")
    s3util.note("BadDigest")
    with expect_error(s3, "NoSuchKey", 404):
        s3.get_object(Bucket=bucket, Key=f"ck-bad-{alg}")


def aws_chunked_trailer_body(data, trailer_name, trailer_value, chunk=8192):
    out = b""
    for i in range(0, len(data), chunk):
        piece = data[i:i + chunk]
        out += b"%x\r\n" % len(piece) + piece + b"\r\n"
    out += b"0\r\n" + f"{trailer_name}:{trailer_value}\r\n\r\n".encode()
    return out


@pytest.mark.parametrize("good", [True, False])
def test_unsigned_aws_chunked_body_with_trailing_checksum(server, s3, bucket, good):
    data = os.urandom(30000)
    value = checksum_b64("crc32c", data if good else data[1:])
    body = aws_chunked_trailer_body(data, "x-amz-checksum-crc32c", value)
    r = signed_raw(server.port, "PUT", f"/{bucket}/trailer", body=body,
                   payload_hash="STREAMING-UNSIGNED-PAYLOAD-TRAILER",
                   headers={"Content-Encoding": "aws-chunked",
                            "x-amz-decoded-content-length": str(len(data)),
                            "x-amz-trailer": "x-amz-checksum-crc32c"})
    if good:
        assert r.status == 200, r
        g = s3.get_object(Bucket=bucket, Key="trailer", ChecksumMode="ENABLED")
        assert g["Body"].read() == data
        assert g["ChecksumCRC32C"] == value
        assert "ContentEncoding" not in g  # aws-chunked is how it travelled, not what it is
    else:
        assert r.status == 400 and r.error_code() == "BadDigest", r
        with expect_error(s3, "NoSuchKey", 404):
            s3.get_object(Bucket=bucket, Key="trailer")


def test_missing_keys_named_like_other_errors_are_no_such_key(s3, bucket):
    """The S3 code of a missing key must not depend on the words in its name."""
    for key in ("upload", "my-upload.bin", "bucket", "no such upload"):
        with expect_error(s3, "NoSuchKey", 404):
            s3.get_object(Bucket=bucket, Key=key)
