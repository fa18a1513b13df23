#!/usr/bin/env python3
"""Validate ringfence's KCIDB output with kcidb-io's own schema validator.

Needs the kcidb-io package, pinned:  pip install kcidb-io==141

  ci/kcidb-validate.py [--ringfence BIN] FILE...

Each FILE is either KCIDB JSON (validated as is) or a ringfence results file
(anything with "cases", e.g. Tests/Fixtures/results/*.json): that one is turned
into KCIDB with `BIN kcidb --schema 5` and `--schema 4`, and both are
validated. Besides the schema (kcidb_io's validate_exactly for the version the
document names), checks that every build names a checkout, every test a build
and every incident an issue and a test of the same document, and that the test
count equals the results file's case count. Prints KTAP; exit 0 when all valid.
"""
import argparse
import json
import subprocess
import sys

try:
    import kcidb_io
except ImportError:
    sys.exit("kcidb-validate: kcidb-io is missing: pip install kcidb-io==141")


def schema_for(doc):
    """The kcidb-io schema class for the version the document names."""
    for v in kcidb_io.schema.LATEST.history:
        if v.is_compatible_exactly(doc):
            return v
    raise ValueError("unknown KCIDB version %r" % (doc.get("version"),))


def problems(doc, expected_tests=None):
    out = []
    try:
        schema = schema_for(doc)
        schema.validate_exactly(doc)
    except Exception as e:  # jsonschema.ValidationError and friends
        return ["schema: %s" % str(e).splitlines()[0]]
    checkouts = {c["id"] for c in doc.get("checkouts", [])}
    builds = {b["id"] for b in doc.get("builds", [])}
    tests = {t["id"] for t in doc.get("tests", [])}
    issues = {i["id"] for i in doc.get("issues", [])}
    out += ["build %s: unknown checkout" % b["id"] for b in doc.get("builds", []) if b["checkout_id"] not in checkouts]
    out += ["test %s: unknown build" % t["id"] for t in doc.get("tests", []) if t["build_id"] not in builds]
    for i in doc.get("incidents", []):
        if i["issue_id"] not in issues:
            out.append("incident %s: unknown issue" % i["id"])
        if i.get("test_id") not in tests:
            out.append("incident %s: unknown test" % i["id"])
    if len(tests) != len(doc.get("tests", [])):
        out.append("duplicate test ids")
    if expected_tests is not None and len(tests) != expected_tests:
        out.append("%d tests, the results file has %d cases" % (len(tests), expected_tests))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ringfence", default=".build/debug/ringfence", help="ringfence binary for results files")
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()
    checks = []
    for path in args.files:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        if "cases" in data:
            for schema in ("5", "4"):
                run = subprocess.run([args.ringfence, "kcidb", "--schema", schema, path],
                                     capture_output=True, text=True)
                if run.returncode != 0:
                    checks.append(("%s (schema %s)" % (path, schema), ["ringfence kcidb exited %d: %s" % (run.returncode, run.stderr.strip())]))
                    continue
                doc = json.loads(run.stdout)
                xfail = sum(1 for c in data["cases"] if c["status"] in ("xfail", "known-bug"))
                found = problems(doc, expected_tests=len(data["cases"]))
                if schema == "5" and xfail != len(doc.get("incidents", [])):
                    found.append("%d known bugs but %d incidents" % (xfail, len(doc.get("incidents", []))))
                if schema == "4" and xfail != sum(1 for t in doc["tests"] if t.get("waived")):
                    found.append("%d known bugs but a different number of waived tests" % xfail)
                checks.append(("%s (schema %s, %s)" % (path, schema, schema_for(doc)), found))
        else:
            checks.append((path, problems(data)))
    print("KTAP version 1")
    print("1..%d" % len(checks))
    failed = 0
    for n, (name, found) in enumerate(checks, 1):
        for p in found:
            print("# " + p)
        print("%s %d %s" % ("not ok" if found else "ok", n, name))
        failed += bool(found)
    print("# kcidb-io %s: %d of %d valid" % (kcidb_version(), len(checks) - failed, len(checks)))
    return 1 if failed else 0


def kcidb_version():
    try:
        from importlib.metadata import version
        return version("kcidb-io")
    except Exception:
        return "?"


if __name__ == "__main__":
    sys.exit(main())
