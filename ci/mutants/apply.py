#!/usr/bin/env python3
"""Helper for ci/mutate.sh: parse ci/mutants/catalogue.txt and apply one mutant.

  apply.py list CAT                 ids, one a line (tab: id, category, file, equivalent-or-empty, description)
  apply.py check CAT TREE           every original snippet occurs exactly once in TREE (exit 1 if not)
  apply.py apply CAT TREE ID BACKUP copy TREE/file to BACKUP, write the mutant; prints the file
  apply.py table CAT TSV...         Markdown table of the whole catalogue with the results of
                                    mutate.sh's table.tsv files (last row per id wins) and the score
Files are rewritten through a temporary file and rename(), so a hard-linked
tree (cp -al) never has the shared inode modified.
"""
import os, shutil, sys

def parse(path):
    muts, cur, mode = [], None, None
    for line in open(path).read().split("\n"):
        if mode in ("orig", "repl"):
            if line == "===" and mode == "orig":
                mode = "repl"; continue
            if line == ">>>" and mode == "repl":
                mode = None; continue
            cur[mode].append(line); continue
        if line.startswith("## "):
            parts = [p.strip() for p in line[3:].split("|", 2)]
            cur = {"id": parts[0], "cat": parts[1], "desc": parts[2], "file": None,
                   "equiv": "", "orig": [], "repl": []}
            muts.append(cur)
        elif line.startswith("@ "):
            cur["file"] = line[2:].strip()
        elif line.startswith("% equivalent:"):
            cur["equiv"] = line[len("% equivalent:"):].strip()
        elif line == "<<<":
            mode = "orig"
    ids = [m["id"] for m in muts]
    if len(ids) != len(set(ids)):
        sys.exit("apply.py: duplicate mutant ids in " + path)
    return muts

def snippet(m, key):
    return "\n".join(m[key])

def write_atomic(path, text):
    st = os.stat(path)
    tmp = path + ".mutate-tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, st.st_mode & 0o7777)
    os.rename(tmp, path)   # new inode: the mtime is now, make rebuilds it

def main():
    cmd, cat = sys.argv[1], sys.argv[2]
    muts = parse(cat)
    if cmd == "list":
        for m in muts:
            print("\t".join([m["id"], m["cat"], m["file"], m["equiv"], m["desc"]]))
        return 0
    if cmd == "table":
        res = {}
        for tsv in sys.argv[3:]:
            for line in open(tsv).read().splitlines()[1:]:
                f = line.split("\t")
                if len(f) >= 4:
                    res[f[0]] = f
        print("| id | area | file | mutant | result | killing cases (first 3) | s |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        n = {"killed": 0, "survived": 0, "build-error": 0, "error": 0}
        for m in muts:
            r = res.get(m["id"])
            result = r[1] if r else ("not run (equivalent: " + m["equiv"] + ")" if m["equiv"] else "not run")
            if r and m["equiv"]:
                result += " (judged equivalent)"
            if r and r[1] in n:
                n[r[1]] += 1
            cases = r[2].replace("|", "\\|") if r else ""
            desc = m["desc"].replace("|", "\\|")
            fname = m["file"].split("/")[-1]
            secs = r[3] if r else ""
            print(f"| {m['id']} | {m['cat']} | {fname} | {desc} | {result} | {cases} | {secs} |")
        print()
        print("run: %d, killed: %d, survived: %d, build errors: %d, errors: %d" % (sum(n.values()), n["killed"], n["survived"], n["build-error"], n["error"]))
        return 0
    tree = sys.argv[3]
    if cmd == "check":
        bad = 0
        for m in muts:
            n = open(os.path.join(tree, m["file"])).read().count(snippet(m, "orig"))
            if n != 1:
                print(f"{m['id']}: original snippet found {n} times in {m['file']}", file=sys.stderr)
                bad += 1
        print(f"{len(muts)} mutants, {bad} bad snippets")
        return 1 if bad else 0
    if cmd == "apply":
        mid, backup = sys.argv[4], sys.argv[5]
        ms = [m for m in muts if m["id"] == mid]
        if not ms:
            sys.exit(f"apply.py: no mutant {mid}")
        m = ms[0]
        path = os.path.join(tree, m["file"])
        text = open(path).read()
        orig = snippet(m, "orig")
        n = text.count(orig)
        if n != 1:
            sys.exit(f"apply.py: {mid}: original snippet found {n} times in {m['file']} (need exactly 1)")
        shutil.copy2(path, backup)
        write_atomic(path, text.replace(orig, snippet(m, "repl"), 1))
        print(m["file"])
        return 0
    sys.exit("usage: apply.py list|check|apply ...")

if __name__ == "__main__":
    sys.exit(main())
