#!/usr/bin/env python3
"""Fails when a folder of src/ depends on one the documented order does not
allow it (and so, on a circle).

A folder depends on another when one of its files includes "other/...".
LAYERS is docs/ARCHITECTURE.md's order: a folder may use only the folders
before it, and the two at the bottom only what LOW_USES lets them (scenario:
util; record, whose run result names a scenario's shards and replicas: util
and scenario). A new folder must be placed in it."""
import os
import re
import sys

src = sys.argv[1]
deps = {}
for root, _, files in os.walk(src):
    folder = os.path.relpath(root, src).split(os.sep)[0]
    if folder == ".":
        continue
    for name in files:
        with open(os.path.join(root, name), encoding="utf-8") as f:
            for line in f:
                m = re.match(r'#include "([a-z_]+)/', line)
                if m and m.group(1) != folder:
                    deps.setdefault(folder, set()).add(m.group(1))


LAYERS = ["fiber", "util", "scenario", "record", "capture", "db", "server", "net", "pool", "session", "probe", "workload",
          "run", "analysis", "report", "tune", "k8s", "cli"]
LOW_USES = {"scenario": {"util"}, "record": {"util", "scenario"}}

bad = []
for folder, used in sorted(deps.items()):
    if folder not in LAYERS:
        bad.append("%s is not in LAYERS: place it in the order" % folder)
        continue
    for other in sorted(used):
        if other not in LAYERS:
            bad.append("%s uses %s, which is not in LAYERS" % (folder, other))
        elif folder in LOW_USES and other not in LOW_USES[folder]:
            bad.append("%s may use only %s, not %s" %
                       (folder, " and ".join(sorted(LOW_USES[folder])), other))
        elif LAYERS.index(other) > LAYERS.index(folder):
            bad.append("%s uses %s, which comes after it in the order" % (folder, other))
for b in bad:
    print("folder order: " + b)


def path(start, goal, seen):
    for nxt in sorted(deps.get(start, ())):
        if nxt == goal:
            return [start, nxt]
        if nxt not in seen:
            seen.add(nxt)
            rest = path(nxt, goal, seen)
            if rest:
                return [start] + rest
    return None


cycles = [path(a, a, set()) for a in sorted(deps)]
cycles = [c for c in cycles if c]
for c in cycles:
    print("folder cycle: " + " -> ".join(c))
print("%d folders, %d edges, %d in cycles, %d against the order" %
      (len(deps), sum(map(len, deps.values())), len(cycles), len(bad)))
sys.exit(1 if cycles or bad else 0)
