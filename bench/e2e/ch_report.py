#!/usr/bin/env python3
"""Markdown report of bench/e2e/clickhouse.sh from its raw measurements.

Usage: ch_report.py RESULTS.tsv COMMANDS.tsv EXTRA.tsv

RESULTS.tsv: scenario, name, rows, run, wall seconds ("nan" = failed),
             peak RSS per process ("label=KB,label=KB"), CPU (user + system) seconds per
             process ("label=s,..."), CPU seconds of the ClickHouse server during the run
             ("nan" = unknown), check ("ok" or what differed)
COMMANDS.tsv: scenario, name, command text
EXTRA.tsv: scenario, key, values... ("pg2ch sluice_ddl", "pg2ch sizes", "ch2csv files",
           "ch2csv sample")

Rows whose name starts with "sluice" are sluice's; the others are baselines. Ratios are
baseline median wall ÷ sluice median wall (= sluice rows/s ÷ baseline rows/s): above 1.0,
sluice is faster.
"""
import collections
import math
import statistics
import sys

SCENARIOS = {
    "pg2ch": "PostgreSQL → ClickHouse",
    "ch2csv": "ClickHouse → CSV file",
}


def cell(text):
    return text.replace("|", "\\|")


def parse_pairs(text, conv):
    out = collections.OrderedDict()
    for item in filter(None, text.split(",")):
        label, value = item.split("=", 1)
        out[label] = conv(value or 0)
    return out


