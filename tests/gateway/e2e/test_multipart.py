"""Multipart uploads through boto3: create, upload part, upload part copy with ranges, list
parts, list uploads, complete (ETag, order and size checks, the "md5-N" ETag), abort, and
GET/HEAD by partNumber."""

import hashlib
import os

import pytest
from conftest import expect_error
from s3util import parse_error, signed_raw

import s3util

MIB = 1 << 20


def multipart_etag(parts):
    digest = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest()
    return f'"{digest}-{len(parts)}"'


def upload_parts(s3, bucket, key, parts, **create_kw):
    up = s3.create_multipart_upload(Bucket=bucket, Key=key, **create_kw)
    uid = up["UploadId"]
    done = []
    for i, data in enumerate(parts, 1):
        r = s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=i, Body=data)
        assert r["ETag"] == '"' + hashlib.md5(data).hexdigest() + '"'
        done.append({"PartNumber": i, "ETag": r["ETag"]})
    return uid, done


def test_multipart_upload_complete_and_read_back(s3, bucket):
    parts = [os.urandom(5 * MIB), os.urandom(5 * MIB + 17), os.urandom(1234)]
    uid, done = upload_parts(s3, bucket, "mp", parts, ContentType="video/mp4",
                             Metadata={"origin": "e2e"}, CacheControl="max-age=1")
    r = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=uid,
                                     MultipartUpload={"Parts": done})
    assert r["ETag"] == multipart_etag(parts)
    assert r["Key"] == "mp" and r["Bucket"] == bucket
    g = s3.get_object(Bucket=bucket, Key="mp")
    assert g["Body"].read() == b"".join(parts)
    assert g["ETag"] == multipart_etag(parts)
    assert g["ContentType"] == "video/mp4"
    assert g["Metadata"] == {"origin": "e2e"}
    assert g["CacheControl"] == "max-age=1"
    # the upload is gone once completed
    with expect_error(s3, "NoSuchUpload", 404):
        s3.list_parts(Bucket=bucket, Key="mp", UploadId=uid)
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")


def test_get_and_head_by_part_number(s3, bucket):
    parts = [os.urandom(5 * MIB), os.urandom(100)]
    uid, done = upload_parts(s3, bucket, "mp", parts)
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=uid,
                                 MultipartUpload={"Parts": done})
    for n, data in enumerate(parts, 1):
        lo = sum(len(p) for p in parts[:n - 1])
        g = s3.get_object(Bucket=bucket, Key="mp", PartNumber=n)
        assert g["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert g["Body"].read() == data
        assert g["PartsCount"] == 2
        assert g["ContentRange"] == f"bytes {lo}-{lo + len(data) - 1}/{5 * MIB + 100}"
        h = s3.head_object(Bucket=bucket, Key="mp", PartNumber=n)
        assert h["ContentLength"] == len(data)
        assert h["PartsCount"] == 2
    with expect_error(s3, "InvalidPartNumber", 416):
        s3.get_object(Bucket=bucket, Key="mp", PartNumber=3)


def test_upload_part_copy_with_ranges(s3, bucket):
    src = os.urandom(7 * MIB)
    s3.put_object(Bucket=bucket, Key="src", Body=src)
    up = s3.create_multipart_upload(Bucket=bucket, Key="assembled")
    uid = up["UploadId"]
    r1 = s3.upload_part_copy(Bucket=bucket, Key="assembled", UploadId=uid, PartNumber=1,
                             CopySource={"Bucket": bucket, "Key": "src"},
                             CopySourceRange=f"bytes=0-{5 * MIB - 1}")
    assert r1["CopyPartResult"]["ETag"] == '"' + hashlib.md5(src[:5 * MIB]).hexdigest() + '"'
    r2 = s3.upload_part_copy(Bucket=bucket, Key="assembled", UploadId=uid, PartNumber=2,
                             CopySource=f"{bucket}/src", CopySourceRange="bytes=100-199")
    tail = b"and a tail"
    r3 = s3.upload_part(Bucket=bucket, Key="assembled", UploadId=uid, PartNumber=3, Body=tail)
    ls = s3.list_parts(Bucket=bucket, Key="assembled", UploadId=uid)
    assert [(p["PartNumber"], p["Size"]) for p in ls["Parts"]] == [(1, 5 * MIB), (2, 100),
                                                                    (3, len(tail))]
    # copying a part smaller than 5 MiB is fine as long as it ends up last: here it does not
    with expect_error(s3, "EntityTooSmall", 400):
        s3.complete_multipart_upload(Bucket=bucket, Key="assembled", UploadId=uid,
                                     MultipartUpload={"Parts": [
                                         {"PartNumber": 1, "ETag": r1["CopyPartResult"]["ETag"]},
                                         {"PartNumber": 2, "ETag": r2["CopyPartResult"]["ETag"]},
                                         {"PartNumber": 3, "ETag": r3["ETag"]}]})
    r = s3.complete_multipart_upload(Bucket=bucket, Key="assembled", UploadId=uid,
                                     MultipartUpload={"Parts": [
                                         {"PartNumber": 1, "ETag": r1["CopyPartResult"]["ETag"]},
                                         {"PartNumber": 2, "ETag": r2["CopyPartResult"]["ETag"]}]})
    data = s3.get_object(Bucket=bucket, Key="assembled")["Body"].read()
    assert data == src[:5 * MIB] + src[100:200]
    assert r["ETag"] == multipart_etag([src[:5 * MIB], src[100:200]])


def test_upload_part_copy_whole_object_and_bad_ranges(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"0123456789")
    uid = s3.create_multipart_upload(Bucket=bucket, Key="dst")["UploadId"]
    r = s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=uid, PartNumber=1,
                            CopySource=f"{bucket}/src")
    assert r["CopyPartResult"]["ETag"] == '"' + hashlib.md5(b"0123456789").hexdigest() + '"'
    for rng in ("bytes=5-20", "bytes=5-2", "bytes=x-y"):
        with expect_error(s3, "InvalidArgument", 400):
            s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=uid, PartNumber=2,
                                CopySource=f"{bucket}/src", CopySourceRange=rng)
    with expect_error(s3, "PreconditionFailed", 412):
        s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=uid, PartNumber=2,
                            CopySource=f"{bucket}/src",
                            CopySourceIfMatch='"00000000000000000000000000000000"')
    s3.abort_multipart_upload(Bucket=bucket, Key="dst", UploadId=uid)


