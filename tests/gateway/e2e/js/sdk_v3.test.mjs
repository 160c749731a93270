// sdk_v3.test.mjs - the AWS SDK for JavaScript v3 against a running augurd. Current SDKs send
// flexible checksums by default: x-amz-checksum-crc32 headers for in-memory bodies and
// aws-chunked bodies with a trailing checksum for streams. augur must verify, store and return
// them (GetObject/HeadObject with ChecksumMode ENABLED).
//
// env: AUGUR_S3_ENDPOINT (http://127.0.0.1:PORT), AUGUR_S3_ACCESS_KEY, AUGUR_S3_SECRET_KEY,
//      AUGUR_S3_BUCKET (a bucket name this test creates and removes).
// run: node --test sdk_v3.test.mjs
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { after, before, test } from "node:test";

import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";

const endpoint = process.env.AUGUR_S3_ENDPOINT;
const bucket = process.env.AUGUR_S3_BUCKET;
assert.ok(endpoint && bucket && process.env.AUGUR_S3_ACCESS_KEY, "AUGUR_S3_* not set");

const s3 = new S3Client({
  endpoint,
  region: "us-east-1",
  forcePathStyle: true,
  maxAttempts: 1,
  credentials: {
    accessKeyId: process.env.AUGUR_S3_ACCESS_KEY,
    secretAccessKey: process.env.AUGUR_S3_SECRET_KEY,
  },
});

// The headers of the last request as sent (after signing), to see which body encoding the SDK
// chose.
let lastHeaders = {};
s3.middlewareStack.add(
  (next) => async (args) => {
    lastHeaders = { ...args.request.headers };
    return next(args);
  },
  { step: "deserialize", name: "recordHeaders" },
);

// CRC32 (zlib's) as base64 of its big-endian bytes, as x-amz-checksum-crc32 carries it.
// (zlib.crc32 needs Node.js 20.15; Debian's nodejs is 18.)
const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
const crc32 = (buf) => {
  let c = 0xffffffff;
  for (const byte of buf) c = CRC_TABLE[(c ^ byte) & 0xff] ^ (c >>> 8);
  const b = Buffer.alloc(4);
  b.writeUInt32BE((c ^ 0xffffffff) >>> 0);
  return b.toString("base64");
};
const digest = (alg, buf) => createHash(alg).update(buf).digest("base64");
const md5hex = (buf) => createHash("md5").update(buf).digest("hex");
const bytes = (n, seed = 1) => {
  const b = Buffer.alloc(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    b[i] = x >>> 16;
  }
  return b;
};
const body = async (out) => Buffer.from(await out.Body.transformToByteArray());
const header = (name) => {
  for (const [k, v] of Object.entries(lastHeaders)) if (k.toLowerCase() === name) return v;
  return undefined;
};

before(async () => {
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
});

after(async () => {
  let token;
  do {
    const l = await s3.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
    for (const o of l.Contents ?? []) await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: o.Key }));
    token = l.NextContinuationToken;
  } while (token);
  await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
  s3.destroy();
});

test("PutObject of a Buffer sends a CRC32 and GetObject returns it", async () => {
  const data = bytes(100000, 7);
  const put = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "buffer.bin", Body: data }));
  assert.equal(header("x-amz-checksum-crc32"), crc32(data), "the SDK sent no CRC32 header");
  assert.equal(put.ETag, `"${md5hex(data)}"`);
  assert.equal(put.ChecksumCRC32, crc32(data));
  const got = await s3.send(
    new GetObjectCommand({ Bucket: bucket, Key: "buffer.bin", ChecksumMode: "ENABLED" }),
  );
  assert.deepEqual(await body(got), data);
  assert.equal(got.ChecksumCRC32, crc32(data));
  const head = await s3.send(
    new HeadObjectCommand({ Bucket: bucket, Key: "buffer.bin", ChecksumMode: "ENABLED" }),
  );
  assert.equal(head.ChecksumCRC32, crc32(data));
  assert.equal(head.ContentLength, data.length);
  // without ChecksumMode the checksum is not returned
  const plain = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "buffer.bin" }));
  assert.equal(plain.ChecksumCRC32, undefined);
});

test("PutObject of a stream goes aws-chunked with a trailing checksum", async () => {
  const data = bytes(3 * 1024 * 1024 + 5, 11);
  const put = await s3.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: "stream.bin",
      Body: Readable.from([data.subarray(0, 1000000), data.subarray(1000000)]),
      ContentLength: data.length,
    }),
  );
  const mode = header("x-amz-content-sha256");
  assert.match(mode, /^STREAMING-.*TRAILER$/, `expected a trailer payload, got ${mode}`);
  assert.match(header("content-encoding") ?? "", /aws-chunked/);
  assert.equal(header("x-amz-trailer"), "x-amz-checksum-crc32");
  assert.equal(put.ETag, `"${md5hex(data)}"`);
  const got = await s3.send(
    new GetObjectCommand({ Bucket: bucket, Key: "stream.bin", ChecksumMode: "ENABLED" }),
  );
  assert.deepEqual(await body(got), data);
  assert.equal(got.ChecksumCRC32, crc32(data));
  assert.equal(got.ContentEncoding, undefined, "aws-chunked must not be stored as the coding");
});

