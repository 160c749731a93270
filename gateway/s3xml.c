/* s3xml.c - S3 XML documents written with libxml2's text writer, plus the time and URL formats
 * S3 responses use. */
#include "gw.h"

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlwriter.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S3_XMLNS "http://s3.amazonaws.com/doc/2006-03-01/"

struct gw_xml {
    xmlBufferPtr buf;
    xmlTextWriterPtr w;
    int failed;
};

gw_xml_t *gw_xml_begin(const char *root)
{
    gw_xml_t *x = calloc(1, sizeof(*x));
    if (!x) return NULL;
    x->buf = xmlBufferCreate();
    x->w = x->buf ? xmlNewTextWriterMemory(x->buf, 0) : NULL;
    if (!x->w || xmlTextWriterStartDocument(x->w, "1.0", "UTF-8", NULL) < 0 ||
        xmlTextWriterStartElement(x->w, BAD_CAST root) < 0)
        x->failed = 1;
    /* S3 error documents carry no namespace, and SDKs look for <Code> without one */
    if (!x->failed && strcmp(root, "Error") != 0 &&
        xmlTextWriterWriteAttribute(x->w, BAD_CAST "xmlns", BAD_CAST S3_XMLNS) < 0)
        x->failed = 1;
    return x;
}

void gw_xml_open(gw_xml_t *x, const char *name)
{
    if (!x || x->failed) return;
    if (xmlTextWriterStartElement(x->w, BAD_CAST name) < 0) {
        x->failed = 1;
        return;
    }
    /* An ACL Grantee carries its type as S3 writes it: s3cmd (setacl, info) fails with a
     * KeyError without xsi:type. The only grantee augur reports is the owner. */
    if (strcmp(name, "Grantee") == 0 &&
        (xmlTextWriterWriteAttribute(x->w, BAD_CAST "xmlns:xsi",
                                     BAD_CAST "http://www.w3.org/2001/XMLSchema-instance") < 0 ||
         xmlTextWriterWriteAttribute(x->w, BAD_CAST "xsi:type", BAD_CAST "CanonicalUser") < 0))
        x->failed = 1;
}

void gw_xml_close(gw_xml_t *x)
{
    if (x && !x->failed && xmlTextWriterEndElement(x->w) < 0) x->failed = 1;
}

void gw_xml_text(gw_xml_t *x, const char *name, const char *value)
{
    if (!x || x->failed) return;
    if (xmlTextWriterWriteElement(x->w, BAD_CAST name, BAD_CAST(value ? value : "")) < 0)
        x->failed = 1;
}

void gw_xml_content(gw_xml_t *x, const char *text)
{
    if (x && !x->failed && xmlTextWriterWriteString(x->w, BAD_CAST text) < 0) x->failed = 1;
}

void gw_xml_textf(gw_xml_t *x, const char *name, const char *fmt, ...)
{
    char value[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(value, sizeof(value), fmt, ap);
    va_end(ap);
    gw_xml_text(x, name, value);
}

char *gw_xml_finish(gw_xml_t *x, size_t *len)
{
    if (!x) return NULL;
    char *out = NULL;
    if (!x->failed && xmlTextWriterEndDocument(x->w) >= 0) {
        xmlFreeTextWriter(x->w);
        x->w = NULL;
        size_t n = (size_t)xmlBufferLength(x->buf);
        out = malloc(n + 1);
        if (out) {
            memcpy(out, xmlBufferContent(x->buf), n);
            out[n] = '\0';
            *len = n;
        }
    }
    if (x->w) xmlFreeTextWriter(x->w);
    if (x->buf) xmlBufferFree(x->buf);
    free(x);
    return out;
}

void gw_time_iso(int64_t ns, char *out, size_t len)
{
    time_t t = (time_t)(ns / 1000000000LL);
    struct tm tm;
    gmtime_r(&t, &tm);
    char base[32];
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, len, "%s.%03dZ", base, (int)((ns / 1000000LL) % 1000));
}

