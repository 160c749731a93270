#!/usr/bin/python3
"""bench_predictor.py - the predictor against the classic policies and Belady on every shared
trace at 1 %, 5 % and 10 % cache sizes, with the issue's targets checked:

  learned+prefetch byte miss ratio < best of lru, s3fifo, sieve, arc;
  it closes >= 25 % of the gap between that best classic policy and belady;
  its traffic_ratio (misses + prefetches, over requested bytes) <= 1.1 x that best classic
  policy's byte miss ratio.

Usage: bench_predictor.py AUGUR TRACES_DIR OUT_DIR [markov|lstm ...]
Prints a Markdown table per model and writes OUT_DIR/predictor-TRACE.svg (miss ratio curves).
Exit status 1 if any target fails.
"""
import csv
import io
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

CLASSIC = ["lru", "s3fifo", "sieve", "arc"]
SIZES = ["1%", "5%", "10%"]
TRACES = ["arc_oltp.csv.zst", "scarab_recs.csv.zst", "cloudphysics_block.csv",
          "adaptsize_cdn.csv"]


def replay(augur, trace, policies, extra, plot=None):
    cmd = [augur, "trace", "replay", "--trace", trace, "--size", ",".join(SIZES),
           "--policy", ",".join(policies), "--csv"] + extra
    if plot:
        cmd += ["--plot", plot]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    # rows come policy by policy, sizes in the order given
    return {(r["policy"], SIZES[i % len(SIZES)]): r for i, r in enumerate(rows)}


def judge(base, learned):
    """Rows of the table and whether every target passed."""
    lines, ok = [], True
    for name in TRACES:
        for size in SIZES:
            b = base[name]
            best_name = min(CLASSIC, key=lambda p: float(b[(p, size)]["byte_miss_ratio"]))
            best = float(b[(best_name, size)]["byte_miss_ratio"])
            opt = float(b[("belady", size)]["byte_miss_ratio"])
            r = learned[name][("learned", size)]
            mine, traffic = float(r["byte_miss_ratio"]), float(r["traffic_ratio"])
            closed = (best - mine) / (best - opt) if best > opt else float("nan")
            passed = mine < best and closed >= 0.25 and traffic <= 1.1 * best
            ok &= passed
            lines.append(
                f"| {name.split('.')[0]} | {size} | {best_name} {best:.4f} | {opt:.4f} | "
                f"{mine:.4f} | {closed * 100:.0f}% | {traffic:.4f} (<= {1.1 * best:.4f}) | "
                f"{float(r['prefetch_precision']):.3f} | {float(r['predictor_ms_per_1k']):.2f} | "
                f"{'PASS' if passed else 'FAIL'} |")
    return lines, ok


def main():
    augur, traces_dir, out_dir = sys.argv[1:4]
    models = sys.argv[4:] or ["markov"]
    paths = {t: os.path.join(traces_dir, t) for t in TRACES}
    missing = [p for p in paths.values() if not os.path.exists(p)]
    if missing:
        print("skipped: traces not found:", ", ".join(missing))
        return 0
    os.makedirs(out_dir, exist_ok=True)
    with ThreadPoolExecutor(max_workers=2) as pool:
        # every run replays the classic policies and belady too, so each plot has all curves
        jobs = {
            (m, t): pool.submit(replay, augur, paths[t], CLASSIC + ["belady", "learned"],
                                ["--prefetch", "--model", m],
                                os.path.join(out_dir, f"predictor-{m}-{t.split('.')[0]}.svg"))
            for m in models for t in TRACES}
        learned = {k: j.result() for k, j in jobs.items()}
    base = {t: learned[(models[0], t)] for t in TRACES}
    status = 0
    for m in models:
        print(f"\nlearned ({m}) with prefetch, byte miss ratios:\n")
        print("| trace | size | best classic | belady | learned | gap closed | traffic | "
              "precision | predictor ms/1k req | target |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        lines, ok = judge(base, {t: learned[(m, t)] for t in TRACES})
        print("\n".join(lines))
        print(f"\n{m}: {'every target PASS' if ok else 'some targets FAIL'}")
        status |= 0 if ok else 1
    print(f"\nplots: {out_dir}/predictor-MODEL-TRACE.svg")
    return status


if __name__ == "__main__":
    sys.exit(main())
