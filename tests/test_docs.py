"""Every docstring example runs (jaxnet.cache's is left out: it changes global JAX config;
the walkthrough and CLI tests exercise it in subprocesses) and prints what it says (doctest), under the suite's strict settings.

Every ```python block on every page of the site (docs/*.md) runs too, as tests/test_readme.py runs the README:
a page's blocks in order, in a fresh process, as a reader pastes them, and every line ending in
``# => VALUE`` evaluates to that value (floats to 1e-12). Code blocks fit the page's column."""

import doctest
import importlib
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest
from _pages import code_blocks, page_script

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "docs").glob("*.md"))
COLUMNS = 80  # the width of a code block on the site before it scrolls
# a page that still uses a deprecated top-level name (load_csv outside jaxnet.data, sgd, ...) fails
NO_DEPRECATED_NAMES = ("-W", "error:jaxnet.:DeprecationWarning")


def test_the_pages_have_python_blocks_with_claims():
    scripts = {page.name: page_script(page) for page in PAGES}
    with_code = [name for name, (script, _) in scripts.items() if "\nimport" in script or "\nfrom" in script]
    assert {"getting-started.md", "training.md", "sweeps.md", "devices.md"} <= set(with_code)
    assert sum(claims for _, claims in scripts.values()) >= 10


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_code_blocks_fit_the_column(page):
    wide = [
        f"{page.name} line {first + offset}: {len(line)} columns"
        for lang, first, code in code_blocks(page)
        if lang != "text"  # generated help texts and tables are wrapped by their generators
        for offset, line in enumerate(code)
        if len(line) > COLUMNS
    ]
    assert not wide, wide


@pytest.mark.slow
@pytest.mark.parametrize(
    "page", [p for p in PAGES if any(b[0] == "python" for b in code_blocks(p))], ids=lambda p: p.name
)
def test_every_python_block_runs_as_pasted_and_its_claims_hold(page, tmp_path):
    script, claims = page_script(page)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    out = subprocess.run(
        [sys.executable, *NO_DEPRECATED_NAMES, "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"claims checked: {claims}" in out.stdout


# every module of the package, found on disk, so a new module's examples run without being listed here
MODULES = ["jaxnet"] + sorted(
    f"jaxnet.{m.name}" for m in pkgutil.iter_modules([str(ROOT / "jaxnet")]) if m.name != "__main__"
)
# modules whose docstrings need not carry an example (private plumbing)
NO_EXAMPLES = {
    "jaxnet._validate",
    "jaxnet._version",
    "jaxnet._kernels",
    "jaxnet.walkthrough",
}  # walkthrough: tests/test_walkthrough.py


@pytest.mark.parametrize("name", MODULES)
@pytest.mark.slow
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} doctest failure(s) in {name}"
    if name not in NO_EXAMPLES:
        assert result.attempted > 0, f"no examples in {name}"


def test_the_training_guide_shows_every_argument_of_fit():
    import inspect

    import jaxnet

    blocks = ["\n".join(code) for lang, _, code in code_blocks(ROOT / "docs" / "training.md") if lang == "python"]
    call = next((b for b in blocks if "steps=100,  # required" in b), "")
    assert call, "the training guide's block of every fit argument is gone"
    names = [n for n in inspect.signature(jaxnet.fit).parameters if n not in ("params", "x", "y")]
    missing = [n for n in names if f"\n    {n}=" not in call]
    assert not missing, f"the training guide's fit(...) block lacks {missing}"
