"""Positions from filled orders (ptn.md §3): one open position per pair, its direction set by the first
order, sizes clamped to the position's and the portfolio's room, closed by FLAT or by an order that
would cross zero.

The replay keeps, after every accepted order, what the position's return depends on: its net
leverage, its average entry and what it has realised. Between two orders the return moves only with
the price, `1 + (realised + (price − average entry)·net)/first entry`, so the ledger can mark a
position at any price without replaying it again.

Slippage: a fill buys at `price·(1 + slippage)` and sells at `price·(1 − slippage)`; the average entry
is the size-weighted mean of the slipped fills that added to the position, and a reducing order
realises `(slipped fill − average entry)·size reduced` in the position's direction. The first
entry, the denominator of every return, is the first fill's slipped price.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from mechanisms.ptn.config import PTNConfig
from mechanisms.ptn.orders import Order, Rejection
from mechanisms.ptn.pairs import PAIRS

ROOM_EPS = 1e-12  # leverage room smaller than this is none


@dataclass(frozen=True)
class Position:
    """One position's history: entry k holds the state after the k-th accepted order (at `ms[k]`).
    `close_ms` is None while the position is open at the evaluation time."""

    pair: str
    category: str
    ms: np.ndarray          # int64, accepted orders' times
    price: np.ndarray       # the fills before slippage
    net: np.ndarray         # signed net leverage after each order (0 after the closing one)
    avg_entry: np.ndarray   # average slipped entry after each order
    realized: np.ndarray    # realised gain (price units × leverage) after each order
    first_entry: float
    close_ms: int | None

    @property
    def open_ms(self) -> int:
        return int(self.ms[0])

    def value(self, k: np.ndarray, price: np.ndarray) -> np.ndarray:
        """The return before fees at the given prices, in the state after order k (vectorised)."""
        return 1.0 + (self.realized[k] + (price - self.avg_entry[k]) * self.net[k]) / self.first_entry


class _Open:
    """A position being replayed."""

    def __init__(self, order: Order, size: float, category: str) -> None:
        self.pair, self.category = order.pair, category
        fill = _fill(order.price, order.slippage, size)
        self.first_entry = fill
        self.rows: list[tuple[int, float, float, float, float]] = [(order.ms, order.price, size, fill, 0.0)]

    @property
    def net(self) -> float:
        return self.rows[-1][2]

    def add(self, order: Order, delta: float) -> None:
        ms, _, net, avg, realized = self.rows[-1]
        fill = _fill(order.price, order.slippage, delta)
        if net * delta > 0:  # adding: the average entry moves towards the fill
            avg = (avg * abs(net) + fill * abs(delta)) / (abs(net) + abs(delta))
        else:  # reducing or closing: realise the part given back
            realized += (fill - avg) * -delta
        new = 0.0 if abs(net + delta) < ROOM_EPS else net + delta
        self.rows.append((order.ms, order.price, new, avg, realized))

    def freeze(self, close_ms: int | None) -> Position:
        ms, price, net, avg, realized = (np.array(c) for c in zip(*self.rows))
        return Position(self.pair, self.category, ms.astype(np.int64), price.astype(float), net.astype(float),
                        avg.astype(float), realized.astype(float), self.first_entry, close_ms)


def _fill(price: float, slippage: float, delta: float) -> float:
    """Buying pays up, selling gets less."""
    return price * (1.0 + slippage) if delta > 0 else price * (1.0 - slippage)


def _off_the_marks(order: Order, marks: tuple[np.ndarray, np.ndarray] | None, factor: float) -> bool:
    """A fill far from the price the pair's marks show at its time (the latest at or before it, else
    the first after) is not a fill of this market: its return would be anything."""
    if marks is None or not len(marks[0]):
        return False
    i = max(int(np.searchsorted(marks[0], order.ms, "right")) - 1, 0)
    ratio = order.price / float(marks[1][i])
    return not 1.0 / factor <= ratio <= factor


def replay(hotkey: str, orders: Iterable[Order], at_ms: int, cfg: PTNConfig,
           prices: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None) -> tuple[list[Position], list[Rejection]]:
    """Every position the orders up to `at_ms` make, in opening order, and the orders refused with
    their reasons (an order after `at_ms` has not happened yet and is neither). With the pairs' price
    marks, a fill more than `cfg.fill_mark_factor` off them is refused.

    An order's size is clamped to the room left under the pair's maximum and the portfolio cap, and
    refused if none is left; a first order or a reduction that would leave less than the pair's
    minimum is refused; an order that reaches or crosses zero closes the position and its excess is
    dropped; FLAT closes."""
    open_: dict[str, _Open] = {}
    done: list[tuple[int, Position]] = []
    last_ms: dict[str, int] = {}
    refused: list[Rejection] = []

    def refuse(order: Order, reason: str) -> None:
        refused.append(Rejection(hotkey, order.uuid, reason))

    for order in orders:
        if order.ms > at_ms:
            break
        pair, category = order.pair, PAIRS[order.pair].category
        low, high = cfg.leverage_bounds[category]
        if pair in cfg.blocked_pairs:
            refuse(order, f"{pair} is not tradable")
            continue
        if prices is not None and _off_the_marks(order, prices.get(pair), cfg.fill_mark_factor):
            refuse(order, f"fill price {order.price:.6g} is far from the {pair} marks")
            continue
        if order.ms - last_ms.get(pair, -cfg.cooldown_ms) < cfg.cooldown_ms:
            refuse(order, f"within the {cfg.cooldown_ms // 1000} s cooldown of {pair}")
            continue
        position = open_.get(pair)
        net = 0.0 if position is None else position.net
        if order.kind == "FLAT" and position is None:
            refuse(order, f"FLAT without an open {pair} position")
            continue
        if (order.kind != "FLAT" and cfg.max_open_orders is not None
                and sum(len(p.rows) for p in open_.values()) >= cfg.max_open_orders):
            refuse(order, f"{cfg.max_open_orders} orders already on open positions")
            continue
        if order.kind == "FLAT" or net * (net + order.leverage) <= 0 < abs(net):
            delta = -net  # FLAT, or an order reaching or crossing zero: close, drop the excess
        else:
            delta, proposed = order.leverage, abs(net + order.leverage)
            if proposed > abs(net):  # opening or adding: clamp to the room under both caps
                used = sum(abs(p.net) * cfg.portfolio_multipliers[p.category] for q, p in open_.items() if q != pair)
                room = min(high, (cfg.portfolio_leverage_cap - used) / cfg.portfolio_multipliers[category])
                delta = np.sign(delta) * min(abs(delta), max(0.0, room - abs(net)))
                if abs(delta) < ROOM_EPS:
                    refuse(order, f"no leverage room left on {pair}")
                    continue
            if abs(net + delta) < low and (position is None or abs(net + delta) < abs(net)):
                refuse(order, f"would leave {pair} below its minimum leverage {low:g}")
                continue
            if abs(delta) < cfg.order_leverage_bounds[0]:
                refuse(order, f"the room left on {pair} is below the minimum order")
                continue
        if position is None:
            open_[pair] = _Open(order, float(delta), category)
        else:
            position.add(order, float(delta))
            if position.net == 0.0:
                done.append((position.rows[0][0], position.freeze(order.ms)))
                del open_[pair]
        last_ms[pair] = order.ms
    done.extend((p.rows[0][0], p.freeze(None)) for p in open_.values())
    done.sort(key=lambda item: item[0])
    return [p for _, p in done], refused