def test_complete_with_wrong_etag_is_invalid_part(s3, bucket):
    uid, done = upload_parts(s3, bucket, "k", [b"a" * 10])
    with expect_error(s3, "InvalidPart", 400):
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=uid, MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": '"ffffffffffffffffffffffffffffffff"'}]})
    with expect_error(s3, "InvalidPart", 400):
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=uid, MultipartUpload={
            "Parts": [{"PartNumber": 2, "ETag": done[0]["ETag"]}]})
    # the upload survives a refused completion
    r = s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=uid,
                                     MultipartUpload={"Parts": done})
    assert r["ETag"] == multipart_etag([b"a" * 10])


def test_complete_accepts_etags_without_quotes(s3, bucket):
    uid, done = upload_parts(s3, bucket, "k", [b"abc"])
    s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=uid, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": done[0]["ETag"].strip('"')}]})
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"abc"


def test_complete_with_parts_out_of_order_is_invalid_part_order(s3, bucket):
    parts = [os.urandom(5 * MIB), os.urandom(10)]
    uid, done = upload_parts(s3, bucket, "k", parts)
    with expect_error(s3, "InvalidPartOrder", 400):
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=uid,
                                     MultipartUpload={"Parts": done[::-1]})
    with expect_error(s3, "InvalidPartOrder", 400):
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=uid,
                                     MultipartUpload={"Parts": [done[0], done[0]]})
    s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=uid)


def test_complete_with_a_small_middle_part_is_entity_too_small(s3, bucket):
    uid, done = upload_parts(s3, bucket, "k", [b"x" * 100, b"y" * 100])
    with expect_error(s3, "EntityTooSmall", 400):
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=uid,
                                     MultipartUpload={"Parts": done})
    # the last part may be small, and a subset of the parts may be completed
    r = s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=uid,
                                     MultipartUpload={"Parts": done[:1]})
    assert r["ETag"] == multipart_etag([b"x" * 100])
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x" * 100


def test_complete_with_malformed_xml(server, s3, bucket):
    uid, _ = upload_parts(s3, bucket, "k", [b"x"])
    for body in (b"<CompleteMultipartUpload><Part>", b"not xml at all",
                 b"<CompleteMultipartUpload></CompleteMultipartUpload>",
                 b"<Other><Part><PartNumber>1</PartNumber></Part></Other>",
                 b"<CompleteMultipartUpload><Part><ETag>x</ETag></Part></CompleteMultipartUpload>"):
        r = signed_raw(server.port, "POST", f"/{bucket}/k", [("uploadId", uid)], body=body)
        assert r.status == 400 and r.error_code() == "MalformedXML", (body, r)
        assert parse_error(r.body)["RequestId"] == r.header("x-amz-request-id")
    s3util.note("MalformedXML")
    s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=uid)


def test_abort_then_the_upload_is_gone(s3, bucket):
    uid, done = upload_parts(s3, bucket, "k", [b"x" * 10])
    r = s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=uid)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    with expect_error(s3, "NoSuchUpload", 404):
        s3.upload_part(Bucket=bucket, Key="k", UploadId=uid, PartNumber=2, Body=b"y")
    with expect_error(s3, "NoSuchUpload", 404):
        s3.list_parts(Bucket=bucket, Key="k", UploadId=uid)
    with expect_error(s3, "NoSuchUpload", 404):
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=uid,
                                     MultipartUpload={"Parts": done})
    with expect_error(s3, "NoSuchUpload", 404):
        s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=uid)
    with expect_error(s3, "NoSuchKey", 404):
        s3.get_object(Bucket=bucket, Key="k")


