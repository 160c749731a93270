"""Bucket operations through boto3: ListBuckets, CreateBucket (re-creation, regions, canned
ACLs, names), DeleteBucket, HeadBucket, GetBucketLocation, and the sub-resources clients
probe."""

import time

import pytest
from conftest import Augurd, expect_error, make_client, unique_bucket
from s3util import ADMIN, parse_error, signed_raw

import s3util


def test_fresh_store_starts_and_lists_no_buckets():
    """A daemon on empty nodes (also running its first multipart expiry sweep over no buckets)
    answers ListBuckets with an empty list and stops cleanly."""
    d = Augurd("empty")
    d.start()
    try:
        c = make_client(d)
        time.sleep(1.5)  # the sweep runs in augurd's main loop right after the start
        assert d.alive(), d.log()[-3000:]
        r = c.list_buckets()
        assert r["Buckets"] == []
        assert r["Owner"]["ID"]
    finally:
        problem = d.check_clean_exit()
    assert problem is None, problem
    d.cleanup()


def test_list_buckets_shows_created_buckets_with_owner(s3):
    names = [unique_bucket("lb-a"), unique_bucket("lb-b")]
    for n in names:
        s3.create_bucket(Bucket=n)
    r = s3.list_buckets()
    listed = [b["Name"] for b in r["Buckets"]]
    for n in names:
        assert n in listed
    assert listed == sorted(listed)
    assert r["Owner"]["ID"]
    for b in r["Buckets"]:
        assert b["CreationDate"].year >= 2020


def test_create_bucket_twice_in_us_east_1_succeeds_and_keeps_contents(s3, bucket):
    s3.put_object(Bucket=bucket, Key="keep-me", Body=b"still here")
    r = s3.create_bucket(Bucket=bucket)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert s3.get_object(Bucket=bucket, Key="keep-me")["Body"].read() == b"still here"


def test_create_existing_bucket_in_another_region_is_already_owned(s3, bucket):
    s3.put_object(Bucket=bucket, Key="keep-me", Body=b"x")
    with expect_error(s3, "BucketAlreadyOwnedByYou", 409):
        s3.create_bucket(Bucket=bucket,
                         CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert s3.get_object(Bucket=bucket, Key="keep-me")["Body"].read() == b"x"


def test_create_bucket_accepts_canned_acls(s3):
    for acl in ("private", "public-read", "authenticated-read"):
        name = unique_bucket("acl-" + acl)
        s3.create_bucket(Bucket=name, ACL=acl)
        s3.head_bucket(Bucket=name)


def test_create_bucket_with_unknown_canned_acl_is_invalid_argument(s3):
    name = unique_bucket("acl-bad")
    with expect_error(s3, "InvalidArgument", 400):
        s3.create_bucket(Bucket=name, ACL="everyone-please")


@pytest.mark.parametrize("name", ["ab", "UpperCase", "has_underscore", "-leading-dash",
                                  "trailing-dash-", "a" * 64, "192.168.1.1", "two..dots"])
def test_create_bucket_with_invalid_name_is_refused(s3, server, name):
    # botocore refuses some of these names itself, so the request is made by hand
    r = signed_raw(server.port, "PUT", "/" + name)
    assert r.status == 400, r
    assert r.error_code() == "InvalidBucketName", r
    assert parse_error(r.body)["RequestId"] == r.header("x-amz-request-id")
    s3util.note("InvalidBucketName")


def test_invalid_bucket_name_through_boto3(s3):
    with expect_error(s3, "InvalidBucketName", 400):
        s3.create_bucket(Bucket="ab")


def test_delete_bucket_that_is_not_empty_fails_and_keeps_it(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"1")
    with expect_error(s3, "BucketNotEmpty", 409):
        s3.delete_bucket(Bucket=bucket)
    s3.head_bucket(Bucket=bucket)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"1"


def test_delete_empty_bucket_then_it_is_gone(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"1")
    s3.delete_object(Bucket=bucket, Key="k")
    r = s3.delete_bucket(Bucket=bucket)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    with expect_error(s3, "404", 404, record="NoSuchBucket"):
        s3.head_bucket(Bucket=bucket)
    assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    with expect_error(s3, "NoSuchBucket", 404):
        s3.delete_bucket(Bucket=bucket)


def test_head_bucket(s3, bucket):
    r = s3.head_bucket(Bucket=bucket)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert r["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"] == "us-east-1"


def test_head_missing_bucket_is_404_without_body(s3):
    with expect_error(s3, "404", 404, record="NoSuchBucket"):
        s3.head_bucket(Bucket=unique_bucket("never-made"))
    assert not s3._e2e_last["body"]


def test_get_bucket_location_of_us_east_1_is_empty(s3, bucket):
    r = s3.get_bucket_location(Bucket=bucket)
    assert r.get("LocationConstraint") in (None, "")


def test_operations_on_a_missing_bucket_are_no_such_bucket(s3):
    missing = unique_bucket("missing")
    with expect_error(s3, "NoSuchBucket", 404):
        s3.list_objects_v2(Bucket=missing)
    with expect_error(s3, "NoSuchBucket", 404):
        s3.list_objects(Bucket=missing)
    with expect_error(s3, "NoSuchBucket", 404):
        s3.put_object(Bucket=missing, Key="k", Body=b"x")
    with expect_error(s3, "NoSuchBucket", 404):
        s3.get_object(Bucket=missing, Key="k")
    with expect_error(s3, "NoSuchBucket", 404):
        s3.get_bucket_location(Bucket=missing)
    with expect_error(s3, "NoSuchBucket", 404):
        s3.create_multipart_upload(Bucket=missing, Key="k")
    with expect_error(s3, "NoSuchBucket", 404):
        s3.list_multipart_uploads(Bucket=missing)


def test_bucket_sub_resources_without_configuration(s3, bucket):
    assert s3.get_bucket_acl(Bucket=bucket)["Grants"][0]["Permission"] == "FULL_CONTROL"
    assert s3.get_bucket_versioning(Bucket=bucket).get("Status") is None
    with expect_error(s3, "NoSuchCORSConfiguration", 404):
        s3.get_bucket_cors(Bucket=bucket)
    with expect_error(s3, "NoSuchBucketPolicy", 404):
        s3.get_bucket_policy(Bucket=bucket)
    with expect_error(s3, "NoSuchTagSet", 404):
        s3.get_bucket_tagging(Bucket=bucket)
    with expect_error(s3, "NoSuchLifecycleConfiguration", 404):
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    s3.put_bucket_acl(Bucket=bucket, ACL="private")


def test_unsupported_bucket_configuration_is_not_implemented(s3, bucket):
    with expect_error(s3, "NotImplemented", 501):
        s3.put_bucket_tagging(Bucket=bucket,
                              Tagging={"TagSet": [{"Key": "team", "Value": "ml"}]})
    with expect_error(s3, "NotImplemented", 501):
        s3.put_bucket_versioning(Bucket=bucket,
                                 VersioningConfiguration={"Status": "Enabled"})


def test_create_bucket_with_malformed_configuration_is_malformed_xml(server, s3):
    name = unique_bucket("malformed-cfg")
    body = b"<CreateBucketConfiguration><LocationConstraint>eu-west-1"
    r = signed_raw(server.port, "PUT", "/" + name, body=body, key=ADMIN)
    assert r.status == 400 and r.error_code() == "MalformedXML", r
    s3util.note("MalformedXML")
