"""s3util.py - what the end-to-end tests share besides fixtures: the test credentials, a small
SigV4 signer for hand-crafted requests (stale dates, odd headers, bodies botocore would not
send), raw HTTP over a socket for requests no client library would send, and the checklist of
S3 error codes the suite has produced."""

import datetime
import hashlib
import hmac
import re
import socket
import threading
import urllib.parse
import xml.etree.ElementTree as ET

REGION = "us-east-1"

# (access key, secret, permissions as written in the credentials file)
ADMIN = ("AKIDE2EADMIN0000", "e2e/admin+secret0000000000000000000000000", "")
READER = ("AKIDE2EREADER000", "e2e-reader-secret-000000000000000000000000", "r:e2e-public,e2e-shared")
LIMITED = ("AKIDE2ELIMITED00", "e2e-limited-secret-00000000000000000000000", "rw:lim-*")
PUBLIC_BUCKET = "e2e-public"
SHARED_BUCKET = "e2e-shared"

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
S3NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"

# ---- the error codes of issue 3 item 5, and which of them the suite has seen ----------------

ISSUE_ERROR_CODES = [
    "NoSuchBucket", "NoSuchKey", "BucketNotEmpty", "BucketAlreadyOwnedByYou",
    "InvalidBucketName", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied",
    "RequestTimeTooSkewed", "InvalidRange", "PreconditionFailed", "NotModified", "BadDigest",
    "MalformedXML", "InvalidPart", "InvalidPartOrder", "NoSuchUpload", "EntityTooSmall",
    "EntityTooLarge", "KeyTooLongError", "MethodNotAllowed", "NotImplemented",
]

_seen_lock = threading.Lock()
SEEN_CODES = {}  # code -> set of test node ids that produced it


def record_code(code, who="?"):
    with _seen_lock:
        SEEN_CODES.setdefault(code, set()).add(who)


CURRENT_TEST = ["?"]  # set by conftest for each test


def note(code):
    record_code(code, CURRENT_TEST[0])


# ---- SigV4 for hand-made requests ------------------------------------------------------------


def uri_encode(s, safe="-_.~"):
    return urllib.parse.quote(s, safe=safe)


def amz_now(offset_s=0):
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=offset_s)
    return t.strftime("%Y%m%dT%H%M%SZ")


def _hmac(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def signing_key(secret, day, region=REGION):
    k = _hmac(("AWS4" + secret).encode(), day)
    k = _hmac(k, region)
    k = _hmac(k, "s3")
    return _hmac(k, "aws4_request")


def canonical_query(pairs):
    enc = sorted((uri_encode(k), uri_encode(v)) for k, v in pairs)
    return "&".join(f"{k}={v}" for k, v in enc)


def sign_v4(method, path, query_pairs, headers, payload_hash, key=ADMIN, amz_date=None,
            region=REGION):
    """Add X-Amz-Date, x-amz-content-sha256 and Authorization to headers (a dict whose keys
    are sent as they are; Host must be in it) for a request to path (already percent-encoded,
    as sent). Returns headers."""
    access, secret = key[0], key[1]
    amz_date = amz_date or amz_now()
    headers = dict(headers)
    headers["X-Amz-Date"] = amz_date
    headers["x-amz-content-sha256"] = payload_hash
    names = sorted(h.lower() for h in headers)
    lower = {h.lower(): " ".join(str(v).strip().split()) for h, v in headers.items()}
    canon_headers = "".join(f"{n}:{lower[n]}\n" for n in names)
    signed = ";".join(names)
    creq = "\n".join([method, path, canonical_query(query_pairs), canon_headers, signed,
                      payload_hash])
    day = amz_date[:8]
    scope = f"{day}/{region}/s3/aws4_request"
    sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                     hashlib.sha256(creq.encode()).hexdigest()])
    sig = hmac.new(signing_key(secret, day, region), sts.encode(), hashlib.sha256).hexdigest()
    headers["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={access}/{scope}, "
                                f"SignedHeaders={signed}, Signature={sig}")
    return headers


# ---- raw HTTP ------------------------------------------------------------------------------


class RawResponse:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers  # lower-case name -> value (last wins)
        self.body = body

    def header(self, name):
        return self.headers.get(name.lower())

    def error_code(self):
        return parse_error(self.body).get("Code")

    def __repr__(self):
        return f"<{self.status} {self.reason} {self.headers} {self.body[:300]!r}>"


def read_response(sock, head_request=False):
    """Read one HTTP/1.1 response from sock (Content-Length or chunked bodies, or until close).
    Returns a RawResponse, or None if the connection closed before a status line."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            if not buf:
                return None
            raise ConnectionError(f"connection closed inside the response head: {buf[:200]!r}")
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("iso-8859-1").split("\r\n")
    m = re.match(r"HTTP/1\.[01] (\d{3}) ?(.*)", lines[0])
    if not m:
        raise ValueError(f"bad status line {lines[0]!r}")
    status = int(m.group(1))
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if status == 100:
        return RawResponse(status, m.group(2), headers, rest)
    body = rest
    if head_request or status in (204, 304) or 100 <= status < 200:
        return RawResponse(status, m.group(2), headers, b"")
    if "content-length" in headers:
        n = int(headers["content-length"])
        while len(body) < n:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
        body = body[:n]
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        out = b""
        while True:
            while b"\r\n" not in body:
                body += sock.recv(65536)
            size_line, body = body.split(b"\r\n", 1)
            size = int(size_line.split(b";")[0], 16)
            while len(body) < size + 2:
                body += sock.recv(65536)
            out += body[:size]
            body = body[size + 2:]
            if size == 0:
                break
        body = out
    else:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
    return RawResponse(status, m.group(2), headers, body)


def raw_exchange(port, data, timeout=10.0, head_request=False):
    """Send data on a fresh connection and read one response."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        return read_response(s, head_request=head_request)


def build_request(method, target, headers, body=b""):
    lines = [f"{method} {target} HTTP/1.1"] + [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def signed_raw(port, method, path, query_pairs=(), headers=None, body=b"", key=ADMIN,
               amz_date=None, payload_hash=None, send_body=True, close=True):
    """A SigV4-signed request sent over a raw socket. path is percent-encoded as sent."""
    headers = dict(headers or {})
    headers.setdefault("Host", f"127.0.0.1:{port}")
    if payload_hash is None:
        payload_hash = hashlib.sha256(body).hexdigest()
    headers = sign_v4(method, path, list(query_pairs), headers, payload_hash, key=key,
                      amz_date=amz_date)
    if method in ("PUT", "POST") and "Content-Length" not in headers:
        headers["Content-Length"] = str(len(body))
    if close:
        headers["Connection"] = "close"
    q = canonical_query(query_pairs) if query_pairs else ""
    target = path + ("?" + q if q else "")
    return raw_exchange(port, build_request(method, target, headers, body if send_body else b""),
                        head_request=method == "HEAD")


def parse_error(body):
    """The fields of an S3 <Error> body as a dict ({} if the body is not one)."""
    if not body:
        return {}
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return {}
    if root.tag != "Error":
        return {}
    return {child.tag: (child.text or "") for child in root}


def xml_find_all(body, path):
    root = ET.fromstring(body)
    return root.findall(path.replace("s3:", S3NS))


def xml_text(body, path):
    root = ET.fromstring(body)
    el = root.find(path.replace("s3:", S3NS))
    return None if el is None else (el.text or "")
