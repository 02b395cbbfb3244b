#!/usr/bin/env python3
"""Fails when a file of src/ passes 500 lines or a function 80 (the house
rule: a reader holds each in their head), but for the exceptions named in
EXCEPTIONS with their reason.

A function is counted from its first line at column 0 to the "}" at column
0 that closes it; a class's inline members are counted as the class's lines
are not (the file's length bounds them)."""
import os
import re
import sys

MAX_FILE = 500
MAX_FUNCTION = 80
# "path" or "path:function": why it may be longer.
EXCEPTIONS = {}

src = sys.argv[1]
bad = []
longest = []
for root, _, files in os.walk(src):
    for name in sorted(files):
        if not name.endswith((".cpp", ".hpp")):
            continue
        path = os.path.join(root, name)
        rel = os.path.relpath(path, src)
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")
        if len(lines) - 1 > MAX_FILE and rel not in EXCEPTIONS:
            bad.append("%s: %d lines (at most %d)" % (rel, len(lines) - 1, MAX_FILE))
        start = None
        header = None
        pending = None  # a header at column 0 whose "{" is on a later line
        for i, line in enumerate(lines):
            if start is None:
                if re.match(r"[A-Za-z~]", line) and "(" in line and \
                        not line.startswith(("namespace", "struct", "class", "enum", "union",
                                             "template", "using", "#")):
                    pending = i
                if pending is not None and line.endswith("{"):
                    start, header, pending = pending, lines[pending], None
                elif pending is not None and line.endswith(";"):
                    pending = None
            elif line == "}":
                length = i - start + 1
                m = re.search(r"([A-Za-z_][A-Za-z0-9_:~]*)\(", header)
                fn = m.group(1) if m else header
                longest.append((length, rel, fn))
                key = "%s:%s" % (rel, fn)
                if length > MAX_FUNCTION and key not in EXCEPTIONS:
                    bad.append("%s: %s is %d lines (at most %d)" % (rel, fn, length, MAX_FUNCTION))
                start = None
for b in bad:
    print("size: " + b)
longest.sort(reverse=True)
print("longest functions: " + ", ".join("%s %s (%d)" % (r, f, n) for n, r, f in longest[:5]))
sys.exit(1 if bad else 0)
