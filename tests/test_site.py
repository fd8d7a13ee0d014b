"""The reference site builds in strict mode, and its generated pages show what the code has.

Needs the ``docs`` extra (``pip install -e ".[docs]"``: mkdocs, mkdocs-material,
mkdocstrings[python]); marked slow (a build takes several seconds).
"""

import html
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _text(page: Path) -> str:
    """The visible text of a built page, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", " ", page.read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    pytest.importorskip("mkdocs")
    pytest.importorskip("material")
    pytest.importorskip("mkdocstrings_handlers.python")
    out = tmp_path_factory.mktemp("site")
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        NO_MKDOCS_2_WARNING="1",
    )
    run = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        check=False,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, f"mkdocs build --strict failed:\n{run.stdout}\n{run.stderr}"
    return out


@pytest.mark.slow
def test_every_page_is_built(site):
    for page in ("getting-started", "worked-example", "training", "sweeps", "devices", "cli", "benchmarks", "api"):
        assert (site / page / "index.html").is_file(), page
    assert (site / "index.html").is_file()


@pytest.mark.slow
def test_api_page_documents_every_public_name(site):
    import jaxnet

    page = (site / "api" / "index.html").read_text(encoding="utf-8")
    missing = [name for name in jaxnet.__all__ if f'id="jaxnet.{name}"' not in page]
    assert not missing, f"API page lacks {missing}"
    assert ":func:" not in _text(site / "api" / "index.html"), "a reST role leaked into the rendered docstrings"


@pytest.mark.slow
def test_table_page_lists_every_activation_and_head(site):
    from jaxnet.network import ACTIVATIONS, HEADS

    text = _text(site / "worked-example" / "index.html")
    for name, entry in [*ACTIVATIONS.items(), *HEADS.items()]:
        assert f'"{name}"' in text, name
        assert entry.math in text, f"{name}: its math {entry.math!r} is not on the page"


@pytest.mark.slow
def test_cli_page_is_the_parsers_help(site):
    from jaxnet.cli import _build_parser

    text = _text(site / "cli" / "index.html")
    parser = _build_parser()
    commands = next(a.choices for a in parser._actions if a.choices and hasattr(a, "add_parser"))
    for name, sub in commands.items():
        assert f"usage: jaxnet {name}" in text, name
        for action in sub._actions:
            for flag in action.option_strings:
                assert flag in text, f"jaxnet {name} {flag}"
