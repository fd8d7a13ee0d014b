"""The README is right when pasted: every ```python block runs, in order, in a fresh process, and every
line ending in ``# => VALUE`` evaluates to that value (floats to 1e-12), as every page of the site does
(tests/_pages.py)."""

import subprocess
import sys
from pathlib import Path

import pytest
from _pages import CLAIM, code_blocks, page_script

README = Path(__file__).resolve().parents[1] / "README.md"
# a page that still uses a deprecated top-level name (load_csv outside jaxnet.data, sgd, ...) fails
NO_DEPRECATED_NAMES = ("-W", "error:jaxnet.:DeprecationWarning")


def test_the_readme_has_python_blocks_with_claims():
    found = [code for lang, _, code in code_blocks(README) if lang == "python"]
    assert len(found) >= 3
    assert sum(bool(CLAIM.match(line)) for code in found for line in code) > 10


@pytest.mark.slow
def test_every_python_block_runs_as_pasted_and_its_claims_hold(tmp_path):
    script, claims = page_script(README)
    out = subprocess.run(
        [sys.executable, *NO_DEPRECATED_NAMES, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"claims checked: {claims}" in out.stdout
    assert (tmp_path / "model.safetensors").exists()  # the tour's save ran where the user stands
