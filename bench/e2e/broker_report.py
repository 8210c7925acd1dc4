#!/usr/bin/env python3
"""Markdown report of bench/e2e/brokers.sh from its raw measurements.

Usage: broker_report.py RESULTS.tsv

RESULTS.tsv: kind, name, rows, run, metrics ("key=value;key=value"), check ("ok" or what
differed). Kinds: e2e (sluice SRC -> Kafka -> DST), baseA (reference 004 in Python), baseB
(kcat -P and sluice export publishing parts), backlog (import of a full topic), idle (import of
an empty topic), meta (the parts of baseline B).

Medians over the runs, min–max in parentheses. Ratios compare medians.
"""
import collections
import math
import statistics
import sys

SCENARIOS = {
    "lite2pg": "SQLite → Kafka → PostgreSQL",
    "lite2lite": "SQLite → Kafka → SQLite",
    "pg2pg": "PostgreSQL → Kafka → PostgreSQL",
}
MB = 1e6
MIB = 1048576


def num(v):
    try:
        x = float(v)
    except (TypeError, ValueError):
        return math.nan
    return x


def load(path):
    runs = collections.OrderedDict()  # (kind, name) -> [ {metrics..., rows, check} ]
    for line in open(path, encoding="utf-8"):
        kind, name, rows, _rep, metrics, check = line.rstrip("\n").split("\t")
        m = {}
        for item in filter(None, metrics.split(";")):
            k, _, v = item.partition("=")
            m[k] = num(v)
        m["rows"] = int(rows)
        m["check"] = check
        runs.setdefault((kind, name), []).append(m)
    return runs


def med(runs, key):
    vals = [r[key] for r in runs if key in r and not math.isnan(r[key]) and r["check"] == "ok"]
    return statistics.median(vals) if vals else math.nan


def rng(runs, key, fmt):
    vals = [r[key] for r in runs if key in r and not math.isnan(r[key]) and r["check"] == "ok"]
    if not vals:
        return "–"
    m = fmt.format(statistics.median(vals))
    if len(vals) > 1:
        m += f" ({fmt.format(min(vals))}–{fmt.format(max(vals))})"
    return m


def peak(runs, key):
    vals = [r[key] for r in runs if key in r and not math.isnan(r[key])]
    return f"{max(vals) / 1024:.0f}" if vals else "–"


def checks(runs):
    bad = [r["check"] for r in runs if r["check"] != "ok"]
    if bad:
        return f"{bad[0]} ({len(bad)} of {len(runs)} runs)".replace("|", "\\|")
    return f"ok ({len(runs)}/{len(runs)})"


