#!/usr/bin/env python3
"""Check ringfence's KTAP with the kernel's own parser (kunit.py parse).

  ci/kunit-parse-check.py [--kunit PATH/kunit.py] [--prove] KTAPFILE [RESULTS.json]

Runs `python3 kunit.py parse KTAPFILE` (tools/testing/kunit/ from a kernel
source tree, e.g. Debian's linux-source-7.x; default $KUNIT_PY or
./tools/testing/kunit/kunit.py) and fails when kunit.py reports a parse error
([ERROR] lines or "errors: N"), a crashed test, does not show one suite per
ringfence area with the right number of subtests, or counts differently from
ringfence. ringfence's totals come from RESULTS.json when given, else from the
KTAP file's own "# Totals:" line.

kunit.py knows passed, failed, crashed and skipped; only the SKIP directive
changes a result (kunit_parser.parse_test_result), so `ok … # XFAIL` (a known
bug) and `ok … # XPASS` count as passed there:

  kunit passed  == ringfence pass + xfail + xpass
  kunit failed  == ringfence fail + error   (timeouts are fail; crashes `not ok … # ERROR`)
  kunit skipped == ringfence skip
  kunit crashed == 0, errors == 0
  kunit.py exits 0 exactly when ringfence (without --strict) would.

With --prove, Perl's TAP::Parser reads the same file too (TAP 13: it sees the
top-level suite results only; the indented suites are unknown lines to it): no
parse errors, one test per suite, and a failed test exactly for each suite
with a failing case. Prints KTAP; exit 0 when every check holds.
"""
import argparse
import json
import os
import re
import subprocess
import sys

TOTALS = re.compile(r"^# Totals: pass:(\d+) fail:(\d+) xfail:(\d+) xpass:(\d+) skip:(\d+) error:(\d+)\s*$")
SUMMARY = re.compile(r"Testing complete\. Ran (\d+) tests?:?(.*)$")
SUITE_HEADER = re.compile(r"\] =+ (\S+) \((\d+) subtests?\) =+$")


def ringfence_totals(ktap_lines, results_path):
    if results_path:
        with open(results_path, encoding="utf-8") as f:
            t = json.load(f)["totals"]
        return dict(passed=t["passed"], failed=t["failed"], xfail=t.get("xfail", t.get("knownBugs", 0)),
                    xpass=t.get("xpass", 0), skipped=t["skipped"], errors=t["errors"])
    for line in ktap_lines:
        m = TOTALS.match(line)
        if m:
            p, f, xf, xp, s, e = map(int, m.groups())
            return dict(passed=p, failed=f, xfail=xf, xpass=xp, skipped=s, errors=e)
    raise SystemExit("kunit-parse-check: no '# Totals:' line in the KTAP file and no results file given")


def ringfence_suites(ktap_lines):
    """(name, plan) of each top-level suite: '    # Subtest: NAME' then '    1..N'."""
    suites = []
    for i, line in enumerate(ktap_lines):
        m = re.match(r"^    # Subtest: (.*)$", line)
        if m:
            plan = next((int(l.strip()[3:]) for l in ktap_lines[i + 1:i + 4] if re.match(r"^    1\.\.\d+$", l)), None)
            suites.append((m.group(1), plan))
    return suites


def kunit_counts(summary_rest):
    counts = dict(passed=0, failed=0, crashed=0, skipped=0, errors=0)
    for part in summary_rest.split(","):
        m = re.match(r"\s*(\w+): (\d+)", part)
        if m and m.group(1) in counts:
            counts[m.group(1)] = int(m.group(2))
    return counts


