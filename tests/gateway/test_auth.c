/* test_auth.c - the gateway's request authentication: AWS's published SigV4 and SigV2
 * examples, presigned URLs, aws-chunked bodies with chunk and trailer signatures, every kind
 * of refusal, and the credentials file. */
#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gateway/auth.h"
#include "testlib.h"

/* The example credentials every AWS signing example uses. */
#define AKID "AKIAIOSFODNN7EXAMPLE"
#define SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define V4_CRED "Credential=" AKID "/20130524/us-east-1/s3/aws4_request"
#define T_20130524 1369353600 /* 2013-05-24T00:00:00Z, the time of the SigV4 examples */

/* ---- fixtures ----------------------------------------------------------------------------- */

#define TREQ_HEADERS 32

/* A request under construction: headers are string literals or test-owned buffers. */
typedef struct treq {
    auth_request_t r;
    auth_header_t h[TREQ_HEADERS];
} treq_t;

static void treq_init(treq_t *t, const char *method, const char *path, const char *query,
                      int64_t now)
{
    memset(t, 0, sizeof(*t));
    t->r.method = method;
    t->r.path = path;
    t->r.query = query;
    t->r.headers = t->h;
    t->r.now = now;
}

static void treq_add(treq_t *t, const char *name, const char *value)
{
    CU_ASSERT_FATAL(t->r.n_headers < TREQ_HEADERS);
    t->h[t->r.n_headers].name = name;
    t->h[t->r.n_headers].value = value;
    t->r.n_headers++;
}

/* Replace the value of the first header named name (any case), or add it. */
static void treq_set(treq_t *t, const char *name, const char *value)
{
    for (size_t i = 0; i < t->r.n_headers; i++) {
        if (strcasecmp(t->h[i].name, name) == 0) {
            t->h[i].value = value;
            return;
        }
    }
    treq_add(t, name, value);
}

static void treq_del(treq_t *t, const char *name)
{
    size_t j = 0;
    for (size_t i = 0; i < t->r.n_headers; i++)
        if (strcasecmp(t->h[i].name, name) != 0) t->h[j++] = t->h[i];
    t->r.n_headers = j;
}

