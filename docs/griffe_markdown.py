"""A Griffe extension that makes jaxnet's docstrings render as Markdown on the reference site.

jaxnet's docstrings are Markdown-like text (``**Arguments:**`` lists, double
backticks) with two reST habits: doctest examples (``>>>``) and roles such as
``:func:`loss```. This extension fences each doctest block as ``pycon`` code
and turns a role into inline code. The docstrings themselves are unchanged.

Two things the reference leaves out: a class's private bases (``_CarriesState``
under ``TrainingInterrupted``; its public bases are what users catch), and the
value of a constant whose source is longer than a line (``ACTIVATIONS`` and
``HEADS`` are tables; their docstrings and the worked-example page show them).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:func|class|data|mod|meth|attr|exc|obj):`~?([^`]+)`")
_LITERAL = re.compile(r"(\S)::$", re.MULTILINE)


def markdown_docstring(text: str) -> str:
    """Fence doctest blocks, turn reST roles into code, and ``para::`` into ``para:``."""
    out: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        stripped = lines[i].lstrip()
        if stripped.startswith(">>>"):
            indent = lines[i][: len(lines[i]) - len(stripped)]
            block = []
            while i < len(lines) and lines[i].strip():
                block.append(
                    lines[i][len(indent) :]
                    if lines[i].startswith(indent)
                    else lines[i].lstrip()
                )
                i += 1
            if out and out[-1].strip():
                out.append("")
            out += [
                f"{indent}```pycon",
                *(indent + b for b in block),
                f"{indent}```",
            ]
            continue
        out.append(_ROLE.sub(r"`\1`", lines[i]))
        i += 1
    return _LITERAL.sub(r"\1:", "\n".join(out))


_LONGEST_VALUE = 60


class MarkdownDocstrings(griffe.Extension):
    """Rewrite every docstring with :func:`markdown_docstring` as Griffe loads it; drop private bases and
    constants' values longer than a line."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown_docstring(obj.docstring.value)

    def on_class_instance(self, *, cls: griffe.Class, **kwargs: Any) -> None:
        cls.bases = [
            base
            for base in cls.bases
            if not str(base).rsplit(".", 1)[-1].startswith("_")
        ]

    def on_attribute_instance(
        self, *, attr: griffe.Attribute, **kwargs: Any
    ) -> None:
        value = attr.value
        if value is not None and (
            "\n" in str(value) or len(str(value)) > _LONGEST_VALUE
        ):
            attr.value = None
