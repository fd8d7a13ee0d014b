"""``jaxnet.data``: the data helpers, numpy only, as optax groups ``optax.losses``.

The namespace of everything that turns a table into arrays for
:func:`jaxnet.fit` (import it as ``import jaxnet.data`` or ``from jaxnet
import data``):

* **CSV files**: :func:`read_table` (header, feature and label columns in
  one pass, a :class:`Table`), :func:`load_csv` (``x, y, names``),
  :func:`read_csv` (every column), :func:`load_features` (named columns),
  :func:`csv_header` and :func:`csv_columns` (the header alone), and
  :class:`DataError`, the error for a file that cannot be used;
* **the shipped data**: :func:`load_breast_cancer`;
* **labels**: :func:`infer_head` (the output head a label array asks for) and
  :func:`leaky_columns` (0/1 features that give the label away);
* **splits**: :func:`train_test_split` (deterministic, stratified by class);
* **standardisation**: :func:`fit_standardize`, :func:`apply_standardize`
  and :func:`standardize` (fit on the training set, apply to any).

Everything here is plain numpy; cast to your model's dtype when you train
(or read the features straight into float32 with ``dtype=np.float32``). A CSV
file has one header line of column names, then one row of numbers per sample.
A cell is plain decimal or scientific notation (``12``, ``-0.5``, ``3e-4``,
spaces around it allowed); ``1_000``, ``inf``, ``nan``, hex and non-ASCII
digits are refused with the file, line and column named. A file is read
once, in blocks, so a pipe works (``<(cat f.csv)``; :func:`read_table` gives
the header and the columns from that one pass); a FIFO with no writer or a
device such as ``/dev/zero`` is refused at once. Memory is the arrays
returned plus a few MiB, never the text; a progress bar shows over ~50 MB.

The code lives in private modules by concern: ``jaxnet._source`` (the bytes
of a file or pipe), ``jaxnet._data_csv`` (cells and rows),
``jaxnet._data_tables`` (columns and the loaders), ``jaxnet._data_labels``,
``jaxnet._data_split`` and ``jaxnet._data_scale``.

>>> import jaxnet.data
>>> x, y, names = jaxnet.data.load_breast_cancer()
>>> x.shape, y.shape, names[0], jaxnet.data.infer_head(y)
((569, 30), (569,), 'mean radius', 'sigmoid')
>>> split = jaxnet.data.train_test_split(x, y, test_fraction=0.2, seed=0)
>>> x_tr, x_te, y_tr, y_te = split
>>> x_tr, x_te = jaxnet.data.standardize(x_tr, x_te)
>>> x_tr.shape, x_te.shape
((456, 30), (113, 30))
"""

from __future__ import annotations

from jaxnet._data_csv import ColumnNames as ColumnNames
from jaxnet._data_csv import Progress as Progress
from jaxnet._data_csv import csv_header
from jaxnet._data_labels import infer_head, leaky_columns
from jaxnet._data_scale import apply_standardize, fit_standardize, standardize
from jaxnet._data_split import train_test_split
from jaxnet._data_tables import (
    Table,
    csv_columns,
    load_breast_cancer,
    load_csv,
    load_features,
    read_csv,
    read_table,
)
from jaxnet._source import DataError

__all__ = [
    "DataError",
    "Table",
    "read_table",
    "load_csv",
    "read_csv",
    "load_features",
    "csv_header",
    "csv_columns",
    "load_breast_cancer",
    "infer_head",
    "leaky_columns",
    "train_test_split",
    "fit_standardize",
    "apply_standardize",
    "standardize",
]
