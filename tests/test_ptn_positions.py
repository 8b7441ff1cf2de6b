"""PTN positions (§3) and the ledger (§4): clamps, closes, slippage, carry fees, cells and days, worked
by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mechanisms.ptn import ledger
from mechanisms.ptn.config import CELL_MS, DAY_MS, config_for, utc_ms, v1_proposal
from mechanisms.ptn.orders import Order
from mechanisms.ptn.positions import replay

CFG = v1_proposal()
T0 = utc_ms(2025, 6, 2)
HOUR = 3_600_000


def o(uuid: str, pair: str, kind: str, lev: float, price: float, ms: int, slip: float = 0.0) -> Order:
    return Order(uuid, pair, kind, -abs(lev) if kind == "SHORT" else (0.0 if kind == "FLAT" else abs(lev)), price,
                 slip, ms)


def test_slippage_average_entry_and_realised_gain():
    orders = [o("a", "BTCUSD", "LONG", 0.2, 100.0, T0, 0.01),       # fills at 101
              o("b", "BTCUSD", "LONG", 0.2, 110.0, T0 + HOUR),       # fills at 110: average 105.5
              o("c", "BTCUSD", "SHORT", 0.1, 120.0, T0 + 2 * HOUR, 0.01),  # sells at 118.8
              o("d", "BTCUSD", "FLAT", 0, 100.0, T0 + 3 * HOUR)]
    (p,), refused = replay("hk", orders, T0 + DAY_MS, CFG)
    assert not refused and p.close_ms == T0 + 3 * HOUR
    assert p.first_entry == pytest.approx(101.0)
    assert p.avg_entry.tolist() == pytest.approx([101.0, 105.5, 105.5, 105.5])
    realised_c = (118.8 - 105.5) * 0.1
    assert p.realized.tolist() == pytest.approx([0.0, 0.0, realised_c, realised_c + (100.0 - 105.5) * 0.3])
    assert p.net.tolist() == pytest.approx([0.2, 0.4, 0.3, 0.0])
    # the closed position's return: 1 + realised / first entry
    final = p.value(np.array([3]), np.array([100.0]))[0]
    assert final == pytest.approx(1 + (realised_c - 5.5 * 0.3) / 101.0)


def test_clamps_closes_and_refusals():
    orders = [o("a", "BTCUSD", "LONG", 5.0, 100.0, T0),              # clamped to the pair's 0.5
              o("b", "BTCUSD", "LONG", 0.1, 100.0, T0 + 5_000),      # cooldown
              o("c", "BTCUSD", "LONG", 0.1, 100.0, T0 + 20_000),     # no room left under 0.5
              o("d", "ETHUSD", "LONG", 0.5, 100.0, T0 + 30_000),     # portfolio: 0.5·10 + 0.5·10 = 10, fits
              o("e", "SOLUSD", "LONG", 0.1, 100.0, T0 + 40_000),     # portfolio full
              o("f", "BTCUSD", "SHORT", 0.495, 100.0, T0 + 50_000),  # would leave 0.005 < 0.01
              o("g", "BTCUSD", "SHORT", 0.9, 100.0, T0 + 60_000),    # crosses zero: closes, no short opens
              o("h", "XRPUSD", "FLAT", 0, 1.0, T0 + 70_000),         # nothing to flatten
              o("i", "SPX", "LONG", 1.0, 100.0, T0 + 80_000),        # blocked in V0–V3
              o("j", "ETHUSD", "SHORT", 0.005, 100.0, T0 + 90_000),  # a first order... no: reduces ETH to 0.495
              o("k", "DOGEUSD", "LONG", 0.005, 1.0, T0 + 100_000)]   # first order below the 0.01 minimum
    positions, refused = replay("hk", orders, T0 + DAY_MS, CFG)
    reasons = {r.uuid: r.reason for r in refused}
    assert set(reasons) == {"b", "c", "e", "f", "h", "i", "k"}
    assert "cooldown" in reasons["b"] and "room" in reasons["c"] and "room" in reasons["e"]
    assert "minimum" in reasons["f"] and "minimum" in reasons["k"] and "not tradable" in reasons["i"]
    btc, eth = positions
    assert btc.net.tolist() == [0.5, 0.0] and btc.close_ms == T0 + 60_000
    assert eth.net.tolist() == pytest.approx([0.5, 0.495]) and eth.close_ms is None


def test_orders_after_the_evaluation_time_have_not_happened():
    orders = [o("a", "BTCUSD", "LONG", 0.2, 100.0, T0), o("b", "BTCUSD", "FLAT", 0, 90.0, T0 + DAY_MS)]
    (p,), refused = replay("hk", orders, T0 + DAY_MS - 1, CFG)
    assert not refused and p.close_ms is None and p.net.tolist() == [0.2]


def test_carry_fee_crypto_intervals_at_the_highest_leverage():
    """Opened at 02:00, raised at 06:00, closed at 13:00: charged at 04:00 (0.1 held), 12:00 (0.3 held
    since 06:00); 20:00 comes after the close."""
    start = T0 + 2 * HOUR
    orders = [o("a", "BTCUSD", "LONG", 0.1, 100.0, start), o("b", "BTCUSD", "LONG", 0.2, 100.0, start + 4 * HOUR),
              o("c", "BTCUSD", "FLAT", 0, 100.0, start + 11 * HOUR)]
    positions, _ = replay("hk", orders, T0 + DAY_MS, CFG)
    f = CFG.carry_factor("crypto")
    assert f == pytest.approx(0.99989409, abs=1e-8)
    book = ledger.build(positions, {}, T0 + DAY_MS, 5000.0, CFG)
    assert book.position_values[0] == pytest.approx(f ** 0.1 * f ** 0.3)
    times, count = ledger.fee_times("forex", utc_ms(2025, 6, 2), utc_ms(2025, 6, 9))  # a Monday to a Monday
    weekdays = [((t // DAY_MS) + 3) % 7 for t in times]
    assert weekdays == [0, 1, 2, 3, 4] and count.tolist() == [1, 1, 3, 1, 1]
    assert config_for("v1").carry_factor("forex") == pytest.approx(0.99991655, abs=1e-8)


def test_cells_days_and_drawdown_by_hand():
    """A long of 0.5 bought at 100 at 06:00 on day 0; marks move the price each 12 hours. The cell
    holding the fill counts as full (the reference sets its clock to the time since 00:00), so day 0
    is complete, as are days 1 and 2; day 3 has only its first cell at the evaluation time."""
    start = T0 + 6 * HOUR
    (p,), _ = replay("hk", [o("a", "BTCUSD", "LONG", 0.5, 100.0, start)], T0 + 3 * DAY_MS + 13 * HOUR, CFG)
    times = np.array([T0 + k * CELL_MS for k in range(1, 8)], dtype=np.int64)
    prices = np.array([110.0, 90.0, 100.0, 80.0, 120.0, 100.0, 100.0])
    at = T0 + 3 * DAY_MS + 13 * HOUR
    book = ledger.build([p], {"BTCUSD": (times, prices)}, at, 10_000.0, dataclass_without_carry())
    value = 1 + (prices - 100.0) * 0.5 / 100.0  # at 12:00, 24:00, …: 1.05, 0.95, 1.0, 0.9, 1.1, 1.0, 1.0
    log_v = np.log(value)
    day0 = T0 // DAY_MS
    assert book.days.tolist() == [day0, day0 + 1, day0 + 2]
    assert book.returns.tolist() == pytest.approx([log_v[1], log_v[3] - log_v[1], log_v[5] - log_v[3]])
    assert book.pnl[1] == pytest.approx(10_000 * (math.expm1(log_v[2] - log_v[1]) + math.expm1(log_v[3] - log_v[2])))
    # the worst point: 0.9 against the peak 1.05
    assert book.drawdown_pct == pytest.approx(100 * (1 - 0.9 / 1.05))
    assert book.cell_start.tolist() == [T0 + k * CELL_MS for k in range(7)]
    assert book.gain[0] == pytest.approx(log_v[0]) and book.loss[1] == pytest.approx(log_v[1] - log_v[0])
    assert book.value == pytest.approx(1.0)
    # bought after noon instead: its cell is full, but the day's first cell never existed
    (late,), _ = replay("hk", [o("a", "BTCUSD", "LONG", 0.5, 100.0, T0 + 13 * HOUR)], at, CFG)
    late_book = ledger.build([late], {"BTCUSD": (times, prices)}, at, 10_000.0, dataclass_without_carry())
    assert late_book.days.tolist() == [day0 + 1, day0 + 2] and late_book.cell_start[0] == T0 + CELL_MS


def dataclass_without_carry():
    import dataclasses

    from mechanisms.ptn.config import _frozen
    return dataclasses.replace(CFG, carry_annual=_frozen({c: 0.0 for c in CFG.carry_annual}))


def test_liquidation_ends_the_ledger():
    """A 5× forex long loses everything when the price falls 20 %."""
    (p,), _ = replay("hk", [o("a", "EURUSD", "LONG", 5.0, 1.0, T0)], T0 + 5 * DAY_MS, CFG)
    times = np.array([T0 + DAY_MS, T0 + 2 * DAY_MS], dtype=np.int64)
    book = ledger.build([p], {"EURUSD": (times, np.array([0.9, 0.79]))}, T0 + 5 * DAY_MS, 5000.0, CFG)
    assert book.liquidated_ms == T0 + 2 * DAY_MS and book.value == 0.0
    assert book.drawdown_pct == pytest.approx(100.0)
    assert book.days.tolist() == [T0 // DAY_MS]  # day 1 ends in the liquidation


@pytest.mark.parametrize("category", ["crypto", "forex", "indices"])
def test_first_charge_shortcut_agrees_with_the_charges(category):
    """The shortcut that skips a position without a charge never skips one that has a charge."""
    rng = np.random.default_rng(1)
    for _ in range(2000):
        start = int(rng.integers(0, 10**13))
        end = start + int(rng.integers(0, 3 * DAY_MS))
        times, _ = ledger.fee_times(category, start, end)
        first = ledger._first_fee_after(category, start)
        if len(times):
            assert first <= times[0]
        elif category != "forex":  # forex may have a (free) weekend charge inside
            assert first > end


def test_a_fill_at_midnight_sharp_opens_its_cell():
    """The first fill's slippage step belongs to the cell the fill opens, even at 00:00:00.000: the
    complete days' returns add up to the log of the value."""
    cfg = dataclass_without_carry()
    (p,), _ = replay("hk", [o("a", "BTCUSD", "LONG", 0.5, 100.0, T0, slip=0.01)], T0 + 3 * DAY_MS, cfg)
    times = np.array([T0 + DAY_MS, T0 + 2 * DAY_MS], dtype=np.int64)
    book = ledger.build([p], {"BTCUSD": (times, np.array([103.0, 99.0]))}, T0 + 3 * DAY_MS, 5000.0, cfg)
    assert book.days[0] == T0 // DAY_MS and book.loss[0] < 0
    assert book.returns.sum() == pytest.approx(math.log(book.value))
    assert book.value == pytest.approx(1 + (99.0 - 101.0) * 0.5 / 101.0)


