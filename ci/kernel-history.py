#!/usr/bin/env python3
"""ci/kernel-history.py DIR: the per-version table of docs/kernel-history.md from the
results files ci/matrix.sh --all writes (DIR/<version>.json), oldest kernel first.
A departure is a case that did not pass where upstream (7.3.4) passes: a known bug
(xfail) or a failure; skips from feature probes are counted, not listed."""
import json, os, re, sys

def key(v):
    parts = re.split(r'[.~]', v)
    out = []
    for p in parts:
        m = re.match(r'rc(\d+)', p)
        out.append((-1, int(m.group(1))) if m else (0, int(p)) if p.isdigit() else (-2, 0))
    return out

d = sys.argv[1]
runs = []
for f in os.listdir(d):
    if f.endswith('.json') and f != 'matrix.json':
        runs.append((f[:-5], json.load(open(os.path.join(d, f)))))
runs.sort(key=lambda r: key(r[0]))
print('| Debian kernel | release | passed | failed | known bugs | skipped | departures (case: status) |')
print('|---|---|---|---|---|---|---|')
for v, r in runs:
    st = {}
    for c in r['cases']:
        st[c['status']] = st.get(c['status'], 0) + 1
    deps = sorted((c['id'], c['status']) for c in r['cases'] if c['status'] not in ('pass', 'skip'))
    dep = '<br>'.join('`%s`: %s' % (i, s) for i, s in deps) or 'none'
    print('| %s | %s | %d | %d | %d | %d | %s |' % (v, r['kernel']['release'], st.get('pass', 0), st.get('fail', 0) + st.get('timeout', 0) + st.get('crash', 0),
                                            st.get('xfail', 0), st.get('skip', 0), dep))
