"""MkDocs hooks: the pages that must not drift from the code are generated from it at build time.

A page asks for generated content with an HTML comment on a line of its own:

- ``<!-- jaxnet:activations -->``, ``<!-- jaxnet:heads -->``: the tables of
  ``jaxnet.network.ACTIVATIONS`` / ``HEADS``, from each entry's ``.math``;
- ``<!-- jaxnet:cli -->``: ``format_help()`` of the ``jaxnet`` parser and of
  every subcommand (``jaxnet.cli._build_parser()``);
- ``<!-- jaxnet:api TOPIC -->``: one mkdocstrings block per name that ``API_TOPICS[TOPIC]`` lists
  (every name of ``jaxnet.__all__`` is on exactly one topic page; the namespaces ``jaxnet.data`` and
  ``jaxnet.plotting`` come with every name of their own ``__all__``);
- ``<!-- jaxnet:notebook PATH -->``: a notebook of the repository with its stored outputs;
- ``<!-- jaxnet:gallery -->``: every ``examples/*.py``, its summary, command and picture;
- ``<!-- jaxnet:page PATH -->``: a Markdown file of the repository as the whole page (CONTRIBUTING.md);
- ``<!-- jaxnet:extras -->``: the extras of ``pyproject.toml``;
- ``<!-- jaxnet:include PATH -->``: a Markdown file of the repository (headings
  demoted one level, relative links made plain text), or a note that it does
  not exist yet.

The repository root goes first on ``sys.path``, so the site documents this
checkout's jaxnet, whatever else is installed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

_MARK = re.compile(r"^<!-- jaxnet:(\w+)(?: (\S+))? -->$", re.MULTILINE)
_HELP_COLUMNS = "80"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _activations() -> str:
    from jaxnet.network import ACTIVATIONS

    rows = [
        "| `activation=` | function; derivative `f'(z)` used by the hand-derived pass |",
        "|---|---|",
    ]
    rows += [
        f'| `"{name}"` | `{_cell(entry.math)}` |'
        for name, entry in ACTIVATIONS.items()
    ]
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


def _subparsers(
    parser: argparse.ArgumentParser,
) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _cli() -> str:
    from jaxnet.cli import _build_parser

    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = (
        _HELP_COLUMNS  # argparse wraps to the terminal width: fix it
    )
    try:
        parser = _build_parser()
        parts = [
            f"## `{parser.prog}`\n\n```text\n{parser.format_help().rstrip()}\n```"
        ]
        for name, sub in _subparsers(parser).items():
            parts.append(
                f"## `{parser.prog} {name}`\n\n```text\n{sub.format_help().rstrip()}\n```"
            )
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old
    return "\n\n".join(parts)


# The API reference, by topic: one page per key (docs/api/KEY.md, whose marker is
# ``<!-- jaxnet:api KEY -->``), each with the public names it documents. Every name of
# ``jaxnet.__all__`` is on exactly one page (tests/test_site.py checks it); ``extra`` are objects
# outside ``__all__`` that a topic documents under their full path. A name of ``NAMESPACES`` (a
# submodule such as ``jaxnet.data``) is documented with every name of its own ``__all__`` after it.
API_TOPICS: dict[str, dict[str, tuple[str, ...]]] = {
    "model": {
        "names": (
            "Spec",
            "Model",
            "init_model",
            "init_mlp",
            "seed_example",
            "forward",
            "forward_trace",
            "predict",
            "predict_proba",
            "loss",
            "bce",
            "grads",
            "manual_grads",
            "numerical_grads",
            "check_grads",
            "accuracy",
            "evaluate",
            "layer_sizes",
            "validate",
            "ACTIVATIONS",
            "HEADS",
            "__version__",
        ),
    },
    "estimators": {"names": ("MLPClassifier", "MLPRegressor", "load_model")},
    "training": {
        "names": (
            "fit",
            "make_train_step",
            "data_parallel_mesh",
            "distributed",
            "plotting",
        ),
    },
    "sweeps": {"names": ("sweep",)},
    "data": {"names": ("data",)},
    "checkpoints": {"names": ("save", "load")},
    "cli": {"names": (), "extra": ("jaxnet.cli.main",)},
    "errors": {
        "names": (
            "DataError",
            "CheckpointError",
            "DivergenceError",
            "TrainingInterrupted",
            "CallbackError",
            "PeerStopped",
            "DivergenceWarning",
            "CheckpointWarning",
            "NumericalPrecisionWarning",
        ),
    },
}

# The public submodules whose names the API pages document one by one, under their full path
# (``jaxnet.data.load_csv``), after the module's own docstring. A name that ``jaxnet`` also exports
# (``DataError``) is documented once, at the top level.
NAMESPACES = ("data", "plotting")


def namespace_members(name: str) -> list[str]:
    """The full paths the API page documents under the namespace ``jaxnet.<name>``."""
    import importlib

    import jaxnet

    module = importlib.import_module(f"jaxnet.{name}")
    return [
        f"jaxnet.{name}.{member}"
        for member in module.__all__
        if member not in jaxnet.__all__
    ]


# The members shown under a class of the API pages, with the constructor's signature in the
# class heading (the site shows neither by default: a class's docstring says what it is). A private base's members are the class's own on the site
# (docs/griffe_markdown.py), such as the estimators' ``save``.
API_MEMBERS: dict[str, tuple[str, ...]] = {
    "Model": ("from_checkpoint", "sizes", "activation", "head"),
    "MLPClassifier": (
        "fit",
        "partial_fit",
        "predict",
        "predict_proba",
        "predict_log_proba",
        "save",
    ),
    "MLPRegressor": ("fit", "partial_fit", "predict", "save"),
}


def _directive(path: str) -> str:
    """The mkdocstrings block of one object, with its members if ``API_MEMBERS`` lists any."""
    members = API_MEMBERS.get(path.removeprefix("jaxnet."))
    if not members:
        return f"::: {path}\n"
    names = ", ".join(members)
    return (
        f"::: {path}\n    options:\n      members: [{names}]\n"
        "      heading_level: 3\n      merge_init_into_class: true\n"
    )


def _member(path: str) -> str:
    """The mkdocstrings block of a namespace's member, headed by its full path (``jaxnet.data.load_csv``)."""
    return f"::: {path}\n    options:\n      show_root_full_path: true\n"


