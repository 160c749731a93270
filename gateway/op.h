/* op.h - (private to gateway/) what the operation files share. */
#ifndef AUGUR_GATEWAY_OP_H
#define AUGUR_GATEWAY_OP_H

#include "gw.h"

typedef struct meta_list meta_list_t;

/* Attributes of a new object from the request headers (Content-Type, x-amz-meta-*, kept
 * headers). Returns 0 with *ml to free with op_attrs_free(), or -1 with an error queued. */
int op_attrs_from_headers(gw_request_t *r, backend_put_attrs_t *attrs, meta_list_t **ml);
void op_attrs_free(meta_list_t *ml);
/* Content-Length present and within limits; else an error is queued and -1 returned. */
int op_check_upload_headers(gw_request_t *r);
/* Look up x-amz-copy-source and check x-amz-copy-source-if-*; -1 with an error queued. */
int op_copy_source(gw_request_t *r, backend_manifest_t **src);
/* 0 to proceed, 304 or 412, for the conditional headers with prefix ("" or
 * "x-amz-copy-source-"). */
int op_check_conditions(gw_request_t *r, const backend_manifest_t *m, const char *prefix);
/* Answer a CopyObjectResult or CopyPartResult. */
void op_respond_copy_result(gw_request_t *r, const char *root, const backend_manifest_t *m);

/* op_multipart.c */
void op_create_upload(gw_request_t *r);
void op_upload_part(gw_request_t *r);
void op_complete_upload(gw_request_t *r);
void op_abort_upload(gw_request_t *r);
void op_list_parts(gw_request_t *r);

#endif
