"""jaxnet.MLPClassifier in scikit-learn's toolbox, on a penguins-like table with string species.

The data is made here (no download): :func:`make_penguins` draws a
deterministic DataFrame of three species (``"Adelie"``, ``"Chinstrap"``,
``"Gentoo"``) with bill length and depth, flipper length and body mass around
each species' typical values. Then, as a scikit-learn user would:

1. ``cross_val_score`` of a ``Pipeline(StandardScaler, MLPClassifier)``;
2. ``GridSearchCV`` over ``hidden_layer_sizes`` and ``alpha``;
3. the best settings refit on the training part, scored on the test part,
   saved with ``est.save``, read back with ``jaxnet.load_model`` and by the
   command line (``jaxnet predict``): the same labels three times;
4. scikit-learn's own ``MLPClassifier`` with the same settings beside it.

    python examples/penguins.py [--seed 0] [--rows 300] [--no-sklearn-mlp]

Needs scikit-learn (``pip install -e ".[sklearn]"``).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import os
import tempfile
import time
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import jaxnet
from jaxnet import cli

SPECIES = {  # bill length, bill depth, flipper length (mm), body mass (g): mean and spread
    "Adelie": ((38.8, 18.3, 190.0, 3700.0), (2.7, 1.2, 6.5, 460.0)),
    "Chinstrap": ((48.8, 18.4, 196.0, 3730.0), (3.3, 1.1, 7.1, 380.0)),
    "Gentoo": ((47.5, 15.0, 217.0, 5080.0), (3.1, 1.0, 6.5, 500.0)),
}
FEATURES = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]


def make_penguins(rows: int = 300, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """``(X, y)``: a DataFrame of the four measurements and a Series of species names, deterministic in ``seed``."""
    rng = np.random.default_rng(seed)
    names = np.array(sorted(SPECIES))
    species = names[rng.choice(len(names), size=rows, p=[0.44, 0.2, 0.36])]
    mean = np.array([SPECIES[s][0] for s in species])
    spread = np.array([SPECIES[s][1] for s in species])
    x = pd.DataFrame(np.round(mean + spread * rng.normal(size=mean.shape), 1), columns=FEATURES)
    return x, pd.Series(species, name="species")


def cli_labels(path: str, x: pd.DataFrame) -> list[str]:
    """The ``class`` column of ``jaxnet predict path --data CSV`` on ``x`` (written to a CSV, columns reversed)."""
    with tempfile.TemporaryDirectory() as folder:
        data = os.path.join(folder, "new.csv")
        x[FEATURES[::-1]].to_csv(data, index=False)  # the CLI reads the columns by name
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = cli.main(["predict", path, "--data", data, "--no-cache"])
    assert code == 0, f"jaxnet predict exited {code}"
    return [row[1] for row in list(csv.reader(io.StringIO(out.getvalue())))[1:]]


def main(argv: Sequence[str] | None = None) -> dict:
    """Run the tour; return the numbers it prints."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rows", type=int, default=300)
    parser.add_argument("--no-sklearn-mlp", action="store_true", help="skip scikit-learn's own MLPClassifier")
    args = parser.parse_args(argv)
    x, y = make_penguins(args.rows, args.seed)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.25, stratify=y, random_state=args.seed)
    print(f"data: {len(x)} penguins, {len(FEATURES)} measurements, species {sorted(set(y))}")
    m: dict = {}
    settings = {"learning_rate_init": 0.01, "max_iter": 200, "random_state": args.seed}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # ConvergenceWarning on small folds
        pipe = make_pipeline(StandardScaler(), jaxnet.MLPClassifier((16,), **settings))
        scores = cross_val_score(pipe, x_tr, y_tr, cv=3)
        m["cv_accuracy"] = float(scores.mean())
        print(f"cross_val_score (3 folds): {' '.join(f'{s:.3f}' for s in scores)}, mean {m['cv_accuracy']:.4f}")
        grid = {"mlpclassifier__hidden_layer_sizes": [(8,), (32,)], "mlpclassifier__alpha": [1e-4, 1e-1]}
        search = GridSearchCV(pipe, grid, cv=3).fit(x_tr, y_tr)
        best = {k.split("__")[1]: v for k, v in search.best_params_.items()}
        print(f"GridSearchCV: best {best}, cv accuracy {search.best_score_:.4f}")
        start = time.perf_counter()
        clf = jaxnet.MLPClassifier(**best, **settings).fit(x_tr, y_tr)  # standardises inside, recorded
        m["seconds"] = time.perf_counter() - start
    m["test_accuracy"] = float(clf.score(x_te, y_te))
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "penguins.safetensors")
        clf.save(path)
        same = jaxnet.load_model(path).predict(x_te).tolist() == clf.predict(x_te).tolist()
        m["same_labels"] = same and cli_labels(path, x_te) == clf.predict(x_te).tolist()
    print(
        f"jaxnet MLPClassifier{best['hidden_layer_sizes']}: test accuracy {m['test_accuracy']:.4f} "
        f"({m['seconds']:.2f}s); est.predict, load_model(...).predict and `jaxnet predict` agree: {m['same_labels']}"
    )
    m["sklearn_accuracy"] = None
    if not args.no_sklearn_mlp:
        from sklearn.neural_network import MLPClassifier

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            start = time.perf_counter()
            ref = make_pipeline(StandardScaler(), MLPClassifier(**best, **settings)).fit(x_tr, y_tr)
            m["sklearn_seconds"] = time.perf_counter() - start
        m["sklearn_accuracy"] = float(ref.score(x_te, y_te))
        print(
            f"scikit-learn MLPClassifier{best['hidden_layer_sizes']}: test accuracy {m['sklearn_accuracy']:.4f} "
            f"({m['sklearn_seconds']:.2f}s)"
        )
    return m


if __name__ == "__main__":
    main()
