"""fuse_workload.py - the load generators of run_fuse_workload.sh, one subcommand each. Every
byte written is a function of a seed, so every byte read back can be checked without keeping a
copy. Prints one line saying what was done; exits 1 (with the reason) on any wrong byte.

  concurrent DIR                writers and readers in parallel processes, contents verified
  bigwrite FILE GIB             write GIB GiB sequentially, print its sha256
  bigread FILE                  read a file sequentially, print its sha256
  many DIR N                    create N empty files in DIR from several threads
  s3 ENDPOINT ACCESS SECRET BUCKET MNTBUCKET
                                objects put over S3 read through the mount, and files written
                                in the mount read back over S3
  closed ENDPOINT ACCESS SECRET BUCKET MNTBUCKET N
                                N small files written and closed in the mount, each seen at
                                once over S3 (HEAD, GET, LIST) while uploads run in the
                                background; files unlinked or renamed right after close never
                                come back under their old names, and an S3 PUT or DELETE right
                                after close is not undone by the upload
"""

import hashlib
import os
import random
import sys
import threading
from multiprocessing import Pool

MIB = 1 << 20


def content(seed, size):
    """The bytes of file `seed`: deterministic, different for every seed and offset."""
    return random.Random(seed).randbytes(size)


def sizes_for(seed):
    # below the inline limit, around a stripe and a staging block, and a few MiB
    return [0, 1, 700, 4096, 65535, 65537, MIB - 1, MIB + 1, 3 * MIB + 12345][seed % 9]


def write_file(path, data, chunk=128 * 1024):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        for off in range(0, len(data), chunk):
            os.write(fd, data[off:off + chunk])
    finally:
        os.close(fd)


def read_file(path):
    with open(path, "rb") as f:
        return f.read()


def writer(args):
    """One writer process: its own files, each checked right after it is closed."""
    d, w, count = args
    bad = []
    for i in range(count):
        seed = w * 1000 + i
        data = content(seed, sizes_for(seed))
        p = os.path.join(d, f"w{w}", f"f{i:03d}")
        write_file(p, data)
        if read_file(p) != data:
            bad.append(p)
    return bad


def reader(args):
    """One reader process: the shared files again and again, at random offsets too."""
    d, r, rounds, shared = args
    rng = random.Random(r)
    bad = []
    for _ in range(rounds):
        for s in range(shared):
            want = content(10_000 + s, 2 * MIB + s)
            p = os.path.join(d, "shared", f"s{s}")
            if read_file(p) != want:
                bad.append(p)
            with open(p, "rb") as f:
                off = rng.randrange(len(want))
                f.seek(off)
                if f.read(5000) != want[off:off + 5000]:
                    bad.append(f"{p}@{off}")
    return bad


def cmd_concurrent(d, writers=4, readers=4, count=18, shared=3, rounds=4):
    os.makedirs(os.path.join(d, "shared"), exist_ok=True)
    for s in range(shared):
        write_file(os.path.join(d, "shared", f"s{s}"), content(10_000 + s, 2 * MIB + s))
    for w in range(writers):
        os.makedirs(os.path.join(d, f"w{w}"), exist_ok=True)
    jobs = [(writer, (d, w, count)) for w in range(writers)]
    jobs += [(reader, (d, r, rounds, shared)) for r in range(readers)]
    with Pool(len(jobs)) as pool:
        results = [pool.apply_async(fn, (a,)) for fn, a in jobs]
        bad = [p for r in results for p in r.get(timeout=600)]
    # and once more after everyone is done, from this process
    for w in range(writers):
        for i in range(count):
            seed = w * 1000 + i
            p = os.path.join(d, f"w{w}", f"f{i:03d}")
            if read_file(p) != content(seed, sizes_for(seed)):
                bad.append(p)
    if bad:
        sys.exit(f"wrong bytes in {len(bad)} file(s), e.g. {bad[:5]}")
    print(f"{writers} writers x {count} files and {readers} readers x {rounds} rounds of "
          f"{shared} shared files: every byte right")


_PATTERN = content(7, MIB)


def block(i):
    """Block i of the big file: a 1 MiB pattern with the block number stamped in front."""
    return i.to_bytes(8, "little") + _PATTERN[8:]


def cmd_bigwrite(path, gib):
    h = hashlib.sha256()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        for i in range(int(float(gib) * 1024)):
            b = block(i)
            h.update(b)
            os.write(fd, b)
    finally:
        os.close(fd)
    print(h.hexdigest())


def cmd_bigread(path):
    h = hashlib.sha256()
    with open(path, "rb", buffering=0) as f:
        while True:
            b = f.read(MIB)
            if not b:
                break
            h.update(b)
    print(h.hexdigest())


