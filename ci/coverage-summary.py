#!/usr/bin/env python3
"""coverage-summary.py O: a terse per-function line/branch coverage table of
io_uring/bpf_filter.c and of the functions in register.c, net.c, openclose.c,
io_uring.c and tctx.c that mention the feature (bpf_filter*, *_bpf_populate),
from gcov's JSON output for the .gcda files in O/io_uring (gcc >= 9).
Then the uncovered lines and the lines with untaken branches: all of them in
bpf_filter.c; in the other files only those within WINDOW lines of a line
that mentions the feature (a call site sits in e.g. __io_uring_register's
big switch, whose other arms are not this suite's business)."""
import gzip, json, os, re, subprocess, sys, tempfile

O = os.path.abspath(sys.argv[1])
FILES = ["bpf_filter.c", "register.c", "net.c", "openclose.c", "io_uring.c", "tctx.c"]
FEATURE = re.compile(r"bpf_filter|bpf_populate|BPF_FILTER")
WINDOW = 6

def gcov_json(obj):
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["gcov", "-b", "-j", "-o", os.path.join(O, "io_uring"), obj + ".gcda"],
                       cwd=tmp, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        out = {}
        for name in os.listdir(tmp):
            if name.endswith(".gcov.json.gz"):
                with gzip.open(os.path.join(tmp, name), "rt") as f:
                    for fl in json.load(f)["files"]:
                        out[fl["file"]] = fl
        return out

rows, uncovered, untaken, elsewhere = [], [], [], []
for src in FILES:
    stem = src[:-2]
    if not os.path.exists(os.path.join(O, "io_uring", stem + ".gcda")):
        print(f"# {src}: no .gcda (not run, or not collected)")
        continue
    data = gcov_json(os.path.join(O, "io_uring", stem))
    fl = next((v for k, v in data.items() if k.endswith("io_uring/" + src)), None)
    if fl is None:
        continue
    with open(fl["file"]) as f:
        text = f.read().split("\n")
    lines = {l["line_number"]: l for l in fl["lines"]}
    for fn in sorted(fl["functions"], key=lambda f: f["start_line"]):
        a, b = fn["start_line"], fn["end_line"]
        body = "\n".join(text[a - 1:b])
        if src != "bpf_filter.c" and not FEATURE.search(body):
            continue
        ls = [lines[n] for n in range(a, b + 1) if n in lines]
        lhit = sum(1 for l in ls if l["count"] > 0)
        br = [br for l in ls for br in l.get("branches", [])]
        bhit = sum(1 for x in br if x["count"] > 0)
        name = fn.get("demangled_name", fn["name"])
        rows.append((src, name, fn["execution_count"], lhit, len(ls), bhit, len(br)))
        near = set(range(a, b + 1))
        if src != "bpf_filter.c":
            marks = [n for n in range(a, b + 1) if FEATURE.search(text[n - 1])]
            near = {n for m in marks for n in range(m - WINDOW, m + WINDOW + 1)}
        other = 0
        for l in ls:
            n = l["line_number"]
            brs = l.get("branches", [])
            missed = sum(1 for x in brs if x["count"] == 0)
            if n not in near:
                other += (l["count"] == 0)
                continue
            if l["count"] == 0:
                uncovered.append((src, name, n, text[n - 1].strip()))
            elif missed:
                untaken.append((src, name, n, f"{len(brs) - missed}/{len(brs)} taken", text[n - 1].strip()))
        if other:
            elsewhere.append((src, name, other))

def pct(h, t):
    return f"{100.0 * h / t:5.1f}%" if t else "   - "

print(f"{'file':<14} {'function':<34} {'calls':>7} {'lines':>9} {'':>6} {'branches':>9} {'':>6}")
for src, name, calls, lh, lt, bh, bt in rows:
    print(f"{src:<14} {name:<34} {calls:>7} {lh:>4}/{lt:<4} {pct(lh, lt)} {bh:>4}/{bt:<4} {pct(bh, bt)}")
for src in FILES:
    sel = [r for r in rows if r[0] == src]
    if sel:
        lh, lt, bh, bt = (sum(r[i] for r in sel) for i in (3, 4, 5, 6))
        print(f"{src:<14} {'TOTAL (functions above)':<34} {'':>7} {lh:>4}/{lt:<4} {pct(lh, lt)} {bh:>4}/{bt:<4} {pct(bh, bt)}")
print("# uncovered lines (near the feature)")
for src, name, n, t in uncovered:
    print(f"{src}:{n} ({name}): {t}")
print("# executed lines with untaken branches (near the feature)")
for src, name, n, b, t in untaken:
    print(f"{src}:{n} ({name}) {b}: {t}")
for src, name, other in elsewhere:
    print(f"# {src} {name}: {other} more uncovered lines away from the feature")