def check_kunit(kunit, path, rf, suites):
    problems = []
    run = subprocess.run([sys.executable, kunit, "parse", path], capture_output=True, text=True)
    out = run.stdout.splitlines()
    errors = [l for l in out if "[ERROR]" in l]
    problems += ["kunit.py: " + l.split("] ", 1)[-1] for l in errors[:10]]
    summary = next((SUMMARY.search(l) for l in reversed(out) if SUMMARY.search(l)), None)
    if summary is None:
        return problems + ["kunit.py printed no 'Testing complete' line (exit %d): %s" % (run.returncode, run.stderr.strip()[-300:])], None
    total = int(summary.group(1))
    k = kunit_counts(summary.group(2))
    want = dict(passed=rf["passed"] + rf["xfail"] + rf["xpass"], failed=rf["failed"] + rf["errors"],
                crashed=0, skipped=rf["skipped"], errors=0)
    for key, value in want.items():
        if k[key] != value:
            problems.append("kunit.py %s: %d, ringfence expects %d" % (key, k[key], value))
    if total != sum(rf.values()):
        problems.append("kunit.py ran %d tests, ringfence %d" % (total, sum(rf.values())))
    shown = [(m.group(1), int(m.group(2))) for m in (SUITE_HEADER.search(l) for l in out) if m]
    if shown != suites:
        problems.append("kunit.py shows suites %s, the KTAP has %s" % (shown, suites))
    ringfence_ok = rf["failed"] + rf["errors"] == 0
    if (run.returncode == 0) != ringfence_ok:
        problems.append("kunit.py exit %d but ringfence %s" % (run.returncode, "passes" if ringfence_ok else "fails"))
    line = "kunit.py: Ran %d tests: %s; %d suites; exit %d" % (
        total, ", ".join("%s: %d" % kv for kv in k.items()), len(shown), run.returncode)
    return problems, line


def check_prove(path, ktap_lines, suites):
    script = r'''
use TAP::Parser;
open my $fh, '<', $ARGV[0] or die "$ARGV[0]: $!"; local $/; my $tap = <$fh>;
my $p = TAP::Parser->new({ tap => $tap });
while (my $r = $p->next) {}
print join(" ", $p->tests_run, scalar($p->passed), scalar($p->failed), scalar($p->parse_errors)), "\n";
print "$_\n" for $p->parse_errors;
'''
    run = subprocess.run(["perl", "-e", script, path], capture_output=True, text=True)
    if run.returncode != 0:
        return ["TAP::Parser: %s" % run.stderr.strip()[-300:]], None
    first, *errs = run.stdout.splitlines()
    tests, passed, failed, nerr = map(int, first.split())
    failing_suites = sum(1 for l in ktap_lines if re.match(r"^not ok \d+ ", l))
    problems = ["TAP::Parser: " + e for e in errs]
    if tests != len(suites):
        problems.append("TAP::Parser ran %d tests, the KTAP has %d suites" % (tests, len(suites)))
    if failed != failing_suites:
        problems.append("TAP::Parser: %d failed, the KTAP has %d failing suites" % (failed, failing_suites))
    return problems, "TAP::Parser: %d tests, %d passed, %d failed, %d parse errors" % (tests, passed, failed, nerr)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kunit", default=os.environ.get("KUNIT_PY", "tools/testing/kunit/kunit.py"))
    ap.add_argument("--prove", action="store_true", help="also check with Perl's TAP::Parser")
    ap.add_argument("ktap")
    ap.add_argument("results", nargs="?")
    a = ap.parse_args()
    if not os.path.isfile(a.kunit):
        raise SystemExit("kunit-parse-check: no kunit.py at %s (--kunit or $KUNIT_PY)" % a.kunit)
    with open(a.ktap, encoding="utf-8", errors="backslashreplace") as f:
        lines = f.read().splitlines()
    rf = ringfence_totals(lines, a.results)
    suites = ringfence_suites(lines)
    checks = [("kunit.py parse " + a.ktap, *check_kunit(a.kunit, a.ktap, rf, suites))]
    if a.prove:
        checks.append(("TAP::Parser " + a.ktap, *check_prove(a.ktap, lines, suites)))
    print("KTAP version 1")
    print("1..%d" % len(checks))
    print("# ringfence: pass:%(passed)d fail:%(failed)d xfail:%(xfail)d xpass:%(xpass)d skip:%(skipped)d error:%(errors)d" % rf)
    bad = 0
    for n, (name, problems, info) in enumerate(checks, 1):
        if info:
            print("# " + info)
        for p in problems:
            print("# " + p)
        print("%s %d %s" % ("not ok" if problems else "ok", n, name))
        bad += bool(problems)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