def cmd_many(d, n, threads=8):
    n = int(n)
    os.makedirs(d, exist_ok=True)
    errors = []

    def make(t):
        try:
            for i in range(t, n, threads):
                os.close(os.open(os.path.join(d, f"e{i:06d}"), os.O_WRONLY | os.O_CREAT, 0o644))
        except OSError as e:
            errors.append(e)

    ts = [threading.Thread(target=make, args=(t,)) for t in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        sys.exit(f"creating files: {errors[0]}")
    print(f"{n} files created in {d}")


def cmd_s3(endpoint, access, secret, bucket, mntbucket):
    os.environ["BOTO_DISABLE_CRT"] = "true"
    import boto3
    from botocore.config import Config

    s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=access,
                      aws_secret_access_key=secret, region_name="us-east-1",
                      config=Config(retries={"max_attempts": 1}))
    bad = []
    # S3 -> mount: simple and multipart puts, a nested key, metadata as xattrs
    objs = {f"from-s3/o{i}": content(500 + i, sizes_for(i)) for i in range(9)}
    for k, v in objs.items():
        s3.put_object(Bucket=bucket, Key=k, Body=v, Metadata={"origin": "s3"})
    big = content(600, 11 * MIB + 7)
    mp = s3.create_multipart_upload(Bucket=bucket, Key="from-s3/deep/er/multipart.bin")
    parts = []
    for n, off in enumerate(range(0, len(big), 5 * MIB), 1):
        r = s3.upload_part(Bucket=bucket, Key="from-s3/deep/er/multipart.bin", PartNumber=n,
                           UploadId=mp["UploadId"], Body=big[off:off + 5 * MIB])
        parts.append({"PartNumber": n, "ETag": r["ETag"]})
    s3.complete_multipart_upload(Bucket=bucket, Key="from-s3/deep/er/multipart.bin",
                                 UploadId=mp["UploadId"], MultipartUpload={"Parts": parts})
    objs["from-s3/deep/er/multipart.bin"] = big
    for k, v in objs.items():
        p = os.path.join(mntbucket, k)
        if read_file(p) != v:
            bad.append(f"mount read of s3 object {k}")
    if os.getxattr(os.path.join(mntbucket, "from-s3/o3"), "user.origin") != b"s3":
        bad.append("x-amz-meta-origin as user.origin")
    # an overwrite or a delete over S3 shows in the mount at once, whatever the kernel cached
    # (the gateway's change invalidates the kernel's attributes and pages of that path)
    o1 = os.path.join(mntbucket, "from-s3/o1")
    s3.put_object(Bucket=bucket, Key="from-s3/o1", Body=b"replaced over S3")
    if os.stat(o1).st_size != 16 or read_file(o1) != b"replaced over S3":
        bad.append("overwrite over S3 not seen in the mount at once")
    s3.put_object(Bucket=bucket, Key="from-s3/o1", Body=b"again, same size")
    if read_file(o1) != b"again, same size":
        bad.append("same-size overwrite over S3 not seen in the mount at once")
    s3.delete_object(Bucket=bucket, Key="from-s3/o1")
    if os.path.exists(o1):
        bad.append("delete over S3 not seen in the mount at once")
    # mount -> S3: written, closed, then read with GET (whole and ranged) and listed
    os.makedirs(os.path.join(mntbucket, "from-mount/sub"), exist_ok=True)
    files = {f"from-mount/sub/f{i}": content(700 + i, sizes_for(i)) for i in range(9)}
    for k, v in files.items():
        write_file(os.path.join(mntbucket, k), v)
        if s3.get_object(Bucket=bucket, Key=k)["Body"].read() != v:
            bad.append(f"s3 read of mount file {k}")
    v = files["from-mount/sub/f8"]
    r = s3.get_object(Bucket=bucket, Key="from-mount/sub/f8", Range="bytes=1000-99999")
    if r["Body"].read() != v[1000:100000]:
        bad.append("ranged s3 read of a mount file")
    listed = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket,
                                                   Prefix="from-mount/")["Contents"]}
    if not set(files) <= listed:
        bad.append(f"listing misses {sorted(set(files) - listed)[:3]}")
    # a file renamed in the mount is at its new key, and gone from the old one
    os.rename(os.path.join(mntbucket, "from-mount/sub/f2"),
              os.path.join(mntbucket, "from-mount/renamed"))
    if s3.get_object(Bucket=bucket, Key="from-mount/renamed")["Body"].read() != files[
            "from-mount/sub/f2"]:
        bad.append("renamed file over S3")
    try:
        s3.head_object(Bucket=bucket, Key="from-mount/sub/f2")
        bad.append("old name of a renamed file still there over S3")
    except s3.exceptions.ClientError:
        pass
    if bad:
        sys.exit("S3 <-> mount: " + "; ".join(bad))
    print(f"{len(objs)} objects from S3 read through the mount, {len(files)} files from the "
          "mount read over S3: every byte right")


