#!/usr/bin/env python3
"""Non-test source lines: non-blank, non-comment lines of */src/**/*.rs, leaving out tests.rs
files and inline #[cfg(test)] modules. Usage: python3 tools/sloc.py [REPO]"""
import os, sys
root = sys.argv[1] if len(sys.argv) > 1 else "."
total = 0
per = {}
for crate in sorted(os.listdir(root)):
    src = os.path.join(root, crate, "src")
    if not os.path.isdir(src):
        continue
    for d, _, files in os.walk(src):
        for f in files:
            if not f.endswith(".rs") or f == "tests.rs":
                continue
            lines = open(os.path.join(d, f), encoding="utf-8").read().split("\n")
            n, i = 0, 0
            while i < len(lines):
                s = lines[i].strip()
                if s == "#[cfg(test)]" and i + 1 < len(lines) and lines[i + 1].strip().startswith("mod "):
                    if lines[i + 1].rstrip().endswith(";"):
                        i += 2; continue
                    depth = 0; i += 1
                    while i < len(lines):
                        depth += lines[i].count("{") - lines[i].count("}")
                        i += 1
                        if depth <= 0 and "}" in lines[i - 1]:
                            break
                    continue
                if s and not s.startswith("//"):
                    n += 1
                i += 1
            per[crate] = per.get(crate, 0) + n
            total += n
print(per, "total", total)
