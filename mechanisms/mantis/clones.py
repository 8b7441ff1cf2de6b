"""MANTIS clone post-pass for the binary challenge (mantis.md §12.1, with F7 from §15).

Clones split one strategy's salience across many hotkeys, and the split inside a flat cluster is
numerically arbitrary (validators would disagree, costing vtrust). So, after salience is computed:

1. exact clones (rows equal within 1e-3 on ≥ 99 % of joint rows) are collapsed: the cluster's
   total goes to its lexicographically smallest hotkey;
2. soft cohorts (|corr| ≥ 0.92 under complete linkage), minus every exact-clone member, are
   equalised: each member gets the cohort mean.

Panels are (T, H, D) float arrays in time order with NaN where a miner did not submit.

Modes:
  * ``"compat"`` reproduces the reference: NaN → 0, and a row whose D-vector is all zero counts as
    not submitted ("nz rows", §7.4). Soft cohorts correlate each miner's full (T·D) history,
    zeros included, demeaned by one scalar and unit-normed.
  * ``"fixed"`` applies F7: a row is present iff its D-vector has no NaN, so a genuine all-zero
    prediction counts. Exact clones compare jointly present rows only. Soft cohorts use the
    pairwise-complete Pearson correlation: for each pair, the flattened values of the rows where
    *both* are present (≥ ``min_rows`` such rows, else the pair is uncorrelated), each demeaned
    by its own scalar mean over those rows. When every miner submits every row this equals the
    compat correlation; it never lets a shared absence pattern (compat's zeros) look like
    agreement.

Constant miners have no defined correlation and are treated as uncorrelated, without NaN or
warnings: a miner whose centred flattened history has norm below 1e-9 (the reference's rule; a
truly constant history gives exactly 0) joins no cohort, and in fixed mode a pair on whose joint
rows either miner has (numerically) zero variance gets correlation 0. Infinite values (not valid
predictions) likewise never raise or warn: they fail every row match and correlate with no one.

Determinism (§14): hotkeys are processed in sorted order whatever the panel's column order, row
blocks have fixed sizes, and every sum is taken in a fixed order; the result depends only on the
(hotkey → column) data. Exact-clone pairs are compared in hotkey order; a pair already joined
through union-find is not re-tested, which cannot change the partition. Memory stays at a few
row blocks plus (T, H) masks: nothing of shape (H, H, T) is built.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform

from mechanisms.mantis.panel import presence

MIN_ROWS = 200  # rows a miner (and a pair) needs before its history says anything
MEAN_TOL = 0.05  # exact-clone prefilter on per-dimension means
ROW_TOL = 1e-3  # one float16 ULP at unit scale: a row "matches" if max|Δ| is below this
AGREE = 0.99  # fraction of joint rows that must match
MIN_CORR = 0.92  # soft-cohort |corr| threshold
SCAN_ROWS = 100_000  # the post-pass looks at the most recent rows only

_BLOCK_ROWS = 4096  # row block of the streaming passes (fixed, so sums are order-stable)
_MATCH_FIRST_ROWS = 1024  # first block of the exact-clone scan; grows to _MATCH_MAX_ROWS
_MATCH_MAX_ROWS = 8192
_NORM_FLOOR_SQ = 1e-18  # reference: a centred history with norm < 1e-9 is constant
_REL_VAR_FLOOR = 1e-9  # joint-row variance this small relative to the raw moment = constant


# -- shared helpers -----------------------------------------------------------------------------


def _check(X: np.ndarray, hotkeys: Sequence[str], mode: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """Validate once so every later step can trust shapes and the hotkey list."""
    if mode not in ("compat", "fixed"):
        raise ValueError(f"mode must be 'compat' or 'fixed', not {mode!r}")
    X = np.asarray(X)
    hks = tuple(str(h) for h in hotkeys)
    if X.ndim != 3 or X.shape[2] < 1:
        raise ValueError(f"X must be (T, H, D) with D >= 1, got shape {X.shape}")
    if X.shape[1] != len(hks):
        raise ValueError(f"X has {X.shape[1]} columns but {len(hks)} hotkeys were given")
    if len(set(hks)) != len(hks):
        raise ValueError("hotkeys must be unique")
    if X.dtype.kind != "f":
        X = X.astype(np.float32)
    return X, hks


def _sorted_columns(hotkeys: tuple[str, ...]) -> np.ndarray:
    """Panel column indices in hotkey order: the canonical order for every computation."""
    return np.array(sorted(range(len(hotkeys)), key=hotkeys.__getitem__), dtype=np.intp)


def _zero_nan(a: np.ndarray) -> np.ndarray:
    """NaN → 0 (compat's storage rule); a copy, the panel itself is never modified."""
    return np.where(np.isnan(a), a.dtype.type(0), a)


def _joint_counts(present: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """(M, M) int64 jointly present rows; float32 products of 0/1 blocks are exact (< 2^24)."""
    M = len(cols)
    out = np.zeros((M, M), dtype=np.int64)
    for r0 in range(0, present.shape[0], _BLOCK_ROWS):
        p = np.take(present[r0 : r0 + _BLOCK_ROWS], cols, axis=1).astype(np.float32)
        out += np.rint(p.T @ p).astype(np.int64)
    return out


# -- exact clones -------------------------------------------------------------------------------


def _own_means(X: np.ndarray, present: np.ndarray, cols: np.ndarray, mode: str) -> np.ndarray:
    """(M, D) per-dimension mean over each miner's own present rows, streamed over row blocks.

    Compat reproduces the reference bit for bit: numpy's float32 mean over axis 0 of a C-ordered
    array is a sequential float32 sum in row order (the reduction axis is the outer loop), divided
    in float64 and rounded to float32. Carrying the running sum in as the first row of each block
    keeps the sum sequential across blocks, and absent rows add an exact 0.0. Fixed sums in float64.
    """
    T, H, D = X.shape
    compat = mode == "compat"
    acc = np.zeros((H, D), dtype=np.float32 if compat else np.float64)
    # fixed reads float16/32 values as float32 (exact) and sums them in float64: the same bits as
    # converting first, with half the bytes to mask
    work = np.float32 if compat or X.dtype != np.float64 else np.float64
    for r0 in range(0, T, _BLOCK_ROWS):
        # (errstate: only ±inf inputs could overflow or meet inf − inf; the prefilter copes with that)
        y = X[r0 : r0 + _BLOCK_ROWS].astype(work)  # every column: a column's sum ignores the others
        np.copyto(y, 0, where=~present[r0 : r0 + _BLOCK_ROWS, :, None] | np.isnan(y))
        with np.errstate(invalid="ignore", over="ignore"):
            if compat:
                acc = np.add.reduce(np.concatenate([acc[None], y]), axis=0)
            else:
                acc += np.add.reduce(y, axis=0, dtype=np.float64)
    counts = present.sum(axis=0)[:, None]
    with np.errstate(invalid="ignore", over="ignore"):
        mean = (acc.astype(np.float64) / np.maximum(counts, 1))[cols]
    return mean.astype(np.float32) if compat else mean


def _first_dimension(X: np.ndarray, present: np.ndarray, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """(H, T) float32 of every miner's first dimension (compat: NaN as 0) and (H, T) presence, one
    miner a contiguous row: the exact-clone scan's rejection pass reads these alone."""
    first = np.ascontiguousarray(X[:, :, 0].T, dtype=np.float32)
    if mode == "compat":
        first = _zero_nan(first)
    return first, np.ascontiguousarray(present.T)


def _agreeing(
    X: np.ndarray, present: np.ndarray, mode: str, i: int, js: np.ndarray, budget: np.ndarray, row_tol: float,
    first: tuple[np.ndarray, np.ndarray],
) -> np.ndarray:
    """Which columns js disagree with column i on at most `budget` joint rows.

    A joint row matches when max_d |x_i − x_j| < row_tol in float32, as in the reference. Pairs are
    first rejected on the first dimension alone (`first`, from `_first_dimension`): a row whose first
    values are apart is a mismatch whatever the others, so a pair with more such rows than its
    budget cannot link. Rows are scanned in growing blocks and a pair is dropped as soon as that
    count exceeds its budget (counts only grow), so independent miners cost a few thousand rows
    of one dimension; the few left, true clones mostly, are then counted exactly on every dimension.
    """
    T, _, D = X.shape
    tol = np.float32(row_tol)
    values, joint = first
    alive = np.arange(len(js))
    mismatches = np.zeros(len(js), dtype=np.int64)
    r0, size = 0, _MATCH_FIRST_ROWS
    while r0 < T and alive.size:
        r1 = min(T, r0 + size)
        cols = js[alive]
        with np.errstate(invalid="ignore", over="ignore"):  # NaN/inf only on non-joint rows
            apart = ~(np.abs(values[cols, r0:r1] - values[i, r0:r1]) < tol)
        apart &= joint[cols, r0:r1]
        apart &= joint[i, r0:r1]
        mismatches[alive] += np.count_nonzero(apart, axis=1)
        alive = alive[mismatches[alive] <= budget[alive]]
        r0, size = r1, min(2 * size, _MATCH_MAX_ROWS)
    ok = np.zeros(len(js), dtype=bool)
    if D > 1 and alive.size:
        alive = alive[_agreeing_all(X, present, mode, i, js[alive], budget[alive], tol)]
    ok[alive] = True
    return ok


def _agreeing_all(
    X: np.ndarray, present: np.ndarray, mode: str, i: int, js: np.ndarray, budget: np.ndarray, tol: np.float32
) -> np.ndarray:
    """`_agreeing`'s count on every dimension, for the pairs its first dimension left."""
    T, _, D = X.shape
    mismatches = np.zeros(len(js), dtype=np.int64)
    for r0 in range(0, T, _MATCH_MAX_ROWS):
        r1 = min(T, r0 + _MATCH_MAX_ROWS)
        xi = X[r0:r1, i, :].astype(np.float32)
        xj = np.take(X[r0:r1], js, axis=1).astype(np.float32, copy=False)  # take: far faster than [:, js]
        if mode == "compat":
            xi, xj = _zero_nan(xi), _zero_nan(xj)
        far = ~np.take(present[r0:r1], js, axis=1)  # non-joint rows never count; start from "j absent"
        far |= ~present[r0:r1, i][:, None]
        close = np.ones(far.shape, dtype=bool)
        with np.errstate(invalid="ignore", over="ignore"):  # NaN/inf only on non-joint rows
            for d in range(D):
                close &= np.abs(xj[:, :, d] - xi[:, None, d]) < tol
        mismatches += far.shape[0] - np.count_nonzero(far | close, axis=0)  # joint and not close
    return mismatches <= budget


def find_clusters(
    X: np.ndarray,
    hotkeys: Sequence[str],
    *,
    mode: str = "fixed",
    min_rows: int = MIN_ROWS,
    mean_tol: float = MEAN_TOL,
    row_tol: float = ROW_TOL,
    agree: float = AGREE,
) -> list[tuple[str, ...]]:
    """Exact clones (§12.1): miners with ≥ min_rows present rows; pairs with ≥ min_rows joint rows;
    mean prefilter max|mean_i − mean_j| ≤ mean_tol (means over each miner's own present rows, per
    dimension); link if at least ceil(agree·joint) joint rows have per-row max|Δ| < row_tol;
    union-find. Clusters of size ≥ 2, each sorted, list sorted.

    Presence follows `mode` (compat: nz rows after NaN → 0; fixed: no NaN). The strict criterion
    is deliberate: merging two real strategies costs more than missing a clone.
    """
    X, hks = _check(X, hotkeys, mode)
    return _find_clusters(X, hks, presence(X, mode), mode, min_rows, mean_tol, row_tol, agree)


def _find_clusters(
    X: np.ndarray, hks: tuple[str, ...], present: np.ndarray, mode: str,
    min_rows: int, mean_tol: float, row_tol: float, agree: float, seeds: set[str] | None = None,
) -> list[tuple[str, ...]]:
    """find_clusters on a checked panel with its presence mask (shared with the cohort scan).

    With `seeds`, only the clusters that contain a seed are found, and found whole: each member
    reached is compared with every other miner (the pair test is symmetric and exact), so a
    seed's cluster is the one the full scan gives, at the cost of the members' rows of pairs."""
    counts = present.sum(axis=0)
    cols = np.array([k for k in _sorted_columns(hks) if counts[k] >= min_rows], dtype=np.intp)
    M = len(cols)
    if M < 2:
        return []

    means = _own_means(X, present, cols, mode)
    with np.errstate(invalid="ignore", over="ignore"):
        # A NaN difference (inf means) does not exceed the tolerance, as in the reference.
        far = np.abs(means[:, None, :] - means[None, :, :]).max(axis=2) > mean_tol
    joint = _joint_counts(present, cols)
    need = np.ceil(agree * joint.astype(np.float64)).astype(np.int64)  # same rounding as the reference
    budget = joint - need  # mismatching joint rows a linked pair may have
    candidate = (~far) & (joint >= min_rows)

    first = _first_dimension(X, present, mode)
    parent = list(range(M))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    def link(a: int, bs: list[int]) -> list[int]:
        """Test a against bs; join the linked ones; return them."""
        if not bs:
            return []
        b_arr = np.array(bs, dtype=np.intp)
        linked = b_arr[_agreeing(X, present, mode, int(cols[a]), cols[b_arr], budget[a, b_arr], row_tol, first)]
        for b in linked:
            rb, root = find(int(b)), find(a)
            if rb != root:
                parent[max(rb, root)] = min(rb, root)
        return [int(b) for b in linked]

    if seeds is None:
        for a in range(M - 1):
            root = find(a)
            link(a, [b for b in range(a + 1, M) if candidate[a, b] and find(b) != root])
        reached = range(M)
    else:
        position = {hks[c]: a for a, c in enumerate(cols)}
        frontier = sorted(position[h] for h in seeds if h in position)
        reached = set()
        while frontier:
            a = frontier.pop(0)
            if a in reached:
                continue
            reached.add(a)
            root = find(a)
            found = link(a, [b for b in range(M) if b != a and candidate[a, b] and find(b) != root])
            frontier = sorted(set(frontier) | (set(found) - reached))

    groups: dict[int, list[str]] = {}
    for a in reached:
        groups.setdefault(find(a), []).append(hks[cols[a]])
    return sorted(tuple(sorted(g)) for g in groups.values() if len(g) >= 2)


def collapse_salience(salience: Mapping[str, float], clusters: Iterable[Sequence[str]],
                      order: Callable[[str], Any] | None = None) -> dict[str, float]:
    """A cluster's total salience goes to its first hotkey by `order` (a sort key; default the
    hotkey itself: the lexicographically smallest, as §12.1); the others get 0.

    Deterministic whoever of the clones the scorer happened to favour. Hotkeys absent from
    `salience` count as 0. The output has the keys of `salience`; a representative that is not
    among them is added only if it receives a non-zero total, so mass is never lost (as in the
    reference). Overlapping clusters are an error.
    """
    out = {hk: float(v) for hk, v in salience.items()}
    seen: set[str] = set()
    for cluster in clusters:
        members = sorted(set(cluster), key=order)
        if len(members) < 2:
            continue
        if seen.intersection(members):
            raise ValueError(f"clusters overlap at {sorted(seen.intersection(members))}")
        seen.update(members)
        total = sum(float(salience.get(hk, 0.0)) for hk in members)  # sorted order: stable rounding
        for hk in members[1:]:
            if hk in out:
                out[hk] = 0.0
        if members[0] in out or total != 0.0:
            out[members[0]] = total
    return out


def group_shares(root: np.ndarray, present: np.ndarray, seen: np.ndarray,
                 eligible: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(representative, share) per column of the groups `root` (a group's columns share a root):
    fixed mode's way of scoring a copy group once and paying it out. `present` (T, H) marks the
    history's rows each miner submitted on, `seen` (T,) the rows its significance gate reads.

    A group is scored on the member that submitted on the most rows (the first column on a tie),
    and its score is split by the rows each member submitted among the seen ones. The reference's
    smallest hotkey and equal split let a copy that appears today take its share at once, and, under
    a smaller hotkey, have the group scored on its own few rows, which the gate fails; here a member
    the gate has not seen gets nothing and cannot stand for the group.

    With `eligible` (H,) bool (the members that passed a gate on their own: XSEC and FUNDING), only
    eligible members stand for a group and share its pay: a member that joined the group by copying
    another's recent values, and fails the gate on its own history, can neither sink the group by
    standing for it nor take part of its pay."""
    rows_of = present.sum(axis=0)
    seen_rows = present[seen].sum(axis=0).astype(np.float64)
    rep, share = np.arange(len(root)), np.ones(len(root))
    for g in np.unique(root):
        members = np.flatnonzero(root == g)
        if eligible is not None:
            members, others = members[eligible[members]], members[~eligible[members]]
            share[others] = 0.0
            if not len(members):
                continue
            rep[others] = members[np.argmax(rows_of[members])]
        rep[members] = members[np.argmax(rows_of[members])]  # argmax: the first of the most
        total = seen_rows[members].sum()
        share[members] = seen_rows[members] / total if total > 0 else 0.0
    return rep, share


def join_groups(groups: Iterable[Sequence[str]], hotkeys: Sequence[str], root: np.ndarray | None = None) -> np.ndarray:
    """(H,) each column's group root, the first column of its group, after joining `groups` (of
    hotkeys) into `root` (default: every column alone); groups that share a member merge."""
    root = np.arange(len(hotkeys)) if root is None else np.array(root, dtype=np.intp)
    index = {h: j for j, h in enumerate(hotkeys)}
    for group in groups:
        members = sorted({int(root[index[h]]) for h in group})
        root[np.isin(root, members)] = members[0]
    return root


def is_roots(v: np.ndarray, H: int) -> bool:
    """Whether a stored vector is a valid group-root vector of H columns (every root its own root)."""
    return v.shape == (H,) and bool(np.isin(v, np.arange(H)).all()) and bool((v[v.astype(np.intp)] == v).all())


# -- soft cohorts -------------------------------------------------------------------------------


def _correlations(
    X: np.ndarray, present: np.ndarray, cols: np.ndarray, mode: str, min_rows: int
) -> tuple[np.ndarray, np.ndarray]:
    """(M, M) correlation in the order of `cols`, 0 where undefined (constant on the joint rows, too
    few joint rows), and the (M,) mask of miners that vary at all.

    Two streaming passes over row blocks in float64: (1) each miner's scalar mean over its
    correlation values, (2) centred cross-products. In fixed mode the pairwise-complete statistics
    come from matrix products with the presence mask: with x centred on the miner's own mean and
    zero where absent, S1[i, j] = Σ x_i over rows where j is present, S2[i, j] = Σ x_i² likewise,
    G[i, j] = Σ x_i x_j, N[i, j] = joint rows; then cov = G − S1[i,j]·S1[j,i]/n and
    var_i = S2[i,j] − S1[i,j]²/n with n = D·N (centring first keeps the subtraction well
    conditioned; a relative floor on var guards what cancellation remains).

    A miner "varies" unless its centred norm is below 1e-9 (the reference's rule) or not finite.
    A truly constant float32 history has an exact float64 mean, hence a norm of exactly 0.
    """
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):  # only ±inf inputs trip these
        corr, varies = _correlation_sums(X, present, cols, mode, min_rows)
    corr = np.where(np.isfinite(corr), corr, 0.0)  # ±inf inputs: uncorrelated
    np.fill_diagonal(corr, 1.0)
    return corr, varies


def _correlation_sums(
    X: np.ndarray, present: np.ndarray, cols: np.ndarray, mode: str, min_rows: int
) -> tuple[np.ndarray, np.ndarray]:
    """The body of _correlations (its caller guards the floating-point state)."""
    T, _, D = X.shape
    M = len(cols)
    fixed = mode == "fixed"
    whole = np.array_equal(cols, np.arange(X.shape[1]))  # no column gather needed

    def block(r0: int) -> tuple[np.ndarray, np.ndarray | None]:
        """(C, D, M) float64 with NaN and (fixed) absent rows set to 0; the (C, M) presence."""
        raw = X[r0 : r0 + _BLOCK_ROWS]
        raw = raw if whole else np.take(raw, cols, axis=1)
        y = raw.transpose(0, 2, 1).astype(np.float64, order="C")
        if fixed:
            rows = present[r0 : r0 + _BLOCK_ROWS]
            rows = rows if whole else np.take(rows, cols, axis=1)
            np.copyto(y, 0.0, where=~rows[:, None, :])
            return y, rows
        np.copyto(y, 0.0, where=np.isnan(y))
        return y, None

    total = np.zeros(M)
    for r0 in range(0, T, _BLOCK_ROWS):
        y, _ = block(r0)
        total += y.sum(axis=(0, 1))
    n_own = (present.sum(axis=0)[cols] if fixed else np.full(M, T)) * D
    mean = total / np.maximum(n_own, 1)

    G = np.zeros((M, M))
    S = np.zeros((2 * M, M))
    N = np.zeros((M, M))
    for r0 in range(0, T, _BLOCK_ROWS):
        x, rows = block(r0)
        x -= mean
        if fixed:
            np.copyto(x, 0.0, where=~rows[:, None, :])
        z = x.reshape(-1, M)
        G += z.T @ z
        if fixed:
            p = rows.astype(np.float64)
            S += np.concatenate([x.sum(axis=1), (x * x).sum(axis=1)], axis=1).T @ p
            p32 = rows.astype(np.float32)
            N += p32.T @ p32  # 0/1 products summed over < 2^24 rows: exact in float32

    varies = np.isfinite(np.diag(G)) & (np.diag(G) > _NORM_FLOOR_SQ)
    if fixed:
        n = D * N
        s1 = S[:M]
        shift = s1 / np.where(n > 0, n, 1.0)  # i's mean on the rows joint with j (s1 = 0 if n = 0)
        var = S[M:] - s1 * shift  # var[i, j]: i's variance on the rows joint with j (× n)
        cov = G - s1 * shift.T
        floor = np.maximum(_REL_VAR_FLOOR * S[M:], _NORM_FLOOR_SQ)
        ok = (N >= min_rows) & (var > floor) & (var.T > floor.T)
        var_i, var_j = var, var.T
    else:
        d = np.diag(G)
        var_i, var_j, cov = d[:, None], d[None, :], G
        ok = np.ones((M, M), dtype=bool)
    ok &= varies[:, None] & varies[None, :]
    denom = np.sqrt(np.where(ok, var_i * var_j, 1.0))
    corr = np.where(ok, cov / denom, 0.0)
    np.fill_diagonal(corr, 1.0)
    return corr, varies


def find_correlated_cohorts(
    X: np.ndarray,
    hotkeys: Sequence[str],
    *,
    mode: str = "fixed",
    min_rows: int = MIN_ROWS,
    min_corr: float = MIN_CORR,
) -> list[tuple[str, ...]]:
    """Soft cohorts: demeaned, unit-norm flattened histories; distance 1 − |corr|; SciPy complete
    linkage cut at 1 − min_corr; cohorts of size ≥ 2, each sorted, list sorted.

    Miners need ≥ min_rows present rows. Compat correlates the full (T·D) histories with absent
    rows as zeros; fixed uses the pairwise-complete correlation over jointly present rows (pairs
    with fewer than min_rows such rows are uncorrelated). Constant miners have no correlation
    and are left out of the linkage (as the reference does), so they join no cohort even at
    min_corr = 0. Complete linkage: every pair inside a cohort has |corr| ≥ min_corr, so cohorts
    never grow by chaining.
    """
    X, hks = _check(X, hotkeys, mode)
    return _find_cohorts(X, hks, presence(X, mode), mode, min_rows, min_corr)


def _find_cohorts(
    X: np.ndarray, hks: tuple[str, ...], present: np.ndarray, mode: str, min_rows: int, min_corr: float
) -> list[tuple[str, ...]]:
    """find_correlated_cohorts on a checked panel with its presence mask."""
    counts = present.sum(axis=0)
    cols = np.array([k for k in _sorted_columns(hks) if counts[k] >= min_rows], dtype=np.intp)
    if len(cols) < 2:
        return []
    corr, varies = _correlations(X, present, cols, mode, min_rows)
    cols, corr = cols[varies], corr[np.ix_(varies, varies)]  # constant miners join no cohort
    if len(cols) < 2:
        return []
    dist = 1.0 - np.clip(np.abs(corr), 0.0, 1.0)
    dist = (dist + dist.T) * 0.5
    np.fill_diagonal(dist, 0.0)
    labels = fcluster(linkage(squareform(dist, checks=False), method="complete"),
                      t=max(0.0, 1.0 - float(min_corr)), criterion="distance")
    groups: dict[int, list[str]] = {}
    for k, label in zip(cols, labels):
        groups.setdefault(int(label), []).append(hks[k])
    return sorted(tuple(sorted(g)) for g in groups.values() if len(g) >= 2)


# -- the post-pass ------------------------------------------------------------------------------


def clone_post_pass(
    salience: Mapping[str, float],
    X: np.ndarray,
    hotkeys: Sequence[str],
    *,
    mode: str = "fixed",
    scan_rows: int = SCAN_ROWS,
) -> dict[str, float]:
    """§12.1 as a whole on the last scan_rows rows: collapse exact clones; remove exact-clone
    members from the soft cohorts; equalise every remaining cohort of size ≥ 2 (each member gets
    the cohort mean of salience). Hotkeys absent from `salience` count as 0. Returns a new dict
    over the same keys as `salience` (plus, only to conserve mass, a panel hotkey missing from
    `salience` that receives non-zero salience, as in the reference).

    Collapsing concentrates a clone farm's mass on one key; equalising makes a cohort's per-key
    split independent of the scorer's numerically arbitrary choice. Cohort totals are preserved.
    """
    X, hks = _check(X, hotkeys, mode)
    if scan_rows < 1:
        raise ValueError("scan_rows must be positive")
    if X.shape[0] > scan_rows:
        X = X[-scan_rows:]
    present = presence(X, mode)
    cohorts = _find_cohorts(X, hks, present, mode, MIN_ROWS, MIN_CORR)
    # Only clusters holding salience, or members of a cohort that holds some, can change a result:
    # those are found whole, and the scan skips the rows of pairs among miners with nothing.
    paid = {hk for hk, v in salience.items() if v != 0.0}
    seeds = paid | {hk for cohort in cohorts if paid.intersection(cohort) for hk in cohort}
    clusters = _find_clusters(X, hks, present, mode, MIN_ROWS, MEAN_TOL, ROW_TOL, AGREE, seeds)
    # Fixed mode: the mass goes to the member that submitted on the most rows (a tie: the smallest
    # hotkey), not to the smallest hotkey (§12.1), which a copy could pick to take all of it.
    counts = dict(zip(hks, present.sum(axis=0).tolist()))
    out = collapse_salience(salience, clusters, (lambda hk: (-counts[hk], hk)) if mode == "fixed" else None)
    exact = {hk for cluster in clusters for hk in cluster}
    for cohort in cohorts:
        members = [hk for hk in cohort if hk not in exact]  # cohorts are sorted, so is this
        if len(members) < 2:
            continue
        share = sum(out.get(hk, 0.0) for hk in members) / len(members)
        for hk in members:
            if hk in out or share != 0.0:
                out[hk] = share
    return out
