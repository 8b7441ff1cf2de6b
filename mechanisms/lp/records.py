"""A recorded SN98 round and the `lp-round/1` file that carries it (docs/lp.md).

The round context and the pool's swaps are the validator's own records; the miners' answers are
hostile. A malformed answer puts only its miner out of the round, with the reason; a malformed
swap or context makes the file unusable (ValueError), because every miner is measured against them.
Amounts are raw integers carried as decimal strings (JSON numbers lose them past 2^53).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from mechanisms.fields import printable_id
from mechanisms.lp.tickmath import MAX_SQRT_RATIO, MAX_TICK, MIN_SQRT_RATIO, MIN_TICK, sqrt_ratio_at_tick, valid_range

FORMAT = "lp-round/1"
MAX_DEPTH = 64  # a record is 7 levels deep; the recorder keeps only the fields it reads
MAX_AMOUNT = 1 << 128  # uint128: nothing a pool holds or a position allocates is larger
MAX_POSITIONS = 20     # desired positions in one answer
MAX_RESPONSES = 1_000  # answers of one miner in one round (one every 100 blocks)
MAX_UID = 65_535       # a metagraph uid is a u16 (and the reputation state refuses a negative one)
MAX_BODY = 64 * 1024   # characters of one answer's JSON: a huge body is refused, not parsed further


def amount(value: object, what: str, signed: bool = False) -> int:
    """A raw token amount from a decimal string (or a JSON integer); ValueError with the reason."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"{what} must be an integer amount as a decimal string")
    if isinstance(value, str):
        text = value[1:] if signed and value.startswith("-") else value
        if not (0 < len(text) <= 40 and text.isascii() and text.isdigit()):
            raise ValueError(f"{what} must be a {'signed ' if signed else 'non-negative '}integer as a decimal string")
        value = int(value)
    if not (-MAX_AMOUNT if signed else 0) <= value < MAX_AMOUNT:
        raise ValueError(f"{what} is out of range")
    return value


@dataclass(frozen=True)
class Position:
    tick_lower: int
    tick_upper: int
    allocation0: int
    allocation1: int


@dataclass(frozen=True)
class Swap:
    block: int
    log_index: int
    sqrt_price_x96: int  # the pool's price after the swap
    tick: int
    amount0: int         # signed: positive = into the pool
    amount1: int
    liquidity: int       # the pool's active liquidity


@dataclass(frozen=True)
class Answer:
    """One answer to a rebalance query: positions wanted, or None when the miner is out."""

    block: int
    positions: tuple[Position, ...] | None
    refusal: str | None  # why it is out: the miner's own refusal, a timeout, or a malformed answer


@dataclass(frozen=True)
class Round:
    round_id: str
    job_id: str
    round_type: str  # "evaluation" or "live"
    date: str        # the UTC date the round started (participation is counted per date)
    start_block: int
    end_block: int
    tick_spacing: int
    fee_pips: int    # the pool's fee tier in millionths (3000 = 0.3 %)
    sqrt_price_x96: int  # the pool price at start_block
    inventory: tuple[int, int]
    positions: tuple[Position, ...]  # on chain at the start
    swaps: tuple[Swap, ...]          # in (block, log_index) order, start_block ≤ block ≤ end_block
    miners: Mapping[str, tuple[int, tuple[Answer, ...]]]  # hotkey → (uid, answers in block order)
    executions_failed: bool = False  # live rounds: every execution the bot tried failed


def _int(value: object, what: str, lo: int, hi: int) -> int:
    if type(value) is not int or not lo <= value <= hi:
        raise ValueError(f"{what} must be an integer in [{lo}, {hi}]")
    return value


def parse_position(raw: object, spacing: int) -> Position:
    if not isinstance(raw, Mapping):
        raise ValueError("a position must be an object")
    tl, tu = raw.get("tick_lower"), raw.get("tick_upper")
    reason = valid_range(tl, tu, spacing)
    if reason:
        raise ValueError(reason)
    return Position(tl, tu, amount(raw.get("allocation0"), "allocation0"), amount(raw.get("allocation1"), "allocation1"))


