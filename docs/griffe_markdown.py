"""A Griffe extension that makes jaxnet's docstrings render as Markdown on the reference site.

jaxnet's docstrings are Markdown-like text (``**Arguments:**`` lists, double
backticks) with two reST habits: doctest examples (``>>>``) and roles such as
``:func:`loss```. This extension fences each doctest block as ``pycon`` code
and turns a role into inline code. The docstrings themselves are unchanged.

Two things the reference leaves out: a class's private bases (``_CarriesState``
under ``TrainingInterrupted``; its public bases are what users catch; the
public members such a base gives the class are shown as the class's own, e.g.
the estimators' ``save``), and the
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

    def on_class_members(self, *, cls: griffe.Class, **kwargs: Any) -> None:
        public = []
        for base in cls.bases:
            if not str(base).rsplit(".", 1)[-1].startswith("_"):
                public.append(base)
                continue
            _inherit_public_members(cls, base)
        cls.bases = public

    def on_attribute_instance(
        self, *, attr: griffe.Attribute, **kwargs: Any
    ) -> None:
        value = attr.value
        if value is not None and (
            "\n" in str(value) or len(str(value)) > _LONGEST_VALUE
        ):
            attr.value = None


def _inherit_public_members(cls: griffe.Class, base: Any) -> None:
    """Give ``cls`` the public members of a private ``base`` (as aliases), which the page then shows
    as the class's own: the estimators' ``save`` is defined on their private base."""
    try:  # a base of the same module (the module is not in the collection while it loads)
        path = cls.resolve(str(base))
        module = cls.module
        found = (
            module[path.removeprefix(module.path + ".")]
            if path.startswith(module.path + ".")
            else cls.modules_collection.get_member(path)
        )
    except (KeyError, griffe.NameResolutionError, ValueError):
        return
    if not isinstance(found, griffe.Class):
        return
    for name, member in found.all_members.items():
        if not name.startswith("_") and name not in cls.members:
            cls.set_member(name, griffe.Alias(name, member, parent=cls))