static auth_creds_t *creds_from(const char *text)
{
    auth_creds_t *c = NULL;
    aug_err_t err;
    int rc = auth_creds_parse(text, "test-creds", &c, &err);
    if (rc != 0) fprintf(stderr, "creds: %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    return c;
}

static auth_creds_t *example_creds(void)
{
    return creds_from(AKID " " SECRET "\n");
}

/* Verify req with creds; returns the code and fills res and err. */
static int verify(const auth_creds_t *creds, const treq_t *t, auth_result_t *res, aug_err_t *err)
{
    aug_err_clear(err);
    return auth_verify(creds, &t->r, res, err);
}

/* Check a request is accepted. */
static void expect_ok(const auth_creds_t *creds, const treq_t *t, auth_scheme_t scheme)
{
    auth_result_t res;
    aug_err_t err;
    int rc = verify(creds, t, &res, &err);
    if (rc != 0) fprintf(stderr, "\n  refused: %s: %s\n", res.s3_code, err.msg);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_PTR_NULL(res.s3_code);
    CU_ASSERT_EQUAL(res.scheme, scheme);
    if (scheme != AUTH_ANONYMOUS) {
        CU_ASSERT_PTR_NOT_NULL(res.key);
        CU_ASSERT_STRING_EQUAL(res.access_key, AKID);
    }
}

/* Check a request is refused with code, and that the message does not give the secret away. */
static void expect_refused(const auth_creds_t *creds, const treq_t *t, const char *code)
{
    auth_result_t res;
    aug_err_t err;
    int rc = verify(creds, t, &res, &err);
    CU_ASSERT_EQUAL(rc, AUG_EINVAL);
    CU_ASSERT_PTR_NULL(res.key);
    CU_ASSERT_PTR_NOT_NULL_FATAL(res.s3_code);
    if (strcmp(res.s3_code, code) != 0)
        fprintf(stderr, "\n  expected %s, got %s: %s\n", code, res.s3_code, err.msg);
    CU_ASSERT_STRING_EQUAL(res.s3_code, code);
    CU_ASSERT(err.msg[0] != '\0');
    CU_ASSERT_PTR_NULL(strstr(err.msg, SECRET));
}

/* The "GET Object" example: the first 10 bytes of test.txt. */
static void get_object_example(treq_t *t)
{
    treq_init(t, "GET", "/test.txt", NULL, T_20130524);
    treq_add(t, "Host", "examplebucket.s3.amazonaws.com");
    treq_add(t, "Range", "bytes=0-9");
    treq_add(t, "x-amz-content-sha256", EMPTY_SHA256);
    treq_add(t, "x-amz-date", "20130524T000000Z");
    treq_add(t, "Authorization",
             "AWS4-HMAC-SHA256 " V4_CRED ",SignedHeaders=host;range;x-amz-content-sha256;"
             "x-amz-date,Signature="
             "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

/* The "PUT Object" example: "Welcome to Amazon S3." into test$file.text. */
static void put_object_example(treq_t *t)
{
    treq_init(t, "PUT", "/test$file.text", NULL, T_20130524);
    treq_add(t, "Host", "examplebucket.s3.amazonaws.com");
    treq_add(t, "Date", "Fri, 24 May 2013 00:00:00 GMT");
    treq_add(t, "x-amz-date", "20130524T000000Z");
    treq_add(t, "x-amz-storage-class", "REDUCED_REDUNDANCY");
    treq_add(t, "x-amz-content-sha256",
             "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
    treq_add(t, "Authorization",
             "AWS4-HMAC-SHA256 " V4_CRED ",SignedHeaders=date;host;x-amz-content-sha256;"
             "x-amz-date;x-amz-storage-class,Signature="
             "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
}

/* The "GET Bucket Lifecycle" and "Get Bucket (List Objects)" examples. */
static void bucket_get_example(treq_t *t, const char *query, const char *signature)
{
    static char authz[512];
    treq_init(t, "GET", "/", query, T_20130524);
    treq_add(t, "Host", "examplebucket.s3.amazonaws.com");
    treq_add(t, "x-amz-date", "20130524T000000Z");
    treq_add(t, "x-amz-content-sha256", EMPTY_SHA256);
    snprintf(authz, sizeof(authz),
             "AWS4-HMAC-SHA256 " V4_CRED ",SignedHeaders=host;x-amz-content-sha256;x-amz-date,"
             "Signature=%s",
             signature);
    treq_add(t, "Authorization", authz);
}

/* A request for "/"+path of examplebucket with the minimal SigV4 headers and a signature
 * computed for this test (not an AWS example). */
static void minimal_v4_request(treq_t *t, const char *method, const char *path, const char *query,
                               const char *signature)
{
    static char authz[512];
    treq_init(t, method, path, query, T_20130524);
    treq_add(t, "Host", "examplebucket.s3.amazonaws.com");
    treq_add(t, "x-amz-content-sha256", EMPTY_SHA256);
    treq_add(t, "x-amz-date", "20130524T000000Z");
    snprintf(authz, sizeof(authz),
             "AWS4-HMAC-SHA256 " V4_CRED ",SignedHeaders=host;x-amz-content-sha256;x-amz-date,"
             "Signature=%s",
             signature);
    treq_add(t, "Authorization", authz);
}

#define PRESIGN_SIG "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
#define PRESIGN_QUERY                                                                              \
    "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2F"         \
    "us-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&"               \
    "X-Amz-SignedHeaders=host&X-Amz-Signature=" PRESIGN_SIG

/* The presigned URL example: GET test.txt, valid 24 hours. */
static void presigned_example(treq_t *t, const char *query, int64_t now)
{
    treq_init(t, "GET", "/test.txt", query, now);
    treq_add(t, "Host", "examplebucket.s3.amazonaws.com");
}

/* ---- SigV4: AWS's examples ---------------------------------------------------------------- */

static void test_v4_get_object_example_is_accepted(void)
{
    auth_creds_t *c = example_creds();
    treq_t t;
    get_object_example(&t);
    auth_result_t res;
    aug_err_t err;
    CU_ASSERT_EQUAL(verify(c, &t, &res, &err), 0);
    CU_ASSERT_EQUAL(res.scheme, AUTH_V4_HEADER);
    CU_ASSERT_STRING_EQUAL(res.access_key, AKID);
    CU_ASSERT_STRING_EQUAL(auth_key_id(res.key), AKID);
    CU_ASSERT_EQUAL(res.request_time, T_20130524);
    CU_ASSERT_EQUAL(res.payload, AUTH_PAYLOAD_SHA256);
    CU_ASSERT_STRING_EQUAL(res.scope, "20130524/us-east-1/s3/aws4_request");
    CU_ASSERT_STRING_EQUAL(res.seed_signature,
                           "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
    auth_result_wipe(&res);
    auth_creds_free(c);
}

static void test_v4_put_object_example_is_accepted(void)
{
    auth_creds_t *c = example_creds();
    treq_t t;
    put_object_example(&t);
    auth_result_t res;
    aug_err_t err;
    CU_ASSERT_EQUAL(verify(c, &t, &res, &err), 0);
    CU_ASSERT_EQUAL(res.payload, AUTH_PAYLOAD_SHA256);
    uint8_t want[32];
    aug_unhex("44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072", want, 32);
    CU_ASSERT_EQUAL(memcmp(res.payload_sha256, want, 32), 0);
    auth_creds_free(c);
}

static void test_v4_put_object_example_with_encoded_path_is_accepted(void)
{
    /* the same request with '$' percent-encoded on the wire signs the same */
    auth_creds_t *c = example_creds();
    treq_t t;
    put_object_example(&t);
    t.r.path = "/test%24file.text";
    expect_ok(c, &t, AUTH_V4_HEADER);
    auth_creds_free(c);
}

static void test_v4_get_bucket_lifecycle_example_is_accepted(void)
{
    auth_creds_t *c = example_creds();
    treq_t t;
    bucket_get_example(&t, "lifecycle",
                       "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
    expect_ok(c, &t, AUTH_V4_HEADER);
    auth_creds_free(c);
}

static void test_v4_list_objects_example_is_accepted(void)
{
    auth_creds_t *c = example_creds();
    treq_t t;
    bucket_get_example(&t, "max-keys=2&prefix=J",
                       "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
    expect_ok(c, &t, AUTH_V4_HEADER);
    auth_creds_free(c);
}

static void test_v4_query_parameters_are_sorted_before_signing(void)
{
    auth_creds_t *c = example_creds();
    treq_t t;
    bucket_get_example(&t, "prefix=J&max-keys=2",
                       "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
    expect_ok(c, &t, AUTH_V4_HEADER);
    auth_creds_free(c);
}

static void test_v4_query_values_are_decoded_then_encoded_once(void)
{
    /* signed as "delimiter=%2F&empty=&flag=&prefix=a%20b%2Bc" */
    auth_creds_t *c = example_creds();
    treq_t t;
    const char *sig = "33e338237e581597d42ac562ce1f369f71c1b6d52fae51f685e31390c2fc9d6a";
    minimal_v4_request(&t, "GET", "/", "prefix=a+b%2Bc&flag&delimiter=/&empty=", sig);
    expect_ok(c, &t, AUTH_V4_HEADER);
    minimal_v4_request(&t, "GET", "/", "prefix=a%20b%2bc&delimiter=%2F&flag=&empty", sig);
    expect_ok(c, &t, AUTH_V4_HEADER);
    auth_creds_free(c);
}

static void test_v4_encoded_slash_in_key_stays_encoded(void)
{
    auth_creds_t *c = example_creds();
    treq_t t;
    minimal_v4_request(&t, "GET", "/a%2Fb.txt", NULL,
                       "8028116484de778773148b72c12f89dd8e7b88f1513e148de9824b4476c3a7a1");
    expect_ok(c, &t, AUTH_V4_HEADER);
    /* "/a/b.txt" is another object: the signature must not carry over */
    t.r.path = "/a/b.txt";
    expect_refused(c, &t, "SignatureDoesNotMatch");
    auth_creds_free(c);
}

static void test_v4_path_signed_as_sent_is_accepted(void)
{
    /* a client that sends '(' raw and signs the raw path */
    auth_creds_t *c = example_creds();
    treq_t t;
    minimal_v4_request(&t, "GET", "/a(1).txt", NULL,
                       "22bd452abbd175390cf4dedc510d099bc07f269d816762d2458e280c2eb84586");
    expect_ok(c, &t, AUTH_V4_HEADER);
    auth_creds_free(c);
}

static void test_v4_date_header_is_used_without_x_amz_date(void)
{
    auth_creds_t *c = example_creds();
    treq_t t;
    treq_init(&t, "GET", "/test.txt", NULL, T_20130524 + 60);
    treq_add(&t, "Host", "examplebucket.s3.amazonaws.com");
    treq_add(&t, "Range", "bytes=0-9");
    treq_add(&t, "x-amz-content-sha256", EMPTY_SHA256);
    treq_add(&t, "Date", "Fri, 24 May 2013 00:00:00 GMT");
    treq_add(&t, "Authorization",
             "AWS4-HMAC-SHA256 " V4_CRED ", SignedHeaders=date;host;range;x-amz-content-sha256, "
             "Signature=06a89493f994c6387296715df00223e3e61115c3f4132854d351e0e3b5922ca0");
    auth_result_t res;
    aug_err_t err;
    CU_ASSERT_EQUAL(verify(c, &t, &res, &err), 0);
    CU_ASSERT_STRING_EQUAL(res.amz_date, "20130524T000000Z");
    CU_ASSERT_EQUAL(res.request_time, T_20130524);
    auth_creds_free(c);
}

static void test_v4_header_names_any_case_and_values_trimmed(void)
{
    auth_creds_t *c = example_creds();
    treq_t t;
    get_object_example(&t);
    t.h[0].name = "HOST";
    t.h[1].name = "range";
    t.h[1].value = "  bytes=0-9\t ";
    t.h[3].name = "X-Amz-Date";
    expect_ok(c, &t, AUTH_V4_HEADER);
    auth_creds_free(c);
}

static void test_v4_repeated_headers_are_joined_with_commas(void)
{
    /* signed as "x-amz-meta-a:one,two words" */
    auth_creds_t *c = example_creds();
    treq_t t;
    treq_init(&t, "PUT", "/k", NULL, T_20130524);
    treq_add(&t, "Host", "examplebucket.s3.amazonaws.com");
    treq_add(&t, "x-amz-meta-a", "one");
    treq_add(&t, "x-amz-content-sha256", EMPTY_SHA256);
    treq_add(&t, "x-amz-date", "20130524T000000Z");
    treq_add(&t, "x-amz-meta-a", " two    words ");
    treq_add(&t, "Authorization",
             "AWS4-HMAC-SHA256 " V4_CRED ",SignedHeaders=host;x-amz-content-sha256;x-amz-date;"
             "x-amz-meta-a,Signature="
             "abc4b11fab4dbbe5b9b0143f55a127121811457844d48c96e5e218bb1b05b92d");
    expect_ok(c, &t, AUTH_V4_HEADER);
    auth_creds_free(c);
}

static void test_v4_spaces_after_commas_in_authorization_are_accepted(void)
{
    auth_creds_t *c = example_creds();
    treq_t t;
    get_object_example(&t);
    treq_set(&t, "Authorization",
             "AWS4-HMAC-SHA256  " V4_CRED ", SignedHeaders=host;range;x-amz-content-sha256;"
             "x-amz-date ,  Signature="
             "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
    expect_ok(c, &t, AUTH_V4_HEADER);
    auth_creds_free(c);
}

/* ---- SigV4: refusals ---------------------------------------------------------------------- */

static void test_v4_tampered_header_is_signature_mismatch(void)
{
    auth_creds_t *c = example_creds();
    treq_t t;
    get_object_example(&t);
    treq_set(&t, "Range", "bytes=0-10");
    expect_refused(c, &t, "SignatureDoesNotMatch");
    auth_creds_free(c);
}

static void test_v4_tampered_path_method_or_query_is_signature_mismatch(void)
{
    auth_creds_t *c = example_creds();
    treq_t t;
    get_object_example(&t);
    t.r.path = "/test.txT";
    expect_refused(c, &t, "SignatureDoesNotMatch");
    get_object_example(&t);
    t.r.method = "DELETE";
    expect_refused(c, &t, "SignatureDoesNotMatch");
    get_object_example(&t);
    t.r.query = "versionId=1";
    expect_refused(c, &t, "SignatureDoesNotMatch");
    auth_creds_free(c);
}

static void test_v4_tampered_payload_hash_is_signature_mismatch(void)
{
    auth_creds_t *c = example_creds();
    treq_t t;
    put_object_example(&t);
    treq_set(&t, "x-amz-content-sha256",
             "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b073");
    expect_refused(c, &t, "SignatureDoesNotMatch");
    auth_creds_free(c);
}

static void test_v4_wrong_secret_is_signature_mismatch(void)
{
    auth_creds_t *c = creds_from(AKID " wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEZ\n");
    treq_t t;
    get_object_example(&t);
    expect_refused(c, &t, "SignatureDoesNotMatch");
    auth_creds_free(c);
}

static void test_v4_unknown_key_is_invalid_access_key_id(void)
{
    auth_creds_t *c = creds_from("AKIDOTHER " SECRET "\n");
    treq_t t;
    get_object_example(&t);
    auth_result_t res;
    aug_err_t err;
    CU_ASSERT_EQUAL(verify(c, &t, &res, &err), AUG_EINVAL);
    CU_ASSERT_STRING_EQUAL(res.s3_code, "InvalidAccessKeyId");
    CU_ASSERT_STRING_EQUAL(res.access_key, AKID); /* for the access log */
    CU_ASSERT_EQUAL(auth_http_status(res.s3_code), 403);
    auth_creds_free(c);
}

static void test_v4_no_credentials_at_all_is_invalid_access_key_id(void)
{
    auth_creds_t *c = creds_from("# nobody yet\n");
    treq_t t;
    get_object_example(&t);
    expect_refused(c, &t, "InvalidAccessKeyId");
    auth_creds_free(c);
}

static void test_v4_clock_skew_over_15_minutes_is_refused(void)
{
    auth_creds_t *c = example_creds();
    treq_t t;
    get_object_example(&t);
    t.r.now = T_20130524 + 15 * 60;
    expect_ok(c, &t, AUTH_V4_HEADER);
    t.r.now = T_20130524 - 15 * 60;
    expect_ok(c, &t, AUTH_V4_HEADER);
    t.r.now = T_20130524 + 15 * 60 + 1;
    expect_refused(c, &t, "RequestTimeTooSkewed");
    t.r.now = T_20130524 - 15 * 60 - 1;
    expect_refused(c, &t, "RequestTimeTooSkewed");
    t.r.now = 1700000000;
    expect_refused(c, &t, "RequestTimeTooSkewed");
    auth_creds_free(c);
}

static void test_v4_missing_or_bad_date_is_access_denied(void)
{
    auth_creds_t *c = example_creds();
    treq_t t;
    get_object_example(&t);
    treq_del(&t, "x-amz-date");
    expect_refused(c, &t, "AccessDenied");
    treq_set(&t, "x-amz-date", "2013-05-24T00:00:00Z");
    expect_refused(c, &t, "AccessDenied");
    treq_set(&t, "x-amz-date", "20130532T000000Z");
    expect_refused(c, &t, "AccessDenied");
    auth_creds_free(c);
}

static void test_v4_region_other_than_the_endpoints_is_malformed(void)
{
    auth_creds_t *c = example_creds();
    treq_t t;
    get_object_example(&t);
    t.r.region = "us-east-1";
    expect_ok(c, &t, AUTH_V4_HEADER);
    t.r.region = "eu-west-1";
    expect_refused(c, &t, "AuthorizationHeaderMalformed");
    auth_creds_free(c);
}

static void test_v4_unsigned_amz_header_is_access_denied(void)
{
    auth_creds_t *c = example_creds();
    treq_t t;
    get_object_example(&t);
    treq_add(&t, "X-Amz-Meta-Injected", "yes");
    expect_refused(c, &t, "AccessDenied");
    auth_creds_free(c);
}

static void test_v4_unsigned_ordinary_header_is_allowed(void)
{
    auth_creds_t *c = example_creds();
    treq_t t;
    get_object_example(&t);
    treq_add(&t, "User-Agent", "test/1.0");
    treq_add(&t, "Expect", "100-continue");
    expect_ok(c, &t, AUTH_V4_HEADER);
    auth_creds_free(c);
}

static void test_v4_signed_header_missing_from_request_is_mismatch(void)
{
    auth_creds_t *c = example_creds();
    treq_t t;
    get_object_example(&t);
    treq_del(&t, "Range");
    expect_refused(c, &t, "SignatureDoesNotMatch");
    auth_creds_free(c);
}

static void test_v4_missing_content_sha256_is_invalid_request(void)
{
    auth_creds_t *c = example_creds();
    treq_t t;
    get_object_example(&t);
    treq_del(&t, "x-amz-content-sha256");
    expect_refused(c, &t, "InvalidRequest");
    auth_creds_free(c);
}

static void test_v4_bad_content_sha256_is_invalid_argument(void)
{
    auth_creds_t *c = example_creds();
    treq_t t;
    get_object_example(&t);
    treq_set(&t, "x-amz-content-sha256", "not-a-hash");
    expect_refused(c, &t, "InvalidArgument");
    treq_set(&t, "x-amz-content-sha256", "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD");
    expect_refused(c, &t, "NotImplemented");
    auth_creds_free(c);
}

static void test_v4_streaming_without_decoded_length_is_refused(void)
{
    auth_creds_t *c = example_creds();
    treq_t t;
    get_object_example(&t);
    treq_set(&t, "x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD");
    expect_refused(c, &t, "MissingContentLength");
    CU_ASSERT_EQUAL(auth_http_status("MissingContentLength"), 411);
    auth_creds_free(c);
}

static void test_v4a_is_not_implemented(void)
{
    auth_creds_t *c = example_creds();
    treq_t t;
    get_object_example(&t);
    treq_set(&t, "Authorization",
             "AWS4-ECDSA-P256-SHA256 Credential=" AKID "/20130524/s3/aws4_request, "
             "SignedHeaders=host;x-amz-date;x-amz-region-set, Signature=3045022100");
    expect_refused(c, &t, "NotImplemented");
    auth_creds_free(c);
}

/* Broken Authorization headers, each with the code S3 answers. */
static const struct {
    const char *authz;
    const char *code;
} broken_authz[] = {
    {"AWS4-HMAC-SHA256", "AuthorizationHeaderMalformed"},
    {"AWS4-HMAC-SHA256 ", "AuthorizationHeaderMalformed"},
    {"AWS4-HMAC-SHA256 Credential=", "AuthorizationHeaderMalformed"},
    {"AWS4-HMAC-SHA256 " V4_CRED, "AuthorizationHeaderMalformed"},
    {"AWS4-HMAC-SHA256 " V4_CRED ",SignedHeaders=host;range;x-amz-content-sha256;x-amz-date",
     "AuthorizationHeaderMalformed"},
    {"AWS4-HMAC-SHA256 " V4_CRED ",SignedHeaders=host,Signature=abc",
     "AuthorizationHeaderMalformed"},
    {"AWS4-HMAC-SHA256 " V4_CRED ",SignedHeaders=host,Signature="
     "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz",
     "AuthorizationHeaderMalformed"},
    {"AWS4-HMAC-SHA256 Credential=" AKID "/20130524/us-east-1/s3,SignedHeaders=host,Signature="
     "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
     "AuthorizationHeaderMalformed"},
    {"AWS4-HMAC-SHA256 Credential=" AKID "/20130524/us-east-1/s3/aws4_request/x,SignedHeaders="
     "host,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
     "AuthorizationHeaderMalformed"},
    {"AWS4-HMAC-SHA256 Credential=" AKID "/2013052X/us-east-1/s3/aws4_request,SignedHeaders="
     "host,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
     "AuthorizationHeaderMalformed"},
    {"AWS4-HMAC-SHA256 Credential=" AKID "/20130524/us-east-1/ec2/aws4_request,SignedHeaders="
     "host,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
     "AuthorizationHeaderMalformed"},
    {"AWS4-HMAC-SHA256 Credential=" AKID "/20130524/us-east-1/s3/aws4_reques,SignedHeaders="
     "host,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
     "AuthorizationHeaderMalformed"},
    {"AWS4-HMAC-SHA256 Credential=/20130524/us-east-1/s3/aws4_request,SignedHeaders=host,"
     "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
     "AuthorizationHeaderMalformed"},
    {"AWS4-HMAC-SHA256 Credential=" AKID "/20130523/us-east-1/s3/aws4_request,SignedHeaders="
     "host,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
     "AuthorizationHeaderMalformed"},
    {"AWS4-HMAC-SHA256 " V4_CRED ",SignedHeaders=,Signature="
     "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
     "AuthorizationHeaderMalformed"},
    {"AWS4-HMAC-SHA256 " V4_CRED ",SignedHeaders=host;;range,Signature="
     "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
     "AuthorizationHeaderMalformed"},
    {"AWS4-HMAC-SHA256 " V4_CRED ",SignedHeaders=range;x-amz-date,Signature="
     "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
     "AuthorizationHeaderMalformed"},
    {"AWS4-HMAC-SHA256 " V4_CRED ",SignedHeaders=host,Foo=bar,Signature="
     "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
     "AuthorizationHeaderMalformed"},
    {"AWS4-HMAC-SHA256 " V4_CRED "," V4_CRED ",SignedHeaders=host,Signature="
     "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
     "AuthorizationHeaderMalformed"},
    {"AWS4-HMAC-SHA256 =,=,=", "AuthorizationHeaderMalformed"},
    {"AWS4-HMAC-SHA256 Credential", "AuthorizationHeaderMalformed"},
    {"AWS4-HMAC-SHA256 ,,,,", "AuthorizationHeaderMalformed"},
    {"AWS4-HMAC-SHA256 Credential=\x01\x02\x03/20130524/us-east-1/s3/aws4_request",
     "AuthorizationHeaderMalformed"},
    {"AWS4-HMAC-SHA256 Credential=" AKID "/20130524/us east 1/s3/aws4_request,SignedHeaders="
     "host,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
     "AuthorizationHeaderMalformed"},
    {"AWS4-HMAC-SHA256" V4_CRED, "InvalidArgument"},
    {"aws4-hmac-sha256 " V4_CRED, "InvalidArgument"},
    {"AWS", "InvalidArgument"},
    {"AWS " AKID, "InvalidArgument"},
    {"AWS :bWq2s1WEIj+Ydj0vQ697zp+IXMU=", "InvalidArgument"},
    {"AWS " AKID ":", "InvalidArgument"},
    {"Bearer eyJhbGciOiJIUzI1NiJ9", "InvalidArgument"},
    {"", "InvalidArgument"},
    {"   ", "InvalidArgument"},
};

static void test_v4_broken_authorization_headers_are_refused(void)
{
    auth_creds_t *c = example_creds();
    for (size_t i = 0; i < sizeof(broken_authz) / sizeof(broken_authz[0]); i++) {
        treq_t t;
        get_object_example(&t);
        treq_set(&t, "Authorization", broken_authz[i].authz);
        expect_refused(c, &t, broken_authz[i].code);
    }
    auth_creds_free(c);
}

static void test_v4_huge_authorization_header_is_refused(void)
{
    auth_creds_t *c = example_creds();
    size_t n = 64 * 1024;
    char *big = malloc(n + 256);
    CU_ASSERT_PTR_NOT_NULL_FATAL(big);
    const char *variants[] = {
        "AWS4-HMAC-SHA256 Credential=", "AWS4-HMAC-SHA256 " V4_CRED ",SignedHeaders=", "AWS "};
    for (size_t v = 0; v < 3; v++) {
        strcpy(big, variants[v]);
        size_t l = strlen(big);
        memset(big + l, v == 1 ? 'h' : 'A', n);
        big[l + n] = '\0';
        treq_t t;
        get_object_example(&t);
        treq_set(&t, "Authorization", big);
        auth_result_t res;
        aug_err_t err;
        CU_ASSERT_EQUAL(verify(c, &t, &res, &err), AUG_EINVAL);
        CU_ASSERT_PTR_NOT_NULL(res.s3_code);
    }
    free(big);
    auth_creds_free(c);
}

static void test_two_authorization_headers_are_refused(void)
{
    auth_creds_t *c = example_creds();
    treq_t t;
    get_object_example(&t);
    treq_add(&t, "authorization", "AWS " AKID ":bWq2s1WEIj+Ydj0vQ697zp+IXMU=");
    expect_refused(c, &t, "InvalidArgument");
    auth_creds_free(c);
}

static void test_header_and_query_signature_together_are_refused(void)
{
    auth_creds_t *c = example_creds();
    treq_t t;
    get_object_example(&t);
    t.r.query = "X-Amz-Signature=" PRESIGN_SIG;
    expect_refused(c, &t, "InvalidArgument");
    presigned_example(&t, PRESIGN_QUERY "&AWSAccessKeyId=" AKID, T_20130524);
    expect_refused(c, &t, "InvalidArgument");
    auth_creds_free(c);
}

static void test_request_without_credentials_is_anonymous(void)
{
    auth_creds_t *c = example_creds();
    treq_t t;
    treq_init(&t, "GET", "/public/file.txt", "versionId=3", T_20130524);
    treq_add(&t, "Host", "localhost:9000");
    auth_result_t res;
    aug_err_t err;
    CU_ASSERT_EQUAL(verify(c, &t, &res, &err), 0);
    CU_ASSERT_EQUAL(res.scheme, AUTH_ANONYMOUS);
    CU_ASSERT_PTR_NULL(res.key);
    CU_ASSERT_STRING_EQUAL(res.access_key, "");
    CU_ASSERT_STRING_EQUAL(auth_scheme_name(res.scheme), "anonymous");
    auth_creds_free(c);
}

/* ---- SigV4 presigned URLs ----------------------------------------------------------------- */

static void test_v4_presigned_url_example_is_accepted(void)
{
    auth_creds_t *c = example_creds();
    treq_t t;
    presigned_example(&t, PRESIGN_QUERY, T_20130524 + 3600);
    auth_result_t res;
    aug_err_t err;
    CU_ASSERT_EQUAL(verify(c, &t, &res, &err), 0);
    CU_ASSERT_EQUAL(res.scheme, AUTH_V4_QUERY);
    CU_ASSERT_EQUAL(res.payload, AUTH_PAYLOAD_UNSIGNED);
    CU_ASSERT_STRING_EQUAL(res.access_key, AKID);
    auth_creds_free(c);
}

static void test_v4_presigned_url_is_good_until_it_expires(void)
{
    auth_creds_t *c = example_creds();
    treq_t t;
    presigned_example(&t, PRESIGN_QUERY, T_20130524 + 86400);
    expect_ok(c, &t, AUTH_V4_QUERY);
    presigned_example(&t, PRESIGN_QUERY, T_20130524 + 86401);
    expect_refused(c, &t, "AccessDenied");
    auth_result_t res;
    aug_err_t err;
    verify(c, &t, &res, &err);
    CU_ASSERT_STRING_EQUAL(err.msg, "Request has expired");
    auth_creds_free(c);
}

static void test_v4_presigned_url_from_the_future_is_refused(void)
{
    auth_creds_t *c = example_creds();
    treq_t t;
    presigned_example(&t, PRESIGN_QUERY, T_20130524 - 16 * 60);
    expect_refused(c, &t, "AccessDenied");
    auth_creds_free(c);
}

static void test_v4_presigned_url_with_parameters_reordered_is_accepted(void)
{
    auth_creds_t *c = example_creds();
    treq_t t;
    presigned_example(&t,
                      "X-Amz-Signature=" PRESIGN_SIG
                      "&X-Amz-SignedHeaders=host&X-Amz-Expires=86400&"
                      "X-Amz-Date=20130524T000000Z&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE/20130524/"
                      "us-east-1/s3/aws4_request&X-Amz-Algorithm=AWS4-HMAC-SHA256",
                      T_20130524 + 10);
    expect_ok(c, &t, AUTH_V4_QUERY);
    auth_creds_free(c);
}

static void test_v4_presigned_url_tampered_is_signature_mismatch(void)
{
    auth_creds_t *c = example_creds();
    treq_t t;
    presigned_example(&t, PRESIGN_QUERY "&response-content-type=text%2Fhtml", T_20130524 + 10);
    expect_refused(c, &t, "SignatureDoesNotMatch");
    presigned_example(&t, PRESIGN_QUERY, T_20130524 + 10);
    t.r.path = "/other.txt";
    expect_refused(c, &t, "SignatureDoesNotMatch");
    presigned_example(&t, PRESIGN_QUERY, T_20130524 + 10);
    treq_set(&t, "Host", "evil.example.com");
    expect_refused(c, &t, "SignatureDoesNotMatch");
    auth_creds_free(c);
}

static void test_v4_presigned_url_with_unknown_key_is_invalid_access_key_id(void)
{
    auth_creds_t *c = creds_from("SOMEONEELSE " SECRET "\n");
    treq_t t;
    presigned_example(&t, PRESIGN_QUERY, T_20130524 + 10);
    expect_refused(c, &t, "InvalidAccessKeyId");
    auth_creds_free(c);
}

static const struct {
    const char *query;
    const char *code;
} broken_presign[] = {
    /* each differs from PRESIGN_QUERY in one way */
    {"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-"
     "east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-"
     "SignedHeaders=host",
     "AuthorizationQueryParametersError"},
    {"X-Amz-Algorithm=AWS4-HMAC-SHA1&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-"
     "east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-"
     "SignedHeaders=host&X-Amz-Signature=" PRESIGN_SIG,
     "AuthorizationQueryParametersError"},
    {"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-"
     "east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=1day&X-Amz-"
     "SignedHeaders=host&X-Amz-Signature=" PRESIGN_SIG,
     "AuthorizationQueryParametersError"},
    {"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-"
     "east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=604801&X-Amz-"
     "SignedHeaders=host&X-Amz-Signature=" PRESIGN_SIG,
     "AuthorizationQueryParametersError"},
    {"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-"
     "east-1%2Fs3%2Faws4_request&X-Amz-Date=2013-05-24&X-Amz-Expires=86400&X-Amz-"
     "SignedHeaders=host&X-Amz-Signature=" PRESIGN_SIG,
     "AuthorizationQueryParametersError"},
    {"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-"
     "east-1%2Fs3&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-"
     "SignedHeaders=host&X-Amz-Signature=" PRESIGN_SIG,
     "AuthorizationQueryParametersError"},
    {"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-"
     "east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-"
     "SignedHeaders=x-amz-date&X-Amz-Signature=" PRESIGN_SIG,
     "AuthorizationQueryParametersError"},
    {PRESIGN_QUERY "&X-Amz-Signature=" PRESIGN_SIG, "AuthorizationQueryParametersError"},
    {"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-"
     "east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-"
     "SignedHeaders=host&X-Amz-Signature=f00",
     "AuthorizationQueryParametersError"},
    {"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-"
     "east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=-5&X-Amz-"
     "SignedHeaders=host&X-Amz-Signature=" PRESIGN_SIG,
     "AuthorizationQueryParametersError"},
    {"X-Amz-Signature=%00", "AuthorizationQueryParametersError"},
    {"X-Amz-Algorithm", "AuthorizationQueryParametersError"},
};

static void test_v4_broken_presigned_parameters_are_refused(void)
{
    auth_creds_t *c = example_creds();
    for (size_t i = 0; i < sizeof(broken_presign) / sizeof(broken_presign[0]); i++) {
        treq_t t;
        presigned_example(&t, broken_presign[i].query, T_20130524 + 10);
        expect_refused(c, &t, broken_presign[i].code);
    }
    auth_creds_free(c);
}

static void test_v4_presigned_url_with_unsigned_amz_header_is_refused(void)
{
    auth_creds_t *c = example_creds();
    treq_t t;
    presigned_example(&t, PRESIGN_QUERY, T_20130524 + 10);
    treq_add(&t, "x-amz-acl", "public-read");
    expect_refused(c, &t, "AccessDenied");
    auth_creds_free(c);
}

/* ---- SigV2 (AWS "Signing and authenticating REST requests" examples) --------------------
 *
 * The current page names the bucket "awsexamplebucket1" but still shows the signatures AWS
 * computed when the examples used the bucket "johnsmith"; these tests use "johnsmith", for
 * which the published signatures are right. */

static void v2_request(treq_t *t, const char *method, const char *path, const char *query,
                       const char *bucket, const char *date, int64_t now, const char *authz)
{
    treq_init(t, method, path, query, now);
    t->r.host_bucket = bucket;
    if (date) treq_add(t, "Date", date);
    if (authz) treq_add(t, "Authorization", authz);
}

static void test_v2_object_get_example_is_accepted(void)
{
    auth_creds_t *c = example_creds();
    treq_t t;
    v2_request(&t, "GET", "/photos/puppy.jpg", NULL, "johnsmith", "Tue, 27 Mar 2007 19:36:42 +0000",
               1175024202, "AWS " AKID ":bWq2s1WEIj+Ydj0vQ697zp+IXMU=");
    treq_add(&t, "Host", "johnsmith.s3.amazonaws.com");
    auth_result_t res;
    aug_err_t err;
    CU_ASSERT_EQUAL(verify(c, &t, &res, &err), 0);
    CU_ASSERT_EQUAL(res.scheme, AUTH_V2_HEADER);
    CU_ASSERT_EQUAL(res.payload, AUTH_PAYLOAD_UNSIGNED);
    CU_ASSERT_EQUAL(res.request_time, 1175024202);
    CU_ASSERT_STRING_EQUAL(auth_scheme_name(res.scheme), "sigv2");
    auth_creds_free(c);
}

static void test_v2_object_put_example_is_accepted(void)
{
    auth_creds_t *c = example_creds();
    treq_t t;
    v2_request(&t, "PUT", "/photos/puppy.jpg", NULL, "johnsmith", "Tue, 27 Mar 2007 21:15:45 +0000",
               1175030145, "AWS " AKID ":MyyxeRY7whkBe+bq8fHCL/2kKUg=");
    treq_add(&t, "Content-Type", "image/jpeg");
    treq_add(&t, "Content-Length", "94328");
    treq_add(&t, "Host", "johnsmith.s3.amazonaws.com");
    expect_ok(c, &t, AUTH_V2_HEADER);
    auth_creds_free(c);
}

static void test_v2_list_example_ignores_ordinary_query_parameters(void)
{
    auth_creds_t *c = example_creds();
    treq_t t;
    v2_request(&t, "GET", "/", "prefix=photos&max-keys=50&marker=puppy", "johnsmith",
               "Tue, 27 Mar 2007 19:42:41 +0000", 1175024561,
               "AWS " AKID ":htDYFYduRNen8P9ZfE/s9SuKy0U=");
    treq_add(&t, "User-Agent", "Mozilla/5.0");
    treq_add(&t, "Host", "johnsmith.s3.amazonaws.com");
    expect_ok(c, &t, AUTH_V2_HEADER);
    auth_creds_free(c);
}

static void test_v2_acl_sub_resource_is_signed(void)
{
    auth_creds_t *c = example_creds();
    treq_t t;
    v2_request(&t, "GET", "/", "acl", "johnsmith", "Tue, 27 Mar 2007 19:44:46 +0000", 1175024686,
               "AWS " AKID ":c2WLPFtWHVgbEmeEG93a4cG37dM=");
    expect_ok(c, &t, AUTH_V2_HEADER);
    t.r.query = "policy";
    expect_refused(c, &t, "SignatureDoesNotMatch");
    auth_creds_free(c);
}

static void test_v2_delete_example_with_x_amz_date_is_accepted(void)
{
    /* AWS's example puts x-amz-date in the Date line */
    auth_creds_t *c = example_creds();
    treq_t t;
    v2_request(&t, "DELETE", "/johnsmith/photos/puppy.jpg", NULL, NULL,
               "Tue, 27 Mar 2007 21:20:27 +0000", 1175030426,
               "AWS " AKID ":lx3byBScXR6KzyMaifNkardMwNk=");
    treq_add(&t, "User-Agent", "dotnet");
    treq_add(&t, "Host", "s3.amazonaws.com");
    treq_add(&t, "x-amz-date", "Tue, 27 Mar 2007 21:20:26 +0000");
    expect_ok(c, &t, AUTH_V2_HEADER);
    auth_creds_free(c);
}

static void test_v2_x_amz_date_signed_among_amz_headers_is_accepted(void)
{
    /* what libs3 and botocore sign: empty Date line, x-amz-date among the x-amz-* headers */
    auth_creds_t *c = example_creds();
    treq_t t;
    v2_request(&t, "DELETE", "/johnsmith/photos/puppy.jpg", NULL, NULL, NULL, 1175030426,
               "AWS " AKID ":R4dJ53KECjStyBO5iTBJZ4XVOaI=");
    treq_add(&t, "x-amz-date", "Tue, 27 Mar 2007 21:20:26 +0000");
    expect_ok(c, &t, AUTH_V2_HEADER);
    auth_creds_free(c);
}

static void test_v2_upload_example_with_amz_headers_is_accepted(void)
{
    auth_creds_t *c = example_creds();
    treq_t t;
    v2_request(&t, "PUT", "/db-backup.dat.gz", NULL, "static.johnsmith.net",
               "Tue, 27 Mar 2007 21:06:08 +0000", 1175029568,
               "AWS " AKID ":ilyl83RwaSoYIEdixDQcA4OnAnc=");
    treq_add(&t, "User-Agent", "curl/7.15.5");
    treq_add(&t, "Host", "static.johnsmith.net:8080");
    treq_add(&t, "x-amz-acl", "public-read");
    treq_add(&t, "content-type", "application/x-download");
    treq_add(&t, "Content-MD5", "4gJE4saaMU4BqNR0kLY+lw==");
    treq_add(&t, "X-Amz-Meta-ReviewedBy", "joe@johnsmith.net");
    treq_add(&t, "X-Amz-Meta-ReviewedBy", "jane@johnsmith.net");
    treq_add(&t, "X-Amz-Meta-FileChecksum", "0x02661779");
    treq_add(&t, "X-Amz-Meta-ChecksumAlgorithm", "crc32");
    treq_add(&t, "Content-Disposition", "attachment; filename=database.dat");
    treq_add(&t, "Content-Encoding", "gzip");
    treq_add(&t, "Content-Length", "5913339");
    expect_ok(c, &t, AUTH_V2_HEADER);
    /* the x-amz-* headers are signed */
    treq_set(&t, "X-Amz-Meta-FileChecksum", "0x02661778");
    expect_refused(c, &t, "SignatureDoesNotMatch");
    auth_creds_free(c);
}

static void test_v2_list_all_buckets_example_is_accepted(void)
{
    auth_creds_t *c = example_creds();
    treq_t t;
    v2_request(&t, "GET", "/", NULL, NULL, "Wed, 28 Mar 2007 01:29:59 +0000", 1175045399,
               "AWS " AKID ":qGdzdERIC03wnaRNKh6OqZehG9s=");
    treq_add(&t, "Host", "s3.amazonaws.com");
    expect_ok(c, &t, AUTH_V2_HEADER);
    auth_creds_free(c);
}

static void test_v2_unicode_key_is_signed_as_sent(void)
{
    auth_creds_t *c = example_creds();
    treq_t t;
    v2_request(&t, "GET", "/dictionary/fran%C3%A7ais/pr%c3%a9f%c3%a8re", NULL, NULL,
               "Wed, 28 Mar 2007 01:49:49 +0000", 1175046589,
               "AWS " AKID ":DNEZGsoieTZ92F3bUfSPQcbGmlM=");
    treq_add(&t, "Host", "s3.amazonaws.com");
    expect_ok(c, &t, AUTH_V2_HEADER);
    auth_creds_free(c);
}

static void test_v2_query_string_example_is_accepted_until_it_expires(void)
{
    auth_creds_t *c = example_creds();
    treq_t t;
    const char *q = "AWSAccessKeyId=" AKID "&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D&"
                    "Expires=1175139620";
    v2_request(&t, "GET", "/photos/puppy.jpg", q, "johnsmith", NULL, 1175139620 - 3600, NULL);
    treq_add(&t, "Host", "johnsmith.s3.amazonaws.com");
    expect_ok(c, &t, AUTH_V2_QUERY);
    t.r.now = 1175139620;
    expect_ok(c, &t, AUTH_V2_QUERY);
    t.r.now = 1175139621;
    expect_refused(c, &t, "AccessDenied");
    auth_creds_free(c);
}

static void test_v2_query_signature_with_unencoded_plus_is_accepted(void)
{
    auth_creds_t *c = example_creds();
    treq_t t;
    const char *q = "AWSAccessKeyId=" AKID "&Signature=NpgCjnDzrM+WFzoENXmpNDUsSn8=&"
                    "Expires=1175139620";
    v2_request(&t, "GET", "/photos/puppy.jpg", q, "johnsmith", NULL, 1175139620 - 3600, NULL);
    expect_ok(c, &t, AUTH_V2_QUERY);
    auth_creds_free(c);
}

static void test_v2_query_signs_sub_resources_and_response_overrides(void)
{
    auth_creds_t *c = example_creds();
    treq_t t;
    const char *q = "versionId=v1&response-content-type=text%2Fplain&AWSAccessKeyId=" AKID
                    "&Expires=1175139620&Signature=TE8JWhZmpETXddtnMYhBBZ3ZwKg%3D";
    v2_request(&t, "GET", "/photos/puppy.jpg", q, "johnsmith", NULL, 1175139620 - 3600, NULL);
    expect_ok(c, &t, AUTH_V2_QUERY);
    t.r.query = "versionId=v2&response-content-type=text%2Fplain&AWSAccessKeyId=" AKID
                "&Expires=1175139620&Signature=TE8JWhZmpETXddtnMYhBBZ3ZwKg%3D";
    expect_refused(c, &t, "SignatureDoesNotMatch");
    auth_creds_free(c);
}

static void test_v2_refusals_have_the_right_codes(void)
{
    auth_creds_t *c = example_creds();
    treq_t t;
    const char *good = "AWS " AKID ":bWq2s1WEIj+Ydj0vQ697zp+IXMU=";
    /* wrong bucket: the resource differs */
    v2_request(&t, "GET", "/photos/puppy.jpg", NULL, "janedoe", "Tue, 27 Mar 2007 19:36:42 +0000",
               1175024202, good);
    expect_refused(c, &t, "SignatureDoesNotMatch");
    /* wrong secret */
    auth_creds_t *wrong = creds_from(AKID " wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEZ\n");
    v2_request(&t, "GET", "/photos/puppy.jpg", NULL, "johnsmith", "Tue, 27 Mar 2007 19:36:42 +0000",
               1175024202, good);
    expect_refused(wrong, &t, "SignatureDoesNotMatch");
    auth_creds_free(wrong);
    /* unknown key */
    v2_request(&t, "GET", "/photos/puppy.jpg", NULL, "johnsmith", "Tue, 27 Mar 2007 19:36:42 +0000",
               1175024202, "AWS AKIDNOBODY:bWq2s1WEIj+Ydj0vQ697zp+IXMU=");
    expect_refused(c, &t, "InvalidAccessKeyId");
    /* skewed clock */
    v2_request(&t, "GET", "/photos/puppy.jpg", NULL, "johnsmith", "Tue, 27 Mar 2007 19:36:42 +0000",
               1175024202 + 901, good);
    expect_refused(c, &t, "RequestTimeTooSkewed");
    /* no date */
    v2_request(&t, "GET", "/photos/puppy.jpg", NULL, "johnsmith", NULL, 1175024202, good);
    expect_refused(c, &t, "AccessDenied");
    /* garbage date */
    v2_request(&t, "GET", "/photos/puppy.jpg", NULL, "johnsmith", "yesterday", 1175024202, good);
    expect_refused(c, &t, "AccessDenied");
    /* malformed signature */
    v2_request(&t, "GET", "/photos/puppy.jpg", NULL, "johnsmith", "Tue, 27 Mar 2007 19:36:42 +0000",
               1175024202, "AWS " AKID ":short");
    expect_refused(c, &t, "SignatureDoesNotMatch");
    /* query form without Expires */
    v2_request(&t, "GET", "/photos/puppy.jpg",
               "AWSAccessKeyId=" AKID "&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D", "johnsmith",
               NULL, 1175024202, NULL);
    expect_refused(c, &t, "AccessDenied");
    /* query form with a bad Expires */
    v2_request(&t, "GET", "/photos/puppy.jpg",
               "AWSAccessKeyId=" AKID "&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D&Expires=soon",
               "johnsmith", NULL, 1175024202, NULL);
    expect_refused(c, &t, "AccessDenied");
    auth_creds_free(c);
}

/* ---- HTTP dates --------------------------------------------------------------------------- */

static void test_http_dates_in_every_form_parse(void)
{
    int64_t t;
    CU_ASSERT_EQUAL(auth_parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT", &t), 0);
    CU_ASSERT_EQUAL(t, 784111777);
    CU_ASSERT_EQUAL(auth_parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT", &t), 0);
    CU_ASSERT_EQUAL(t, 784111777);
    CU_ASSERT_EQUAL(auth_parse_http_date("Sun Nov  6 08:49:37 1994", &t), 0);
    CU_ASSERT_EQUAL(t, 784111777);
    CU_ASSERT_EQUAL(auth_parse_http_date("Sun, 06 Nov 1994 08:49:37 +0000", &t), 0);
    CU_ASSERT_EQUAL(t, 784111777);
    CU_ASSERT_EQUAL(auth_parse_http_date("Sun, 06 Nov 1994 10:49:37 +0200", &t), 0);
    CU_ASSERT_EQUAL(t, 784111777);
    CU_ASSERT_EQUAL(auth_parse_http_date("Thu, 29 Feb 2024 23:59:59 GMT", &t), 0);
    CU_ASSERT_EQUAL(t, 1709251199);
    const char *bad[] = {"",
                         "Sun, 06 Nov 1994",
                         "Sun, 06 Nov 1994 08:49:37",
                         "Sun, 06 Foo 1994 08:49:37 GMT",
                         "Sun, 32 Nov 1994 08:49:37 GMT",
                         "Thu, 29 Feb 2023 08:49:37 GMT",
                         "Sun, 06 Nov 1994 24:49:37 GMT",
                         "Sun, 06 Nov 1994 08:49:37 GMT trailing",
                         "1994-11-06T08:49:37Z",
                         "20130524T000000Z"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CU_ASSERT_EQUAL(auth_parse_http_date(bad[i], &t), AUG_EINVAL);
}

/* ---- aws-chunked bodies ------------------------------------------------------------------- */

#define CHUNK1_SIG "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"
#define CHUNK2_SIG "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497"
#define CHUNK3_SIG "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"
#define TCHUNK1_SIG "b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2"
#define TCHUNK2_SIG "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7"
#define TCHUNK3_SIG "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992"
#define TRAILER_SIG "d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435"
#define CRC32C_OF_BODY "sOO8/Q==" /* CRC32C of 66560 bytes of 'a', base64 */
#define BODY_LEN 66560            /* 64 KiB + 1 KiB of 'a' */

static void buf_puts(test_buffer_t *b, const char *s)
{
    test_buffer_append(b, s, strlen(s));
}

static void buf_put_a(test_buffer_t *b, size_t n)
{
    char *a = malloc(n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    memset(a, 'a', n);
    test_buffer_append(b, a, n);
    free(a);
}

/* The example body: 64 KiB and 1 KiB chunks of 'a' and the final chunk, with the given chunk
 * signatures (NULL: unsigned frames), then `tail` (trailer lines and the closing CRLF). */
static void build_body(test_buffer_t *b, const char *s1, const char *s2, const char *s3,
                       const char *tail)
{
    memset(b, 0, sizeof(*b));
    const char *sigs[3] = {s1, s2, s3};
    const char *sizes[3] = {"10000", "400", "0"};
    size_t lens[3] = {65536, 1024, 0};
    for (int i = 0; i < 3; i++) {
        buf_puts(b, sizes[i]);
        if (sigs[i]) {
            buf_puts(b, ";chunk-signature=");
            buf_puts(b, sigs[i]);
        }
        buf_puts(b, "\r\n");
        if (lens[i]) {
            buf_put_a(b, lens[i]);
            buf_puts(b, "\r\n");
        }
    }
    buf_puts(b, tail);
}

/* The chunked upload example's request, verified: the seed signature for its chunks. */
static void chunked_example_auth(auth_result_t *res)
{
    auth_creds_t *c = example_creds();
    treq_t t;
    treq_init(&t, "PUT", "/examplebucket/chunkObject.txt", NULL, T_20130524);
    treq_add(&t, "Host", "s3.amazonaws.com");
    treq_add(&t, "x-amz-date", "20130524T000000Z");
    treq_add(&t, "x-amz-storage-class", "REDUCED_REDUNDANCY");
    treq_add(&t, "Authorization",
             "AWS4-HMAC-SHA256 " V4_CRED ",SignedHeaders=content-encoding;content-length;host;"
             "x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,"
             "Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9");
    treq_add(&t, "x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD");
    treq_add(&t, "Content-Encoding", "aws-chunked");
    treq_add(&t, "x-amz-decoded-content-length", "66560");
    treq_add(&t, "Content-Length", "66824");
    aug_err_t err;
    int rc = verify(c, &t, res, &err);
    if (rc) fprintf(stderr, "\n  chunked example refused: %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    auth_creds_free(c);
}

/* The trailing-checksum example's request (STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER). */
static void trailer_example_auth(auth_result_t *res)
{
    auth_creds_t *c = example_creds();
    treq_t t;
    treq_init(&t, "PUT", "/examplebucket/chunkObject.txt", NULL, T_20130524);
    treq_add(&t, "Host", "s3.amazonaws.com");
    treq_add(&t, "x-amz-date", "20130524T000000Z");
    treq_add(&t, "x-amz-storage-class", "REDUCED_REDUNDANCY");
    treq_add(&t, "Authorization",
             "AWS4-HMAC-SHA256 " V4_CRED ",SignedHeaders=content-encoding;host;"
             "x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class;"
             "x-amz-trailer,Signature="
             "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e");
    treq_add(&t, "x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER");
    treq_add(&t, "Content-Encoding", "aws-chunked");
    treq_add(&t, "x-amz-decoded-content-length", "66560");
    treq_add(&t, "x-amz-trailer", "x-amz-checksum-crc32c");
    aug_err_t err;
    int rc = verify(c, &t, res, &err);
    if (rc) fprintf(stderr, "\n  trailer example refused: %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    auth_creds_free(c);
}

/* What an unsigned-trailer request verifies to (its signature covers the headers only). */
static void unsigned_trailer_auth(auth_result_t *res)
{
    memset(res, 0, sizeof(*res));
    res->scheme = AUTH_V4_HEADER;
    res->payload = AUTH_PAYLOAD_UNSIGNED_TRAILER;
    res->decoded_length = BODY_LEN;
    strcpy(res->trailer, "x-amz-checksum-crc32c");
}

/* A sink that checks every byte is 'a' and counts them. */
typedef struct a_sink {
    uint64_t n, bad;
} a_sink_t;

static int a_sink(void *arg, const void *data, size_t len)
{
    a_sink_t *s = arg;
    const char *p = data;
    for (size_t i = 0; i < len; i++)
        s->bad += p[i] != 'a';
    s->n += len;
    return 0;
}

/* Feed body in pieces: step 0 means random sizes from seed, else `step` bytes each. Returns
 * the first non-zero code of feed or finish. */
static int decode(const auth_result_t *res, const test_buffer_t *body, size_t step, uint64_t seed,
                  a_sink_t *sink, auth_chunked_t **keep, aug_err_t *err)
{
    auth_chunked_t *d = NULL;
    int rc = auth_chunked_new(res, &d, err);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    memset(sink, 0, sizeof(*sink));
    uint64_t s = seed * 0x9e3779b97f4a7c15ULL + 1;
    size_t off = 0;
    while (rc == 0 && off < body->len) {
        size_t n = step;
        if (n == 0) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            n = 1 + (size_t)(s % (s % 4 == 0 ? 70000 : 200));
        }
        if (n > body->len - off) n = body->len - off;
        rc = auth_chunked_feed(d, body->data + off, n, a_sink, sink, err);
        off += n;
    }
    if (rc == 0) rc = auth_chunked_finish(d, err);
    if (keep)
        *keep = d;
    else
        auth_chunked_free(d);
    return rc;
}

static void test_chunked_aws_example_seed_signature_is_accepted(void)
{
    auth_result_t res;
    chunked_example_auth(&res);
    CU_ASSERT_EQUAL(res.payload, AUTH_PAYLOAD_STREAMING);
    CU_ASSERT_EQUAL(res.decoded_length, BODY_LEN);
    CU_ASSERT_STRING_EQUAL(res.seed_signature,
                           "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9");
    CU_ASSERT_STRING_EQUAL(res.amz_date, "20130524T000000Z");
    CU_ASSERT_STRING_EQUAL(res.scope, "20130524/us-east-1/s3/aws4_request");
}

static void test_chunked_aws_example_decodes_and_verifies(void)
{
    auth_result_t res;
    chunked_example_auth(&res);
    test_buffer_t body;
    build_body(&body, CHUNK1_SIG, CHUNK2_SIG, CHUNK3_SIG, "\r\n");
    CU_ASSERT_EQUAL(body.len, 66824); /* the example's Content-Length */
    a_sink_t sink;
    aug_err_t err;
    auth_chunked_t *d;
    CU_ASSERT_EQUAL(decode(&res, &body, body.len, 0, &sink, &d, &err), 0);
    CU_ASSERT_EQUAL(sink.n, BODY_LEN);
    CU_ASSERT_EQUAL(sink.bad, 0);
    CU_ASSERT_EQUAL(auth_chunked_decoded_bytes(d), BODY_LEN);
    CU_ASSERT_PTR_NULL(auth_chunked_s3_code(d));
    auth_chunked_free(d);
    free(body.data);
}

static void test_chunked_body_split_anywhere_decodes(void)
{
    auth_result_t res;
    chunked_example_auth(&res);
    test_buffer_t body;
    build_body(&body, CHUNK1_SIG, CHUNK2_SIG, CHUNK3_SIG, "\r\n");
    a_sink_t sink;
    aug_err_t err;
    /* one byte at a time, and odd fixed sizes */
    size_t steps[] = {1, 2, 3, 7, 88, 89, 4096, 65535};
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        CU_ASSERT_EQUAL(decode(&res, &body, steps[i], 0, &sink, NULL, &err), 0);
        CU_ASSERT_EQUAL(sink.n, BODY_LEN);
    }
    /* random pieces */
    for (uint64_t seed = 1; seed <= 20; seed++) {
        CU_ASSERT_EQUAL(decode(&res, &body, 0, seed, &sink, NULL, &err), 0);
        CU_ASSERT_EQUAL(sink.n, BODY_LEN);
        CU_ASSERT_EQUAL(sink.bad, 0);
    }
    free(body.data);
}

static void test_chunked_body_split_in_two_at_every_boundary_decodes(void)
{
    auth_result_t res;
    chunked_example_auth(&res);
    test_buffer_t body;
    build_body(&body, CHUNK1_SIG, CHUNK2_SIG, CHUNK3_SIG, "\r\n");
    /* every cut around the frame headers and the CRLFs between frames */
    size_t ranges[][2] = {{0, 100}, {65600, 65720}, {66700, 66824}};
    for (size_t r = 0; r < 3; r++) {
        for (size_t cut = ranges[r][0]; cut <= ranges[r][1]; cut++) {
            auth_chunked_t *d;
            aug_err_t err;
            a_sink_t sink = {0};
            CU_ASSERT_EQUAL_FATAL(auth_chunked_new(&res, &d, &err), 0);
            int rc = auth_chunked_feed(d, body.data, cut, a_sink, &sink, &err);
            if (!rc)
                rc = auth_chunked_feed(d, body.data + cut, body.len - cut, a_sink, &sink, &err);
            if (!rc) rc = auth_chunked_finish(d, &err);
            CU_ASSERT_EQUAL(rc, 0);
            CU_ASSERT_EQUAL(sink.n, BODY_LEN);
            auth_chunked_free(d);
        }
    }
    free(body.data);
}

static void test_chunked_tampered_data_is_signature_mismatch_and_sticks(void)
{
    auth_result_t res;
    chunked_example_auth(&res);
    test_buffer_t body;
    build_body(&body, CHUNK1_SIG, CHUNK2_SIG, CHUNK3_SIG, "\r\n");
    body.data[88 + 1000] = 'b';
    a_sink_t sink;
    aug_err_t err;
    auth_chunked_t *d;
    CU_ASSERT_EQUAL(decode(&res, &body, 1000, 0, &sink, &d, &err), AUG_EINVAL);
    CU_ASSERT_STRING_EQUAL(auth_chunked_s3_code(d), "SignatureDoesNotMatch");
    /* a failed decoder refuses everything after */
    CU_ASSERT_EQUAL(auth_chunked_feed(d, "0", 1, a_sink, &sink, &err), AUG_EINVAL);
    CU_ASSERT_EQUAL(auth_chunked_finish(d, &err), AUG_EINVAL);
    CU_ASSERT_STRING_EQUAL(auth_chunked_s3_code(d), "SignatureDoesNotMatch");
    auth_chunked_free(d);
    free(body.data);
}

static void test_chunked_reordered_signatures_are_refused(void)
{
    auth_result_t res;
    chunked_example_auth(&res);
    test_buffer_t body;
    build_body(&body, CHUNK2_SIG, CHUNK1_SIG, CHUNK3_SIG, "\r\n");
    a_sink_t sink;
    aug_err_t err;
    auth_chunked_t *d;
    CU_ASSERT_EQUAL(decode(&res, &body, body.len, 0, &sink, &d, &err), AUG_EINVAL);
    CU_ASSERT_STRING_EQUAL(auth_chunked_s3_code(d), "SignatureDoesNotMatch");
    auth_chunked_free(d);
    free(body.data);
}

static void test_chunked_final_chunk_signature_is_checked(void)
{
    auth_result_t res;
    chunked_example_auth(&res);
    test_buffer_t body;
    build_body(&body, CHUNK1_SIG, CHUNK2_SIG, CHUNK2_SIG, "\r\n");
    a_sink_t sink;
    aug_err_t err;
    CU_ASSERT_EQUAL(decode(&res, &body, body.len, 0, &sink, NULL, &err), AUG_EINVAL);
    free(body.data);
}

static void test_chunked_wrong_seed_fails_on_first_chunk(void)
{
    auth_result_t res;
    chunked_example_auth(&res);
    res.seed_signature[0] = res.seed_signature[0] == '0' ? '1' : '0';
    test_buffer_t body;
    build_body(&body, CHUNK1_SIG, CHUNK2_SIG, CHUNK3_SIG, "\r\n");
    a_sink_t sink;
    aug_err_t err;
    auth_chunked_t *d;
    CU_ASSERT_EQUAL(decode(&res, &body, body.len, 0, &sink, &d, &err), AUG_EINVAL);
    CU_ASSERT_STRING_EQUAL(auth_chunked_s3_code(d), "SignatureDoesNotMatch");
    CU_ASSERT_EQUAL(auth_chunked_decoded_bytes(d), 65536); /* stopped at the first chunk's end */
    auth_chunked_free(d);
    free(body.data);
}

static void test_chunked_truncated_body_is_incomplete(void)
{
    auth_result_t res;
    chunked_example_auth(&res);
    test_buffer_t body;
    build_body(&body, CHUNK1_SIG, CHUNK2_SIG, CHUNK3_SIG, "\r\n");
    size_t cuts[] = {0, 10, 88, 5000, 65626, 66700};
    for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
        test_buffer_t part = {.data = body.data, .len = cuts[i]};
        a_sink_t sink;
        aug_err_t err;
        auth_chunked_t *d;
        CU_ASSERT_EQUAL(decode(&res, &part, 0, 3, &sink, &d, &err), AUG_EINVAL);
        CU_ASSERT_STRING_EQUAL(auth_chunked_s3_code(d), "IncompleteBody");
        auth_chunked_free(d);
    }
    free(body.data);
}

static void test_chunked_decoded_length_must_match(void)
{
    auth_result_t res;
    chunked_example_auth(&res);
    test_buffer_t body;
    build_body(&body, CHUNK1_SIG, CHUNK2_SIG, CHUNK3_SIG, "\r\n");
    a_sink_t sink;
    aug_err_t err;
    auth_chunked_t *d;
    res.decoded_length = BODY_LEN + 1;
    CU_ASSERT_EQUAL(decode(&res, &body, body.len, 0, &sink, &d, &err), AUG_EINVAL);
    CU_ASSERT_STRING_EQUAL(auth_chunked_s3_code(d), "IncompleteBody");
    auth_chunked_free(d);
    /* more payload than announced is refused before it reaches the sink */
    res.decoded_length = BODY_LEN - 1;
    CU_ASSERT_EQUAL(decode(&res, &body, body.len, 0, &sink, &d, &err), AUG_EINVAL);
    CU_ASSERT_STRING_EQUAL(auth_chunked_s3_code(d), "IncompleteBody");
    CU_ASSERT_EQUAL(sink.n, 65536);
    auth_chunked_free(d);
    free(body.data);
}

static void test_chunked_data_after_the_end_is_refused(void)
{
    auth_result_t res;
    chunked_example_auth(&res);
    test_buffer_t body;
    build_body(&body, CHUNK1_SIG, CHUNK2_SIG, CHUNK3_SIG, "\r\nGET / HTTP/1.1\r\n");
    a_sink_t sink;
    aug_err_t err;
    auth_chunked_t *d;
    CU_ASSERT_EQUAL(decode(&res, &body, body.len, 0, &sink, &d, &err), AUG_EINVAL);
    CU_ASSERT_STRING_EQUAL(auth_chunked_s3_code(d), "InvalidRequest");
    auth_chunked_free(d);
    free(body.data);
}

/* Malformed frames for a signed body (each is the whole body). */
static const char *const broken_signed_frames[] = {
    "zz;chunk-signature=" CHUNK1_SIG "\r\n",
    ";chunk-signature=" CHUNK1_SIG "\r\n",
    "10000\r\n",
    "10000;chunk-signature=abc\r\n",
    "10000;chunk-signature=" CHUNK1_SIG "x\r\n",
    "10000;chunk-sig=" CHUNK1_SIG "\r\n",
    "10000;chunk-signature=" CHUNK1_SIG "\n",
    "10000 ;chunk-signature=" CHUNK1_SIG "\r\n",
    "fffffffffffffffff;chunk-signature=" CHUNK1_SIG "\r\n",
    "ffffffff;chunk-signature=" CHUNK1_SIG "\r\n",
    "\r\n",
    "\x00\x01\x02\r\n",
};

static void test_chunked_malformed_frames_are_refused(void)
{
    auth_result_t res;
    chunked_example_auth(&res);
    for (size_t i = 0; i < sizeof(broken_signed_frames) / sizeof(broken_signed_frames[0]); i++) {
        test_buffer_t body = {0};
        const char *f = broken_signed_frames[i];
        size_t len = strlen(f);
        if (len == 0) len = 5; /* the NUL-led frame */
        test_buffer_append(&body, f, len);
        a_sink_t sink;
        aug_err_t err;
        auth_chunked_t *d;
        CU_ASSERT_EQUAL(decode(&res, &body, 0, i + 1, &sink, &d, &err), AUG_EINVAL);
        CU_ASSERT_PTR_NOT_NULL(auth_chunked_s3_code(d));
        CU_ASSERT_EQUAL(sink.n, 0);
        auth_chunked_free(d);
        free(body.data);
    }
}

static void test_chunked_missing_crlf_after_data_is_refused(void)
{
    auth_result_t res;
    chunked_example_auth(&res);
    test_buffer_t body;
    build_body(&body, CHUNK1_SIG, CHUNK2_SIG, CHUNK3_SIG, "\r\n");
    body.data[88 + 65536] = 'X';
    a_sink_t sink;
    aug_err_t err;
    auth_chunked_t *d;
    CU_ASSERT_EQUAL(decode(&res, &body, body.len, 0, &sink, &d, &err), AUG_EINVAL);
    CU_ASSERT_STRING_EQUAL(auth_chunked_s3_code(d), "InvalidRequest");
    auth_chunked_free(d);
    free(body.data);
}

static void test_chunked_endless_header_line_is_refused(void)
{
    auth_result_t res;
    unsigned_trailer_auth(&res);
    auth_chunked_t *d;
    aug_err_t err;
    CU_ASSERT_EQUAL_FATAL(auth_chunked_new(&res, &d, &err), 0);
    char junk[512];
    memset(junk, '1', sizeof(junk));
    int rc = 0;
    for (int i = 0; i < 100 && rc == 0; i++)
        rc = auth_chunked_feed(d, junk, sizeof(junk), NULL, NULL, &err);
    CU_ASSERT_EQUAL(rc, AUG_EINVAL);
    CU_ASSERT_STRING_EQUAL(auth_chunked_s3_code(d), "InvalidRequest");
    auth_chunked_free(d);
}

static int failing_sink(void *arg, const void *data, size_t len)
{
    (void)arg, (void)data, (void)len;
    return AUG_EIO;
}

static void test_chunked_sink_error_stops_decoding(void)
{
    auth_result_t res;
    chunked_example_auth(&res);
    test_buffer_t body;
    build_body(&body, CHUNK1_SIG, CHUNK2_SIG, CHUNK3_SIG, "\r\n");
    auth_chunked_t *d;
    aug_err_t err;
    CU_ASSERT_EQUAL_FATAL(auth_chunked_new(&res, &d, &err), 0);
    CU_ASSERT_EQUAL(auth_chunked_feed(d, body.data, body.len, failing_sink, NULL, &err), AUG_EIO);
    CU_ASSERT_PTR_NULL(auth_chunked_s3_code(d));
    CU_ASSERT_EQUAL(auth_chunked_finish(d, &err), AUG_EIO);
    auth_chunked_free(d);
    free(body.data);
}

static void test_chunked_decoder_refuses_unchunked_payloads(void)
{
    auth_creds_t *c = example_creds();
    treq_t t;
    get_object_example(&t);
    auth_result_t res;
    aug_err_t err;
    CU_ASSERT_EQUAL(verify(c, &t, &res, &err), 0);
    auth_chunked_t *d = NULL;
    CU_ASSERT_EQUAL(auth_chunked_new(&res, &d, &err), AUG_EINVAL);
    CU_ASSERT_PTR_NULL(d);
    auth_creds_free(c);
}

/* ---- aws-chunked trailers ----------------------------------------------------------------- */

#define SIGNED_TRAILER                                                                             \
    "x-amz-checksum-crc32c:" CRC32C_OF_BODY "\r\nx-amz-trailer-signature:" TRAILER_SIG "\r\n\r\n"

static void test_trailer_aws_example_decodes_and_verifies(void)
{
    auth_result_t res;
    trailer_example_auth(&res);
    CU_ASSERT_EQUAL(res.payload, AUTH_PAYLOAD_STREAMING_TRAILER);
    CU_ASSERT_STRING_EQUAL(res.trailer, "x-amz-checksum-crc32c");
    test_buffer_t body;
    build_body(&body, TCHUNK1_SIG, TCHUNK2_SIG, TCHUNK3_SIG, SIGNED_TRAILER);
    a_sink_t sink;
    aug_err_t err;
    auth_chunked_t *d;
    CU_ASSERT_EQUAL(decode(&res, &body, body.len, 0, &sink, &d, &err), 0);
    CU_ASSERT_EQUAL(sink.n, BODY_LEN);
    CU_ASSERT_PTR_NOT_NULL_FATAL(auth_chunked_trailer(d, "x-amz-checksum-crc32c"));
    CU_ASSERT_STRING_EQUAL(auth_chunked_trailer(d, "x-amz-checksum-crc32c"), CRC32C_OF_BODY);
    CU_ASSERT_PTR_NULL(auth_chunked_trailer(d, "x-amz-checksum-sha256"));
    auth_chunked_free(d);
    free(body.data);
}

static void test_trailer_body_split_anywhere_decodes(void)
{
    auth_result_t res;
    trailer_example_auth(&res);
    test_buffer_t body;
    build_body(&body, TCHUNK1_SIG, TCHUNK2_SIG, TCHUNK3_SIG, SIGNED_TRAILER);
    a_sink_t sink;
    aug_err_t err;
    CU_ASSERT_EQUAL(decode(&res, &body, 1, 0, &sink, NULL, &err), 0);
    for (uint64_t seed = 1; seed <= 10; seed++)
        CU_ASSERT_EQUAL(decode(&res, &body, 0, seed, &sink, NULL, &err), 0);
    /* every cut inside the trailer */
    size_t trailer_len = strlen(SIGNED_TRAILER);
    for (size_t cut = body.len - trailer_len - 90; cut <= body.len; cut++) {
        auth_chunked_t *d;
        CU_ASSERT_EQUAL_FATAL(auth_chunked_new(&res, &d, &err), 0);
        int rc = auth_chunked_feed(d, body.data, cut, NULL, NULL, &err);
        if (!rc) rc = auth_chunked_feed(d, body.data + cut, body.len - cut, NULL, NULL, &err);
        if (!rc) rc = auth_chunked_finish(d, &err);
        CU_ASSERT_EQUAL(rc, 0);
        auth_chunked_free(d);
    }
    free(body.data);
}

static void test_trailer_tampered_checksum_is_signature_mismatch(void)
{
    auth_result_t res;
    trailer_example_auth(&res);
    test_buffer_t body;
    build_body(&body, TCHUNK1_SIG, TCHUNK2_SIG, TCHUNK3_SIG,
               "x-amz-checksum-crc32c:AAAAAA==\r\nx-amz-trailer-signature:" TRAILER_SIG "\r\n\r\n");
    a_sink_t sink;
    aug_err_t err;
    auth_chunked_t *d;
    CU_ASSERT_EQUAL(decode(&res, &body, body.len, 0, &sink, &d, &err), AUG_EINVAL);
    CU_ASSERT_STRING_EQUAL(auth_chunked_s3_code(d), "SignatureDoesNotMatch");
    auth_chunked_free(d);
    free(body.data);
}

static void test_trailer_without_signature_is_refused(void)
{
    auth_result_t res;
    trailer_example_auth(&res);
    test_buffer_t body;
    build_body(&body, TCHUNK1_SIG, TCHUNK2_SIG, TCHUNK3_SIG,
               "x-amz-checksum-crc32c:" CRC32C_OF_BODY "\r\n\r\n");
    a_sink_t sink;
    aug_err_t err;
    auth_chunked_t *d;
    CU_ASSERT_EQUAL(decode(&res, &body, body.len, 0, &sink, &d, &err), AUG_EINVAL);
    CU_ASSERT_STRING_EQUAL(auth_chunked_s3_code(d), "MalformedTrailerError");
    auth_chunked_free(d);
    free(body.data);
}

static void test_trailer_after_blank_line_is_tolerated(void)
{
    /* some clients end the 0-size chunk with its own CRLF before the trailer */
    auth_result_t res;
    trailer_example_auth(&res);
    test_buffer_t body;
    build_body(&body, TCHUNK1_SIG, TCHUNK2_SIG, TCHUNK3_SIG, "\r\n" SIGNED_TRAILER);
    a_sink_t sink;
    aug_err_t err;
    CU_ASSERT_EQUAL(decode(&res, &body, 0, 5, &sink, NULL, &err), 0);
    free(body.data);
}

static void test_unsigned_trailer_body_decodes(void)
{
    auth_result_t res;
    unsigned_trailer_auth(&res);
    test_buffer_t body;
    build_body(&body, NULL, NULL, NULL, "x-amz-checksum-crc32c:" CRC32C_OF_BODY "\r\n\r\n");
    a_sink_t sink;
    aug_err_t err;
    auth_chunked_t *d;
    CU_ASSERT_EQUAL(decode(&res, &body, 0, 9, &sink, &d, &err), 0);
    CU_ASSERT_EQUAL(sink.n, BODY_LEN);
    CU_ASSERT_STRING_EQUAL(auth_chunked_trailer(d, "x-amz-checksum-crc32c"), CRC32C_OF_BODY);
    auth_chunked_free(d);
    free(body.data);
}

static void test_unsigned_trailer_with_lf_lines_and_extensions_decodes(void)
{
    auth_result_t res;
    unsigned_trailer_auth(&res);
    test_buffer_t body = {0};
    buf_puts(&body, "10000;ext=1\r\n");
    buf_put_a(&body, 65536);
    buf_puts(&body, "\r\n400\r\n");
    buf_put_a(&body, 1024);
    buf_puts(&body, "\r\n0\r\nX-Amz-Checksum-CRC32C : " CRC32C_OF_BODY " \n\n");
    a_sink_t sink;
    aug_err_t err;
    auth_chunked_t *d;
    CU_ASSERT_EQUAL(decode(&res, &body, 0, 11, &sink, &d, &err), 0);
    CU_ASSERT_STRING_EQUAL(auth_chunked_trailer(d, "x-amz-checksum-crc32c"), CRC32C_OF_BODY);
    auth_chunked_free(d);
    free(body.data);
}

static void test_unsigned_trailer_verifies_with_its_request(void)
{
    auth_creds_t *c = example_creds();
    treq_t t;
    treq_init(&t, "PUT", "/examplebucket/chunkObject.txt", NULL, T_20130524);
    treq_add(&t, "Host", "s3.amazonaws.com");
    treq_add(&t, "x-amz-date", "20130524T000000Z");
    treq_add(&t, "Content-Encoding", "aws-chunked");
    treq_add(&t, "x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER");
    treq_add(&t, "x-amz-decoded-content-length", "66560");
    treq_add(&t, "x-amz-trailer", "x-amz-checksum-crc32c");
    treq_add(&t, "Authorization",
             "AWS4-HMAC-SHA256 " V4_CRED ",SignedHeaders=content-encoding;host;"
             "x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-trailer,"
             "Signature=e0a1f22bc0b68c74bd2e7de959908235203a45b9b6f2fcf71b7240f39b42e538");
    auth_result_t res;
    aug_err_t err;
    CU_ASSERT_EQUAL_FATAL(verify(c, &t, &res, &err), 0);
    CU_ASSERT_EQUAL(res.payload, AUTH_PAYLOAD_UNSIGNED_TRAILER);
    CU_ASSERT_EQUAL(res.decoded_length, BODY_LEN);
    test_buffer_t body;
    build_body(&body, NULL, NULL, NULL, "x-amz-checksum-crc32c:" CRC32C_OF_BODY "\r\n\r\n");
    a_sink_t sink;
    CU_ASSERT_EQUAL(decode(&res, &body, 0, 4, &sink, NULL, &err), 0);
    free(body.data);
    auth_creds_free(c);
}

static void test_unannounced_trailer_is_refused(void)
{
    auth_result_t res;
    unsigned_trailer_auth(&res);
    test_buffer_t body;
    build_body(&body, NULL, NULL, NULL, "x-amz-checksum-sha1:3q2+7w==\r\n\r\n");
    a_sink_t sink;
    aug_err_t err;
    auth_chunked_t *d;
    CU_ASSERT_EQUAL(decode(&res, &body, 0, 2, &sink, &d, &err), AUG_EINVAL);
    CU_ASSERT_STRING_EQUAL(auth_chunked_s3_code(d), "MalformedTrailerError");
    auth_chunked_free(d);
    free(body.data);
}

static void test_missing_announced_trailer_is_refused(void)
{
    auth_result_t res;
    unsigned_trailer_auth(&res);
    const char *tails[] = {"\r\n", "", "\r\n\r\n"};
    for (size_t i = 0; i < 3; i++) {
        test_buffer_t body;
        build_body(&body, NULL, NULL, NULL, tails[i]);
        a_sink_t sink;
        aug_err_t err;
        auth_chunked_t *d;
        CU_ASSERT_EQUAL(decode(&res, &body, body.len, 0, &sink, &d, &err), AUG_EINVAL);
        CU_ASSERT_STRING_EQUAL(auth_chunked_s3_code(d), "MalformedTrailerError");
        auth_chunked_free(d);
        free(body.data);
    }
}

static void test_malformed_trailer_lines_are_refused(void)
{
    auth_result_t res;
    unsigned_trailer_auth(&res);
    const char *tails[] = {
        "x-amz-checksum-crc32c\r\n\r\n",
        ":value\r\n\r\n",
        "x-amz-checksum-crc32c:" CRC32C_OF_BODY "\r\nx-amz-checksum-crc32c:" CRC32C_OF_BODY
        "\r\n\r\n",
        "x-amz-checksum-crc32c:" CRC32C_OF_BODY "\r\nx-amz-trailer-signature:" TRAILER_SIG
        "\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
        test_buffer_t body;
        build_body(&body, NULL, NULL, NULL, tails[i]);
        a_sink_t sink;
        aug_err_t err;
        auth_chunked_t *d;
        CU_ASSERT_EQUAL(decode(&res, &body, body.len, 0, &sink, &d, &err), AUG_EINVAL);
        CU_ASSERT_STRING_EQUAL(auth_chunked_s3_code(d), "MalformedTrailerError");
        auth_chunked_free(d);
        free(body.data);
    }
}

/* ---- credentials -------------------------------------------------------------------------- */

static void test_creds_parse_keys_comments_and_blank_lines(void)
{
    auth_creds_t *c = creds_from("# augur keys\n"
                                 "\n"
                                 "   \t\n"
                                 "  AKID1 secret1   # the admin\n"
                                 "AKID2\tsecret/2+x rw:b1,b2 r:logs-*\r\n"
                                 "# AKID3 commented out\n"
                                 "AKID4 s4");
    CU_ASSERT_EQUAL(auth_creds_count(c), 3);
    const auth_key_t *k = auth_creds_lookup(c, "AKID2");
    CU_ASSERT_PTR_NOT_NULL_FATAL(k);
    CU_ASSERT_STRING_EQUAL(auth_key_id(k), "AKID2");
    CU_ASSERT_STRING_EQUAL(auth_key_secret(k), "secret/2+x");
    CU_ASSERT_PTR_NOT_NULL(auth_creds_lookup(c, "AKID1"));
    CU_ASSERT_PTR_NOT_NULL(auth_creds_lookup(c, "AKID4"));
    CU_ASSERT_PTR_NULL(auth_creds_lookup(c, "AKID3"));
    CU_ASSERT_PTR_NULL(auth_creds_lookup(c, "akid1"));
    CU_ASSERT_PTR_NULL(auth_creds_lookup(c, ""));
    auth_creds_free(c);
}

static void test_creds_key_without_permissions_may_do_anything(void)
{
    auth_creds_t *c = creds_from("AKID1 secret1\nAKID2 secret2 *\n");
    for (int i = 0; i < 2; i++) {
        const auth_key_t *k = auth_creds_lookup(c, i ? "AKID2" : "AKID1");
        CU_ASSERT_TRUE(auth_creds_allows(k, "anything", true));
        CU_ASSERT_TRUE(auth_creds_allows(k, "anything", false));
        CU_ASSERT_TRUE(auth_creds_allows(k, NULL, true));
        CU_ASSERT_TRUE(auth_creds_allows(k, NULL, false));
    }
    auth_creds_free(c);
}

static void test_creds_permissions_limit_buckets(void)
{
    auth_creds_t *c = creds_from("AKID s rw:artifacts,team-* r:datasets,shared-* r:artifacts\n");
    const auth_key_t *k = auth_creds_lookup(c, "AKID");
    CU_ASSERT_TRUE(auth_creds_allows(k, "artifacts", true));
    CU_ASSERT_TRUE(auth_creds_allows(k, "artifacts", false));
    CU_ASSERT_TRUE(auth_creds_allows(k, "team-a", true));
    CU_ASSERT_TRUE(auth_creds_allows(k, "team-", true));
    CU_ASSERT_TRUE(auth_creds_allows(k, "datasets", false));
    CU_ASSERT_FALSE(auth_creds_allows(k, "datasets", true));
    CU_ASSERT_TRUE(auth_creds_allows(k, "shared-x", false));
    CU_ASSERT_FALSE(auth_creds_allows(k, "shared-x", true));
    CU_ASSERT_FALSE(auth_creds_allows(k, "artifacts2", false));
    CU_ASSERT_FALSE(auth_creds_allows(k, "other", false));
    CU_ASSERT_FALSE(auth_creds_allows(k, "team", true));
    /* ListBuckets yes, CreateBucket of an unnamed bucket no */
    CU_ASSERT_TRUE(auth_creds_allows(k, NULL, false));
    CU_ASSERT_FALSE(auth_creds_allows(k, NULL, true));
    CU_ASSERT_FALSE(auth_creds_allows(NULL, "artifacts", false));
    auth_creds_free(c);
}

static void test_creds_wildcard_grants_cover_every_bucket(void)
{
    auth_creds_t *c = creds_from("READER s r:*\nWRITER s rw:*\n");
    const auth_key_t *r = auth_creds_lookup(c, "READER");
    const auth_key_t *w = auth_creds_lookup(c, "WRITER");
    CU_ASSERT_TRUE(auth_creds_allows(r, "any", false));
    CU_ASSERT_FALSE(auth_creds_allows(r, "any", true));
    CU_ASSERT_FALSE(auth_creds_allows(r, NULL, true));
    CU_ASSERT_TRUE(auth_creds_allows(w, "any", true));
    CU_ASSERT_TRUE(auth_creds_allows(w, NULL, true));
    auth_creds_free(c);
}

#define MARK "Zq9SECRETmarkerXYZ" /* a secret easy to look for in messages */

static const struct {
    const char *text;
    const char *where; /* expected prefix of the message */
} bad_creds[] = {
    {"OK1 s1\nAKIDONLY\n", "name:2: missing secret key"},
    {"AKID " MARK " rx:bucket\n", "name:1: field 3: unknown permission"},
    {"AKID " MARK " rw:\n", "name:1: field 3: empty bucket list"},
    {"AKID " MARK " rw:b1,,b2\n", "name:1: field 3: bad bucket name"},
    {"AKID " MARK " r:b@d\n", "name:1: field 3: bad bucket name"},
    {"AKID " MARK " r:*x\n", "name:1: field 3: bad bucket name"},
    {"AK:ID " MARK "\n", "name:1: access key contains ':'"},
    {"AKID " MARK "\x01x\n", "name:1: field 2 contains a control"},
    {"A\n\n# c\nAKID " MARK "\n", "name:1: missing secret key"},
    {"AKID s1\nOTHER s2\nAKID " MARK "\n",
     "name:3: duplicate access key (first defined on line 1)"},
    /* a secret in the permission column, or alone on a line, is not repeated */
    {"AKID rw:bucket " MARK "\n", "name:1: field 3: unknown permission"},
    {MARK "\n", "name:1: missing secret key"},
};

static void test_creds_bad_lines_name_file_and_line(void)
{
    for (size_t i = 0; i < sizeof(bad_creds) / sizeof(bad_creds[0]); i++) {
        auth_creds_t *c = NULL;
        aug_err_t err;
        CU_ASSERT_EQUAL(auth_creds_parse(bad_creds[i].text, "name", &c, &err), AUG_ECONFIG);
        CU_ASSERT_PTR_NULL(c);
        if (strncmp(err.msg, bad_creds[i].where, strlen(bad_creds[i].where)) != 0)
            fprintf(stderr, "\n  case %zu: got '%s'\n", i, err.msg);
        CU_ASSERT_EQUAL(strncmp(err.msg, bad_creds[i].where, strlen(bad_creds[i].where)), 0);
        CU_ASSERT_PTR_NULL(strstr(err.msg, MARK));
    }
}

static void test_creds_too_long_fields_are_refused_without_quoting_them(void)
{
    char line[512];
    char longkey[AUTH_ACCESS_KEY_MAX + 2], longsecret[AUTH_SECRET_MAX + 2];
    memset(longkey, 'K', sizeof(longkey) - 1);
    longkey[sizeof(longkey) - 1] = '\0';
    memset(longsecret, 'S', sizeof(longsecret) - 1);
    memcpy(longsecret, MARK, strlen(MARK));
    longsecret[sizeof(longsecret) - 1] = '\0';
    auth_creds_t *c = NULL;
    aug_err_t err;
    snprintf(line, sizeof(line), "%s secret\n", longkey);
    CU_ASSERT_EQUAL(auth_creds_parse(line, "f", &c, &err), AUG_ECONFIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "access key is longer"));
    snprintf(line, sizeof(line), "AKID %s\n", longsecret);
    CU_ASSERT_EQUAL(auth_creds_parse(line, "f", &c, &err), AUG_ECONFIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "secret key is longer"));
    CU_ASSERT_PTR_NULL(strstr(err.msg, MARK));
    /* the longest allowed fit */
    longkey[AUTH_ACCESS_KEY_MAX] = '\0';
    longsecret[AUTH_SECRET_MAX] = '\0';
    snprintf(line, sizeof(line), "%s %s\n", longkey, longsecret);
    CU_ASSERT_EQUAL(auth_creds_parse(line, "f", &c, &err), 0);
    CU_ASSERT_PTR_NOT_NULL(auth_creds_lookup(c, longkey));
    auth_creds_free(c);
}

/* Write text to dir/name with mode; returns the path in out. */
static void write_file(const char *dir, const char *name, const char *text, mode_t mode, char *out,
                       size_t len)
{
    snprintf(out, len, "%s/%s", dir, name);
    FILE *f = fopen(out, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs(text, f);
    fclose(f);
    CU_ASSERT_EQUAL_FATAL(chmod(out, mode), 0);
}

static void test_creds_file_with_mode_600_loads(void)
{
    char dir[PATH_MAX], path[PATH_MAX + 32];
    test_scratch_dir("auth-creds", dir, sizeof(dir));
    mode_t modes[] = {0600, 0400};
    for (size_t i = 0; i < 2; i++) {
        write_file(dir, "creds", AKID " " SECRET " rw:b\n", modes[i], path, sizeof(path));
        auth_creds_t *c = NULL;
        aug_err_t err;
        CU_ASSERT_EQUAL(auth_creds_load(path, &c, &err), 0);
        CU_ASSERT_EQUAL(auth_creds_count(c), 1);
        auth_creds_free(c);
        unlink(path);
    }
    test_remove_tree(dir);
}

static void test_creds_file_open_to_group_or_others_is_refused(void)
{
    char dir[PATH_MAX], path[PATH_MAX + 32];
    test_scratch_dir("auth-creds", dir, sizeof(dir));
    mode_t modes[] = {0640, 0604, 0620, 0602, 0644, 0660, 0666, 0610, 0601};
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        write_file(dir, "creds", AKID " " SECRET "\n", modes[i], path, sizeof(path));
        auth_creds_t *c = NULL;
        aug_err_t err;
        CU_ASSERT_EQUAL(auth_creds_load(path, &c, &err), AUG_ECONFIG);
        CU_ASSERT_PTR_NULL(c);
        CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "chmod 600"));
        CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, path));
        CU_ASSERT_PTR_NULL(strstr(err.msg, SECRET));
        unlink(path);
    }
    test_remove_tree(dir);
}

static void test_creds_missing_file_or_directory_is_refused(void)
{
    char dir[PATH_MAX], path[PATH_MAX + 32];
    test_scratch_dir("auth-creds", dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/none", dir);
    auth_creds_t *c = NULL;
    aug_err_t err;
    CU_ASSERT_EQUAL(auth_creds_load(path, &c, &err), AUG_ECONFIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "does not exist"));
    chmod(dir, 0700);
    CU_ASSERT_EQUAL(auth_creds_load(dir, &c, &err), AUG_ECONFIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "not a regular file"));
    test_remove_tree(dir);
}

static void test_creds_file_errors_name_the_file_and_line(void)
{
    char dir[PATH_MAX], path[PATH_MAX + 32], want[PATH_MAX + 64];
    test_scratch_dir("auth-creds", dir, sizeof(dir));
    write_file(dir, "creds", "# keys\nAKID " MARK " r:b\nBROKEN " MARK " w:b\n", 0600, path,
               sizeof(path));
    auth_creds_t *c = NULL;
    aug_err_t err;
    CU_ASSERT_EQUAL(auth_creds_load(path, &c, &err), AUG_ECONFIG);
    snprintf(want, sizeof(want), "%s:3: field 3: unknown permission", path);
    CU_ASSERT_EQUAL(strncmp(err.msg, want, strlen(want)), 0);
    CU_ASSERT_PTR_NULL(strstr(err.msg, MARK));
    test_remove_tree(dir);
}

static void test_empty_creds_file_loads_no_keys(void)
{
    char dir[PATH_MAX], path[PATH_MAX + 32];
    test_scratch_dir("auth-creds", dir, sizeof(dir));
    write_file(dir, "creds", "", 0600, path, sizeof(path));
    auth_creds_t *c = NULL;
    aug_err_t err;
    CU_ASSERT_EQUAL(auth_creds_load(path, &c, &err), 0);
    CU_ASSERT_EQUAL(auth_creds_count(c), 0);
    CU_ASSERT_PTR_NULL(auth_creds_lookup(c, AKID));
    auth_creds_free(c);
    test_remove_tree(dir);
}

/* ---- secrets stay secret ------------------------------------------------------------------ */

static void test_debug_log_of_a_mismatch_holds_no_secret(void)
{
    /* a mismatch logs the canonical request at debug level: capture stderr and look */
    char dir[PATH_MAX], path[PATH_MAX + 32];
    test_scratch_dir("auth-log", dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/stderr", dir);
    fflush(stderr);
    int saved = dup(2);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CU_ASSERT_FATAL(saved >= 0 && fd >= 0);
    dup2(fd, 2);
    aug_log_level_t level = aug_log_get_level();
    aug_log_set_level(AUG_LOG_DEBUG);

    auth_creds_t *c = creds_from(AKID " " MARK "\n");
    treq_t t;
    get_object_example(&t);
    auth_result_t res;
    aug_err_t err;
    CU_ASSERT_EQUAL(verify(c, &t, &res, &err), AUG_EINVAL); /* SigV4 */
    /* secrets of the client's own in signed headers and the query are not logged either */
    get_object_example(&t);
    t.r.query = "X-Amz-Security-Token=" MARK "token";
    treq_add(&t, "x-amz-server-side-encryption-customer-key", MARK "ssec");
    treq_set(&t, "Authorization",
             "AWS4-HMAC-SHA256 " V4_CRED ",SignedHeaders=host;range;x-amz-content-sha256;"
             "x-amz-date;x-amz-server-side-encryption-customer-key,Signature="
             "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
    CU_ASSERT_EQUAL(verify(c, &t, &res, &err), AUG_EINVAL);
    v2_request(&t, "GET", "/photos/puppy.jpg", NULL, "johnsmith", "Tue, 27 Mar 2007 19:36:42 +0000",
               1175024202, "AWS " AKID ":bWq2s1WEIj+Ydj0vQ697zp+IXMU=");
    CU_ASSERT_EQUAL(verify(c, &t, &res, &err), AUG_EINVAL); /* SigV2 */
    auth_creds_free(c);

    aug_log_set_level(level);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(fd);
    FILE *f = fopen(path, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    char log[16384];
    size_t n = fread(log, 1, sizeof(log) - 1, f);
    log[n] = '\0';
    fclose(f);
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "canonical request")); /* it did log */
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "x-amz-server-side-encryption-customer-key:<redacted>"));
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "X-Amz-Security-Token=<redacted>"));
    CU_ASSERT_PTR_NULL(strstr(log, MARK));
    test_remove_tree(dir);
}

static void test_result_wipe_clears_the_signing_key(void)
{
    auth_result_t res;
    chunked_example_auth(&res);
    uint8_t zero[32] = {0};
    CU_ASSERT_NOT_EQUAL(memcmp(res.signing_key, zero, 32), 0);
    auth_result_wipe(&res);
    CU_ASSERT_EQUAL(memcmp(res.signing_key, zero, 32), 0);
    CU_ASSERT_EQUAL(res.seed_signature[0], '\0');
}

static void test_http_status_of_each_code(void)
{
    CU_ASSERT_EQUAL(auth_http_status("SignatureDoesNotMatch"), 403);
    CU_ASSERT_EQUAL(auth_http_status("InvalidAccessKeyId"), 403);
    CU_ASSERT_EQUAL(auth_http_status("AccessDenied"), 403);
    CU_ASSERT_EQUAL(auth_http_status("RequestTimeTooSkewed"), 403);
    CU_ASSERT_EQUAL(auth_http_status("AuthorizationHeaderMalformed"), 400);
    CU_ASSERT_EQUAL(auth_http_status("AuthorizationQueryParametersError"), 400);
    CU_ASSERT_EQUAL(auth_http_status("InvalidArgument"), 400);
    CU_ASSERT_EQUAL(auth_http_status("IncompleteBody"), 400);
    CU_ASSERT_EQUAL(auth_http_status("NotImplemented"), 501);
    CU_ASSERT_EQUAL(auth_http_status(NULL), 500);
}

/* ---- registration ------------------------------------------------------------------------- */

typedef struct test_case {
    const char *name;
    CU_TestFunc fn;
} test_case_t;

#define T(fn)                                                                                      \
    {                                                                                              \
#fn, fn                                                                                    \
    }

static const test_case_t sigv4_tests[] = {
    T(test_v4_get_object_example_is_accepted),
    T(test_v4_put_object_example_is_accepted),
    T(test_v4_put_object_example_with_encoded_path_is_accepted),
    T(test_v4_get_bucket_lifecycle_example_is_accepted),
    T(test_v4_list_objects_example_is_accepted),
    T(test_v4_query_parameters_are_sorted_before_signing),
    T(test_v4_query_values_are_decoded_then_encoded_once),
    T(test_v4_encoded_slash_in_key_stays_encoded),
    T(test_v4_path_signed_as_sent_is_accepted),
    T(test_v4_date_header_is_used_without_x_amz_date),
    T(test_v4_header_names_any_case_and_values_trimmed),
    T(test_v4_repeated_headers_are_joined_with_commas),
    T(test_v4_spaces_after_commas_in_authorization_are_accepted),
    T(test_v4_tampered_header_is_signature_mismatch),
    T(test_v4_tampered_path_method_or_query_is_signature_mismatch),
    T(test_v4_tampered_payload_hash_is_signature_mismatch),
    T(test_v4_wrong_secret_is_signature_mismatch),
    T(test_v4_unknown_key_is_invalid_access_key_id),
    T(test_v4_no_credentials_at_all_is_invalid_access_key_id),
    T(test_v4_clock_skew_over_15_minutes_is_refused),
    T(test_v4_missing_or_bad_date_is_access_denied),
    T(test_v4_region_other_than_the_endpoints_is_malformed),
    T(test_v4_unsigned_amz_header_is_access_denied),
    T(test_v4_unsigned_ordinary_header_is_allowed),
    T(test_v4_signed_header_missing_from_request_is_mismatch),
    T(test_v4_missing_content_sha256_is_invalid_request),
    T(test_v4_bad_content_sha256_is_invalid_argument),
    T(test_v4_streaming_without_decoded_length_is_refused),
    T(test_v4a_is_not_implemented),
    T(test_v4_broken_authorization_headers_are_refused),
    T(test_v4_huge_authorization_header_is_refused),
    T(test_two_authorization_headers_are_refused),
    T(test_header_and_query_signature_together_are_refused),
    T(test_request_without_credentials_is_anonymous),
    T(test_http_dates_in_every_form_parse),
    T(test_http_status_of_each_code),
};

static const test_case_t presign_tests[] = {
    T(test_v4_presigned_url_example_is_accepted),
    T(test_v4_presigned_url_is_good_until_it_expires),
    T(test_v4_presigned_url_from_the_future_is_refused),
    T(test_v4_presigned_url_with_parameters_reordered_is_accepted),
    T(test_v4_presigned_url_tampered_is_signature_mismatch),
    T(test_v4_presigned_url_with_unknown_key_is_invalid_access_key_id),
    T(test_v4_broken_presigned_parameters_are_refused),
    T(test_v4_presigned_url_with_unsigned_amz_header_is_refused),
};

static const test_case_t sigv2_tests[] = {
    T(test_v2_object_get_example_is_accepted),
    T(test_v2_object_put_example_is_accepted),
    T(test_v2_list_example_ignores_ordinary_query_parameters),
    T(test_v2_acl_sub_resource_is_signed),
    T(test_v2_delete_example_with_x_amz_date_is_accepted),
    T(test_v2_x_amz_date_signed_among_amz_headers_is_accepted),
    T(test_v2_upload_example_with_amz_headers_is_accepted),
    T(test_v2_list_all_buckets_example_is_accepted),
    T(test_v2_unicode_key_is_signed_as_sent),
    T(test_v2_query_string_example_is_accepted_until_it_expires),
    T(test_v2_query_signature_with_unencoded_plus_is_accepted),
    T(test_v2_query_signs_sub_resources_and_response_overrides),
    T(test_v2_refusals_have_the_right_codes),
};

static const test_case_t chunked_tests[] = {
    T(test_chunked_aws_example_seed_signature_is_accepted),
    T(test_chunked_aws_example_decodes_and_verifies),
    T(test_chunked_body_split_anywhere_decodes),
    T(test_chunked_body_split_in_two_at_every_boundary_decodes),
    T(test_chunked_tampered_data_is_signature_mismatch_and_sticks),
    T(test_chunked_reordered_signatures_are_refused),
    T(test_chunked_final_chunk_signature_is_checked),
    T(test_chunked_wrong_seed_fails_on_first_chunk),
    T(test_chunked_truncated_body_is_incomplete),
    T(test_chunked_decoded_length_must_match),
    T(test_chunked_data_after_the_end_is_refused),
    T(test_chunked_malformed_frames_are_refused),
    T(test_chunked_missing_crlf_after_data_is_refused),
    T(test_chunked_endless_header_line_is_refused),
    T(test_chunked_sink_error_stops_decoding),
    T(test_chunked_decoder_refuses_unchunked_payloads),
    T(test_trailer_aws_example_decodes_and_verifies),
    T(test_trailer_body_split_anywhere_decodes),
    T(test_trailer_tampered_checksum_is_signature_mismatch),
    T(test_trailer_without_signature_is_refused),
    T(test_trailer_after_blank_line_is_tolerated),
    T(test_unsigned_trailer_body_decodes),
    T(test_unsigned_trailer_with_lf_lines_and_extensions_decodes),
    T(test_unsigned_trailer_verifies_with_its_request),
    T(test_unannounced_trailer_is_refused),
    T(test_missing_announced_trailer_is_refused),
    T(test_malformed_trailer_lines_are_refused),
};

static const test_case_t creds_tests[] = {
    T(test_creds_parse_keys_comments_and_blank_lines),
    T(test_creds_key_without_permissions_may_do_anything),
    T(test_creds_permissions_limit_buckets),
    T(test_creds_wildcard_grants_cover_every_bucket),
    T(test_creds_bad_lines_name_file_and_line),
    T(test_creds_too_long_fields_are_refused_without_quoting_them),
    T(test_creds_file_with_mode_600_loads),
    T(test_creds_file_open_to_group_or_others_is_refused),
    T(test_creds_missing_file_or_directory_is_refused),
    T(test_creds_file_errors_name_the_file_and_line),
    T(test_empty_creds_file_loads_no_keys),
    T(test_debug_log_of_a_mismatch_holds_no_secret),
    T(test_result_wipe_clears_the_signing_key),
};

static int add_suite(const char *name, const test_case_t *tests, size_t n)
{
    CU_pSuite s = CU_add_suite(name, NULL, NULL);
    if (!s) return -1;
    for (size_t i = 0; i < n; i++)
        if (!CU_add_test(s, tests[i].name, tests[i].fn)) return -1;
    return 0;
}

#define ADD_SUITE(name, tests) add_suite(name, tests, sizeof(tests) / sizeof(tests[0]))

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    if (ADD_SUITE("sigv4", sigv4_tests) || ADD_SUITE("sigv4-presigned", presign_tests) ||
        ADD_SUITE("sigv2", sigv2_tests) || ADD_SUITE("aws-chunked", chunked_tests) ||
        ADD_SUITE("credentials", creds_tests))
        return 1;
    return test_run_all();
}
