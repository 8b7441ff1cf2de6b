"""The devnet miners' values for multi-asset challenges (mantis.md §9): what each role sends, read back
as the validator reads it.

The devnet profile has no multi-asset challenge yet, so the world here is the devnet's with
XSEC-RANK and FUNDING-XSEC added, their planted values drawn per row (a full panel of them would
hold ~200 MB): what the miners send is checked from the plaintext, without encrypting it.
"""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest

import profiles
from devnet.mantis.miners import Miners, build, hostile_object, hostile_pairs, hostile_plaintext, hostility, object_answer
from devnet.world import World
from mechanisms.mantis.universe import BREAKOUT_ASSETS, FUNDING_ASSETS, TRADE_MIX_ASSETS
from protocol import json_guard
from protocol import payload as pl
from protocol.validation import PER_ASSET, ChallengeFormat, challenge_values

OBJECTS = {"MULTI-BREAKOUT": ("MULTIBREAKOUT", "range_breakout_multi", BREAKOUT_ASSETS, 1200),
           "XSEC-RANK": ("MULTIXSEC", "xsec_rank", BREAKOUT_ASSETS, 1200),
           "FUNDING-XSEC": ("FUNDINGXSEC", "funding_xsec", FUNDING_ASSETS, 2400),
           "TRADE-MIX": ("TRADEMIX", "trade_mix", TRADE_MIX_ASSETS, 300)}
PAIRS = {"MULTI-BREAKOUT"}  # two values an asset, in [0, 1]


class PlantedRows:
    """`embeddings[row]` of a multi-asset panel: (H, A·per) uniform in [-1, 1] (pairs: [0, 1]), NaN
    where the miner sends nothing that sample (as in the first challenge's panel) and for one asset
    in ten, exact zeros for one in twenty."""

    def __init__(self, base: np.ndarray, n: int, seed: int, per: int = 1) -> None:
        self.base, self.n, self.seed, self.per = base, n, seed, per

    def __getitem__(self, row: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, row])
        H = self.base.shape[1]
        e = rng.uniform(-1 if self.per == 1 else 0, 1, (H, self.n, self.per)).astype(np.float32)
        e[rng.random((H, self.n)) < 0.05] = 0
        e[rng.random((H, self.n)) < 0.1] = np.nan
        e[np.isnan(self.base[row]).all(axis=1)] = np.nan
        e[1] = np.nan  # one miner has none of these challenges' values, and still the others
        return e.reshape(H, self.n * self.per)


@pytest.fixture(scope="module")
def world() -> World:
    devnet = profiles.load()  # it holds both object challenges: drawn per row here instead
    base = World(devnet.model_copy(update={"challenges": tuple(c for c in devnet.challenges if c.name not in OBJECTS)}))
    doc = base.profile.model_dump()
    doc["challenges"] = list(doc["challenges"]) + [
        {"name": name, "mechanism": mech, "weight": 1.0, "mode": "fixed",
         "mantis": {"ticker": ticker, "dim": len(assets) * (2 if name in PAIRS else 1), "horizon_blocks": horizon}}
        for name, (ticker, mech, assets, horizon) in OBJECTS.items()]
    doc["protocol"]["round_deadline_blocks"] = 3000  # past the longest horizon plus maturity
    world = World(type(base.profile).model_validate(doc))
    panels = dict(base.panels)
    for k, (name, (_, _, assets, _)) in enumerate(OBJECTS.items()):
        panels[name] = SimpleNamespace(embeddings=PlantedRows(base.panel.embeddings, len(assets), k, 2 if name in PAIRS else 1))
    world.__dict__["panels"] = panels  # the cached property, filled here
    return world


def read(plaintext: bytes, formats) -> tuple[dict, dict, dict]:
    """(the plaintext's object, vectors, problems) as the validator reads them."""
    obj = json_guard.loads(plaintext)
    values = {k: v for k, v in obj.items() if k != "hotkey"}
    return (obj, *challenge_values(values, formats))


