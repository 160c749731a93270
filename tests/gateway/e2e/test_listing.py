"""ListObjects v1 and v2 and ListObjectVersions: prefix, delimiter, marker,
continuation-token, start-after, max-keys, encoding-type=url, fetch-owner, paging."""

import urllib.parse

import pytest
from conftest import expect_error, unique_bucket
from s3util import S3NS, signed_raw, xml_find_all, xml_text

KEYS = ["a/1", "a/2", "a/b/3", "a/b/4", "b/5", "c", "d e/é ü", "d e/plus+amp&", "z"]


@pytest.fixture(scope="module")
def listed(s3):
    name = unique_bucket("listing")
    s3.create_bucket(Bucket=name)
    for k in KEYS:
        s3.put_object(Bucket=name, Key=k, Body=k.encode())
    return name


def keys_of(r):
    return [o["Key"] for o in r.get("Contents", [])]


def prefixes_of(r):
    return [p["Prefix"] for p in r.get("CommonPrefixes", [])]


def test_v2_lists_every_key_in_utf8_order(s3, listed):
    r = s3.list_objects_v2(Bucket=listed)
    assert keys_of(r) == sorted(KEYS, key=lambda k: k.encode())
    assert r["KeyCount"] == len(KEYS)
    assert r["IsTruncated"] is False
    for o in r["Contents"]:
        assert o["Size"] == len(o["Key"].encode())
        assert o["ETag"].startswith('"') and o["ETag"].endswith('"')
        assert o["StorageClass"] == "STANDARD"
        assert "Owner" not in o  # v2 shows owners only when asked


def test_v2_prefix_and_delimiter(s3, listed):
    r = s3.list_objects_v2(Bucket=listed, Delimiter="/")
    assert keys_of(r) == ["c", "z"]
    assert prefixes_of(r) == ["a/", "b/", "d e/"]
    assert r["KeyCount"] == 5
    r = s3.list_objects_v2(Bucket=listed, Prefix="a/", Delimiter="/")
    assert keys_of(r) == ["a/1", "a/2"]
    assert prefixes_of(r) == ["a/b/"]
    r = s3.list_objects_v2(Bucket=listed, Prefix="a/b")
    assert keys_of(r) == ["a/b/3", "a/b/4"]
    r = s3.list_objects_v2(Bucket=listed, Prefix="nothing-here")
    assert keys_of(r) == [] and r["KeyCount"] == 0


def test_v2_pages_with_continuation_tokens(s3, listed):
    seen, token, pages = [], None, 0
    while True:
        kw = {"ContinuationToken": token} if token else {}
        r = s3.list_objects_v2(Bucket=listed, MaxKeys=2, **kw)
        pages += 1
        assert r["MaxKeys"] == 2
        assert len(r.get("Contents", [])) <= 2
        seen += keys_of(r)
        if token:
            assert r["ContinuationToken"] == token
        if not r["IsTruncated"]:
            assert "NextContinuationToken" not in r
            break
        token = r["NextContinuationToken"]
    assert seen == sorted(KEYS, key=lambda k: k.encode())
    assert pages == 5


def test_v2_pages_with_delimiter_count_prefixes(s3, listed):
    seen, token = [], None
    while True:
        kw = {"ContinuationToken": token} if token else {}
        r = s3.list_objects_v2(Bucket=listed, MaxKeys=2, Delimiter="/", **kw)
        assert r["KeyCount"] <= 2
        seen += keys_of(r) + prefixes_of(r)
        if not r["IsTruncated"]:
            break
        token = r["NextContinuationToken"]
    assert sorted(seen) == sorted(["a/", "b/", "c", "d e/", "z"])


def test_v2_start_after(s3, listed):
    r = s3.list_objects_v2(Bucket=listed, StartAfter="a/b/4")
    assert keys_of(r)[0] == "b/5"
    assert r["StartAfter"] == "a/b/4"
    r = s3.list_objects_v2(Bucket=listed, StartAfter="zzz")
    assert keys_of(r) == []


def test_v2_fetch_owner(s3, listed):
    r = s3.list_objects_v2(Bucket=listed, FetchOwner=True, MaxKeys=1)
    assert r["Contents"][0]["Owner"]["ID"]


def test_v2_max_keys_zero_and_over_limit(s3, listed):
    r = s3.list_objects_v2(Bucket=listed, MaxKeys=0)
    assert keys_of(r) == [] and r["IsTruncated"] is False and r["KeyCount"] == 0
    r = s3.list_objects_v2(Bucket=listed, MaxKeys=5000)
    assert r["MaxKeys"] == 1000 and len(keys_of(r)) == len(KEYS)


def test_v1_marker_and_max_keys(s3, listed):
    r = s3.list_objects(Bucket=listed, MaxKeys=3)
    assert keys_of(r) == ["a/1", "a/2", "a/b/3"]
    assert r["IsTruncated"] is True
    r = s3.list_objects(Bucket=listed, Marker="a/b/3", MaxKeys=3)
    assert keys_of(r) == ["a/b/4", "b/5", "c"]
    assert r["Marker"] == "a/b/3"
    assert all("Owner" in o for o in r["Contents"])  # v1 always shows owners


def test_v1_pages_by_next_marker_with_delimiter(s3, listed):
    seen, marker = [], ""
    while True:
        r = s3.list_objects(Bucket=listed, Delimiter="/", MaxKeys=2, Marker=marker)
        seen += keys_of(r) + prefixes_of(r)
        if not r["IsTruncated"]:
            break
        marker = r["NextMarker"]
    assert sorted(seen) == sorted(["a/", "b/", "c", "d e/", "z"])


