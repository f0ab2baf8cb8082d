"""The whole model as its HiGHS child solves it: each demand row written over replica totals.

A workload's demand row covers its demand with the replicas of every candidate at every site,
several hundred integer columns on a binding L fleet, where a candidate's columns at different
sites carry the same tokens/s. Here each such set of columns gets an integer total (the
candidate's replicas summed over its sites, tied to them by a row of its own) and the demand row
reads the totals instead: 45 columns where it read 700. The plans are the same, column for
column, and so is the LP relaxation; but HiGHS's cut separation on the short rows is cheaper and
finds the integer rounding of demand sooner, which is where its root bound comes from.

Measured on the binding L fleets of benchmarks/binding_budgets.py (2026-12-07, 2-core dev
machine, HiGHS 1.16 on one thread, presolve off for both): on tightness 0.5 seed 1 the root
bound reached 964,951 W at 1.45 s, where the model as written reached 964,701 W at 3.0 s; at 0.9
seed 2 it reached 1,792,996 W at 2.0 s against 1,792,979 W at 2.9 s. HiGHS's presolve
substitutes the totals back (they are implied free columns), so the child runs without it.

Any covering row whose columns are all integer is rewritten, whatever built it: the reformulation
is exact for every such row, and the totals are dropped from every plan sent back.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse


def with_totals(arrays: dict[str, Any]) -> dict[str, Any]:
    """`arrays` (a column-wise model, optimizer.highs.pulp_arrays) with integer totals appended
    after its columns: every covering row (a lower bound, no upper) over integer columns reads
    one total per set of its columns with equal coefficients, and a row per total ties it to
    its members. The original columns keep their places, so a plan of the result restricted to
    the first `arrays["num_col"]` columns is a plan of `arrays`. Unchanged where no row has a set
    of two or more."""
    from optimizer.child_solve import model_matrix  # child_solve imports this module

    rows = model_matrix(arrays).tocsr()
    rows.sort_indices()
    integral = arrays["integrality"] != 0
    covering = np.isfinite(arrays["row_lower"]) & ~np.isfinite(arrays["row_upper"])
    # entry k of `kept` is entry k of `rows`: the ones a total replaces are dropped
    kept = rows.tocoo()
    drop = np.zeros(kept.nnz, dtype=bool)
    entry_rows: list[int] = []
    entry_values: list[float] = []
    totals_lower: list[float] = []
    totals_upper: list[float] = []
    link_columns: list[np.ndarray] = []
    for row in np.flatnonzero(covering):
        begin, end = rows.indptr[row], rows.indptr[row + 1]
        columns, coefficients = rows.indices[begin:end], rows.data[begin:end]
        if len(columns) < 2 or not integral[columns].all():
            continue
        # the same coefficient, the same tokens/s: one candidate at several sites
        unique, inverse = np.unique(coefficients, return_inverse=True)
        for which, coefficient in enumerate(unique):
            chosen = inverse == which
            if chosen.sum() < 2:
                continue
            members = columns[chosen]
            drop[begin:end][chosen] = True
            entry_rows.append(int(row))
            entry_values.append(float(coefficient))
            link_columns.append(np.append(members, arrays["num_col"] + len(totals_upper)))
            totals_lower.append(float(arrays["col_lower"][members].sum()))
            totals_upper.append(float(arrays["col_upper"][members].sum()))
    if not totals_upper:
        return arrays
    count = len(totals_upper)
    totals = arrays["num_col"] + np.arange(count)
    links = np.repeat(arrays["num_row"] + np.arange(count), [len(c) for c in link_columns])
    link_values = np.concatenate([np.append(np.ones(len(c) - 1), -1.0) for c in link_columns])
    reformulated = scipy.sparse.csc_matrix(
        (
            np.concatenate([kept.data[~drop], entry_values, link_values]),
            (np.concatenate([kept.row[~drop], entry_rows, links]), np.concatenate([kept.col[~drop], totals, np.concatenate(link_columns)])),
        ),
        shape=(arrays["num_row"] + count, arrays["num_col"] + count),
    )
    reformulated.sort_indices()
    return {
        **arrays,
        "num_col": arrays["num_col"] + count,
        "num_row": arrays["num_row"] + count,
        "col_cost": np.concatenate([arrays["col_cost"], np.zeros(count)]),
        "col_lower": np.concatenate([arrays["col_lower"], totals_lower]),
        "col_upper": np.concatenate([arrays["col_upper"], totals_upper]),
        "row_lower": np.concatenate([arrays["row_lower"], np.zeros(count)]),
        "row_upper": np.concatenate([arrays["row_upper"], np.zeros(count)]),
        "format": 1,
        "start": reformulated.indptr.astype(np.int32),
        "index": reformulated.indices.astype(np.int32),
        "value": reformulated.data,
        "integrality": np.concatenate([arrays["integrality"], np.ones(count, dtype=np.int8)]),
    }


def member_sums(solved: dict[str, Any], arrays: dict[str, Any]) -> scipy.sparse.csr_matrix:
    """What turns a plan of `arrays` into the values of the totals `with_totals` gave `solved`:
    each total is the sum of its members, the link row that ties them."""
    from optimizer.child_solve import model_matrix  # child_solve imports this module

    links: scipy.sparse.csr_matrix = model_matrix(solved).tocsr()[arrays["num_row"] :, : arrays["num_col"]]
    return links