void gw_time_http(int64_t ns, char *out, size_t len)
{
    time_t t = (time_t)(ns / 1000000000LL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, len, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

int gw_parse_http_time(const char *s, int64_t *ns)
{
    static const char *const formats[] = {
        "%a, %d %b %Y %H:%M:%S GMT", /* RFC 1123 */
        "%A, %d-%b-%y %H:%M:%S GMT", /* RFC 850 */
        "%a %b %d %H:%M:%S %Y",      /* asctime */
        "%Y-%m-%dT%H:%M:%SZ",        /* ISO 8601, which some clients send */
        "%Y-%m-%dT%H:%M:%S.000Z",
    };
    /* libs3 writes its If-(Un)Modified-Since dates with "UTC" where HTTP says "GMT", and some
     * clients write "+0000": read both as GMT rather than ignore the condition */
    char buf[64];
    size_t n = strlen(s);
    if (n < sizeof(buf) && n > 4 && strcmp(s + n - 4, " UTC") == 0) {
        snprintf(buf, sizeof(buf), "%.*s GMT", (int)(n - 4), s);
        s = buf;
    } else if (n < sizeof(buf) && n > 6 && strcmp(s + n - 6, " +0000") == 0) {
        snprintf(buf, sizeof(buf), "%.*s GMT", (int)(n - 6), s);
        s = buf;
    }
    for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
        struct tm tm;
        memset(&tm, 0, sizeof(tm));
        const char *end = strptime(s, formats[i], &tm);
        if (end && *end == '\0') {
            *ns = (int64_t)timegm(&tm) * 1000000000LL;
            return 0;
        }
    }
    return AUG_EINVAL;
}

char *gw_url_encode(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = malloc(3 * n + 1), *o = out;
    if (!out) return NULL;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.' || *p == '~' || *p == '/') {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        }
    }
    *o = '\0';
    return out;
}

/* ---- request bodies -------------------------------------------------------------------- */

/* libxml2 prints some errors (bad encodings) to stderr whatever the parse options say; a
 * client's broken body is answered with MalformedXML, not written to the daemon's log. */
static void silent(void *ctx, const char *msg, ...)
{
    (void)ctx, (void)msg;
}

static xmlDocPtr read_doc(const uint8_t *body, size_t len)
{
    if (len == 0 || len > INT32_MAX) return NULL;
    xmlSetGenericErrorFunc(NULL, silent); /* per thread in libxml2: set it on each use */
    return xmlReadMemory((const char *)body, (int)len, "body.xml", NULL,
                         XML_PARSE_NONET | XML_PARSE_NOBLANKS | XML_PARSE_NOERROR |
                             XML_PARSE_NOWARNING);
}

/* The text of the first element named name anywhere below node, or NULL (caller xmlFree). */
static xmlChar *find_text(xmlNodePtr node, const char *name)
{
    for (xmlNodePtr n = node; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE) continue;
        if (xmlStrcmp(n->name, BAD_CAST name) == 0) return xmlNodeGetContent(n);
        xmlChar *t = find_text(n->children, name);
        if (t) return t;
    }
    return NULL;
}

const char *s3xml_parse_location(const uint8_t *body, size_t len, char *region, size_t cap)
{
    if (len == 0) return NULL;
    xmlDocPtr doc = read_doc(body, len);
    if (!doc) return "MalformedXML";
    xmlChar *loc = find_text(xmlDocGetRootElement(doc), "LocationConstraint");
    if (loc && *loc) snprintf(region, cap, "%s", (const char *)loc);
    xmlFree(loc);
    xmlFreeDoc(doc);
    return NULL;
}

