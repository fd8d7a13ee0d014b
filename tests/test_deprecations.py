"""The names issue 19 moved out of the flat ``jaxnet`` namespace still work for one release, each access
warning with the new spelling: the data helpers (now ``jaxnet.data``), ``plot_loss`` (``jaxnet.plotting``)
and the aliases of optax (``sgd``, ``DEFAULT_OPTIMIZER``: use ``optax.sgd``)."""

import subprocess
import sys
import warnings

import numpy as np
import optax
import pytest

import jaxnet
import jaxnet.data
import jaxnet.plotting

DATA_HELPERS = (
    "load_csv",
    "load_breast_cancer",
    "train_test_split",
    "standardize",
    "fit_standardize",
    "apply_standardize",
    "infer_head",
    "leaky_columns",
)
MOVED = {
    **{name: (jaxnet.data, f"jaxnet.data.{name}") for name in DATA_HELPERS},
    "plot_loss": (jaxnet.plotting, "jaxnet.plotting.plot_loss"),
}
OPTAX_ALIASES = {"sgd": "optax.sgd", "DEFAULT_OPTIMIZER": "optax.sgd(0.1)"}
DEPRECATED = (*MOVED, *OPTAX_ALIASES)


def _access(name):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = getattr(jaxnet, name)
    return value, [w for w in caught if issubclass(w.category, DeprecationWarning)]


@pytest.mark.parametrize("name", DEPRECATED)
def test_each_access_warns_once_naming_the_new_spelling(name):
    new = {**{k: v[1] for k, v in MOVED.items()}, **OPTAX_ALIASES}[name]
    for _ in range(2):  # every access warns, not only the first
        _, warned = _access(name)
        assert len(warned) == 1, [str(w.message) for w in warned]
        message = str(warned[0].message)
        assert f"jaxnet.{name}" in message and new in message, message
        assert warned[0].filename == __file__, "the warning points at the caller's line"


@pytest.mark.parametrize("name", list(MOVED))
def test_a_moved_name_is_the_same_object_as_its_new_spelling(name):
    module, _ = MOVED[name]
    value, _ = _access(name)
    assert value is getattr(module, name)
    assert name in module.__all__


def test_from_jaxnet_import_old_name_still_works_and_warns():
    with pytest.warns(DeprecationWarning, match=r"jaxnet\.data\.load_csv"):
        from jaxnet import load_csv
    assert load_csv is jaxnet.data.load_csv


def test_the_optax_aliases_still_give_optax_sgd():
    sgd, _ = _access("sgd")
    default, _ = _access("DEFAULT_OPTIMIZER")
    g = {"w": np.array([1.0, -2.0])}
    params = {"w": np.zeros(2)}
    expected, _ = optax.sgd(0.1).update(g, optax.sgd(0.1).init(params))
    for opt in (sgd(0.1), sgd(), default):
        updates, _ = opt.update(g, opt.init(params))
        np.testing.assert_allclose(updates["w"], expected["w"])
    assert default is _access("DEFAULT_OPTIMIZER")[0], "one object, so repeated fit calls share a compilation"


def test_deprecated_names_are_not_listed_and_star_import_does_not_warn():
    assert not set(DEPRECATED) & set(jaxnet.__all__)
    assert not set(DEPRECATED) & set(dir(jaxnet))
    assert {"data", "plotting"} <= set(jaxnet.__all__)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        namespace: dict = {}
        exec("from jaxnet import *", namespace)
    assert namespace["data"] is jaxnet.data and namespace["plotting"] is jaxnet.plotting
    assert not set(DEPRECATED) & set(namespace)


def test_an_unknown_name_is_still_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'load_cvs'"):
        jaxnet.load_cvs  # noqa: B018


def test_dataerror_stays_top_level_and_in_jaxnet_data():
    assert jaxnet.DataError is jaxnet.data.DataError
    assert "DataError" in jaxnet.__all__ and "DataError" in jaxnet.data.__all__


def test_import_jaxnet_does_not_load_matplotlib():
    code = "import sys, jaxnet; assert 'matplotlib' not in sys.modules, 'matplotlib loaded'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)