def test_v1_paginator_walks_everything(s3, listed):
    pages = s3.get_paginator("list_objects").paginate(Bucket=listed, PaginationConfig={
        "PageSize": 4})
    seen = [o["Key"] for p in pages for o in p.get("Contents", [])]
    assert seen == sorted(KEYS, key=lambda k: k.encode())


def test_encoding_type_url_encodes_keys_and_prefixes(server, listed):
    """The raw XML: keys and prefixes percent-encoded, '/' kept."""
    for query in ([("encoding-type", "url"), ("prefix", "d e/")],
                  [("list-type", "2"), ("encoding-type", "url"), ("prefix", "d e/")]):
        r = signed_raw(server.port, "GET", "/" + listed, query)
        assert r.status == 200, r
        assert xml_text(r.body, "s3:EncodingType") == "url"
        keys = [e.text for e in xml_find_all(r.body, "s3:Contents/s3:Key")]
        assert sorted(keys) == sorted(urllib.parse.quote(k, safe="/")
                                      for k in KEYS if k.startswith("d e/"))
        for k in keys:
            assert " " not in k and "&" not in k and "+" not in k
            assert urllib.parse.unquote(k) in KEYS
        assert xml_text(r.body, "s3:Prefix") == "d%20e/"
    r = signed_raw(server.port, "GET", "/" + listed,
                   [("list-type", "2"), ("encoding-type", "url"), ("delimiter", "/")])
    prefixes = [e.text for e in xml_find_all(r.body, "s3:CommonPrefixes/s3:Prefix")]
    assert "d%20e/" in prefixes


def test_boto3_decodes_url_encoded_listing(s3, listed):
    # botocore asks for encoding-type=url by itself and decodes the answer
    r = s3.list_objects_v2(Bucket=listed, Prefix="d e/")
    assert sorted(keys_of(r)) == sorted(k for k in KEYS if k.startswith("d e/"))


def test_unknown_encoding_type_is_invalid_argument(s3, listed):
    with expect_error(s3, "InvalidArgument", 400):
        s3.list_objects_v2(Bucket=listed, EncodingType="base64")


def test_bad_max_keys_and_list_type_are_invalid_argument(server, listed):
    r = signed_raw(server.port, "GET", "/" + listed, [("max-keys", "-1")])
    assert r.status == 400 and r.error_code() == "InvalidArgument", r
    r = signed_raw(server.port, "GET", "/" + listed, [("max-keys", "ten")])
    assert r.status == 400 and r.error_code() == "InvalidArgument", r
    r = signed_raw(server.port, "GET", "/" + listed, [("list-type", "3")])
    assert r.status == 400 and r.error_code() == "InvalidArgument", r
    r = signed_raw(server.port, "GET", "/" + listed,
                   [("list-type", "2"), ("continuation-token", "not-a-token")])
    assert r.status == 400 and r.error_code() == "InvalidArgument", r


def test_list_object_versions_shows_null_versions(s3, listed):
    r = s3.list_object_versions(Bucket=listed)
    versions = r["Versions"]
    assert [v["Key"] for v in versions] == sorted(KEYS, key=lambda k: k.encode())
    for v in versions:
        assert v["VersionId"] == "null"
        assert v["IsLatest"] is True
        assert v["Size"] == len(v["Key"].encode())
    assert not r.get("DeleteMarkers")


def test_list_object_versions_pages_by_key_marker(s3, listed):
    seen, marker = [], None
    while True:
        kw = {"KeyMarker": marker} if marker else {}
        r = s3.list_object_versions(Bucket=listed, MaxKeys=4, **kw)
        seen += [v["Key"] for v in r.get("Versions", [])]
        if not r["IsTruncated"]:
            break
        marker = r["NextKeyMarker"]
        assert r["NextVersionIdMarker"] == "null"
    assert seen == sorted(KEYS, key=lambda k: k.encode())


def test_list_object_versions_with_prefix_and_delimiter(s3, listed):
    r = s3.list_object_versions(Bucket=listed, Prefix="a/", Delimiter="/")
    assert [v["Key"] for v in r["Versions"]] == ["a/1", "a/2"]
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["a/b/"]


def test_emptying_a_bucket_through_versions_like_test_suites_do(s3):
    name = unique_bucket("empty-by-versions")
    s3.create_bucket(Bucket=name)
    for i in range(5):
        s3.put_object(Bucket=name, Key=f"k{i}", Body=b"x")
    r = s3.list_object_versions(Bucket=name)
    objs = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in r["Versions"]]
    d = s3.delete_objects(Bucket=name, Delete={"Objects": objs})
    assert sorted(x["Key"] for x in d["Deleted"]) == [f"k{i}" for i in range(5)]
    s3.delete_bucket(Bucket=name)


def test_list_v2_raw_xml_is_namespaced(server, listed):
    r = signed_raw(server.port, "GET", "/" + listed, [("list-type", "2"), ("max-keys", "1")])
    assert r.status == 200
    assert r.body.startswith(b"<?xml")
    assert r.header("content-type").startswith("application/xml")
    assert xml_text(r.body, "s3:Name") == listed
    assert xml_text(r.body, "s3:IsTruncated") == "true"
    assert S3NS.strip("{}").encode() in r.body
