"""MkDocs hooks: the pages that must not drift from the code are generated from it at build time.

A page asks for generated content with an HTML comment on a line of its own:

- ``<!-- jaxnet:activations -->``, ``<!-- jaxnet:heads -->``: the tables of
  ``jaxnet.network.ACTIVATIONS`` / ``HEADS``, from each entry's ``.math``;
- ``<!-- jaxnet:cli -->``: ``format_help()`` of the ``jaxnet`` parser and of
  every subcommand (``jaxnet.cli._build_parser()``);
- ``<!-- jaxnet:api -->``: one mkdocstrings block per name in ``jaxnet.__all__``;
- ``<!-- jaxnet:include PATH -->``: a Markdown file of the repository (headings
  demoted one level, relative links made plain text), or a note that it does
  not exist yet.

The repository root goes first on ``sys.path``, so the site documents this
checkout's jaxnet, whatever else is installed.
"""

from __future__ import annotations

import argparse
import inspect
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

_MARK = re.compile(r"^<!-- jaxnet:(\w+)(?: (\S+))? -->$", re.MULTILINE)
_HELP_COLUMNS = "88"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _activations() -> str:
    from jaxnet.network import ACTIVATIONS

    rows = ["| `activation=` | function; derivative `f'(z)` used by the hand-derived pass |", "|---|---|"]
    rows += [f'| `"{name}"` | `{_cell(entry.math)}` |' for name, entry in ACTIVATIONS.items()]
    return "\n".join(rows)


def _heads() -> str:
    from jaxnet.network import HEADS

    rows = [
        "| `head=` | output and loss per example (from the logits) | labels | mean over outputs too (`m = n_out`) |",
        "|---|---|---|---|",
    ]
    rows += [
        f'| `"{name}"` | {_cell(h.math)} | {h.labels} | {"yes" if h.per_unit else "no (`m = 1`)"} |'
        for name, h in HEADS.items()
    ]
    return "\n".join(rows)


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _cli() -> str:
    from jaxnet.cli import _build_parser

    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = _HELP_COLUMNS  # argparse wraps to the terminal width: fix it
    try:
        parser = _build_parser()
        parts = [f"## `{parser.prog}`\n\n```text\n{parser.format_help().rstrip()}\n```"]
        for name, sub in _subparsers(parser).items():
            parts.append(f"## `{parser.prog} {name}`\n\n```text\n{sub.format_help().rstrip()}\n```")
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old
    return "\n\n".join(parts)


def _api() -> str:
    import jaxnet

    groups: dict[str, list[str]] = {
        "Functions": [],
        "Exceptions and warnings": [],
        "Constants and tables": [],
        "Modules": [],
    }
    for name in jaxnet.__all__:
        obj = getattr(jaxnet, name)
        if inspect.ismodule(obj):
            groups["Modules"].append(name)
        elif inspect.isclass(obj) and issubclass(obj, BaseException):
            groups["Exceptions and warnings"].append(name)
        elif callable(obj) and not inspect.isclass(obj):
            groups["Functions"].append(name)
        else:
            groups["Constants and tables"].append(name)
    parts = []
    for title, names in groups.items():
        if names:
            parts.append(f"## {title}\n")
            parts += [f"::: jaxnet.{name}\n" for name in sorted(names, key=str.lower)]
    return "\n".join(parts)


_LINK = re.compile(r"\[([^\]]+)\]\((?!https?://)[^)]*\)")


def _include(path: str | None) -> str:
    if not path:
        raise ValueError("jaxnet:include needs a path")
    file = ROOT / path
    if not file.is_file():
        return f'!!! note "Not measured yet"\n    `{path}` does not exist in this checkout yet: no results to show.'
    text = file.read_text(encoding="utf-8")
    text = re.sub(r"^(#{1,5}) ", r"#\1 ", text, flags=re.MULTILINE)  # the page keeps its own single H1
    return _LINK.sub(r"\1", text)


_GENERATORS = {"activations": _activations, "heads": _heads, "cli": _cli, "api": _api}


def _expand(match: re.Match) -> str:
    kind, arg = match.group(1), match.group(2)
    if kind == "include":
        return _include(arg)
    if kind not in _GENERATORS:
        raise ValueError(f"unknown jaxnet marker {match.group(0)!r}; expected one of {sorted(_GENERATORS)} or include")
    return _GENERATORS[kind]()


def on_page_markdown(markdown: str, **kwargs) -> str:
    return _MARK.sub(_expand, markdown)
