"""A checker for the layout `terraform fmt` produces, without needing terraform.

It re-implements the parts of hclwrite's formatter that decide where things go on a line:
  - indentation: two spaces per *line* that leaves brackets open (hclwrite counts one level per
    line, however many brackets it opens), closers at the start of a line dedent first;
  - alignment: in a run of consecutive lines whose `=` is followed by a complete expression, every
    `=` sits one column after the longest left-hand side; trailing comments in a run align the same way;
  - no tabs, no trailing whitespace, LF line endings, exactly one newline at the end of the file.
Heredoc bodies are left alone, as terraform fmt does. Spacing inside expressions is not checked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

OPENERS = "{[("
CLOSERS = "}])"
HEREDOC = re.compile(r"<<(-?)([A-Za-z_][A-Za-z0-9_-]*)\s*$")


@dataclass
class Line:
    number: int
    text: str
    code: str = ""  # the line with strings blanked out and the comment removed
    net: int = 0  # bracket change over the line
    leading_closers: int = 0
    eq: int | None = None  # column of an aligned `=`
    lone_eq: int | None = None  # column of an `=` that opens a multi-line value (not aligned)
    comment: int | None = None  # column of a trailing comment (after code)
    opens_heredoc: str | None = None
    in_heredoc: bool = False
    blank: bool = False


@dataclass
class Scanner:
    """Character-level state that survives line ends (block comments)."""

    in_block_comment: bool = False
    errors: list = field(default_factory=list)

    def scan(self, line: Line) -> None:
        text = line.text
        out = []
        i = 0
        stack: list[str] = []  # "s" string, "i" interpolation, "b" brace inside interpolation
        comment_at = None
        while i < len(text):
            c = text[i]
            two = text[i : i + 2]
            if self.in_block_comment:
                if two == "*/":
                    self.in_block_comment = False
                    i += 2
                else:
                    i += 1
                out.append(" ")
                continue
            top = stack[-1] if stack else None
            if top == "s":
                if c == "\\":
                    out.append("  ")
                    i += 2
                    continue
                if two in ("${", "%{"):
                    stack.append("i")
                    out.append("  ")
                    i += 2
                    continue
                if c == '"':
                    stack.pop()
                    out.append('"')
                    i += 1
                    continue
                out.append(" ")
                i += 1
                continue
            if top in ("i", "b"):
                if c == '"':
                    stack.append("s")
                elif c == "{":
                    stack.append("b")
                elif c == "}":
                    stack.pop()
                out.append(" ")
                i += 1
                continue
            # plain code
            if c == '"':
                stack.append("s")
                out.append('"')
                i += 1
                continue
            if c == "#" or two == "//":
                comment_at = i
                break
            if two == "/*":
                self.in_block_comment = True
                out.append("  ")
                i += 2
                continue
            out.append(c)
            i += 1
        if stack:
            self.errors.append(f"line {line.number}: unterminated string or interpolation")
        code = "".join(out)
        line.code = code
        stripped = code.strip()
        line.blank = stripped == "" and comment_at is None
        for ch in code:
            if ch in OPENERS:
                line.net += 1
            elif ch in CLOSERS:
                line.net -= 1
        for ch in stripped:
            if ch in CLOSERS:
                line.leading_closers += 1
            else:
                break
        m = HEREDOC.search(code.rstrip())
        if m:
            line.opens_heredoc = m.group(2)
        if comment_at is not None and stripped:
            line.comment = comment_at
        # An assignment that participates in alignment: first lone `=` after the first token,
        # with a bracket-balanced right-hand side (hclwrite's rule; a heredoc opener counts as one).
        for m in re.finditer(r"(?<![=!<>])=(?![=>])", code):
            pos = m.start()
            if code[:pos].strip() == "":
                break
            rhs = code[pos:]
            bal = sum(1 for ch in rhs if ch in OPENERS) - sum(1 for ch in rhs if ch in CLOSERS)
            if bal == 0:
                line.eq = pos
            else:
                line.lone_eq = pos
            break


def check(source: str, name: str = "<file>") -> list[str]:
    """Return a list of layout problems (empty when the file is laid out as terraform fmt would)."""
    errors: list[str] = []
    if "\r" in source:
        errors.append(f"{name}: CR characters (use LF line endings)")
    if source and not source.endswith("\n"):
        errors.append(f"{name}: no newline at the end of the file")
    if source.endswith("\n\n"):
        errors.append(f"{name}: blank lines at the end of the file")
    raw_lines = source.split("\n")
    if raw_lines and raw_lines[-1] == "":
        raw_lines = raw_lines[:-1]

    scanner = Scanner()
    lines: list[Line] = []
    heredoc_end: str | None = None
    for n, text in enumerate(raw_lines, start=1):
        line = Line(number=n, text=text)
        if heredoc_end is not None:
            line.in_heredoc = True
            if text.strip() == heredoc_end:
                heredoc_end = None
            lines.append(line)
            continue
        if "\t" in text:
            errors.append(f"{name}:{n}: tab character")
        if text != text.rstrip():
            errors.append(f"{name}:{n}: trailing whitespace")
        scanner.scan(line)
        if line.opens_heredoc:
            heredoc_end = line.opens_heredoc
        lines.append(line)
    errors.extend(f"{name}: {e}" for e in scanner.errors)
    if heredoc_end is not None:
        errors.append(f"{name}: heredoc {heredoc_end} never closed")

    # Indentation (hclwrite formatIndent).
    indents: list[int] = []
    for line in lines:
        if line.in_heredoc or line.blank:
            continue
        indent = len(line.text) - len(line.text.lstrip(" "))
        net = line.net
        if net > 0:
            want = 2 * len(indents)
            indents.append(net)
        elif net < 0:
            closed = -net
            while closed > 0 and indents:
                if closed > indents[-1]:
                    closed -= indents.pop()
                elif closed < indents[-1]:
                    indents[-1] -= closed
                    closed = 0
                else:
                    indents.pop()
                    closed = 0
            want = 2 * len(indents)
        else:
            # Includes lines like `}, {`, which close and reopen: hclwrite keeps them at the current level.
            want = 2 * len(indents)
        if indent != want:
            errors.append(f"{name}:{line.number}: indented {indent} spaces, expected {want}")
    if indents:
        errors.append(f"{name}: unbalanced brackets at the end of the file")

    # Alignment of `=` and of trailing comments in runs of consecutive lines (hclwrite formatCells).
    def runs(attr: str):
        run: list[Line] = []
        for line in lines:
            if not line.in_heredoc and getattr(line, attr) is not None:
                run.append(line)
            else:
                if run:
                    yield run
                run = []
        if run:
            yield run

    for run in runs("eq"):
        want = max(len(l.code[: l.eq].rstrip()) for l in run) + 1
        for l in run:
            if l.eq != want:
                errors.append(f"{name}:{l.number}: '=' at column {l.eq + 1}, aligned column is {want + 1}")
    for l in lines:
        if l.lone_eq is not None and not l.in_heredoc:
            before = l.code[: l.lone_eq]
            if not before.endswith(" ") or before.endswith("  ") or l.code[l.lone_eq + 1 : l.lone_eq + 2] != " ":
                errors.append(f"{name}:{l.number}: expected exactly one space around '='")
    for run in runs("comment"):
        want = max(len(l.code[: l.comment].rstrip()) for l in run) + 1
        for l in run:
            if l.comment != want:
                errors.append(f"{name}:{l.number}: comment at column {l.comment + 1}, aligned column is {want + 1}")
    return errors
