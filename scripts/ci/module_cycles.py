#!/usr/bin/env python3
"""Import cycles between the modules of a Rust crate: reads every `crate::a::b` path in src/ and
reports each cycle between top-level modules and between the submodules of one module (the
granularity a reader navigates by). Exit 1 when there is a cycle.

usage: scripts/ci/module_cycles.py [SRC_DIR]    (default app/src)
"""
import pathlib
import re
import sys

PATH = re.compile(r"\bcrate::((?:[a-z_][a-z0-9_]*::)*[a-z_][a-z0-9_]*)")
GROUP = re.compile(r"\bcrate::([a-z_][a-z0-9_]*)::\{([^}]*)\}")
SUPER = re.compile(r"\bsuper::([a-z_][a-z0-9_]*)")
SUPER_GROUP = re.compile(r"\bsuper::\{([^}]*)\}")


def module_of(src: pathlib.Path, f: pathlib.Path) -> list[str]:
    parts = list(f.relative_to(src).with_suffix("").parts)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return parts


def edges(src: pathlib.Path) -> set[tuple[str, str]]:
    modules = {tuple(module_of(src, f)) for f in src.rglob("*.rs")}
    found = set()
    for f in src.rglob("*.rs"):
        me = module_of(src, f)
        if not me:
            continue
        text = re.sub(r"//[^\n]*", "", f.read_text())
        targets = [m.group(1).split("::") for m in PATH.finditer(text)]
        for m in GROUP.finditer(text):
            targets += [[m.group(1), item.strip().split("::")[0]] for item in m.group(2).split(",") if item.strip()]
        # `super::x` names a sibling of this module (for a mod.rs, a sibling of its folder).
        targets += [me[:-1] + [m.group(1)] for m in SUPER.finditer(text)]
        for m in SUPER_GROUP.finditer(text):
            targets += [me[:-1] + [item.strip().split("::")[0]] for item in m.group(1).split(",") if item.strip()]
        for t in targets:
            # The longest prefix that names a module of the crate.
            while t and tuple(t) not in modules:
                t = t[:-1]
            if not t:
                continue
            # Top level: a -> b. Inside one parent: a::x -> a::y.
            if me[0] != t[0]:
                found.add((me[0], t[0]))
            elif len(me) >= 2 and len(t) >= 2 and me[1] != t[1]:
                found.add((f"{me[0]}::{me[1]}", f"{t[0]}::{t[1]}"))
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    out, seen = [], set()
    for start in sorted(graph):
        stack = [(start, [start])]
        while stack:
            node, path = stack.pop()
            for nxt in sorted(graph.get(node, ())):
                if nxt == start:
                    key = frozenset(path)
                    if key not in seen:
                        seen.add(key)
                        out.append(path + [start])
                elif nxt not in path and len(path) < 8:
                    stack.append((nxt, path + [nxt]))
    return out


def main() -> int:
    if "--help" in sys.argv[1:]:
        print(__doc__.strip())
        return 0
    src = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "app/src")
    graph: dict[str, set[str]] = {}
    for a, b in edges(src):
        graph.setdefault(a, set()).add(b)
    found = cycles(graph)
    for c in found:
        print("cycle: " + " -> ".join(c))
    print(f"module_cycles: {sum(len(v) for v in graph.values())} module imports in {src}, {len(found)} cycles")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
