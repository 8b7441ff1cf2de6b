"""PTN scoring: 256 miners × 120 days of filled orders evaluated once (time and peak memory), and the
quality of the weights on synthetic traders with planted skill over three seeds.

The export is generated in memory (devnet/ptn.py: hourly marks for seven pairs, positions rebalanced
twice a day); the timed part parses it and runs one evaluation from an empty state. Memory is the
process's peak RSS, before (the generated export) and after.
"""

from __future__ import annotations

import resource
import time
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from benchmarks.common import machine, pin_to_one_core
from devnet.ptn import traders
from mechanisms.ptn.config import DAY_MS, PTNConfig, v1_proposal
from mechanisms.ptn.evaluate import Evaluation, evaluate
from mechanisms.ptn.orders import parse_file

QUALITY_DAYS = (90, 105, 120, 135, 150)  # evaluation days after the traders' start (2025-04-01), state carried
QUALITY_SKILLED = 32  # with the other kinds, more miners than MAINCOMP's 25: promotion, demotion, probation


def quality(seed: int, cfg: PTNConfig | None = None) -> dict[str, Any]:
    """Evaluate a seed's traders at QUALITY_DAYS carrying the state; at the last one, the Spearman
    correlation of planted skill with weight among the miners still in, and who was eliminated."""
    cfg = cfg or v1_proposal()
    panel = traders(seed, n_skilled=QUALITY_SKILLED)
    orders = parse_file(panel.export, cfg.order_leverage_bounds)
    result: Evaluation | None = None
    events: dict[str, int] = {}
    for day in QUALITY_DAYS:
        result = evaluate(orders, panel.start_ms + day * DAY_MS, cfg, None if result is None else result.state)
        for e in result.events:
            key = e.kind if e.reason is None else f"{e.kind} {e.reason}"
            events[key] = events.get(key, 0) + 1
    assert result is not None
    alive = [h for h, m in result.miners.items() if m.elimination is None and panel.kind[h] != "garbage"]
    rho = spearmanr([panel.skill[h] for h in alive], [result.weights.get(h, 0.0) for h in alive]).statistic
    by_kind = {k: sorted(h for h in panel.kind if panel.kind[h] == k) for k in set(panel.kind.values())}
    return {
        "seed": seed,
        "spearman_skill_weight_alive": float(rho),
        "alive": len(alive),
        "eliminated": {k: sum(result.miners[h].elimination is not None for h in hs) for k, hs in sorted(by_kind.items())},
        "miners": {k: len(hs) for k, hs in sorted(by_kind.items())},
        "maincomp": sum(m.bucket == "MAINCOMP" for m in result.miners.values()),
        "probation": sum(m.bucket == "PROBATION" for m in result.miners.values()),
        "events": dict(sorted(events.items())),
    }


def at_scale(miners: int = 256, days: int = 120) -> dict[str, Any]:
    cfg = v1_proposal()
    panel = traders(11, n_skilled=miners - 14, days=days)
    n_orders = sum(len(m["orders"]) for m in panel.export["miners"].values())
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    orders = parse_file(panel.export, cfg.order_leverage_bounds)
    t1 = time.perf_counter()
    result = evaluate(orders, panel.end_ms, cfg)
    t2 = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"miners": len(panel.export["miners"]), "days": days, "orders": n_orders,
            "marks": sum(len(v) for v in panel.export["prices"].values()),
            "parse_s": round(t1 - t0, 2), "evaluate_s": round(t2 - t1, 2), "total_s": round(t2 - t0, 2),
            "peak_rss_mib": round(peak / 1024, 1), "rss_before_mib": round(before / 1024, 1),
            "weights_sum": round(float(np.sum(list(result.weights.values()))), 6)}


def one_busy_miner(n: int = 100_000) -> dict[str, Any]:
    """A hostile miner at the order cap: LONG and FLAT alternating on one pair, a position every other
    order, 11 s apart; with the market's marks."""
    panel = traders(3, n_skilled=1, days=20, extra={k: 0 for k in ("reckless", "drawdown", "inactive", "copycat",
                                                                   "garbage")})
    marks = panel.export["prices"]["BTCUSD"]
    orders = [{"order_uuid": f"u{i}", "trade_pair": "BTCUSD", "order_type": "LONG" if i % 2 == 0 else "FLAT",
               "leverage": 0.1, "processed_ms": panel.start_ms + i * 11_000,
               "price": marks[min(i * 11_000 // 3_600_000, len(marks) - 1)][1]} for i in range(n)]
    export = {"format": "ptn-orders/1", "miners": {"busy": {"orders": orders}}, "prices": {"BTCUSD": marks}}
    cfg = v1_proposal()
    t0 = time.perf_counter()
    result = evaluate(parse_file(export, cfg.order_leverage_bounds), panel.start_ms + 14 * DAY_MS, cfg)
    return {"orders": n, "positions": n // 2, "seconds": round(time.perf_counter() - t0, 2),
            "refused": result.miners["busy"].rejected_orders}


def run(scale: float = 1.0) -> dict[str, Any]:
    pin_to_one_core()
    return {"machine": machine(), "scale_256x120d": at_scale(), "one_miner_at_the_order_cap": one_busy_miner(),
            "quality_v1": [quality(seed) for seed in (1, 2, 3)]}