def s3_client(endpoint, access, secret):
    os.environ["BOTO_DISABLE_CRT"] = "true"
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=access,
                        aws_secret_access_key=secret, region_name="us-east-1",
                        config=Config(retries={"max_attempts": 1}))


def s3_missing(s3, bucket, key):
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return False
    except s3.exceptions.ClientError:
        return True


def cmd_closed(endpoint, access, secret, bucket, mntbucket, n):
    """close() hands the upload to the background: check what it still promises."""
    import time
    s3 = s3_client(endpoint, access, secret)
    n = int(n)
    bad = []
    d = os.path.join(mntbucket, "closed")
    os.makedirs(d, exist_ok=True)
    # written and closed in a burst (the uploads queue up), then each read at once over S3
    files = {f"closed/f{i:04d}": content(900 + i, 100 + (i * 37) % 3000) for i in range(n)}
    for k, v in files.items():
        write_file(os.path.join(mntbucket, k), v)
    for k, v in files.items():
        h = s3.head_object(Bucket=bucket, Key=k)
        if h["ContentLength"] != len(v):
            bad.append(f"HEAD {k}: {h['ContentLength']} bytes, want {len(v)}")
        if s3.get_object(Bucket=bucket, Key=k)["Body"].read() != v:
            bad.append(f"GET {k}: wrong bytes")
        if len(bad) > 3:
            break
    listed = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="closed/"):
        listed |= {o["Key"] for o in page.get("Contents", [])}
    if not set(files) <= listed:
        bad.append(f"LIST misses {sorted(set(files) - listed)[:3]}")
    # a file overwritten and closed again: S3 sees the second content
    k = "closed/f0000"
    write_file(os.path.join(mntbucket, k), b"second content")
    if s3.get_object(Bucket=bucket, Key=k)["Body"].read() != b"second content":
        bad.append("GET after an overwrite through the mount: old bytes")
    # unlinked right after close: gone, and its background upload never brings it back
    gone = [f"closed/u{i:03d}" for i in range(20)]
    for i, k in enumerate(gone):
        write_file(os.path.join(mntbucket, k), content(2000 + i, 500))
        os.unlink(os.path.join(mntbucket, k))
    # renamed right after close: at the new name with its bytes, never back at the old one
    moved = {f"closed/r{i:03d}": content(3000 + i, 700) for i in range(20)}
    for k, v in moved.items():
        write_file(os.path.join(mntbucket, k), v)
        os.rename(os.path.join(mntbucket, k), os.path.join(mntbucket, k + ".moved"))
    # overwritten or deleted over S3 right after close: the S3 write goes after the upload,
    # which never lands over it
    over = [f"closed/s{i:03d}" for i in range(20)]
    for i, k in enumerate(over):
        write_file(os.path.join(mntbucket, k), content(4000 + i, 900))
        if i % 2:
            s3.delete_object(Bucket=bucket, Key=k)
        else:
            s3.put_object(Bucket=bucket, Key=k, Body=b"put over S3 after close")
    time.sleep(3)  # past every background upload and a retry pass
    for i, k in enumerate(over):
        if i % 2 and not s3_missing(s3, bucket, k):
            bad.append(f"{k} deleted over S3 after close came back")
            break
        if not i % 2 and s3.get_object(Bucket=bucket, Key=k)["Body"].read() != \
                b"put over S3 after close":
            bad.append(f"{k} put over S3 after close was overwritten by the mount's upload")
            break
    for k in gone:
        if os.path.exists(os.path.join(mntbucket, k)) or not s3_missing(s3, bucket, k):
            bad.append(f"unlinked {k} came back")
            break
    for k, v in moved.items():
        if os.path.exists(os.path.join(mntbucket, k)) or not s3_missing(s3, bucket, k):
            bad.append(f"renamed {k} still at its old name")
            break
        if (read_file(os.path.join(mntbucket, k + ".moved")) != v or
                s3.get_object(Bucket=bucket, Key=k + ".moved")["Body"].read() != v):
            bad.append(f"renamed {k}: wrong bytes at the new name")
            break
    if bad:
        sys.exit("closed files: " + "; ".join(bad[:4]))
    print(f"{n} files closed and read at once over S3, {len(gone)} unlinked, {len(moved)} "
          f"renamed and {len(over)} overwritten or deleted over S3 right after close: all as "
          "expected")


if __name__ == "__main__":
    cmds = {"concurrent": cmd_concurrent, "bigwrite": cmd_bigwrite, "bigread": cmd_bigread,
            "many": cmd_many, "s3": cmd_s3, "closed": cmd_closed}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        sys.exit(__doc__)
    cmds[sys.argv[1]](*sys.argv[2:])
