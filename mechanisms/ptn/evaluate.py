"""One PTN evaluation at an explicit time: orders → positions → ledgers → metrics and penalties →
buckets → weights (ptn.md §3–§10.1), with the bucket state carried in and out explicitly.

The state is the only memory between evaluations, so an operator can replay any evaluation from the
export and the state the previous one wrote, and two evaluations carrying the state give what the
state machine says they give, nothing hidden.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from mechanisms.ptn import ledger as ledgers
from mechanisms.ptn.buckets import CHALLENGE, MAINCOMP, PROBATION, Event, MinerView, State, step
from mechanisms.ptn.config import METRICS, PTNConfig
from mechanisms.ptn.metrics import dynamic_min_days, miner_metrics
from mechanisms.ptn.orders import MinerOrders, OrdersFile, Rejection
from mechanisms.ptn.pairs import PAIRS, SUBCATEGORIES
from mechanisms.ptn.penalties import collateral_penalty, drawdown_penalty, risk_profile_flag, risk_profile_penalty
from mechanisms.ptn.positions import Position, replay
from mechanisms.ptn.scoring import combine, positive_softmax
from mechanisms.ptn.weights import v1_weights

ALL = "all"  # the one segment of the unsegmented versions


@dataclass(frozen=True)
class Segment:
    """One ledger of a miner and what is read from it."""

    ledger: ledgers.Ledger
    metrics: Mapping[str, float]


@dataclass(frozen=True)
class Miner:
    """Everything the evaluation knows of one miner."""

    hotkey: str
    positions: tuple[Position, ...]
    portfolio: ledgers.Ledger
    segments: Mapping[str, Segment]
    penalties: Mapping[str, float]
    rejections: tuple[Rejection, ...]

    @property
    def penalty(self) -> float:
        return math.prod(self.penalties.values())


@dataclass(frozen=True)
class MinerResult:
    hotkey: str
    bucket: str | None                 # None once eliminated
    elimination: str | None
    trading_days: int
    drawdown_pct: float
    value: float
    metrics: Mapping[str, float]       # V2+: per sub-category, each such a mapping
    penalties: Mapping[str, float]
    score: float                       # S within the group it is weighted in (MAINCOMP or testing)
    weight: float
    rejected_orders: int


@dataclass(frozen=True)
class Evaluation:
    at_ms: int
    version: str
    miners: Mapping[str, MinerResult]
    weights: Mapping[str, float]
    state: State
    events: tuple[Event, ...]
    rejections: tuple[Rejection, ...] = field(default=())


def _considered(p: Position, value: float, at_ms: int, cfg: PTNConfig) -> bool:
    """§7: closed positions opened inside the lookback (that lasted a minute, as the reference
    filters them); open ones only while under water (§7; the reference scores closed ones only)."""
    if p.close_ms is not None:
        return p.open_ms >= at_ms - cfg.lookback_ms and p.close_ms - p.open_ms >= cfg.min_position_ms
    return value < 1.0


def _penalties(positions: Sequence[Position], portfolio: ledgers.Ledger, account_size: float | None, at_ms: int,
               cfg: PTNConfig) -> dict[str, float]:
    """§7's penalties of one miner, the risk profile over the positions it considers."""
    flags, kept = [], []
    for p, r in zip(positions, portfolio.position_values):
        if _considered(p, float(r), at_ms, cfg):
            low, high = cfg.leverage_bounds[p.category]
            flags.append(risk_profile_flag(p.ms, p.price, p.net, p.close_ms is not None, cfg, low, high))
            kept.append(r)
    out = {"drawdown": drawdown_penalty(portfolio.drawdown_pct, cfg),
           "risk_profile": risk_profile_penalty(np.array(flags, dtype=float), np.array(kept, dtype=float), cfg)}
    if cfg.min_collateral:
        out["collateral"] = collateral_penalty(account_size, cfg)
    return out


def segments_of(cfg: PTNConfig) -> tuple[str, ...]:
    return tuple(s for s in SUBCATEGORIES if s in cfg.subcategory_weights) if cfg.segmented else (ALL,)


def _segment_positions(positions: Sequence[Position], segment: str) -> list[Position]:
    return list(positions) if segment == ALL else [p for p in positions if PAIRS[p.pair].subcategory == segment]


def _category(segment: str) -> str:
    return "crypto" if segment == ALL else SUBCATEGORIES[segment]


def build_miners(file: OrdersFile, at_ms: int, cfg: PTNConfig, competing: Collection[str] = ()) -> dict[str, Miner]:
    """Replay, ledgers, metrics and penalties of every miner of the export, each on its own but for
    the V2+ confidence gate, which reads the trading days of the `competing` miners (MAINCOMP and
    PROBATION)."""
    books = {}
    for hotkey in sorted(file.miners):
        entry = file.miners[hotkey]
        positions, refused = replay(hotkey, entry.orders, at_ms, cfg, file.prices)
        account = cfg.default_account_size if entry.account_size is None else entry.account_size
        portfolio = ledgers.build(positions, file.prices, at_ms, account, cfg)
        segments = {s: portfolio if s == ALL else ledgers.build(_segment_positions(positions, s), file.prices, at_ms,
                                                                 account, cfg) for s in segments_of(cfg)}
        books[hotkey] = (positions, refused, portfolio, segments, entry.account_size)
    min_days = _min_days([books[h][3] for h in sorted(competing) if h in books], cfg)
    miners: dict[str, Miner] = {}
    for hotkey, (positions, refused, portfolio, segments, account_size) in books.items():
        scored = {s: Segment(book, miner_metrics(book.returns, book.pnl, book.drawdown_pct, min_days[s], cfg,
                                                 _category(s))) for s, book in segments.items()}
        penalties = _penalties(positions, portfolio, account_size, at_ms, cfg)
        miners[hotkey] = Miner(hotkey, tuple(positions), portfolio, scored, penalties, tuple(refused))
    return miners


