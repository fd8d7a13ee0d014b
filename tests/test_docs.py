"""Every docstring example runs (jaxnet.cache's is left out: it changes global JAX config;
the walkthrough and CLI tests exercise it in subprocesses) and prints what it says (doctest), under the suite's strict settings."""

import doctest
import importlib

import pytest

MODULES = [
    "jaxnet",
    "jaxnet._validate",
    "jaxnet._hyper",
    "jaxnet.model",
    "jaxnet.losses",
    "jaxnet.gradients",
    "jaxnet.steps",
    "jaxnet.network",
    "jaxnet.fitting",
    "jaxnet.sweeps",
    "jaxnet.parallel",
    "jaxnet.checkpoints",
    "jaxnet.data",
    "jaxnet.metrics",
    "jaxnet.plotting",
]


@pytest.mark.parametrize("name", MODULES)
@pytest.mark.slow
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} doctest failure(s) in {name}"
    if name not in ("jaxnet._validate",):
        assert result.attempted > 0, f"no examples in {name}"
