"""The reference site builds in strict mode, works offline, and its generated pages show what the code has.

Needs the ``docs`` extra (``pip install -e ".[docs]"``: mkdocs, mkdocs-material,
mkdocstrings[python], ruff); the build tests are marked slow (a build takes several seconds).
"""

import html
import importlib.util
import inspect
import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REMOTE = re.compile(r"^\s*(?:https?:)?//", re.IGNORECASE)
CSS_REMOTE = re.compile(r"(?:@import\s+|url\()\s*['\"]?\s*(?:https?:)?//", re.IGNORECASE)


def _hooks():
    spec = importlib.util.spec_from_file_location("jaxnet_docs_hooks", ROOT / "docs" / "hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Remote(HTMLParser):
    """Collects every script, stylesheet, font or other loaded resource a page fetches from another host."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        if tag == "script" and REMOTE.match(a.get("src", "")):
            self.found.append(f"<script src={a['src']}>")
        if tag == "link" and REMOTE.match(a.get("href", "")):
            rel = a.get("rel", "").lower()
            if any(r in rel for r in ("stylesheet", "preload", "preconnect", "prefetch", "icon", "modulepreload")):
                self.found.append(f"<link rel={rel} href={a['href']}>")
        if tag in ("img", "iframe", "embed", "source", "audio", "video") and REMOTE.match(a.get("src", "")):
            self.found.append(f"<{tag} src={a['src']}>")
        if CSS_REMOTE.search(a.get("style", "")):
            self.found.append(f"<{tag} style={a['style']}>")
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        self._in_style = False

    def handle_data(self, data):
        if self._in_style and CSS_REMOTE.search(data):
            self.found.append(f"<style> {CSS_REMOTE.search(data).group(0)}")


def remote_resources(page_html: str) -> list[str]:
    parser = _Remote()
    parser.feed(page_html)
    return parser.found


def test_the_offline_check_catches_remote_scripts_stylesheets_and_fonts():
    bad = [
        '<script src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js"></script>',
        '<link rel="stylesheet" href="https://fonts.googleapis.com/css?family=Roboto">',
        '<link rel="preconnect" href="https://fonts.gstatic.com" crossorigin>',
        "<style>@font-face{src:url(https://fonts.gstatic.com/x.woff2)}</style>",
        '<script src="//cdn.example.org/x.js"></script>',
    ]
    for page in bad:
        assert remote_resources(page), page
    fine = '<script src="../vendor/katex/katex.min.js"></script><a href="https://example.org/">a link</a>'
    assert remote_resources(fine) == []


def test_every_public_name_is_on_exactly_one_api_topic_page():
    import jaxnet

    topics = _hooks().API_TOPICS
    placed = [name for entry in topics.values() for name in entry["names"]]
    twice = sorted({name for name in placed if placed.count(name) > 1})
    assert not twice, f"on more than one API page: {twice}"
    assert not set(placed) - set(jaxnet.__all__), f"not exported: {sorted(set(placed) - set(jaxnet.__all__))}"
    missing = [name for name in jaxnet.__all__ if name not in placed]
    assert not missing, f"add these to API_TOPICS in docs/hooks.py: {missing}"
    for topic in topics:
        page = ROOT / "docs" / "api" / f"{topic}.md"
        assert f"<!-- jaxnet:api {topic} -->" in page.read_text(encoding="utf-8"), page


def test_the_data_and_plotting_namespaces_are_documented_name_by_name():
    import jaxnet

    hooks = _hooks()
    assert {"data", "plotting"} <= set(hooks.NAMESPACES) <= set(jaxnet.__all__)
    assert "jaxnet.data.load_csv" in hooks.namespace_members("data")
    assert "jaxnet.plotting.plot_loss" in hooks.namespace_members("plotting")
    assert "jaxnet.data.DataError" not in hooks.namespace_members("data"), "documented once, at the top level"
    page = hooks._api("data")
    assert "::: jaxnet.data\n" in page and "::: jaxnet.data.train_test_split\n" in page


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


PAGES = (
    "getting-started",
    "worked-example",
    "training",
    "sweeps",
    "devices",
    "cli",
    "gallery",
    "notebook",
    "benchmarks",
    "contributing",
    "changelog",
    "api",
)


@pytest.mark.slow
def test_every_page_is_built_and_in_the_navigation(site):
    home = (site / "index.html").read_text(encoding="utf-8")
    for page in PAGES:
        assert (site / page / "index.html").is_file(), page
        assert f'href="{page}/"' in home, f"{page} is not in the navigation"


@pytest.mark.slow
def test_no_page_loads_a_script_stylesheet_or_font_from_the_network(site):
    pages = sorted(site.rglob("*.html"))
    assert len(pages) > len(PAGES)
    found = {str(p.relative_to(site)): remote_resources(p.read_text(encoding="utf-8")) for p in pages}
    for css in site.rglob("*.css"):
        hits = CSS_REMOTE.findall(css.read_text(encoding="utf-8"))
        found[str(css.relative_to(site))] = hits
    found = {page: hits for page, hits in found.items() if hits}
    assert not found, f"remote resources: {found}"
    for asset in ("vendor/katex/katex.min.js", "vendor/katex/auto-render.min.js", "vendor/katex/katex.min.css"):
        assert (site / asset).is_file(), asset
    assert list((site / "vendor" / "katex" / "fonts").glob("*.woff2")), "KaTeX's fonts are not served"


@pytest.mark.slow
def test_api_topic_pages_document_every_public_name_once(site):
    import jaxnet

    ids: dict[str, list[str]] = {}
    for topic in _hooks().API_TOPICS:
        page = (site / "api" / topic / "index.html").read_text(encoding="utf-8")
        for name in jaxnet.__all__:
            if f'id="jaxnet.{name}"' in page:
                ids.setdefault(name, []).append(topic)
        assert ":func:" not in _text(site / "api" / topic / "index.html"), f"a reST role leaked into {topic}"
    wrong = {name: ids.get(name, []) for name in jaxnet.__all__ if len(ids.get(name, [])) != 1}
    assert not wrong, f"each public name belongs on exactly one API page: {wrong}"
    members = [path for name in _hooks().NAMESPACES for path in _hooks().namespace_members(name)]
    pages = {topic: (site / "api" / topic / "index.html").read_text(encoding="utf-8") for topic in _hooks().API_TOPICS}
    wrong = {path: [t for t, page in pages.items() if f'id="{path}"' in page] for path in members}
    wrong = {path: topics for path, topics in wrong.items() if len(topics) != 1}
    assert not wrong, f"each name of jaxnet.data / jaxnet.plotting belongs on exactly one API page: {wrong}"


@pytest.mark.slow
def test_api_shows_public_bases_and_no_table_reprs(site):
    errors = _text(site / "api" / "errors" / "index.html")
    assert "_CarriesState" not in errors
    assert re.search(r"Bases:\s+KeyboardInterrupt", errors), "TrainingInterrupted's public base is not shown"
    model = _text(site / "api" / "model" / "index.html")
    assert "MappingProxyType(" not in re.sub(r"\s+", "", model), "ACTIVATIONS/HEADS print their whole repr"


@pytest.mark.slow
def test_api_pages_show_the_methods_users_call(site):
    """The estimators' fit/predict/save (``save`` is defined on their private base) and the model's
    from_checkpoint are on the pages, each with its docstring."""
    import jaxnet

    members = _hooks().API_MEMBERS
    assert {"save", "fit", "predict"} <= set(members["MLPClassifier"]) & set(members["MLPRegressor"])
    for cls, names in members.items():
        topic = next(t for t, entry in _hooks().API_TOPICS.items() if cls in entry["names"])
        page = (site / "api" / topic / "index.html").read_text(encoding="utf-8")
        words = " ".join(re.sub(r"\W+", " ", _text(site / "api" / topic / "index.html")).split())
        for name in names:
            assert f'id="jaxnet.{cls}.{name}"' in page, f"{cls}.{name} is not on api/{topic}"
            doc = (getattr(getattr(jaxnet, cls), name).__doc__ or "").strip()
            first_words = re.sub(r"\W+", " ", doc).split()[:3]
            assert first_words and " ".join(first_words) in words, f"{cls}.{name}: its docstring is not shown"
        code = html.unescape(re.sub(r"<[^>]+>", "", " ".join(re.findall(r"<pre[^>]*>(.*?)</pre>", page, re.DOTALL))))
        for arg in inspect.signature(getattr(jaxnet, cls)).parameters:  # the constructor's signature
            assert re.search(rf"\b{arg}:", code), f"{cls}({arg}=...) is not on api/{topic}"


@pytest.mark.slow
def test_the_notebook_and_gallery_pages_show_their_pictures(site):
    notebook = (site / "notebook" / "index.html").read_text(encoding="utf-8")
    assert notebook.count('src="data:image/png;base64,') >= 3, "the notebook's plots are not on its page"
    assert "0.6573131577049656" in notebook  # a stored output
    gallery = (site / "gallery" / "index.html").read_text(encoding="utf-8")
    pictures = re.findall(r'<img[^>]+src="([^"]+\.png)"', gallery)
    assert len(pictures) >= 4, pictures
    for src in pictures:
        assert (site / "gallery" / src).resolve().is_file(), src


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


# The notebook page shows the stored outputs as they are (plain text blocks: no highlighting spans); its code
# cells and every other code block on the site, the API pages' doctest examples included, fit the column
# (wrap a long example with ``...`` continuation lines).
WIDE_OUTPUTS_ALLOWED = ("notebook",)


@pytest.mark.slow
def test_code_on_the_site_fits_80_columns(site):
    wide = []
    for page in sorted(site.rglob("index.html")):
        name = str(page.parent.relative_to(site))
        for block in re.findall(r"<pre[^>]*>(.*?)</pre>", page.read_text(encoding="utf-8"), re.DOTALL):
            if name.split("/")[0] in WIDE_OUTPUTS_ALLOWED and '<span class="' not in block:
                continue
            text = html.unescape(re.sub(r"<[^>]+>", "", block))
            wide += [f"{name}: {line[:60]}... ({len(line)})" for line in text.splitlines() if len(line) > 80]
    assert not wide, wide


KATEX_CHECK = """
const katex = require(process.argv[1]);
const items = JSON.parse(require("fs").readFileSync(0, "utf8"));
const bad = [];
for (const [page, src] of items) {
  const display = src.startsWith("\\\\[");
  try { katex.renderToString(src.slice(2, -2), {displayMode: display, throwOnError: true}); }
  catch (e) { bad.push(page + ": " + src.slice(0, 60) + ": " + e.message.slice(0, 100)); }
}
console.log(JSON.stringify({count: items.length, bad: bad}));
"""


@pytest.mark.slow
def test_every_formula_on_the_site_parses_in_the_vendored_katex(site):
    """A formula KaTeX cannot parse would show as red TeX in the browser (the page renders with
    ``throwOnError: false``); this finds it at build time. Needs node (skipped without)."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    items = []
    for page in site.rglob("index.html"):
        for src in re.findall(r'class="arithmatex">(.*?)</(?:span|div)>', page.read_text(encoding="utf-8"), re.DOTALL):
            items.append([str(page.parent.relative_to(site)), html.unescape(src).strip()])
    assert len(items) >= 40, "the formulas are no longer wrapped for KaTeX"
    katex = str(site / "vendor" / "katex" / "katex.min.js")
    run = subprocess.run(
        [node, "-e", KATEX_CHECK, katex], input=json.dumps(items), capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["count"] == len(items)
    assert not result["bad"], result["bad"]
