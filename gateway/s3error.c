/* s3error.c - S3 error codes: the HTTP status and the standard message of each. */
#include "gw.h"

#include <string.h>

typedef struct s3error {
    const char *code;
    unsigned status;
    const char *message;
} s3error_t;

static const s3error_t s3errors[] = {
    {"AccessDenied", 403, "Access Denied"},
    {"AuthorizationHeaderMalformed", 400, "The authorization header is malformed."},
    {"AuthorizationQueryParametersError", 400, "The query-string authentication is malformed."},
    {"BadDigest", 400, "The Content-MD5 or checksum you specified did not match what we received."},
    {"BucketAlreadyExists", 409, "The requested bucket name is not available."},
    {"BucketAlreadyOwnedByYou", 409, "Your previous request to create the named bucket succeeded and you already own it."},
    {"BucketNotEmpty", 409, "The bucket you tried to delete is not empty."},
    {"CORSResponse", 400, "CORS is not enabled for this bucket."},
    {"EntityTooLarge", 400, "Your proposed upload exceeds the maximum allowed object size."},
    {"EntityTooSmall", 400, "Your proposed upload is smaller than the minimum allowed object size."},
    {"IncompleteBody", 400, "You did not provide the number of bytes specified by the Content-Length HTTP header."},
    {"InternalError", 500, "We encountered an internal error. Please try again."},
    {"InvalidAccessKeyId", 403, "The AWS access key Id you provided does not exist in our records."},
    {"InvalidArgument", 400, "Invalid Argument"},
    {"InvalidBucketName", 400, "The specified bucket is not valid."},
    {"InvalidDigest", 400, "The Content-MD5 you specified is not valid."},
    {"InvalidPart", 400, "One or more of the specified parts could not be found. The part might not have been uploaded, or the specified entity tag might not have matched the part's entity tag."},
    {"InvalidPartOrder", 400, "The list of parts was not in ascending order. Parts must be ordered by part number."},
    {"InvalidPartNumber", 416, "The requested partnumber is not satisfiable"},
    {"InvalidRange", 416, "The requested range is not satisfiable"},
    {"InvalidRequest", 400, "Invalid Request"},
    {"InvalidURI", 400, "Couldn't parse the specified URI."},
    {"KeyTooLongError", 400, "Your key is too long."},
    {"MalformedXML", 400, "The XML you provided was not well-formed or did not validate against our published schema."},
    {"MaxMessageLengthExceeded", 400, "Your request was too big."},
    {"MetadataTooLarge", 400, "Your metadata headers exceed the maximum allowed metadata size."},
    {"MethodNotAllowed", 405, "The specified method is not allowed against this resource."},
    {"MissingContentLength", 411, "You must provide the Content-Length HTTP header."},
    {"MissingSecurityHeader", 400, "Your request is missing a required header."},
    {"NoSuchBucket", 404, "The specified bucket does not exist."},
    {"NoSuchBucketPolicy", 404, "The bucket policy does not exist."},
    {"NoSuchCORSConfiguration", 404, "The CORS configuration does not exist."},
    {"NoSuchKey", 404, "The specified key does not exist."},
    {"NoSuchLifecycleConfiguration", 404, "The lifecycle configuration does not exist."},
    {"NoSuchTagSet", 404, "The TagSet does not exist."},
    {"NoSuchUpload", 404, "The specified multipart upload does not exist. The upload ID might be invalid, or the multipart upload might have been aborted or completed."},
    {"NoSuchWebsiteConfiguration", 404, "The specified bucket does not have a website configuration."},
    {"NotImplemented", 501, "A header you provided implies functionality that is not implemented."},
    {"NotModified", 304, "Not Modified"},
    {"PreconditionFailed", 412, "At least one of the preconditions you specified did not hold."},
    {"RequestTimeTooSkewed", 403, "The difference between the request time and the current time is too large."},
    {"RequestTimeout", 400, "Your socket connection to the server was not read from or written to within the timeout period."},
    {"ServerSideEncryptionConfigurationNotFoundError", 404, "The server side encryption configuration was not found."},
    {"ServiceUnavailable", 503, "Please reduce your request rate."},
    {"SignatureDoesNotMatch", 403, "The request signature we calculated does not match the signature you provided. Check your key and signing method."},
    {"XAmzContentSHA256Mismatch", 400, "The provided 'x-amz-content-sha256' header does not match what was computed."},
};

static const s3error_t *find(const char *code)
{
    for (size_t i = 0; i < sizeof(s3errors) / sizeof(s3errors[0]); i++)
        if (strcmp(s3errors[i].code, code) == 0) return &s3errors[i];
    return NULL;
}

unsigned s3error_status(const char *code)
{
    const s3error_t *e = find(code);
    return e ? e->status : 500;
}

const char *s3error_message(const char *code)
{
    const s3error_t *e = find(code);
    return e ? e->message : "We encountered an internal error. Please try again.";
}
