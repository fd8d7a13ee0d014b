"""The network is data: no code outside ``jaxnet/network.py`` branches on a head or activation name.

Every distinction between heads or activations (the decision rule, classifier
or regressor, the label kind, the minimum number of outputs, the kinks) is a
field of the table, so adding a head or an activation is one entry there. An
AST scan of the package enforces it: a comparison (``==``, ``!=``, ``in``,
``not in``, ``match``) of anything against a string that is a key of
``ACTIVATIONS`` or ``HEADS``, or against a dict/set/tuple/list literal holding
one, and a dict literal keyed by such names and indexed on the spot, are
refused. The scanner itself is tested on planted sources.
"""

import ast
import pathlib

import jax.numpy as jnp
import pytest

import jaxnet
from jaxnet.network import ACTIVATIONS, HEADS

PACKAGE = pathlib.Path(jaxnet.__file__).parent
NAMES = frozenset(ACTIVATIONS) | frozenset(HEADS)
# every module is on the table (cli.py joined it with the estimators)
_NOT_YET: set[str] = set()


def _names_in(node: ast.AST) -> list[str]:
    """The table names ``node`` spells: a string constant, or the elements/keys of a literal container."""
    if isinstance(node, ast.Constant):
        return [node.value] if isinstance(node.value, str) and node.value in NAMES else []
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return [n for e in node.elts for n in _names_in(e)]
    if isinstance(node, ast.Dict):
        return [n for k in node.keys if k is not None for n in _names_in(k)]
    return []


def _patterns(node: ast.AST) -> list[str]:
    """The table names a ``case`` pattern matches against."""
    return [n for p in ast.walk(node) if isinstance(p, ast.MatchValue) for n in _names_in(p.value)]


def violations(source: str, filename: str = "<source>") -> list[str]:
    """``"file:line: names"`` for each comparison against a table name in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        names: list[str] = []
        if isinstance(node, ast.Compare):
            names = [n for side in [node.left, *node.comparators] for n in _names_in(side)]
        elif isinstance(node, ast.match_case):
            names = _patterns(node.pattern)
        elif isinstance(node, ast.Subscript) and isinstance(node.value, ast.Dict):
            names = _names_in(node.value)
        if names:
            line = node.pattern.lineno if isinstance(node, ast.match_case) else node.lineno
            found.append(f"{filename}:{line}: {names}")
    return found


def test_no_module_outside_the_table_compares_a_head_or_activation_name():
    files = sorted(p for p in PACKAGE.rglob("*.py") if p.name != "network.py" and p.name not in _NOT_YET)
    assert len(files) > 10  # the scan sees the package
    found = [v for p in files for v in violations(p.read_text(encoding="utf-8"), str(p.relative_to(PACKAGE)))]
    assert found == [], "compare a field of jaxnet.network's table instead:\n" + "\n".join(found)


@pytest.mark.parametrize(
    "planted",
    [
        'if head == "softmax":\n    pass',
        'ok = "identity" != head',
        'ok = activation in ("relu", "leaky_relu")',
        'ok = activation not in {"gelu"}',
        'ok = h in ["tanh", "x"]',
        'what = {"softmax": "rows", "sigmoid": "labels"}[head]',
        'match head:\n    case "sigmoid":\n        pass',
        'match head:\n    case "x" | "softmax":\n        pass',
    ],
)
def test_the_scan_catches_a_planted_comparison(planted):
    assert len(violations(planted)) == 1, planted


@pytest.mark.parametrize(
    "harmless",
    [
        'head = "softmax"',  # naming a head is fine, branching on it is not
        'f(x, head="softmax", activation="tanh")',
        'ok = head == "probabilities"',  # a field's value, not a table key
        'ok = HEADS[head].labels == "classes"',
        'match kind:\n    case "values":\n        pass',
    ],
)
def test_the_scan_leaves_names_that_are_not_compared(harmless):
    assert violations(harmless) == []


@pytest.mark.slow
def test_every_distinction_is_a_field_of_the_table():
    assert {k: (h.classifier, h.min_outputs) for k, h in HEADS.items()} == {
        "sigmoid": (True, 1),
        "softmax": (True, 2),
        "identity": (False, 1),
    }
    assert {k for k, a in ACTIVATIONS.items() if a.kinks} == {"relu", "leaky_relu"}
    assert all(a.kinks == (0.0,) for a in ACTIVATIONS.values() if a.kinks)
    for name, a in ACTIVATIONS.items():
        for k in a.kinks:  # the derivative jumps there: left and right limits differ
            left, right = a.grad(jnp.asarray(k - 1e-6)), a.grad(jnp.asarray(k + 1e-6))
            assert abs(float(left) - float(right)) > 0.5, name


@pytest.mark.slow
def test_decide_is_predicts_rule_with_its_shapes():
    y_hat = jnp.asarray([[0.2, 0.7, 0.1], [0.6, 0.3, 0.1]])
    assert HEADS["softmax"].decide(y_hat).tolist() == [1, 0]
    assert HEADS["sigmoid"].decide(y_hat).tolist() == [[0, 1, 0], [1, 0, 0]]
    assert HEADS["sigmoid"].decide(y_hat[:, :1]).tolist() == [0, 1]  # one unit: (N,)
    assert HEADS["identity"].decide(y_hat[:, 1:2]).tolist() == [0.7, 0.3]
    assert HEADS["identity"].decide(y_hat).shape == (2, 3)
    for h in ("sigmoid", "softmax"):
        assert HEADS[h].decide(y_hat).dtype == jnp.int32
