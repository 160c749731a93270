"""The checklist of issue 3 item 5: every S3 error code listed there is produced by at least one
test, which checks its status, its code and that the <RequestId> of the body equals the
x-amz-request-id header. CHECKLIST maps each code to the tests that produce it (they call
s3util.note() once their checks passed). This file sorts last, so it runs after the tests it
checks; a code whose tests were not selected (pytest -k, one file) is not required."""

import pytest
from s3util import ISSUE_ERROR_CODES, SEEN_CODES

CHECKLIST = {
    "NoSuchBucket": ["test_buckets.py::test_operations_on_a_missing_bucket_are_no_such_bucket",
                     "test_buckets.py::test_delete_empty_bucket_then_it_is_gone"],
    "NoSuchKey": ["test_objects.py::test_get_and_head_missing_key",
                  "test_objects.py::test_delete_object"],
    "BucketNotEmpty": ["test_buckets.py::test_delete_bucket_that_is_not_empty_fails_and_keeps_it"],
    "BucketAlreadyOwnedByYou": [
        "test_buckets.py::test_create_existing_bucket_in_another_region_is_already_owned"],
    "InvalidBucketName": ["test_buckets.py::test_invalid_bucket_name_through_boto3",
                          "test_buckets.py::test_create_bucket_with_invalid_name_is_refused"],
    "InvalidAccessKeyId": ["test_auth.py::test_unknown_access_key_is_invalid_access_key_id",
                           "test_auth.py::test_sigv2_header_signing_works_and_checks_the_secret"],
    "SignatureDoesNotMatch": ["test_auth.py::test_wrong_secret_is_signature_does_not_match",
                              "test_http.py::test_expect_100_continue_refused_before_the_body"],
    "AccessDenied": ["test_auth.py::test_presigned_url_that_expired_is_access_denied",
                     "test_auth.py::test_anonymous_reads_the_public_bucket_only",
                     "test_auth.py::test_read_only_key_reads_but_cannot_write"],
    "RequestTimeTooSkewed": [
        "test_auth.py::test_skewed_client_clock_is_request_time_too_skewed",
        "test_auth.py::test_stale_or_future_x_amz_date_is_request_time_too_skewed"],
    "InvalidRange": ["test_objects.py::test_range_beyond_end_is_invalid_range"],
    "PreconditionFailed": ["test_objects.py::test_if_match",
                           "test_objects.py::test_if_unmodified_since",
                           "test_objects.py::test_copy_source_conditions"],
    "NotModified": ["test_objects.py::test_if_none_match_gives_304_with_etag_and_last_modified",
                    "test_objects.py::test_if_modified_since"],
    "BadDigest": ["test_objects.py::test_put_with_wrong_content_md5_is_bad_digest_and_stores_nothing",
                  "test_objects.py::test_checksum_headers_are_verified"],
    "MalformedXML": ["test_objects.py::test_delete_objects_with_malformed_xml",
                     "test_multipart.py::test_complete_with_malformed_xml",
                     "test_buckets.py::test_create_bucket_with_malformed_configuration_is_malformed_xml"],
    "InvalidPart": ["test_multipart.py::test_complete_with_wrong_etag_is_invalid_part"],
    "InvalidPartOrder": [
        "test_multipart.py::test_complete_with_parts_out_of_order_is_invalid_part_order"],
    "NoSuchUpload": ["test_multipart.py::test_abort_then_the_upload_is_gone",
                     "test_multipart.py::test_unknown_upload_id_is_no_such_upload"],
    "EntityTooSmall": ["test_multipart.py::test_complete_with_a_small_middle_part_is_entity_too_small"],
    "EntityTooLarge": ["test_http.py::test_entity_too_large"],
    "KeyTooLongError": ["test_objects.py::test_key_of_1024_bytes_is_fine_and_1025_too_long",
                        "test_http.py::test_key_too_long_by_hand"],
    "MethodNotAllowed": ["test_http.py::test_method_not_allowed"],
    "NotImplemented": ["test_http.py::test_put_object_tagging_is_not_implemented",
                       "test_http.py::test_sts_style_post_to_the_root_is_not_implemented",
                       "test_buckets.py::test_unsupported_bucket_configuration_is_not_implemented"],
}


def _items_for(session, ref):
    file, name = ref.split("::")
    return [it for it in session.items
            if it.nodeid.split("::")[0].endswith(file)
            and it.nodeid.split("::")[1].split("[")[0] == name]


def test_checklist_names_every_code_of_the_issue():
    assert sorted(CHECKLIST) == sorted(ISSUE_ERROR_CODES)


def test_checklist_names_tests_that_exist(request):
    """Every test the checklist names exists (collected in a full run)."""
    import pathlib
    here = pathlib.Path(__file__).parent
    for code, refs in CHECKLIST.items():
        for ref in refs:
            file, name = ref.split("::")
            assert f"def {name}(" in (here / file).read_text(), f"{code}: {ref} does not exist"


def test_every_error_code_of_the_issue_was_produced(request):
    missing = []
    for code in ISSUE_ERROR_CODES:
        selected = [it for ref in CHECKLIST[code] for it in _items_for(request.session, ref)]
        if not selected:
            continue  # its tests were not part of this run
        if code not in SEEN_CODES:
            missing.append(f"{code} (expected from {', '.join(CHECKLIST[code])})")
    if missing:
        pytest.fail("error codes no test produced:\n  " + "\n  ".join(missing), pytrace=False)