def test_honest_and_hostile_miners_send_objects_the_validator_reads_back(world, tmp_path):
    profile = world.profile
    formats, limits = profile.challenge_formats(), profile.payload_limits()
    objects = [f for f in formats if f.rule in PER_ASSET]
    assert [f.name for f in objects] == list(OBJECTS)
    first = world.live_start_block // world.sample_every
    forms, late_locks, honest = set(), 0, 0
    with Miners(world, tmp_path, workers=1) as miners:
        for sidx in range(first, first + 3):
            row = world.row(sidx)
            jobs, silent = miners.jobs(sidx, world.time_of(sidx * world.sample_every))
            for job in jobs:
                i = next(j for j, m in enumerate(world.miners) if m.hotkey == job.hotkey)
                if job.malformation is None:
                    obj, vectors, problems = read(job.plaintext, formats)
                    assert problems == {} and len(job.plaintext) <= limits.plaintext
                    for c in profile.mantis_challenges:
                        planted = world.panels[c.name].embeddings[row][i]
                        if c.name in OBJECTS:
                            if np.isnan(planted).all():
                                assert c.name not in vectors
                            else:
                                assert vectors[c.name] == np.nan_to_num(planted.astype(float), nan=0.0).tolist()
                                value = obj[c.mantis.ticker]
                                forms.add("flat" if isinstance(value, list) else type(next(iter(value.values()))).__name__)
                        elif np.isnan(planted).any():
                            assert c.name not in vectors
                        elif c.mechanism != "lbfgs":
                            assert vectors[c.name] == planted.tolist()
                    honest += 1
                elif job.malformation == "hostile:late-lock":  # the hostile miner whose values count
                    obj, vectors, problems = read(job.plaintext, formats)
                    assert problems == {} and len(job.plaintext) <= limits.plaintext
                    assert b"NaN" in job.plaintext and b"1e999" in job.plaintext
                    signal = 0.5 * math.sin(sidx + i)
                    for k, f in enumerate(objects):
                        hostile = hostile_pairs if f.rule == "pairs" else hostile_object
                        assert vectors[f.name] == hostile(f.assets, signal, sidx + i + k)[1]
                    late_locks += 1
                elif job.malformation == "hostile:breadth-bomb":  # too wide to open, not too big to fetch
                    body = build(job)
                    assert len(body) <= limits.body
                    refused = pl.parse(body, limits)
                    assert not refused and refused.reason == pl.Reason.SCHEMA, refused
                elif job.malformation == "hostile:huge-int":
                    assert read(job.plaintext, formats)[2] == {formats[0].name: "values outside [-1, 1]"}
    assert forms == {"float", "list", "flat"} and late_locks == 3 and honest >= 40 * 3
    assert {hostility(world, m.hotkey) for m in world.miners if m.role == "hostile"} >= {"late-lock", "breadth-bomb"}


def test_object_answer_forms_yield_the_same_vector():
    assets = ("A", "B", "C")
    row = np.array([0.5, np.nan, -1.0], dtype=np.float32)
    answers = [object_answer(assets, row, form) for form in range(3)]
    assert answers == [{"A": 0.5, "C": -1.0}, {"A": [0.5], "C": [-1.0]}, {"A": 0.5, "C": -1.0}]  # no flat list with a NaN
    assert object_answer(assets, np.array([0.5, 0.0, -1.0]), 2) == [0.5, 0.0, -1.0]


@pytest.mark.parametrize("shift", range(0, 28))
def test_hostile_objects_are_zeroed_cell_by_cell(shift):
    """Every cell kind in rotation, one huge int, unknown names: never refused, each cell as expected."""
    fmt = ChallengeFormat("XSEC-RANK", "MULTIXSEC", len(BREAKOUT_ASSETS), "object", BREAKOUT_ASSETS)
    signal = 0.5 * math.sin(shift + 1)
    value, expected = hostile_object(fmt.assets, signal, shift)
    plaintext = hostile_plaintext({fmt.ticker: value}, "5Hostile")
    _, vectors, problems = read(plaintext, [fmt])
    assert problems == {} and vectors == {fmt.name: expected}
    assert sum(x == 0 for x in expected) > len(expected) // 2 and any(x not in (0.0, 1.0) for x in expected)
    assert len(json.loads(plaintext.replace(b"NaN", b"0").replace(b"1e999", b"0"))) == 2  # the key and hotkey


@pytest.mark.parametrize("shift", range(0, 16))
def test_hostile_pairs_are_zeroed_pair_by_pair(shift):
    """MULTI-BREAKOUT's pairs: every malformed kind in rotation, unknown names; only [p, 1 − p] is kept."""
    fmt = ChallengeFormat("MULTI-BREAKOUT", "MULTIBREAKOUT", 2 * len(BREAKOUT_ASSETS), "pairs", BREAKOUT_ASSETS)
    signal = 0.5 * math.sin(shift + 1)
    value, expected = hostile_pairs(fmt.assets, signal, shift)
    _, vectors, problems = read(hostile_plaintext({fmt.ticker: value}, "5Hostile"), [fmt])
    assert problems == {} and vectors == {fmt.name: expected}
    kept = [k for k in range(len(fmt.assets)) if expected[2 * k : 2 * k + 2] != [0.0, 0.0]]
    assert 1 <= len(kept) <= 3 and all(expected[2 * k] == 0.5 + signal for k in kept)


def test_pair_answers_yield_the_planted_vector():
    assets = ("A", "B", "C")
    row = np.array([0.75, 0.25, np.nan, np.nan, 0.0, 0.0], dtype=np.float16)
    assert object_answer(assets, row, 0) == {"A": [0.75, 0.25], "C": [0.0, 0.0]}
    assert object_answer(assets, np.array([0.75, 0.25, 0.5, 0.5, 0.0, 0.0]), 2) == [0.75, 0.25, 0.5, 0.5, 0.0, 0.0]
