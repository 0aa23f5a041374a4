#!/usr/bin/env python3
"""Helpers for bench/run: S3 calls made with boto3 (outside the timed commands) and the report.

  s3helper.py presign ENDPOINT BUCKET KEY     print a presigned PUT URL (for the curl baseline)
  s3helper.py size ENDPOINT BUCKET KEY        print the object's ContentLength (HEAD), exit 1 if none
  s3helper.py delete ENDPOINT BUCKET KEY      delete the object, and any multipart uploads left open
  s3helper.py report RESULTS_TSV              print the markdown tables

Credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY; bench/run calls this with a
clean environment so nothing from the machine's AWS_* or ~/.aws leaks in.
"""
import os
import statistics
import sys
from collections import OrderedDict


def client(endpoint):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
        config=Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            # Recent botocore adds CRC32 checksums by default; the baseline is a plain PUT.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            retries={"max_attempts": 3, "mode": "standard"},
        ),
    )


def presign(endpoint, bucket, key):
    print(
        client(endpoint).generate_presigned_url(
            "put_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=3600
        )
    )


def size(endpoint, bucket, key):
    from botocore.exceptions import ClientError

    try:
        print(client(endpoint).head_object(Bucket=bucket, Key=key)["ContentLength"])
    except ClientError as e:
        print(f"HEAD {key}: {e}", file=sys.stderr)
        sys.exit(1)


def delete(endpoint, bucket, key):
    c = client(endpoint)
    c.delete_object(Bucket=bucket, Key=key)
    # A failed multipart upload leaves its parts on the server: abort them so the disk
    # does not fill up over a long run.
    try:
        uploads = c.list_multipart_uploads(Bucket=bucket, Prefix=key).get("Uploads", [])
    except Exception:  # not every server lists uploads; nothing to clean then
        uploads = []
    for u in uploads:
        c.abort_multipart_upload(Bucket=bucket, Key=u["Key"], UploadId=u["UploadId"])


# --- report ---------------------------------------------------------------------------

TOOL_LABELS = OrderedDict(
    [
        ("curl", "curl -T (presigned PUT)"),
        ("toss", "toss (checksums on)"),
        ("toss-nochecksum", "toss CHECKSUM=off"),
        ("s5cmd", "s5cmd cp"),
        ("aws", "aws s3 cp"),
    ]
)


def report(tsv):
    # server -> (gib, tool) -> list of rounds
    rows = OrderedDict()
    with open(tsv) as f:
        for line in f:
            if not line.strip():
                continue
            server, gib, tool, rnd, status, wall, cpu, rss, note = line.rstrip("\n").split("\t")
            rows.setdefault(server, OrderedDict()).setdefault((gib, tool), []).append(
                dict(status=status, wall=float(wall or 0), cpu=float(cpu or 0),
                     rss=int(rss or 0), note=note, round=rnd)
            )

    out = []
    failures = []
    for server, cells in rows.items():
        summary = {}
        for (gib, tool), rounds in cells.items():
            bad = [r for r in rounds if r["status"] != "ok"]
            if bad:
                summary[(gib, tool)] = None
                for r in bad:
                    failures.append(f"{server}, {gib} GiB, {tool}, round {r['round']}: {r['note']}")
            else:
                summary[(gib, tool)] = dict(
                    wall=statistics.median(r["wall"] for r in rounds),
                    cpu=statistics.median(r["cpu"] for r in rounds),
                    rss=max(r["rss"] for r in rounds),
                )

        out.append(f"### {server}\n")
        out.append("| file | tool | wall s | CPU s | peak RSS MiB | wall vs curl |")
        out.append("| --- | --- | ---: | ---: | ---: | ---: |")
        sizes = list(OrderedDict.fromkeys(g for g, _ in cells))
        tools = [t for t in TOOL_LABELS if any(t == tt for _, tt in cells)]
        for gib in sizes:
            base = summary.get((gib, "curl"))
            for tool in tools:
                if (gib, tool) not in summary:
                    continue
                s = summary[(gib, tool)]
                label = TOOL_LABELS[tool]
                if s is None:
                    out.append(f"| {gib} GiB | {label} | FAILED | FAILED | - | - |")
                    continue
                ratio = f"{s['wall'] / base['wall']:.2f}" if base and base["wall"] > 0 else "n/a"
                out.append(
                    f"| {gib} GiB | {label} | {s['wall']:.2f} | {s['cpu']:.2f} | "
                    f"{s['rss'] / 1024:.1f} | {ratio} |"
                )

        # What CHECKSUM=off saves: client CPU seconds per GiB uploaded.
        out.append("")
        out.append("| file | toss CPU s/GiB, checksums on | toss CPU s/GiB, CHECKSUM=off | difference |")
        out.append("| --- | ---: | ---: | ---: |")
        for gib in sizes:
            on = summary.get((gib, "toss"))
            off = summary.get((gib, "toss-nochecksum"))
            g = float(gib)
            fmt = lambda s: f"{s['cpu'] / g:.3f}" if s else "FAILED"
            diff = f"{(on['cpu'] - off['cpu']) / g:+.3f}" if on and off else "-"
            out.append(f"| {gib} GiB | {fmt(on)} | {fmt(off)} | {diff} |")
        out.append("")

    if failures:
        out.append("### Failures\n")
        out.extend(f"- {f}" for f in failures)
        out.append("")
    print("\n".join(out))


def main():
    cmd, *args = sys.argv[1:]
    {"presign": presign, "size": size, "delete": delete, "report": report}[cmd](*args)


if __name__ == "__main__":
    main()
