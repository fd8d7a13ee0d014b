"""examples/seed_walkthrough.ipynb: stored with the outputs of a real run, and still runs.

The stored-output check needs nothing but ``json``; re-executing needs the
``notebook`` extra (``pip install -e ".[notebook]"``: nbclient, nbformat,
ipykernel, matplotlib) and is marked slow.
"""

import json
import os
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "seed_walkthrough.ipynb"
ROOT = NOTEBOOK.parents[1]
# The worked example's loss before and after the SGD step, as the original notebook printed them.
GOLDEN = ["0.6573131577049656", "0.6169411948853357"]


def _outputs(nb: dict) -> tuple[str, int, list[dict]]:
    """All text the code cells printed or displayed, the number of images, and the error outputs."""
    texts, images, errors = [], 0, []
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        for out in cell.get("outputs", []):
            kind = out["output_type"]
            if kind == "stream":
                texts.append("".join(out["text"]))
            elif kind == "error":
                errors.append(out)
            else:
                data = out.get("data", {})
                for mime in ("text/plain", "text/markdown"):
                    if mime in data:
                        texts.append("".join(data[mime]))
                images += "image/png" in data
    return "\n".join(texts), images, errors


def _first_code(nb: dict) -> str:
    return next("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")


def test_stored_notebook_has_the_outputs_of_a_real_run():
    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    text, images, errors = _outputs(nb)
    assert not errors, f"stored notebook has error outputs: {[e.get('ename') for e in errors]}"
    for value in GOLDEN:
        assert value in text, f"stored outputs lack the golden value {value}"
    assert "MISMATCH" not in text
    assert images >= 3, f"expected the network picture, the loss curve and the sweep plot; found {images} images"
    assert 'jax.config.update("jax_enable_x64", True)' in _first_code(nb)


@pytest.mark.slow
def test_notebook_runs_and_reproduces_the_golden_values(monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    pytest.importorskip("matplotlib")
    # the kernel is a subprocess: make it import this checkout's jaxnet
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    for cell in nb.cells:  # make sure what we check below is fresh, not the stored outputs
        if cell.cell_type == "code":
            cell.outputs = []
    # raises CellExecutionError (with the cell and traceback) on any error
    nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    ).execute()
    text, images, errors = _outputs(json.loads(nbformat.writes(nb)))
    assert not errors
    for value in GOLDEN:
        assert value in text, f"fresh outputs lack the golden value {value}"
    assert "OK: all 18 printed values match the notebook" in text
    assert "MISMATCH" not in text
    assert images >= 3
