#!/usr/bin/env python3
"""BuildKit's own Dockerfile parser as a test oracle, through the PyPI package `dockerfile` (asottile's
Go extension wrapping moby/buildkit's frontend/dockerfile/parser).

Reads a JSON list of Dockerfile texts on stdin; prints a JSON list with, for each input, either
{"ok": [command, ...]} or {"error": "message"}. A command is the package's Command as a dict:
cmd, sub_cmd, json, original, start_line, end_line, flags, value, heredocs [{name, file_descriptor, content}].

Install: python3 -m venv .venv && .venv/bin/pip install dockerfile
"""
import json
import sys

import dockerfile


def command(c):
    return {
        "cmd": c.cmd,
        "sub_cmd": c.sub_cmd,
        "json": c.json,
        "original": c.original,
        "start_line": c.start_line,
        "end_line": c.end_line,
        "flags": list(c.flags),
        "value": list(c.value),
        "heredocs": [
            {"name": h.name, "file_descriptor": h.file_descriptor, "content": h.content}
            for h in c.heredocs
        ],
    }


def main():
    texts = json.load(sys.stdin)
    out = []
    for text in texts:
        try:
            out.append({"ok": [command(c) for c in dockerfile.parse_string(text)]})
        except dockerfile.GoParseError as e:
            out.append({"error": str(e)})
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