def _body(resp: object) -> int | str:
    """About the size of a response as JSON text, walked without recursion and given up past MAX_BODY;
    or why it is not JSON-like (too deep, which a cycle also is; a key or value JSON has not). From a
    file it is JSON already; a Python caller may hand over anything, and the interpreter's recursion
    limit (which py_ecc raises) must not decide the answer."""
    total, stack = 0, [(resp, 0)]
    while stack and total <= MAX_BODY:
        x, depth = stack.pop()
        if depth > MAX_DEPTH:
            return f"nested deeper than {MAX_DEPTH}"
        if isinstance(x, str):
            total += len(x) + 2
        elif x is None or isinstance(x, bool | float):
            total += 5
        elif isinstance(x, int):
            if x.bit_length() > 1024:
                return "holding a number too long"
            total += len(str(x))
        elif isinstance(x, Mapping):
            if not all(isinstance(k, str) for k in x):
                return "not JSON (a key that is not a string)"
            total += 2 + sum(len(k) + 4 for k in x)
            stack.extend((v, depth + 1) for v in x.values())
        elif isinstance(x, list | tuple):
            total += 2 + len(x)
            stack.extend((v, depth + 1) for v in x)
        else:
            return "not JSON"
    return total


def parse_answer(raw: object, spacing: int) -> Answer:
    """An answer; anything malformed in it gives an Answer with no positions and the reason."""
    if not isinstance(raw, Mapping) or type(raw.get("block")) is not int:
        raise ValueError("an answer needs its query block")
    block = raw["block"]
    if raw.get("response") is None:
        return Answer(block, None, "no response (timeout)")
    resp = raw["response"]
    body = _body(resp)
    if isinstance(body, str):
        return Answer(block, None, f"malformed: the response is {body}")
    if body > MAX_BODY:
        return Answer(block, None, f"malformed: the answer is {body} characters, above {MAX_BODY}")
    if not isinstance(resp, Mapping):
        return Answer(block, None, "malformed: the response is not an object")
    if resp.get("accepted") is not True:
        why = resp.get("refusal_reason")
        text = why.strip()[:200] if isinstance(why, str) and why.isprintable() and why.strip() else "no reason given"
        return Answer(block, None, f"refused: {text}")
    desired = resp.get("desired_positions")
    if desired is None:
        return Answer(block, None, "not running (no desired positions)")
    if not isinstance(desired, list) or len(desired) > MAX_POSITIONS:
        return Answer(block, None, f"malformed: desired_positions must be a list of at most {MAX_POSITIONS}")
    try:
        return Answer(block, tuple(parse_position(p, spacing) for p in desired), None)
    except ValueError as exc:
        return Answer(block, None, f"malformed: {exc}")


def _swap(raw: object) -> Swap:
    if not isinstance(raw, Mapping):
        raise ValueError("a swap must be an object")
    sp = amount(raw.get("sqrt_price_x96"), "sqrt_price_x96")
    tick = _int(raw.get("tick"), "tick", MIN_TICK, MAX_TICK)
    upper = sqrt_ratio_at_tick(tick + 1) if tick < MAX_TICK else MAX_SQRT_RATIO + 1
    if sp == upper:  # a swap down that stops exactly on a tick's price reports the tick below it
        tick += 1
    elif not MIN_SQRT_RATIO <= sp < MAX_SQRT_RATIO or not sqrt_ratio_at_tick(tick) <= sp < upper:
        raise ValueError(f"swap tick {tick} does not hold its sqrt price")
    return Swap(_int(raw.get("block"), "block", 0, 2**63), _int(raw.get("log_index", 0), "log_index", 0, 2**31),
                sp, tick, amount(raw.get("amount0"), "amount0", signed=True),
                amount(raw.get("amount1"), "amount1", signed=True), amount(raw.get("liquidity"), "liquidity"))


