"""`python -m codec encode|decode`: QMFv1 bodies from and to the reference peer's JSON format.

    encode   reads JSON documents (a list of messages, or {"schemas": [...], "messages": [...]})
             and prints, per document, {"body_hex": ..., "messages": [{"hex": ...} or {"error": ...}]}
    decode   reads hex bodies, one per line, or the peer's decode JSON ({"hex"|"bodies",
             "preload_schemas_hex", "pending_methods"}), and prints, per body, {"schemas": [...],
             "messages": [...]} (plus "error" where the body goes wrong), which `encode` turns back
             into the same bytes

Each result is one line of JSON (`--indent N` for people). The exit status is 1 when a message
could not be encoded or a body could not be decoded, 2 for unreadable input.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .jsonform import decode_json, encode_json


def _documents(text: str) -> Iterator[Any]:
    decoder = json.JSONDecoder()
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos == len(text):
            return
        doc, pos = decoder.raw_decode(text, pos)
        yield doc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m codec", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("encode", "decode"))
    parser.add_argument("file", nargs="?", help="input file (default: standard input)")
    parser.add_argument("--indent", type=int, default=None, help="pretty-print the JSON")
    args = parser.parse_args(argv)
    text = Path(args.file).read_text(encoding="utf-8") if args.file else sys.stdin.read()
    failed = False
    try:
        if args.command == "encode":
            results = [encode_json(doc) for doc in _documents(text)]
            failed = any("error" in m for r in results for m in r["messages"])
        else:
            stripped = text.strip()
            if stripped[:1] in ("{", "["):
                results = [r for doc in _documents(stripped) for r in decode_json(doc)]
            else:
                results = decode_json([line for line in stripped.splitlines() if line.strip()])
            failed = any("error" in r for r in results)
    except (ValueError, KeyError, TypeError) as exc:
        print(f"python -m codec {args.command}: unreadable input: {exc}", file=sys.stderr)
        return 2
    for r in results:
        print(json.dumps(r, indent=args.indent))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
