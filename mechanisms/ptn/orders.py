"""The filled orders a PTN evaluation reads, and the export file that carries them (docs/ptn.md).

Everything here comes from miners (pairs, order types, leverage) or from the validator's fills
(price, slippage, time), and one miner's garbage must not cost another miner anything: a malformed
order is refused with its reason and the miner's other orders still count; a malformed miner is
refused whole and the others are scored.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from mechanisms.fields import finite_number, printable_id
from mechanisms.ptn.pairs import PAIRS

FORMAT = "ptn-orders/1"
ORDER_TYPES = ("LONG", "SHORT", "FLAT")
MAX_MS = 2**53  # beyond this a millisecond time is not a time (and not exact as a JSON double)
PRICE_RANGE = (1e-8, 1e9)  # no tradable pair has ever been priced outside this (returns stay finite)
MAX_DEPTH = 512  # an export is 7 levels deep; a miner's field nested deeper than this voids the file


def _price(value: object) -> float | None:
    x = finite_number(value)
    return x if x is not None and PRICE_RANGE[0] <= x <= PRICE_RANGE[1] else None


@dataclass(frozen=True)
class Order:
    """One filled order. `leverage` is signed (SHORT negative, FLAT 0); `price` is the fill before
    slippage and `slippage` the fraction the fill moved against the miner."""

    uuid: str
    pair: str
    kind: str
    leverage: float
    price: float
    slippage: float
    ms: int


@dataclass(frozen=True)
class Rejection:
    hotkey: str
    uuid: str | None
    reason: str


@dataclass(frozen=True)
class MinerOrders:
    orders: tuple[Order, ...]
    account_size: float | None


@dataclass(frozen=True)
class OrdersFile:
    """A parsed export: each accepted miner's orders (in time order), the price marks per pair (times
    ascending), the hotkeys registered at the evaluation time, and what was refused."""

    miners: Mapping[str, MinerOrders]
    prices: Mapping[str, tuple[np.ndarray, np.ndarray]]  # int64 times ascending, float prices
    metagraph: frozenset[str]
    rejections: tuple[Rejection, ...]


def _time(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not (math.isfinite(value) and value == int(value)):
        return None
    return int(value) if 0 <= value < MAX_MS else None


def parse_order(raw: object, order_bounds: tuple[float, float]) -> Order | str:
    """One order, or why it is refused. Leverage is sent as a size; SHORT is stored negative."""
    if not isinstance(raw, Mapping):
        return "an order is not an object"
    uuid = raw.get("order_uuid")
    if not isinstance(uuid, str) or not 0 < len(uuid) <= 128:
        return "order_uuid is not a string of 1–128 characters"
    pair = raw.get("trade_pair")
    if isinstance(pair, list) and pair:  # the reference exports a pair as [id, name, fee, min, max]
        pair = pair[0]
    if not isinstance(pair, str) or pair not in PAIRS:
        return f"unknown trade pair {str(pair)[:32]!r}"
    kind = raw.get("order_type")
    if kind not in ORDER_TYPES:
        return f"order_type {str(kind)[:16]!r} is not LONG, SHORT or FLAT"
    ms = _time(raw.get("processed_ms"))
    if ms is None:
        return "processed_ms is not a time in milliseconds"
    price = _price(raw.get("price"))
    if price is None:
        return f"price is not a number in [{PRICE_RANGE[0]:g}, {PRICE_RANGE[1]:g}]"
    slippage = finite_number(raw.get("slippage", 0.0))
    if slippage is None or not 0 <= slippage < 1:
        return "slippage is not a fraction in [0, 1)"
    size = finite_number(raw.get("leverage", 0.0))
    if size is None:
        return "leverage is not a finite number"
    size = abs(size)
    if kind == "FLAT":
        size = 0.0
    elif not order_bounds[0] <= size <= order_bounds[1]:
        return f"leverage {size:.6g} outside [{order_bounds[0]:g}, {order_bounds[1]:g}]"
    return Order(uuid, pair, kind, -size if kind == "SHORT" else size, price, slippage, ms)


def parse_miner(hotkey: str, raw: object, order_bounds: tuple[float, float],
                max_orders: int) -> tuple[MinerOrders | None, list[Rejection]]:
    """A miner's orders in time order (ties kept in file order), each bad order refused alone; a
    repeated uuid is refused after its first use."""
    if not isinstance(raw, Mapping) or not isinstance(raw.get("orders"), list):
        return None, [Rejection(hotkey, None, "a miner must be an object with an \"orders\" list")]
    if len(raw["orders"]) > max_orders:
        return None, [Rejection(hotkey, None, f"{len(raw['orders'])} orders, more than the {max_orders} allowed")]
    size = raw.get("account_size")
    account = None if size is None else finite_number(size)
    if size is not None and (account is None or account < 0):
        return None, [Rejection(hotkey, None, "account_size is not a non-negative finite number")]
    rejected: list[Rejection] = []
    kept: list[Order] = []
    seen: set[str] = set()
    for item in raw["orders"]:
        order = parse_order(item, order_bounds)
        if isinstance(order, str):
            uuid = item.get("order_uuid") if isinstance(item, Mapping) else None
            rejected.append(Rejection(hotkey, uuid if isinstance(uuid, str) else None, order))
        elif order.uuid in seen:
            rejected.append(Rejection(hotkey, order.uuid, "order_uuid repeats an earlier order"))
        else:
            seen.add(order.uuid)
            kept.append(order)
    kept.sort(key=lambda o: o.ms)
    return MinerOrders(tuple(kept), account), rejected


def parse_prices(raw: object) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], list[Rejection]]:
    """Price marks per pair, `[[ms, price], ...]`: a bad mark is dropped with a reason, the rest sorted
    by time (the last of equal times wins)."""
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    rejected: list[Rejection] = []
    if raw is None:
        return out, rejected
    if not isinstance(raw, Mapping):
        raise ValueError("\"prices\" must be an object of pair → [[ms, price], ...]")
    for pair, marks in raw.items():
        if pair not in PAIRS or not isinstance(marks, list):
            rejected.append(Rejection("", None, f"prices: unknown pair or not a list: {str(pair)[:32]!r}"))
            continue
        by_time: dict[int, float] = {}
        bad = 0
        for mark in marks:
            ms = _time(mark[0]) if isinstance(mark, list) and len(mark) == 2 else None
            px = _price(mark[1]) if ms is not None else None
            if ms is None or px is None:
                bad += 1
                continue
            by_time[ms] = px
        if bad:
            rejected.append(Rejection("", None, f"prices: {bad} marks of {pair} are not [ms, price in range]"))
        times = sorted(by_time)
        out[pair] = (np.array(times, dtype=np.int64), np.array([by_time[t] for t in times], dtype=float))
    return out, rejected


def parse_file(obj: object, order_bounds: tuple[float, float], max_orders: int = 100_000) -> OrdersFile:
    """The whole export. Only a file that is not an export at all raises (ValueError)."""
    if not isinstance(obj, Mapping) or obj.get("format") != FORMAT or not isinstance(obj.get("miners"), Mapping):
        raise ValueError(f"not a {FORMAT} export: an object with \"format\": \"{FORMAT}\" and \"miners\"")
    prices, rejected = parse_prices(obj.get("prices"))
    miners: dict[str, MinerOrders] = {}
    for hotkey, raw in obj["miners"].items():
        if not printable_id(hotkey):
            rejected.append(Rejection(hotkey[:128].encode("ascii", "backslashreplace").decode(), None,
                                      "a hotkey must be 1–128 printable ASCII characters without spaces"))
            continue
        parsed, refused = parse_miner(hotkey, raw, order_bounds, max_orders)
        rejected.extend(refused)
        if parsed is not None:
            miners[hotkey] = parsed
    metagraph = obj.get("metagraph")
    if metagraph is None:
        registered = frozenset(miners)
    elif isinstance(metagraph, list) and all(isinstance(h, str) for h in metagraph):
        registered = frozenset(metagraph)
    else:
        raise ValueError("\"metagraph\" must be a list of hotkeys")
    return OrdersFile(miners, prices, registered, tuple(rejected))
