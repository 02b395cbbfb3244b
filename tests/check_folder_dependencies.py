#!/usr/bin/env python3
"""Fails when the folders of src/ depend on each other in a circle.

A folder depends on another when one of its files includes "other/...".
docs/ARCHITECTURE.md draws the graph this keeps one-way."""
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
print("%d folders, %d edges, %d in cycles" % (len(deps), sum(map(len, deps.values())), len(cycles)))
sys.exit(1 if cycles else 0)