for (const [alg, field, compute] of [
  ["SHA256", "ChecksumSHA256", (d) => digest("sha256", d)],
  ["SHA1", "ChecksumSHA1", (d) => digest("sha1", d)],
  ["CRC32", "ChecksumCRC32", crc32],
]) {
  test(`PutObject with ChecksumAlgorithm ${alg}`, async () => {
    const data = bytes(70000, alg.length);
    const key = `alg-${alg}`;
    const put = await s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: key, Body: data, ChecksumAlgorithm: alg }),
    );
    assert.equal(put[field], compute(data));
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, ChecksumMode: "ENABLED" }));
    assert.deepEqual(await body(got), data);
    assert.equal(got[field], compute(data));
  });
}

test("PutObject with ChecksumAlgorithm CRC32C over a stream", async () => {
  const data = bytes(200000, 3);
  const put = await s3.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: "crc32c.bin",
      Body: Readable.from([data]),
      ContentLength: data.length,
      ChecksumAlgorithm: "CRC32C",
    }),
  );
  assert.equal(header("x-amz-trailer"), "x-amz-checksum-crc32c");
  assert.ok(put.ChecksumCRC32C, "no CRC32C in the answer");
  const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "crc32c.bin", ChecksumMode: "ENABLED" }));
  assert.deepEqual(await body(got), data);
  assert.equal(got.ChecksumCRC32C, put.ChecksumCRC32C);
});

test("a wrong checksum is BadDigest and stores nothing", async () => {
  const data = Buffer.from("the real body");
  await assert.rejects(
    s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: "bad-checksum",
        Body: data,
        ChecksumCRC32: crc32(Buffer.from("another body")),
      }),
    ),
    (err) => {
      assert.equal(err.name, "BadDigest");
      assert.equal(err.$metadata.httpStatusCode, 400);
      assert.ok(err.$metadata.requestId);
      return true;
    },
  );
  await assert.rejects(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "bad-checksum" })), (err) => {
    assert.equal(err.$metadata.httpStatusCode, 404);
    return true;
  });
});

test("multipart upload with the SDK's default part checksums", async () => {
  const p1 = bytes(5 * 1024 * 1024, 21);
  const p2 = bytes(12345, 22);
  const up = await s3.send(
    new CreateMultipartUploadCommand({ Bucket: bucket, Key: "multi.bin", ContentType: "application/x-e2e" }),
  );
  const parts = [];
  for (const [i, p] of [p1, p2].entries()) {
    const r = await s3.send(
      new UploadPartCommand({ Bucket: bucket, Key: "multi.bin", UploadId: up.UploadId, PartNumber: i + 1, Body: p }),
    );
    assert.equal(r.ETag, `"${md5hex(p)}"`);
    parts.push({ PartNumber: i + 1, ETag: r.ETag });
  }
  const done = await s3.send(
    new CompleteMultipartUploadCommand({
      Bucket: bucket,
      Key: "multi.bin",
      UploadId: up.UploadId,
      MultipartUpload: { Parts: parts },
    }),
  );
  const md5s = Buffer.concat([p1, p2].map((p) => createHash("md5").update(p).digest()));
  assert.equal(done.ETag, `"${createHash("md5").update(md5s).digest("hex")}-2"`);
  const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "multi.bin" }));
  assert.deepEqual(await body(got), Buffer.concat([p1, p2]));
  assert.equal(got.ContentType, "application/x-e2e");
  const part2 = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "multi.bin", PartNumber: 2 }));
  assert.deepEqual(await body(part2), p2);
  assert.equal(part2.PartsCount, 2);
});

test("ranges, metadata, copy, listing and DeleteObjects (sent with a CRC32, not MD5)", async () => {
  const data = Buffer.from("0123456789abcdefghij");
  await s3.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: "dir/meta.txt",
      Body: data,
      ContentType: "text/plain",
      Metadata: { owner: "js" },
      CacheControl: "no-cache",
    }),
  );
  const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "dir/meta.txt", Range: "bytes=5-9" }));
  assert.equal((await body(r)).toString(), "56789");
  assert.equal(r.ContentRange, "bytes 5-9/20");
  const h = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "dir/meta.txt" }));
  assert.equal(h.ContentType, "text/plain");
  assert.deepEqual(h.Metadata, { owner: "js" });
  assert.equal(h.CacheControl, "no-cache");
  await s3.send(
    new CopyObjectCommand({ Bucket: bucket, Key: "dir/copy.txt", CopySource: `${bucket}/dir/meta.txt` }),
  );
  const l = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: "dir/", Delimiter: "/" }));
  assert.deepEqual(
    l.Contents.map((o) => o.Key),
    ["dir/copy.txt", "dir/meta.txt"],
  );
  const d = await s3.send(
    new DeleteObjectsCommand({
      Bucket: bucket,
      Delete: { Objects: [{ Key: "dir/copy.txt" }, { Key: "dir/meta.txt" }, { Key: "dir/none" }] },
    }),
  );
  assert.ok(header("x-amz-checksum-crc32") || header("content-md5"), "DeleteObjects sent no checksum");
  assert.deepEqual(d.Deleted.map((x) => x.Key).sort(), ["dir/copy.txt", "dir/meta.txt", "dir/none"]);
  await assert.rejects(s3.send(new GetObjectCommand({ Bucket: bucket, Key: "dir/meta.txt" })), (err) => {
    assert.equal(err.name, "NoSuchKey");
    assert.equal(err.$metadata.httpStatusCode, 404);
    return true;
  });
});