def parse_round(obj: object) -> Round:
    """The whole file."""
    if not isinstance(obj, Mapping) or obj.get("format") != FORMAT:
        raise ValueError(f"not an {FORMAT} file: an object with \"format\": \"{FORMAT}\"")
    ctx, swaps, miners = obj.get("round"), obj.get("swaps"), obj.get("miners")
    if not isinstance(ctx, Mapping) or not isinstance(swaps, list) or not isinstance(miners, Mapping):
        raise ValueError("an lp-round/1 file has \"round\" (an object), \"swaps\" (a list) and \"miners\" (an object)")
    spacing = _int(ctx.get("tick_spacing", 200), "tick_spacing", 1, 16384)
    start, end = _int(ctx.get("start_block"), "start_block", 0, 2**63), _int(ctx.get("end_block"), "end_block", 0, 2**63)
    if end < start:
        raise ValueError("end_block is before start_block")
    kind = ctx.get("round_type", "evaluation")
    if kind not in ("evaluation", "live"):
        raise ValueError("round_type must be evaluation or live")
    date = ctx.get("date")
    try:
        if not (isinstance(date, str) and len(date) == 10 and dt.date.fromisoformat(date).isoformat() == date):
            raise ValueError
    except ValueError:
        raise ValueError("date must be the round's UTC date, YYYY-MM-DD") from None
    inv = ctx.get("inventory") or {}
    if not isinstance(inv, Mapping):
        raise ValueError("inventory must be {amount0, amount1}")
    positions = ctx.get("positions") or []
    if not isinstance(positions, list):
        raise ValueError("positions must be a list")
    sp = amount(ctx.get("sqrt_price_x96"), "sqrt_price_x96")
    if not MIN_SQRT_RATIO <= sp < MAX_SQRT_RATIO:
        raise ValueError("sqrt_price_x96 is outside the pool's price range")
    parsed_swaps = sorted((_swap(s) for s in swaps), key=lambda s: (s.block, s.log_index))
    if any(not start <= s.block <= end for s in parsed_swaps):
        raise ValueError("swaps must lie within [start_block, end_block]")
    out: dict[str, tuple[int, tuple[Answer, ...]]] = {}
    taken: set[int] = set()
    for hotkey, raw in miners.items():
        if not printable_id(hotkey) or not isinstance(raw, Mapping) or type(raw.get("uid")) is not int \
                or not 0 <= raw["uid"] <= MAX_UID or not isinstance(raw.get("answers"), list) \
                or len(raw["answers"]) > MAX_RESPONSES:
            raise ValueError(f"miner {str(hotkey)[:40]!r}: needs a uid in [0, {MAX_UID}] and a list of at most "
                             f"{MAX_RESPONSES} answers")
        if raw["uid"] in taken:  # a uid is one hotkey at a time
            raise ValueError(f"miner {hotkey}: uid {raw['uid']} is another miner's too")
        answers = tuple(parse_answer(a, spacing) for a in raw["answers"])
        if [a.block for a in answers] != sorted(a.block for a in answers):
            raise ValueError(f"miner {hotkey}: answers must be in block order")
        out[hotkey] = (raw["uid"], answers)
        taken.add(raw["uid"])
    failed = ctx.get("executions_failed", False)
    if not isinstance(failed, bool):
        raise ValueError("executions_failed must be a boolean")
    return Round(str(ctx.get("round_id", ""))[:128], str(ctx.get("job_id", ""))[:128], kind, date, start, end, spacing,
                 _int(ctx.get("fee_pips"), "fee_pips", 1, 1_000_000 - 1), sp,
                 (amount(inv.get("amount0"), "inventory amount0"), amount(inv.get("amount1"), "inventory amount1")),
                 tuple(parse_position(p, spacing) for p in positions), tuple(parsed_swaps), out, failed)