def test_unknown_upload_id_is_no_such_upload(s3, bucket):
    bogus = "0123456789abcdef0123456789abcdef"
    with expect_error(s3, "NoSuchUpload", 404):
        s3.upload_part(Bucket=bucket, Key="k", UploadId=bogus, PartNumber=1, Body=b"x")
    with expect_error(s3, "NoSuchUpload", 404):
        s3.list_parts(Bucket=bucket, Key="k", UploadId="../../etc")


def test_bad_part_numbers(s3, bucket):
    uid = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    for n in (0, 10001):
        with expect_error(s3, "InvalidArgument", 400):
            s3.upload_part(Bucket=bucket, Key="k", UploadId=uid, PartNumber=n, Body=b"x")
    s3.upload_part(Bucket=bucket, Key="k", UploadId=uid, PartNumber=10000, Body=b"x")
    s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=uid)


def test_reuploading_a_part_replaces_it(s3, bucket):
    uid = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="k", UploadId=uid, PartNumber=1, Body=b"old")
    r = s3.upload_part(Bucket=bucket, Key="k", UploadId=uid, PartNumber=1, Body=b"new!")
    parts = s3.list_parts(Bucket=bucket, Key="k", UploadId=uid)["Parts"]
    assert [(p["PartNumber"], p["Size"], p["ETag"]) for p in parts] == [(1, 4, r["ETag"])]
    s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=uid, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": r["ETag"]}]})
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"new!"


def test_list_parts_pages(s3, bucket):
    uid = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    for n in range(1, 8):
        s3.upload_part(Bucket=bucket, Key="k", UploadId=uid, PartNumber=n, Body=b"p%d" % n)
    seen, marker = [], 0
    while True:
        r = s3.list_parts(Bucket=bucket, Key="k", UploadId=uid, MaxParts=3,
                          PartNumberMarker=marker)
        seen += [p["PartNumber"] for p in r.get("Parts", [])]
        if not r["IsTruncated"]:
            break
        marker = r["NextPartNumberMarker"]
    assert seen == list(range(1, 8))
    assert r["Initiator"]["ID"] and r["Owner"]["ID"]
    s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=uid)


def test_list_multipart_uploads(s3, bucket):
    ids = {}
    for key in ("logs/a", "logs/b", "logs/b", "other"):
        ids.setdefault(key, []).append(
            s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"])
    r = s3.list_multipart_uploads(Bucket=bucket)
    got = [(u["Key"], u["UploadId"]) for u in r["Uploads"]]
    assert sorted(got) == sorted((k, i) for k, v in ids.items() for i in v)
    assert [k for k, _ in got] == sorted(k for k, _ in got)
    r = s3.list_multipart_uploads(Bucket=bucket, Prefix="logs/")
    assert sorted(u["Key"] for u in r["Uploads"]) == ["logs/a", "logs/b", "logs/b"]
    # paging, two at a time
    seen, kw = [], {}
    while True:
        r = s3.list_multipart_uploads(Bucket=bucket, MaxUploads=2, **kw)
        seen += [(u["Key"], u["UploadId"]) for u in r.get("Uploads", [])]
        if not r["IsTruncated"]:
            break
        kw = {"KeyMarker": r["NextKeyMarker"], "UploadIdMarker": r["NextUploadIdMarker"]}
    assert sorted(seen) == sorted(got) and len(seen) == len(got)
    for k, v in ids.items():
        for i in v:
            s3.abort_multipart_upload(Bucket=bucket, Key=k, UploadId=i)
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")


def test_upload_part_to_another_key_than_the_upload_is_refused(s3, bucket):
    """An upload id names one key: parts and completion addressed to another key must not
    land on the upload's key."""
    uid = s3.create_multipart_upload(Bucket=bucket, Key="right")["UploadId"]
    with expect_error(s3, "NoSuchUpload", 404):
        s3.upload_part(Bucket=bucket, Key="wrong", UploadId=uid, PartNumber=1, Body=b"x")
    r = s3.upload_part(Bucket=bucket, Key="right", UploadId=uid, PartNumber=1, Body=b"x")
    with expect_error(s3, "NoSuchUpload", 404):
        s3.complete_multipart_upload(Bucket=bucket, Key="wrong", UploadId=uid,
                                     MultipartUpload={"Parts": [{"PartNumber": 1,
                                                                 "ETag": r["ETag"]}]})
    s3.abort_multipart_upload(Bucket=bucket, Key="right", UploadId=uid)


@pytest.mark.parametrize("sizes", [[5 * MIB, 5 * MIB], [5 * MIB, 1]])
def test_boto3_managed_transfer(s3, bucket, scratch, sizes):
    """upload_file / download_file switch to multipart above the threshold."""
    from boto3.s3.transfer import TransferConfig
    data = os.urandom(sum(sizes))
    src = scratch / "src.bin"
    src.write_bytes(data)
    cfg = TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB,
                         max_concurrency=4)
    s3.upload_file(str(src), bucket, "managed", Config=cfg)
    h = s3.head_object(Bucket=bucket, Key="managed")
    assert h["ETag"].endswith('-2"')
    dst = scratch / "dst.bin"
    s3.download_file(bucket, "managed", str(dst), Config=cfg)
    assert dst.read_bytes() == data
