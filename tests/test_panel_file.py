"""The panel npz format: round trip, and clear refusals of files that do not follow it."""

import numpy as np
import pytest

from devnet.mantis.signals import RoleMix, SignalSpec, generate
from mechanisms.mantis.panel import Panel, PanelFormatError, first_seen_blocks, presence, row_blocks, take_rows


@pytest.fixture(scope="module")
def small():
    return generate(SignalSpec(seed=1, days=1, roles=RoleMix().scaled(12)))


def test_round_trip(tmp_path, small):
    path = tmp_path / "p.npz"
    small.save(path, "ETH")
    back = Panel.load(path, "ETH")
    assert back.hotkeys == small.hotkeys and back.roles == small.roles and back.sources == small.sources
    assert np.array_equal(back.embeddings, small.embeddings, equal_nan=True)
    assert np.array_equal(back.block, small.block) and np.array_equal(back.price, small.price)
    assert np.array_equal(back.skill, small.skill, equal_nan=True)


def test_wrong_prefix_names_what_the_file_has(tmp_path, small):
    path = tmp_path / "p.npz"
    small.save(path, "ETH")
    with pytest.raises(PanelFormatError, match="missing BTC__embeddings.*ETH__embeddings"):
        Panel.load(path, "BTC")


def save(path, **arrays):
    np.savez(path, **arrays)
    return path


def test_refusals(tmp_path):
    T, H = 5, 2
    good = dict(hotkeys=np.array(["a", "b"]), block=np.arange(T) * 5, X__embeddings=np.zeros((T, H, 2)),
                X__price=np.ones(T))
    Panel.load(save(tmp_path / "ok.npz", **good), "X")
    cases = {
        "pickled": good | {"hotkeys": np.array(["a", "b"], dtype=object)},
        "shape": good | {"X__embeddings": np.zeros((T, H + 1, 2))},
        "order": good | {"block": np.array([0, 5, 5, 10, 15])},
        "dupes": good | {"hotkeys": np.array(["a", "a"])},
        "price": good | {"X__price": np.ones(T - 1)},
    }
    for name, arrays in cases.items():
        with pytest.raises(PanelFormatError):
            Panel.load(save(tmp_path / f"{name}.npz", **arrays), "X")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(PanelFormatError, match="not a readable"):
        Panel.load(tmp_path / "junk.npz", "X")


def test_multi_asset_prices_key(tmp_path):
    T = 4
    path = save(tmp_path / "m.npz", hotkeys=np.array(["a"]), block=np.arange(T), M__embeddings=np.zeros((T, 1, 3)),
                M__prices=np.ones((T, 3)))
    assert Panel.load(path, "M").price.shape == (T, 3)


def test_without_drops_miners(small):
    gone = {small.hotkeys[0], small.hotkeys[3]}
    rest = small.without(gone)
    assert len(rest.hotkeys) == len(small.hotkeys) - 2 and not gone & set(rest.hotkeys)
    assert rest.embeddings.shape[1] == len(rest.hotkeys) == len(rest.roles) == len(rest.skill)


# (values, fixed, compat): fixed counts a vector without NaN (a genuine zero prediction included),
# compat the reference's "some element non-zero after NaN -> 0" (mantis.md §7.4, F7).
CELLS = [
    ([0.3, -1.0], True, True),
    ([0.0, 0.0], True, False),
    ([np.nan, np.nan], False, False),
    ([np.nan, 0.7], False, True),
    ([np.nan, 0.0], False, False),
    ([np.inf, 0.0], True, True),
]


def test_presence_rule_per_mode():
    X = np.array([[v for v, _, _ in CELLS]], dtype=np.float32)  # (1, 6, 2)
    assert presence(X, "fixed")[0].tolist() == [f for _, f, _ in CELLS]
    assert presence(X, "compat")[0].tolist() == [c for _, _, c in CELLS]
    with pytest.raises(ValueError, match="mode"):
        presence(X, "strict")


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_presence_of_wide_vectors_is_no_nan_whatever_the_values(seed, dtype):
    """Wide vectors (LBFGS's 17) take presence from one product per row; NaN anywhere, ±inf meeting,
    sums that overflow: the rule is still "no NaN"."""
    rng = np.random.default_rng(seed)
    X = (rng.standard_normal((300, 9, 17)) * rng.choice([1.0, 1e30, 3e38], size=(300, 9, 1))).astype(dtype)
    for value, rate in ((np.nan, 0.01), (np.inf, 0.02), (-np.inf, 0.02), (np.finfo(dtype).max, 0.05)):
        X[rng.random(X.shape) < rate] = value
    X[rng.random((300, 9)) < 0.1] = np.nan  # whole vectors absent
    with np.errstate(over="ignore"):
        assert np.array_equal(presence(X, "fixed"), ~np.isnan(X).any(axis=2))
    assert np.array_equal(presence(X, "compat"), ((X != 0) & ~np.isnan(X)).any(axis=2))


def test_row_reads_are_views_of_consecutive_rows_and_copies_otherwise():
    X = np.arange(60, dtype=np.float32).reshape(10, 2, 3)
    view = take_rows(X, np.arange(3, 8))
    assert np.shares_memory(view, X) and np.array_equal(view, X[3:8])
    gathered = take_rows(X, np.array([1, 4, 5]))
    assert not np.shares_memory(gathered, X) and np.array_equal(gathered, X[[1, 4, 5]])
    rows = np.array([0, 1, 2, 5, 6, 9])
    blocks = list(row_blocks(X, rows, 3))
    assert [r0 for r0, _ in blocks] == [0, 3]
    assert np.shares_memory(blocks[0][1], X) and not np.shares_memory(blocks[1][1], X)
    assert np.array_equal(np.concatenate([b for _, b in blocks]), X[rows])


def test_first_seen_reads_each_challenge_with_its_own_mode():
    nan = np.nan
    zeros = Panel(("a", "b"), np.array([10, 15, 20]), np.ones(3),
                  np.array([[[0, 0], [nan, nan]], [[0, 0], [nan, 1]], [[1, 0], [nan, nan]]], dtype=np.float32))
    late = Panel(("b", "c"), np.array([5, 25]), np.ones(2),
                 np.array([[[nan, nan], [nan, nan]], [[1, 1], [nan, nan]]], dtype=np.float32))
    panels = {"Z": zeros, "L": late}
    # fixed: a's zeros count from block 10; b's [nan, 1] is no vector; c never submitted.
    assert first_seen_blocks(panels, {"Z": "fixed", "L": "fixed"}) == {"a": 10, "b": 25}
    # compat: zeros are no submission, b's [nan, 1] is (as after the reference's NaN -> 0).
    assert first_seen_blocks(panels, {"Z": "compat", "L": "fixed"}) == {"a": 20, "b": 15}
