#!/usr/bin/env python3
"""Markdown report of bench/e2e/databases.sh from its raw measurements.

Usage: db_report.py RESULTS.tsv COMMANDS.tsv EXTRA.tsv

RESULTS.tsv: scenario, name, rows, run, wall seconds ("nan" = failed),
             peak RSS per process ("label=KB,label=KB"), check ("ok" or what differed)
COMMANDS.tsv: scenario, name, command text
EXTRA.tsv: scenario, key, values... (e.g. "csv bytes <sluice> <psql>")

Rows whose name starts with "sluice" are sluice's; the others are baselines.
Ratios compare rows/s of the median runs.
"""
import collections
import math
import statistics
import sys

SCENARIOS = {
    "pg2pg": "PostgreSQL → PostgreSQL",
    "pg2csv": "PostgreSQL → CSV file",
    "my2pg": "MariaDB → PostgreSQL",
}


def cell(text):
    return text.replace("|", "\\|")


def main(results_path, commands_path, extra_path):
    runs = collections.OrderedDict()  # (scenario, name) -> list of (wall, {label: kb}, check)
    rows = {}
    for line in open(results_path, encoding="utf-8"):
        scn, name, n, _run, wall, rss, check = line.rstrip("\n").split("\t")
        rss_kb = {}
        for item in filter(None, rss.split(",")):
            label, kb = item.split("=")
            rss_kb[label] = int(kb or 0)
        runs.setdefault((scn, name), []).append((float(wall), rss_kb, check))
        rows[scn] = int(n)
    commands = collections.OrderedDict()
    for line in open(commands_path, encoding="utf-8"):
        scn, name, cmd = line.rstrip("\n").split("\t")
        commands[(scn, name)] = cmd
    extra = {}
    for line in open(extra_path, encoding="utf-8"):
        parts = line.rstrip("\n").split("\t")
        extra[(parts[0], parts[1])] = parts[2:]

    def median_wall(key):
        walls = [w for w, _, _ in runs[key] if not math.isnan(w)]
        return statistics.median(walls) if walls else None

    print("Wall time is the median of the runs (min–max in parentheses); rows/s = rows ÷ median")
    print("wall. Peak RSS is `/usr/bin/time` \"Maximum resident set size\" of each client process")
    print("(the largest over the runs; a pipeline lists each process); the database servers'")
    print("memory is in no row. Ratio = sluice rows/s ÷ baseline rows/s. Check: the target's row")
    print("count and checksums equal the source's after every run.")
    print()

    summary = []
    for scn in [s for s in SCENARIOS if any(k[0] == s for k in runs)]:
        n = rows[scn]
        keys = [k for k in runs if k[0] == scn]
        sluice_keys = [k for k in keys if k[1].startswith("sluice")]
        base_keys = [k for k in keys if not k[1].startswith("sluice")]
        print(f"### {SCENARIOS[scn]}, {n:,} rows")
        print()
        print("| operation | median wall s (min–max) | rows/s | peak RSS MB | ratio | check |")
        print("|---|---:|---:|---|---|---|")
        for key in keys:
            walls = [w for w, _, _ in runs[key] if not math.isnan(w)]
            med = median_wall(key)
            if med is None:
                wall_s, rate_s = "failed", ""
            else:
                wall_s = f"{med:.2f}"
                if len(walls) > 1:
                    wall_s += f" ({min(walls):.2f}–{max(walls):.2f})"
                rate_s = f"{n / med:,.0f}"
            peak = collections.OrderedDict()
            for _, rss, _ in runs[key]:
                for label, kb in rss.items():
                    peak[label] = max(peak.get(label, 0), kb)
            if not peak:
                rss_s = "n/a"
            elif len(peak) == 1:
                rss_s = f"{next(iter(peak.values())) / 1024:.0f}"
            else:
                rss_s = " + ".join(f"{kb / 1024:.0f} ({label})" for label, kb in peak.items())
            ratio = ""
            if key in sluice_keys and med is not None:
                parts = []
                for b in base_keys:
                    bmed = median_wall(b)
                    if bmed is not None:
                        parts.append(f"{bmed / med:.2f}× {b[1]}")
                ratio = "; ".join(parts)
            bad = [c for _, _, c in runs[key] if c != "ok"]
            if bad:
                check = f"{bad[0]} ({len(bad)} of {len(runs[key])} runs)"
            else:
                check = f"ok ({len(runs[key])}/{len(runs[key])})"
            print(f"| {cell(key[1])} | {wall_s} | {rate_s} | {cell(rss_s)} | {cell(ratio)} | {cell(check)} |")
        if (scn, "bytes") in extra:
            a, b = extra[(scn, "bytes")]
            print()
            print(f"CSV files: sluice {int(a):,} bytes, psql {int(b):,} bytes (the same text; sluice's "
                  f"rows are in split order).")
        print()
        # Summary: the fastest sluice variant against each baseline.
        timed = [(median_wall(k), k) for k in sluice_keys if median_wall(k) is not None]
        best = min(timed) if timed else None
        for b in base_keys:
            bmed = median_wall(b)
            summary.append((scn, b[1], bmed, best))

    print("### Summary: fastest sluice variant vs each baseline")
    print()
    print("| scenario | baseline | baseline rows/s | sluice (fastest variant) | sluice rows/s | ratio |")
    print("|---|---|---:|---|---:|---:|")
    for scn, bname, bmed, best in summary:
        n = rows[scn]
        b_rate = f"{n / bmed:,.0f}" if bmed else "failed"
        if best is None:
            print(f"| {SCENARIOS[scn]} | {cell(bname)} | {b_rate} | failed | | |")
            continue
        smed, skey = best
        ratio = f"{bmed / smed:.2f}×" if bmed else ""
        print(f"| {SCENARIOS[scn]} | {cell(bname)} | {b_rate} | {cell(skey[1])} | {n / smed:,.0f} | {ratio} |")
    print()
    print("Commands ($PG = postgres://postgres@127.0.0.1:PORT/sluice_test, $MY = "
          "mysql://root@127.0.0.1:PORT/sluice_test, $DIR = the scratch directory; each process "
          "ran under `/usr/bin/time -f %M`):")
    print()
    for (scn, name), cmd in commands.items():
        print(f"- {SCENARIOS[scn]}, {name}: `{cmd}`")
    print()


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
