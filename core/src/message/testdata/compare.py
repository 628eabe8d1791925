#!/usr/bin/env python3
"""Compare our views (dump_views test) with SpamAssassin's (oracle.pl).

Usage: compare.py ours.json theirs.json [view ...]
Prints per-view agreement counts and the first differences.
"""
import json, sys

ours = {d["file"]: d for d in json.load(open(sys.argv[1]))}
theirs = json.load(open(sys.argv[2], encoding="latin-1"))
if isinstance(theirs, dict):
    theirs = [theirs]
only = set(sys.argv[3:])
stats, shown = {}, {}
for t in theirs:
    o = ours.get(t["file"])
    if o is None:
        continue
    pairs = [("body", o["body"], t["body"]), ("rawbody", o["rawbody"], t["rawbody"]),
             ("uris", o["uris"], t["uris"]), ("from_addrs", o["from_addrs"], t["from_addrs"])]
    for k, v in t["headers"].items():
        if k in o["headers"]:
            pairs.append(("h:" + k, o["headers"][k], v))
    for name, a, b in pairs:
        if only and name not in only:
            continue
        ok = a == b
        s = stats.setdefault(name, [0, 0])
        s[0 if ok else 1] += 1
        if not ok and shown.get(name, 0) < 3:
            shown[name] = shown.get(name, 0) + 1
            print(f"--- {name} {t['file']}\n  ours:   {json.dumps(a, ensure_ascii=True)[:600]}\n  theirs: {json.dumps(b, ensure_ascii=True)[:600]}")
for name, (good, bad) in sorted(stats.items()):
    print(f"{name:24} ok {good:5}  differ {bad:5}")