def main(results_path, commands_path, extra_path):
    # (scenario, name) -> list of (wall, {label: kb}, {label: cpu}, server cpu, check)
    runs = collections.OrderedDict()
    rows = {}
    for line in open(results_path, encoding="utf-8"):
        scn, name, n, _run, wall, rss, cpu, srv, check = line.rstrip("\n").split("\t")
        runs.setdefault((scn, name), []).append(
            (float(wall), parse_pairs(rss, int), parse_pairs(cpu, float), float(srv), check))
        rows[scn] = int(n)
    commands = collections.OrderedDict()
    for line in open(commands_path, encoding="utf-8"):
        scn, name, cmd = line.rstrip("\n").split("\t")
        commands[(scn, name)] = cmd
    extra = {}
    for line in open(extra_path, encoding="utf-8"):
        parts = line.rstrip("\n").split("\t")
        extra[(parts[0], parts[1])] = parts[2:]

    def walls(key):
        return [r[0] for r in runs[key] if not math.isnan(r[0])]

    def median_wall(key):
        w = walls(key)
        return statistics.median(w) if w else None

    print("Wall time is the median of the runs (min–max in parentheses); rows/s = rows ÷ median")
    print("wall. Peak RSS is GNU `/usr/bin/time` \"Maximum resident set size\" of each client")
    print("process, the largest over the runs; for a pipe, the largest process and the sum of both")
    print("(each process's own peak; they need not coincide). Client CPU = user + system seconds")
    print("of the client processes (median over the runs, summed over a pipe's processes). Server")
    print("CPU = the ClickHouse server's user + system seconds during the run (median; a shared")
    print("server: other users' queries count too; background merges that go on after the run do")
    print("not; each run starts once the server runs no merge, so none of the previous run's")
    print("merges count either): the server parses sluice's Native blocks and applies its ledger, while")
    print("clickhouse-client parses the TSV itself and sends native blocks. PostgreSQL's CPU is in")
    print("no column. Ratio = baseline median")
    print("wall ÷ sluice median wall: above 1.00× sluice is faster. Check: the target's row count")
    print("and checksums equal PostgreSQL's after every run.")
    print()

    summary = []
    for scn in [s for s in SCENARIOS if any(k[0] == s for k in runs)]:
        n = rows[scn]
        keys = [k for k in runs if k[0] == scn]
        sluice_keys = [k for k in keys if k[1].startswith("sluice")]
        base_keys = [k for k in keys if not k[1].startswith("sluice")]
        print(f"### {SCENARIOS[scn]}, {n:,} rows")
        print()
        print("| operation | median wall s (min–max) | rows/s | peak RSS MB | client CPU s | server CPU s | ratio | check |")
        print("|---|---:|---:|---|---:|---:|---|---|")
        for key in keys:
            w = walls(key)
            med = median_wall(key)
            if med is None:
                wall_s, rate_s = "failed", ""
            else:
                wall_s = f"{med:.2f}"
                if len(w) > 1:
                    wall_s += f" ({min(w):.2f}–{max(w):.2f})"
                rate_s = f"{n / med:,.0f}"
            peak = collections.OrderedDict()
            for _, rss, _, _, _ in runs[key]:
                for label, kb in rss.items():
                    peak[label] = max(peak.get(label, 0), kb)
            if not peak:
                rss_s = "n/a"
            elif len(peak) == 1:
                rss_s = f"{next(iter(peak.values())) / 1024:.0f}"
            else:
                rss_s = (f"max {max(peak.values()) / 1024:.0f}, sum {sum(peak.values()) / 1024:.0f} ("
                         + " + ".join(f"{label} {kb / 1024:.0f}" for label, kb in peak.items()) + ")")
            cpus = [sum(r[2].values()) for r in runs[key] if not math.isnan(r[0])]
            cpu_s = f"{statistics.median(cpus):.2f}" if cpus else ""
            srvs = [r[3] for r in runs[key] if not math.isnan(r[0]) and not math.isnan(r[3])]
            srv_s = f"{statistics.median(srvs):.2f}" if srvs else ""
            ratio = ""
            if key in sluice_keys and med is not None:
                parts = []
                for b in base_keys:
                    bmed = median_wall(b)
                    if bmed is not None:
                        parts.append(f"{bmed / med:.2f}× {b[1]}")
                ratio = "; ".join(parts)
            bad = [r[4] for r in runs[key] if r[4] != "ok"]
            if bad:
                check = f"{bad[0]} ({len(bad)} of {len(runs[key])} runs)"
            else:
                check = f"ok ({len(runs[key])}/{len(runs[key])})"
            print(f"| {cell(key[1])} | {wall_s} | {rate_s} | {cell(rss_s)} | {cpu_s} | {srv_s} | {cell(ratio)} | {cell(check)} |")
        print()
        if (scn, "sizes") in extra or (scn, "pipe_sizes") in extra:
            sizes = " ".join(extra.get((scn, k), [""])[0] for k in ("sizes", "pipe_sizes"))
            print("Active parts right after the last run of sluice with its defaults and of the pipe "
                  f"(table rows bytes_on_disk parts; merges go on afterwards): {cell(sizes)}")
            print()
        if (scn, "sluice_ddl") in extra:
            print(f"The table sluice created with its defaults: `{extra[(scn, 'sluice_ddl')][0]}`")
            print()
        if (scn, "files") in extra:
            sb, sl, cb, cl, same, digest = extra[(scn, "files")]
            print(f"CSV files (last run): sluice {int(sb):,} bytes, {int(sl):,} lines; clickhouse-client "
                  f"{int(cb):,} bytes, {int(cl):,} lines (both with a header line). Without quotes and "
                  f"with lines sorted: **{same}** (md5 {digest}). The byte sizes differ by the quotes: "
                  f"clickhouse-client quotes every string and date, sluice only fields that need it; "
                  f"sluice's rows are in split order.")
            print()
        if (scn, "sample") in extra:
            a, b = extra[(scn, "sample")]
            print(f"First data line: sluice `{a}`; clickhouse-client `{b}`")
            print()
        timed = [(median_wall(k), k) for k in sluice_keys if median_wall(k) is not None]
        best = min(timed) if timed else None
        default = next((k for k in sluice_keys if median_wall(k) is not None), None)
        for b in base_keys:
            summary.append((scn, b[1], median_wall(b), default, best))

    print("### Summary: sluice (defaults, and the fastest variant) vs each baseline")
    print()
    print("| scenario | baseline | baseline rows/s | sluice defaults rows/s | ratio | fastest sluice variant | rows/s | ratio |")
    print("|---|---|---:|---:|---:|---|---:|---:|")
    for scn, bname, bmed, default, best in summary:
        n = rows[scn]
        b_rate = f"{n / bmed:,.0f}" if bmed else "failed"
        if best is None:
            print(f"| {SCENARIOS[scn]} | {cell(bname)} | {b_rate} | failed | | | | |")
            continue
        dmed = median_wall(default)
        smed, skey = best
        d_ratio = f"{bmed / dmed:.2f}×" if bmed else ""
        s_ratio = f"{bmed / smed:.2f}×" if bmed else ""
        print(f"| {SCENARIOS[scn]} | {cell(bname)} | {b_rate} | {n / dmed:,.0f} | {d_ratio} | "
              f"{cell(skey[1])} | {n / smed:,.0f} | {s_ratio} |")
    print()
    print("Commands ($PG = postgres://postgres@127.0.0.1:PORT/$DB, $DB = the run's own database "
          "sluice_ch_bench_<pid> on both servers, $DIR = the scratch directory; each process ran "
          "under `/usr/bin/time -v` and `timeout`):")
    print()
    for (scn, name), cmd in commands.items():
        print(f"- {SCENARIOS[scn]}, {name}: `{cmd}`")
    print()


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
