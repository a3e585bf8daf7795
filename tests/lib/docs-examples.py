#!/usr/bin/env python3
"""docs-examples.py TOP — the example commands of README.md and of the
EXAMPLES sections of man/*.1, man/*.5 and man/*.8, for t0500-docs-examples.

Prints one tab-separated record per line:

    cmd   FILE LINE BLOCK TEXT   one shell command (a "$ " prompt removed,
                                 lines continued by a trailing \\, |, && or ||
                                 joined), BLOCK numbering the code blocks of FILE
    text  FILE LINE BLOCK FIRST  a block that is not shell (YAML, a config
                                 file): its first line, so the test can insist
                                 that such blocks are listed

README.md: fenced blocks (```sh, ```, ```console) and indented code blocks
(four spaces more than the text around them, also inside list items). Man
pages: .Bd -literal ... .Ed inside .Sh EXAMPLES, roff escapes undone.
"""
import glob
import os
import re
import sys

SHELL_START = re.compile(r"^(\$ |acmectl(\s|$)|[A-Za-z_][A-Za-z0-9_]*=|make(\s|$)|eval\s|printf\s|curl\s)")


def unroff(line):
    line = line.replace("\\e", "\x00").replace("\\-", "-").replace("\\&", "")
    line = line.replace("\\(aq", "'").replace("\\(dq", '"').replace("\\(ga", "`")
    return line.replace("\x00", "\\")


def commands(lines):
    """(offset, text) of each command in a block's lines."""
    out, cur, start = [], None, 0
    for i, raw in enumerate(lines):
        s = raw.strip()
        if cur is None:
            if not s or s.startswith("#"):
                continue
            if s.startswith("$ "):
                s = s[2:].strip()
            cur, start = s, i
        else:
            cur = cur + " " + s
        if cur.endswith("\\"):
            cur = cur[:-1].rstrip()
            continue
        if re.search(r"(\||&&|\|\|)$", cur):
            continue
        out.append((start, cur))
        cur = None
    if cur is not None:
        out.append((start, cur))
    return out


def emit_block(path, first_line, lines, block, shell=None):
    body = [l for l in lines if l.strip()]
    if not body:
        return
    if shell is None:
        shell = any(SHELL_START.match(l.strip()) for l in body)
    if not shell:
        print("text\t%s\t%d\t%d\t%s" % (path, first_line, block, body[0].strip()))
        return
    for off, cmd in commands(lines):
        print("cmd\t%s\t%d\t%d\t%s" % (path, first_line + off, block, cmd))


def readme(top):
    path = "README.md"
    with open(os.path.join(top, path), encoding="utf-8") as f:
        lines = f.read().split("\n")
    block = 0
    i = 0
    prev_blank, text_indent = True, 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"^(\s*)```(\w*)\s*$", line)
        if m:
            lang = m.group(2)
            j = i + 1
            while j < len(lines) and not re.match(r"^\s*```\s*$", lines[j]):
                j += 1
            block += 1
            shell = True if lang in ("sh", "shell", "console", "bash") else (False if lang else None)
            emit_block(path, i + 2, lines[i + 1:j], block, shell)
            i = j + 1
            prev_blank = False
            continue
        indent = len(line) - len(line.lstrip(" "))
        if line.strip() and prev_blank and indent >= text_indent + 4:
            j = i
            while j < len(lines) and (not lines[j].strip() or
                                      len(lines[j]) - len(lines[j].lstrip(" ")) >= text_indent + 4):
                j += 1
            while j > i and not lines[j - 1].strip():
                j -= 1
            block += 1
            emit_block(path, i + 1, lines[i:j], block)
            i = j
            prev_blank = False
            continue
        if line.strip():
            # the indentation of the text around: a list item's body is
            # indented like the text after its marker
            lm = re.match(r"^(\s*)(\d+\.|[-*])\s+", line)
            text_indent = len(lm.group(0)) if lm else indent
        elif not line.strip():
            pass
        prev_blank = not line.strip()
        i += 1


def manpage(top, path):
    with open(os.path.join(top, path), encoding="utf-8") as f:
        lines = f.read().split("\n")
    in_ex, block, i = False, 0, 0
    while i < len(lines):
        line = lines[i]
        if line.startswith(".Sh "):
            in_ex = line.strip() == ".Sh EXAMPLES"
        elif in_ex and line.startswith(".Bd") and "-literal" in line:
            j = i + 1
            while j < len(lines) and not lines[j].startswith(".Ed"):
                j += 1
            block += 1
            body = [unroff(l) for l in lines[i + 1:j] if not l.startswith(".")]
            emit_block(path, i + 2, body, block)
            i = j
        i += 1


def main():
    top = sys.argv[1]
    readme(top)
    for pat in ("man/*.1", "man/*.5", "man/*.8"):
        for p in sorted(glob.glob(os.path.join(top, pat))):
            manpage(top, os.path.relpath(p, top))


main()