def main(path):
    runs = load(path)
    meta = runs.get(("meta", "parts"), [{}])[0]
    part_target = meta.get("part_target", math.nan)
    if math.isnan(part_target):
        part_target = 2 * MIB

    # ---- end to end ------------------------------------------------------------------------
    e2e = [(k, v) for k, v in runs.items() if k[0] == "e2e"]
    base_a = runs.get(("baseA", "reference 004 (Python)"))
    if e2e or base_a:
        print("### End to end through Kafka (export and import concurrently)")
        print()
        print("Importer started first (`until_end=true`, `session_timeout=6s`) and given its")
        print("partition, then the exporter. **End to end** = exporter start → importer exit;")
        print("**first part on broker** = exporter start → a `kcat -C -c1` poller has read the first")
        print("message; **→ first rows** = that moment → the first row visible in the target table")
        print("(a poller on the table every 10 ms); **export** = exporter start → exporter exit.")
        print()
        print("| pipeline | rows | end to end s | rows/s | first part on broker ms | → first rows ms | export s | peak RSS MB exporter / importer | check |")
        print("|---|---:|---:|---:|---:|---:|---:|---|---|")
        rates = {}
        for (kind, name), rs in e2e:
            n = rs[0]["rows"]
            e = med(rs, "e2e_s")
            rates[name] = n / e if e and not math.isnan(e) else math.nan
            print(f"| sluice, {SCENARIOS.get(name, name)} | {n:,} | {rng(rs, 'e2e_s', '{:.2f}')} | "
                  f"{rates[name]:,.0f} | {rng(rs, 'first_msg_ms', '{:.0f}')} | "
                  f"{rng(rs, 'msg_to_rows_ms', '{:.0f}')} | {rng(rs, 'export_s', '{:.2f}')} | "
                  f"{peak(rs, 'exp_rss_kb')} / {peak(rs, 'imp_rss_kb')} | {checks(rs)} |")
        if base_a:
            n = base_a[0]["rows"]
            e = med(base_a, "e2e_s")
            rate_a = n / e if e and not math.isnan(e) else math.nan
            print(f"| baseline A: reference 004 in Python, PostgreSQL → Kafka → PostgreSQL | {n:,} | "
                  f"{rng(base_a, 'e2e_s', '{:.2f}')} | {rate_a:,.0f} | "
                  f"{rng(base_a, 'first_msg_ms', '{:.0f}')} | {rng(base_a, 'msg_to_rows_ms', '{:.0f}')} | "
                  f"{rng(base_a, 'export_s', '{:.2f}')} | {peak(base_a, 'exp_rss_kb')} / "
                  f"{peak(base_a, 'imp_rss_kb')} | {checks(base_a)} |")
        print()
        fp = [r.get("exp_first_part_ms", math.nan) for _, rs in e2e for r in rs]
        fp = [x for x in fp if not math.isnan(x)]
        lag = [r["first_msg_ms"] - r["exp_first_part_ms"] for _, rs in e2e for r in rs
               if not math.isnan(r.get("first_msg_ms", math.nan))
               and not math.isnan(r.get("exp_first_part_ms", math.nan))]
        if fp:
            print(f"The exporter's own `first_part_ms` (`--stats-json`: from its start to part 1 handed "
                  f"to the producer): {min(fp):.0f}–{max(fp):.0f} ms. From there to the part being "
                  f"readable on the broker: {min(lag):.0f}–{max(lag):.0f} ms; over 500 ms in "
                  f"{sum(1 for x in lag if x > 500)} of {len(lag)} runs.")
            print()
        if base_a and e2e:
            print("Against baseline A (sluice end-to-end rows/s ÷ reference-004 rows/s; goal ≥ 50×):")
            print()
            for name, r in rates.items():
                print(f"- {SCENARIOS.get(name, name)}: **{r / rate_a:,.0f}×** "
                      f"({r:,.0f} vs {rate_a:,.0f} rows/s)")
            print()

    # ---- baseline B ------------------------------------------------------------------------
    base_b = [(k, v) for k, v in runs.items() if k[0] == "baseB"]
    if base_b:
        print("### Publishing parts: kcat -P vs sluice export (baseline B)")
        print()
        print("MB/s = part bytes published ÷ wall time of the process (start to exit, all messages")
        print("acknowledged). kcat sends the parts files of the same table (one file = one message,")
        print("`-X acks=all -X enable.idempotence=true -X linger.ms=5`, the stream id as key); sluice")
        print("produces with `acks=all`, idempotence and `linger.ms=5` too. Same topic config (fresh")
        print(f"topic per run, max.message.bytes 8 MiB). Rows marked *no broker* export to a parts")
        print("directory instead: the difference is what the broker costs sluice.")
        print()
        print("| publisher | wall s | part MB | MB/s | peak RSS MB | ÷ kcat MB/s | check |")
        print("|---|---:|---:|---:|---:|---:|---|")
        kcat = runs.get(("baseB", "kcat -P (parts files)"))
        kcat_rate = math.nan
        if kcat:
            kcat_rate = med(kcat, "bytes") / MB / med(kcat, "wall_s")
        for (kind, name), rs in base_b:
            w = med(rs, "wall_s")
            b = med(rs, "bytes")
            rate = b / MB / w if w else math.nan
            ratio = f"**{rate / kcat_rate:.2f}×**" if name.endswith("-> kafka") else ""
            # (the relay publishes the very files kcat sends: the like-for-like ratio)
            label = name + (" (no broker)" if name.endswith("-> parts dir") else "")
            print(f"| {label} | {rng(rs, 'wall_s', '{:.2f}')} | {b / MB:.1f} | {rate:.1f} | "
                  f"{peak(rs, 'rss_kb')} | {ratio} | {checks(rs)} |")
        print()
        pairs = [("sluice export parts dir -> kafka", "sluice export parts dir -> parts dir"),
                 ("sluice export SQLite -> kafka", "sluice export SQLite -> parts dir")]
        for k, nb in pairs:
            if ("baseB", k) in runs and ("baseB", nb) in runs:
                dk = med(runs[("baseB", k)], "wall_s")
                dn = med(runs[("baseB", nb)], "wall_s")
                b = med(runs[("baseB", k)], "bytes")
                print(f"- `{k}`: {dk:.2f} s; the same export to a parts directory: {dn:.2f} s "
                      f"(difference {dk - dn:+.2f} s); kcat publishes these bytes in "
                      f"{b / MB / kcat_rate:.2f} s.")
        print()

    # ---- memory ----------------------------------------------------------------------------
    idle = runs.get(("idle", "import of an empty topic"))
    backlog = [(k, v) for k, v in runs.items() if k[0] == "backlog"]
    if backlog or e2e:
        print("### Importer memory")
        print()
        mean_part = meta.get("bytes", math.nan) / meta.get("files", math.nan) if meta else math.nan
        wire = ""
        if not math.isnan(mean_part):
            wire = (f"; on the wire (zstd) {mean_part / 1024:.0f} KiB on average, largest "
                    f"{meta.get('largest', math.nan) / 1024:.0f} KiB")
        print(f"Part size: target {part_target / MIB:.1f} MiB of uncompressed column data "
              f"(`--part-size`){wire}. Bound = workers × part size (target) × 4. "
              + (f"An importer with nothing to import peaks at {peak(idle, 'rss_kb')} MB." if idle else ""))
        print()
        idle_mb = math.nan
        if idle:
            v = [r["rss_kb"] for r in idle if "rss_kb" in r and not math.isnan(r["rss_kb"])]
            idle_mb = max(v) / 1024 if v else math.nan
        print("| import | rows/s | peak RSS MB | above the idle importer MB | bound MB | "
              "above idle under the bound | whole peak under the bound | check |")
        print("|---|---:|---:|---:|---:|---|---|---|")
        rows_out = []
        for (kind, name), rs in e2e:
            w = rs[0].get("imp_workers", math.nan)
            rows_out.append((f"e2e {SCENARIOS.get(name, name)}, --workers {w:.0f}", rs, "e2e_s", "imp_rss_kb", w))
        for (kind, name), rs in backlog:
            rows_out.append((name + " (topic full)", rs, "wall_s", "rss_kb", rs[0].get("workers", math.nan)))
        for label, rs, tkey, rkey, w in rows_out:
            n = rs[0]["rows"]
            t = med(rs, tkey)
            vals = [r[rkey] for r in rs if rkey in r and not math.isnan(r[rkey])]
            pk = max(vals) / 1024 if vals else math.nan
            bound = w * part_target * 4 / MIB
            above = "–" if math.isnan(idle_mb) else f"{pk - idle_mb:.1f}"
            above_ok = "–" if math.isnan(idle_mb) else ("yes" if pk - idle_mb < bound else "**no**")
            print(f"| {label} | {n / t:,.0f} | {pk:.1f} | {above} | {bound:.0f} | {above_ok} | "
                  f"{'yes' if pk < bound else '**no**'} | {checks(rs)} |")
        print()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