/* Strip the quotes around an ETag. */
static void clean_etag(const char *in, char *out, size_t len)
{
    while (*in == '"' || *in == ' ') in++;
    snprintf(out, len, "%s", in);
    size_t n = strlen(out);
    while (n > 0 && (out[n - 1] == '"' || out[n - 1] == ' ')) out[--n] = '\0';
}

const char *s3xml_parse_complete(const uint8_t *body, size_t len, s3xml_part_t **out,
                                 size_t *n_out)
{
    xmlDocPtr doc = read_doc(body, len);
    xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
    if (!root || xmlStrcmp(root->name, BAD_CAST "CompleteMultipartUpload") != 0) {
        if (doc) xmlFreeDoc(doc);
        return "MalformedXML";
    }
    s3xml_part_t *parts = NULL;
    size_t n = 0;
    const char *code = NULL;
    for (xmlNodePtr p = root->children; p && !code; p = p->next) {
        if (p->type != XML_ELEMENT_NODE || xmlStrcmp(p->name, BAD_CAST "Part") != 0) continue;
        s3xml_part_t w = {.number = -1};
        for (xmlNodePtr c = p->children; c; c = c->next) {
            if (c->type != XML_ELEMENT_NODE) continue;
            xmlChar *t = xmlNodeGetContent(c);
            if (xmlStrcmp(c->name, BAD_CAST "PartNumber") == 0) {
                char *end;
                long v = t ? strtol((const char *)t, &end, 10) : -1;
                w.number = t && *t && !*end && v >= 1 && v <= BACKEND_MAX_PARTS ? (int)v : -1;
            } else if (xmlStrcmp(c->name, BAD_CAST "ETag") == 0 && t) {
                clean_etag((const char *)t, w.etag, sizeof(w.etag));
            }
            xmlFree(t);
        }
        if (w.number < 1 || n >= BACKEND_MAX_PARTS) {
            code = "MalformedXML";
            break;
        }
        s3xml_part_t *np = realloc(parts, (n + 1) * sizeof(*np));
        if (!np) {
            code = "InternalError";
            break;
        }
        parts = np;
        parts[n++] = w;
    }
    xmlFreeDoc(doc);
    if (!code && n == 0) code = "MalformedXML";
    if (code) {
        free(parts);
        return code;
    }
    *out = parts;
    *n_out = n;
    return NULL;
}

const char *s3xml_parse_delete(const uint8_t *body, size_t len, int *quiet, char ***keys,
                               size_t *n_out)
{
    xmlDocPtr doc = read_doc(body, len);
    xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
    if (!root || xmlStrcmp(root->name, BAD_CAST "Delete") != 0) {
        if (doc) xmlFreeDoc(doc);
        return "MalformedXML";
    }
    *quiet = 0;
    char **list = NULL;
    size_t n = 0;
    const char *code = NULL;
    for (xmlNodePtr c = root->children; c && !code; c = c->next) {
        if (c->type != XML_ELEMENT_NODE) continue;
        if (xmlStrcmp(c->name, BAD_CAST "Quiet") == 0) {
            xmlChar *t = xmlNodeGetContent(c);
            *quiet = t && xmlStrcmp(t, BAD_CAST "true") == 0;
            xmlFree(t);
        } else if (xmlStrcmp(c->name, BAD_CAST "Object") == 0) {
            xmlChar *key = find_text(c->children, "Key");
            char **nl = key && n < GW_MAX_KEYS ? realloc(list, (n + 1) * sizeof(*nl)) : NULL;
            if (nl) list = nl;
            if (!key || n >= GW_MAX_KEYS) code = "MalformedXML";
            else if (!nl || !(list[n] = strdup((const char *)key))) code = "InternalError";
            else n++;
            xmlFree(key);
        }
    }
    xmlFreeDoc(doc);
    if (!code && n == 0) code = "MalformedXML";
    if (code) {
        for (size_t i = 0; i < n; i++) free(list[i]);
        free(list);
        return code;
    }
    *keys = list;
    *n_out = n;
    return NULL;
}
