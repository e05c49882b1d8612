#!/usr/bin/env python3
"""Folds `perf script` output into a flame graph (a self-contained SVG) and prints where the
samples went. Usage: perf script -i perf.data | scripts/flamegraph.py OUT.svg

The split it prints puts each sample in the first bucket, from the leaf up, whose pattern
one of its frames matches: the kernel, SQLite, sqlx and its worker hand-offs, wasmtime and
the guest, malloc, tokio, the rest of the host; and again with the kernel's samples given to
the user-space frame below them (a futex wait to the hand-off that waited, a `writev` to
hyper). The stacks are whole when perf records them with `--call-graph dwarf`.
"""
import html
import re
import sys
from collections import Counter, defaultdict

BUCKETS = [
    ("kernel", re.compile(r"\[kernel|^(entry_|__x64_sys|do_syscall|futex_|schedule|__schedule)")),
    ("sqlite", re.compile(r"^sqlite3")),
    ("sqlx, flume (database hand-offs)", re.compile(r"sqlx|flume")),
    ("wasmtime + guest", re.compile(r"wasmtime|cranelift|wasm\[|wasm-function|<wasm")),
    ("malloc", re.compile(r"malloc|free|realloc|_int_|cfree")),
    ("tokio", re.compile(r"^tokio|<tokio")),
    ("hyper, axum, tower", re.compile(r"hyper|axum|tower")),
    ("serde_json", re.compile(r"serde_json")),
]


def stacks(lines):
    stack = []
    for line in lines:
        line = line.rstrip("\n")
        if not line.strip():
            if stack:
                yield list(reversed(stack))
            stack = []
        elif line.startswith((" ", "\t")):
            parts = line.strip().split(None, 1)
            name = parts[1] if len(parts) > 1 else parts[0]
            name = re.sub(r"\+0x[0-9a-f]+", "", name)
            name = re.sub(r" \(.*\)$", "", name)
            stack.append(name)
    if stack:
        yield list(reversed(stack))


def bucket_of(leaf_up):
    return next((name for name, p in BUCKETS for f in leaf_up if p.search(f)), "host and the rest")


def main():
    out = sys.argv[1]
    folded = Counter()
    split, caller = Counter(), Counter()
    kernel = BUCKETS[0][1]
    for stack in stacks(sys.stdin):
        folded[tuple(stack)] += 1
        leaf_up = list(reversed(stack))
        split[bucket_of(leaf_up)] += 1
        # The same, with the kernel's time given to the user-space code that entered it.
        user = [f for f in leaf_up if not kernel.search(f)]
        caller[bucket_of(user) if user else "kernel"] += 1
    total = sum(folded.values()) or 1
    print(f"{total} samples; where they ran, and (right) the kernel's time given to its caller")
    for name, n in split.most_common():
        print(f"  {100 * n / total:5.1f}%  {name:36} {100 * caller[name] / total:5.1f}%")
    # The tree, then the SVG: one rectangle per frame, wide as its samples.
    tree = lambda: defaultdict(tree)  # noqa: E731
    root, counts = tree(), Counter()
    for stack, n in folded.items():
        node, path = root, ()
        for frame in stack:
            node, path = node[frame], path + (frame,)
            counts[path] += n
    width, row = 1600, 16
    depth = max((len(s) for s in folded), default=1)
    rects = []

    def draw(node, path, x, level):
        for frame in sorted(node):
            p = path + (frame,)
            w = counts[p] * width / total
            if w >= 0.5:
                y = (depth - level) * row
                hue = 20 + (hash(frame) % 40)
                label = html.escape(frame)
                text = label if w > 60 else ""
                rects.append(
                    f'<g><title>{label} ({100 * counts[p] / total:.1f}%)</title>'
                    f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{row - 1}" fill="hsl({hue},80%,60%)"/>'
                    f'<text x="{x + 2:.1f}" y="{y + 12}" font-size="11" clip-path="inset(0)">{text[: int(w / 7)]}</text></g>'
                )
            draw(node[frame], p, x, level + 1)
            x += w

    draw(root, (), 0.0, 0)
    height = (depth + 1) * row
    with open(out, "w") as f:
        f.write(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="monospace">')
        f.write("".join(rects))
        f.write("</svg>\n")
    print(f"flame graph: {out}")


if __name__ == "__main__":
    main()