def _api(topic: str | None) -> str:
    if topic not in API_TOPICS:
        raise ValueError(
            f"jaxnet:api needs a topic, one of {sorted(API_TOPICS)}; got {topic!r}"
        )
    import jaxnet

    entry = API_TOPICS[topic]
    missing = [name for name in entry["names"] if name not in jaxnet.__all__]
    if missing:
        raise ValueError(
            f"API_TOPICS[{topic!r}] names {missing}, which jaxnet.__all__ does not export"
        )
    blocks = []
    for name in entry["names"]:
        blocks.append(_directive(f"jaxnet.{name}"))
        if name in NAMESPACES:
            blocks += [_member(path) for path in namespace_members(name)]
    blocks += [_directive(path) for path in entry.get("extra", ())]
    if not blocks:
        return '!!! note "Nothing here yet"\n    This version of jaxnet exports nothing under this topic.'
    return "\n".join(blocks)


_LINK = re.compile(r"\[([^\]]+)\]\((?!https?://)[^)]*\)")


def _include(path: str | None) -> str:
    if not path:
        raise ValueError("jaxnet:include needs a path")
    file = ROOT / path
    if not file.is_file():
        return f'!!! note "Not measured yet"\n    `{path}` does not exist in this checkout yet: no results to show.'
    text = file.read_text(encoding="utf-8")
    text = re.sub(
        r"^(#{1,5}) ", r"#\1 ", text, flags=re.MULTILINE
    )  # the page keeps its own single H1
    return _LINK.sub(r"\1", text)


def _fence(lang: str, text: str) -> str:
    ticks = "````" if "```" in text else "```"
    return f"{ticks}{lang}\n{text.rstrip()}\n{ticks}"


def _output(out: dict) -> str:
    """One stored output of a notebook cell as Markdown: text as a text block, a PNG inline, Markdown as is."""
    if out.get("output_type") == "stream":
        return _fence("text", "".join(out.get("text", "")))
    if out.get("output_type") == "error":
        return _fence("text", f"{out.get('ename')}: {out.get('evalue')}")
    data = out.get("data", {})
    if "image/png" in data:
        png = "".join(data["image/png"]).replace("\n", "")
        return f'<img alt="output" src="data:image/png;base64,{png}">'
    if "text/markdown" in data:
        return "".join(data["text/markdown"])
    return _fence("text", "".join(data.get("text/plain", "")))


