"""The README is right when pasted: every ```python block runs, in order, in a fresh process, and every
line ending in ``# => VALUE`` evaluates to that value (floats to 1e-12)."""

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
CLAIM = re.compile(r"^(?P<indent>\s*)(?P<expr>\S.*?)\s+# => (?P<value>.+)$")

CHECK = textwrap.dedent(
    """
    import math as _math

    def _claim(got, expected, line):
        if isinstance(expected, float) and not isinstance(got, bool):
            ok = _math.isclose(float(got), expected, rel_tol=0, abs_tol=1e-12)
        else:
            ok = got == expected
        if not ok:
            raise AssertionError(f"README line {line}: got {got!r}, the comment claims {expected!r}")
        _claims.append(line)

    _claims = []
    """
)


def blocks() -> list[tuple[int, str]]:
    """``(first line number, code)`` of every ```python block."""
    lines, out, start = README.read_text(encoding="utf-8").splitlines(), [], None
    for i, line in enumerate(lines, start=1):
        if line.strip() == "```python":
            start, code = i + 1, []
        elif line.strip() == "```" and start is not None:
            out.append((start, "\n".join(code)))
            start = None
        elif start is not None:
            code.append(line)
    return out


def checked(first: int, code: str) -> str:
    """The block with each ``expr  # => value`` line turned into a check of that claim."""
    out = []
    for offset, line in enumerate(code.splitlines()):
        m = CLAIM.match(line)
        out.append(f"{m['indent']}_claim(({m['expr']}), {m['value']}, {first + offset})" if m else line)
    return "\n".join(out)


def test_the_readme_has_python_blocks_with_claims():
    found = blocks()
    assert len(found) >= 3
    assert sum(bool(CLAIM.match(line)) for _, code in found for line in code.splitlines()) > 10


@pytest.mark.slow
def test_every_python_block_runs_as_pasted_and_its_claims_hold(tmp_path):
    script = CHECK + "\n".join(checked(first, code) for first, code in blocks())
    script += "\nprint('claims checked:', len(_claims))\n"
    out = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    claims = sum(bool(CLAIM.match(line)) for _, code in blocks() for line in code.splitlines())
    assert f"claims checked: {claims}" in out.stdout
    assert (tmp_path / "model.safetensors").exists()  # the tour's save ran where the user stands
