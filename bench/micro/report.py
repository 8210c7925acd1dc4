"""Renders Google Benchmark JSON (median of repetitions) as a Markdown table with memcpy ratios."""
import json
import sys

data = json.load(open(sys.argv[1]))
rows = {}
for b in data["benchmarks"]:
    if b.get("aggregate_name", "median") != "median":
        continue
    name = b["run_name"] if "run_name" in b else b["name"]
    rows[name] = b

def mbps(b):
    return b.get("bytes_per_second", 0) / 1e6

memcpy = {"Fixed": mbps(rows.get("BM_Memcpy_Fixed", {})), "Mixed": mbps(rows.get("BM_Memcpy_Mixed", {}))}
ctx = data["context"]
print(f"Machine: {ctx.get('num_cpus')} CPUs @ {ctx.get('mhz_per_cpu')} MHz, {ctx.get('date')}, "
      f"load average {', '.join(f'{x:.2f}' for x in ctx.get('load_avg', []))}; "
      "sluice built Release; rates use CPU time (median of repetitions)")
print()
print("| benchmark | MB/s (buffer bytes) | rows/s | vs memcpy |")
print("|---|---:|---:|---:|")
for name, b in rows.items():
    kind = "Fixed" if "Fixed" in name else "Mixed"
    ratio = mbps(b) / memcpy[kind] if memcpy.get(kind) else float("nan")
    rps = b.get("rows_per_s", 0)
    print(f"| {name.removeprefix('BM_')} | {mbps(b):,.0f} | {rps/1e6:,.2f} M | {ratio:.2f}× |")