def _notebook(path: str | None) -> str:
    """The notebook at ``path`` as Markdown: its Markdown cells as they are, each code cell as a Python block
    followed by its stored outputs (text, PNG pictures inline, Markdown), so it renders offline with the
    site's own math and code styles."""
    if not path:
        raise ValueError("jaxnet:notebook needs a path")
    cells = json.loads((ROOT / path).read_text(encoding="utf-8"))["cells"]
    parts = []
    for cell in cells:
        source = "".join(cell["source"])
        if cell["cell_type"] == "markdown":
            parts.append(_LINK.sub(r"\1", source))
        elif cell["cell_type"] == "code":
            parts.append(_fence("python", source))
            parts += [_output(out) for out in cell.get("outputs", [])]
    return "\n\n".join(parts)


# the picture of each example on the gallery page: docs/gallery/NAME.png (committed; CONTRIBUTING.md says
# how to regenerate them)
_GALLERY_PICTURES = {"seed_walkthrough": "walkthrough_network.png"}


def _wrap_command(command: str, width: int = 76) -> str:
    """A shell command broken between its words and ``[...]`` option groups,
    with backslash continuations."""
    lines = [""]
    for word in re.findall(r"\[[^\]]*\]|\S+", command):
        if lines[-1] and len(lines[-1]) + 1 + len(word) > width:
            lines.append("   ")
        lines[-1] = f"{lines[-1]} {word}" if lines[-1] else word
    return " \\\n".join(lines)


def _gallery() -> str:
    """One section per ``examples/*.py``: its docstring's first line, how to run it, and its picture."""
    import ast

    parts = []
    for script in sorted((ROOT / "examples").glob("[!_]*.py")):
        doc = (
            ast.get_docstring(ast.parse(script.read_text(encoding="utf-8")))
            or ""
        )
        summary, *rest = doc.split("\n\n")
        commands = [
            line.strip()
            for para in rest
            for line in para.splitlines()
            if line.strip().startswith("python ")
        ]
        section = [f"## `examples/{script.name}`", summary.replace("\n", " ")]
        section.append(
            _fence(
                "bash",
                _wrap_command(
                    commands[0]
                    if commands
                    else f"python examples/{script.name}"
                ),
            )
        )
        picture = _GALLERY_PICTURES.get(script.stem, f"{script.stem}.png")
        if (ROOT / "docs" / "gallery" / picture).is_file():
            section.append(
                f"![what examples/{script.name} draws](gallery/{picture})"
            )
        parts.append("\n\n".join(section))
    return "\n\n".join(parts)


def _page(path: str | None) -> str:
    """A Markdown file of the repository as a whole page: its own headings, relative links as plain text."""
    if not path:
        raise ValueError("jaxnet:page needs a path")
    return _LINK.sub(r"\1", (ROOT / path).read_text(encoding="utf-8"))


def _extras() -> str:
    """The optional-dependency extras of ``pyproject.toml``, as a table."""
    import tomllib

    extras = tomllib.loads(
        (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    )["project"]["optional-dependencies"]
    rows = ["| extra | installs |", "|---|---|"]
    rows += [
        f"| `{name}` | {', '.join(f'`{r}`' for r in reqs)} |"
        for name, reqs in extras.items()
    ]
    return "\n".join(rows)


_GENERATORS = {
    "activations": _activations,
    "heads": _heads,
    "cli": _cli,
    "gallery": _gallery,
    "extras": _extras,
}
_WITH_ARGUMENT = {
    "include": _include,
    "page": _page,
    "api": _api,
    "notebook": _notebook,
}


def _expand(match: re.Match) -> str:
    kind, arg = match.group(1), match.group(2)
    if kind in _WITH_ARGUMENT:
        return _WITH_ARGUMENT[kind](arg)
    if kind not in _GENERATORS:
        known = sorted([*_GENERATORS, *_WITH_ARGUMENT])
        raise ValueError(
            f"unknown jaxnet marker {match.group(0)!r}; expected one of {known}"
        )
    return _GENERATORS[kind]()


def on_page_markdown(markdown: str, **kwargs) -> str:
    return _MARK.sub(_expand, markdown)
