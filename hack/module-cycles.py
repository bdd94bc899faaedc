#!/usr/bin/env python3
"""Fail when the top-level modules of a crate import each other in a circle.

Crate boundaries are enforced by Cargo; inside a crate, layering holds only if no module
reaches back up. For every crate under crates/ and the root package, this maps each file to
its top-level module, collects `crate::<module>` references (in `use` lines and paths),
and reports every cycle in the resulting graph. Test modules (`#[cfg(test)]` and below) are
skipped: a test may look anywhere.

Usage: python3 hack/module-cycles.py [ROOT]   (exit 1 on a cycle)
"""

import os
import re
import sys

REF = re.compile(r"\bcrate::([a-z_][a-z0-9_]*)")


def top_module(src, path):
    rel = os.path.relpath(path, src)
    first = rel.split(os.sep)[0]
    if first in ("lib.rs", "main.rs"):
        return None
    return first[:-3] if first.endswith(".rs") else first


def edges_of(src):
    edges = {}
    for dirpath, _, files in os.walk(src):
        for f in files:
            if not f.endswith(".rs"):
                continue
            path = os.path.join(dirpath, f)
            module = top_module(src, path)
            if module is None:
                continue
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
            cut = text.find("#[cfg(test)]")
            if cut >= 0:
                text = text[:cut]
            for target in REF.findall(text):
                if target != module:
                    edges.setdefault(module, set()).add(target)
    return edges


def cycles(edges):
    found, state, stack = [], {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                found.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node)
    return found


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
    sources = [os.path.join(root, "src")]
    crates = os.path.join(root, "crates")
    if os.path.isdir(crates):
        sources += [os.path.join(crates, c, "src") for c in sorted(os.listdir(crates))]
    bad = False
    for src in sources:
        for cycle in cycles(edges_of(src)):
            bad = True
            print(f"{os.path.relpath(src, root)}: module cycle: {' -> '.join(cycle)}")
    if not bad:
        print(f"hack/module-cycles.py: no module cycles in {len(sources)} crates")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