def test_a_peak_that_left_the_window_still_counts_for_the_cells_recorded_under_it():
    """Up 30 % by day 9, down 16 % by day 12, flat to day 130: the fall happened under the day-9 peak,
    and the cells that recorded it are still inside the window when the peak itself is not. The
    reference keeps each cell's drawdown as it was measured; so does the ledger."""
    cfg = dataclass_without_carry()
    at = T0 + 130 * DAY_MS
    (p,), _ = replay("hk", [o("a", "BTCUSD", "LONG", 0.5, 100.0, T0)], at, cfg)
    days = np.arange(131)
    price = np.where(days <= 9, 100 * 1.3 ** (days / 9), 130 * 0.84 ** ((np.minimum(days, 12) - 9) / 3))
    times = (T0 + days * DAY_MS).astype(np.int64)
    book = ledger.build([p], {"BTCUSD": (times, price)}, at, 5000.0, cfg)
    value = 1 + (price - 100.0) * 0.5 / 100.0
    assert book.days[0] == T0 // DAY_MS + 10  # the window starts after the peak of day 9
    # the cells of days 10–12 were measured against day 9's value; later cells against day 10's
    assert book.drawdown_pct == pytest.approx(100 * (1 - value[12] / value[9]))


def test_an_adding_fill_is_valued_before_its_slippage_at_its_own_instant():
    """Bought at 06:00 with 1 % slippage, marked at 104 an hour later: the reference values the fill's
    instant with the position before it (value 1), so the cell sees one gain to the next mark and no
    loss at the fill."""
    cfg = dataclass_without_carry()
    start = T0 + 6 * HOUR
    (p,), _ = replay("hk", [o("a", "BTCUSD", "LONG", 0.5, 100.0, start, slip=0.01)], T0 + DAY_MS, cfg)
    book = ledger.build([p], {"BTCUSD": (np.array([start + HOUR], dtype=np.int64), np.array([104.0]))},
                        T0 + DAY_MS, 5000.0, cfg)
    assert book.loss[0] == 0.0
    assert book.gain[0] == pytest.approx(math.log(1 + (104.0 - 101.0) * 0.5 / 101.0))