def _min_days(competitors: Sequence[Mapping[str, ledgers.Ledger]], cfg: PTNConfig) -> dict[str, int]:
    """The confidence gate's minimum per segment: fixed, or (V2+) from the competition's trading days."""
    if not cfg.dynamic_confidence:
        return {s: cfg.confidence_min_days for s in segments_of(cfg)}
    return {s: dynamic_min_days([c[s].trading_days for c in competitors if c[s].start_ms is not None], cfg)
            for s in segments_of(cfg)}


def segment_scores(miners: Mapping[str, Miner], pool: Sequence[str], segment: str, cfg: PTNConfig) -> np.ndarray:
    """S (§8 step 2) of the pool's miners on one segment, ranked within the pool; miners without a
    ledger in the segment score 0 there."""
    if not pool:
        return np.zeros(0)
    table = {m: np.array([miners[h].segments[segment].metrics[m] for h in pool]) for m in METRICS}
    active = np.array([miners[h].segments[segment].ledger.start_ms is not None for h in pool])
    penalty = np.array([miners[h].penalty for h in pool]) * active
    return combine(table, penalty, cfg)


def pool_scores(miners: Mapping[str, Miner], pool: Sequence[str], asset_class: str | None,
                cfg: PTNConfig) -> dict[str, float]:
    """The score a pool is ranked by: S itself unsegmented; segmented (V2+), each sub-category's
    softmax weighted by its share (within one class, or across classes by their emission shares),
    which is already the pool's share of the emission."""
    pool = sorted(pool)
    if not cfg.segmented:
        return dict(zip(pool, segment_scores(miners, pool, ALL, cfg).tolist()))
    total = np.zeros(len(pool))
    for segment in segments_of(cfg):
        cls = SUBCATEGORIES[segment]
        if asset_class is not None and cls != asset_class:
            continue
        share = cfg.subcategory_weights[segment] * (1.0 if asset_class else cfg.class_shares.get(cls, 0.0))
        s = segment_scores(miners, pool, segment, cfg)
        total += share * positive_softmax(s, cfg.softmax_temperature, cfg.softmax_nonzero_only)
    return dict(zip(pool, total.tolist()))


def _view(m: Miner, registered: bool, cfg: PTNConfig) -> MinerView:
    """What the state machine reads of a miner. Its positions screen counts, as the reference's does,
    only closed positions that lasted a minute: a challenger holding nothing but open positions is
    not yet judged (nor eliminated for a drawdown it has not closed)."""
    classes = frozenset(PAIRS[p.pair].category for p in m.positions)
    closed = any(p.close_ms is not None and p.close_ms - p.open_ms >= cfg.min_position_ms for p in m.positions)
    return MinerView(first_order_ms=m.portfolio.start_ms, ledger_start_ms=m.portfolio.start_ms,
                     has_positions=closed, trading_days=m.portfolio.trading_days,
                     drawdown_pct=m.portfolio.drawdown_pct, liquidated=m.portfolio.liquidated_ms is not None,
                     in_metagraph=registered, asset_classes=classes)


def evaluate(file: OrdersFile, at_ms: int, cfg: PTNConfig, state: State | None = None) -> Evaluation:
    """Score every miner of the export at `at_ms`, starting from `state` (empty: every miner new)."""
    state = State.empty() if state is None else state
    competing = [h for h, s in state.standings.items() if s.bucket in (MAINCOMP, PROBATION)]
    absent = {h: MinerOrders((), None) for h in state.standings if h not in file.miners}  # known, no orders now
    miners = build_miners(replace(file, miners={**file.miners, **absent}), at_ms, cfg, competing)
    views = {h: _view(m, h in file.metagraph, cfg) for h, m in miners.items()}
    new_state, events = step(state, views, at_ms, cfg,
                             lambda pool, asset_class: pool_scores(miners, pool, asset_class, cfg))
    main = sorted(h for h, s in new_state.standings.items() if s.bucket == MAINCOMP)
    # the dust goes to testing miners with a ledger: a hotkey with no accepted fill has nothing to rank
    testing = sorted(h for h, s in new_state.standings.items()
                     if s.bucket in (CHALLENGE, PROBATION) and miners[h].portfolio.start_ms is not None)
    main_scores, test_scores = pool_scores(miners, main, None, cfg), pool_scores(miners, testing, None, cfg)
    weights = v1_weights(main_scores, test_scores, {h: miners[h].portfolio.trading_days for h in testing}, cfg,
                         shares=cfg.segmented)
    results = {}
    for hotkey in sorted(miners):
        m = miners[hotkey]
        standing, gone = new_state.standings.get(hotkey), new_state.eliminated.get(hotkey)
        results[hotkey] = MinerResult(
            hotkey, None if gone else (standing.bucket if standing else None), gone.reason if gone else None,
            m.portfolio.trading_days, m.portfolio.drawdown_pct, m.portfolio.value,
            {s: dict(seg.metrics) for s, seg in m.segments.items()} if cfg.segmented else dict(m.segments[ALL].metrics),
            dict(m.penalties), main_scores.get(hotkey, test_scores.get(hotkey, 0.0)), weights.get(hotkey, 0.0),
            len(m.rejections))
    rejections = tuple(file.rejections) + tuple(r for h in sorted(miners) for r in miners[h].rejections)
    return Evaluation(at_ms, cfg.version, results, weights, new_state, tuple(events), rejections)
