"""Markdown pages whose Python blocks run as pasted: the README (tests/test_readme.py) and every site page
(tests/test_docs.py) share this. A line ``expr  # => value`` becomes a check that ``expr`` equals ``value``
(floats to 1e-12)."""

import re
import textwrap
from pathlib import Path

FENCE = re.compile(r"^(?P<indent> *)(?P<ticks>```+)(?P<lang>[\w-]*)")
CLAIM = re.compile(r"^(?P<indent>\s*)(?P<expr>\S.*?)\s+# => (?P<value>.+)$")

CHECK = textwrap.dedent(
    """
    import math as _math

    def _claim(got, expected, where):
        if isinstance(expected, float) and not isinstance(got, bool):
            ok = _math.isclose(float(got), expected, rel_tol=0, abs_tol=1e-12)
        else:
            ok = got == expected
        if not ok:
            raise AssertionError(f"{where}: got {got!r}, the page claims {expected!r}")
        _claims.append(where)

    _claims = []
    """
)


def code_blocks(page: Path) -> list[tuple[str, int, list[str]]]:
    """``(language, first line number, lines)`` of every fenced block of a Markdown page."""
    out, open_block = [], None
    for i, line in enumerate(page.read_text(encoding="utf-8").splitlines(), start=1):
        m = FENCE.match(line)
        if open_block is None and m:
            open_block = (m["lang"], i + 1, [], m["ticks"], len(m["indent"]))
        elif open_block is not None and line.strip() == open_block[3]:
            out.append(open_block[:3])
            open_block = None
        elif open_block is not None:
            open_block[2].append(line[open_block[4] :])
    return out


def page_script(page: Path) -> tuple[str, int]:
    """The page's Python blocks as one script with each ``expr  # => value`` turned into a check; the claim count."""
    lines, claims = [CHECK], 0
    for lang, first, code in code_blocks(page):
        if lang != "python":
            continue
        for offset, line in enumerate(code):
            m = CLAIM.match(line)
            if m:
                claims += 1
                where = f"{page.name} line {first + offset}"
                line = f"{m['indent']}_claim(({m['expr']}), {m['value']}, {where!r})"
            lines.append(line)
    lines.append("print('claims checked:', len(_claims))")
    return "\n".join(lines), claims
