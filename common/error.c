/* error.c - the aug_err_t carrier and the fixed names of error codes. */
#include "common.h"

#include <stdio.h>
#include <string.h>

int aug_err_set(aug_err_t *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

void aug_err_clear(aug_err_t *err)
{
    if (err) {
        err->code = AUG_OK;
        err->msg[0] = '\0';
    }
}

const char *aug_strerror(int code)
{
    switch (code) {
    case AUG_OK: return "success";
    case AUG_EINVAL: return "invalid argument";
    case AUG_ENOENT: return "not found";
    case AUG_EEXIST: return "already exists";
    case AUG_ENOTEMPTY: return "not empty";
    case AUG_EIO: return "I/O error";
    case AUG_ENOMEM: return "out of memory";
    case AUG_EQUORUM: return "write quorum not reached";
    case AUG_EUNAVAIL: return "data unavailable";
    case AUG_ECORRUPT: return "data corrupt";
    case AUG_ECONFIG: return "configuration error";
    case AUG_ETOOLONG: return "name too long";
    case AUG_ECANCELED: return "canceled";
    case AUG_EAGAIN: return "busy, try again";
    default: return "unknown error";
    }
}
