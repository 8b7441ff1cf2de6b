"""Devnet miners: each sample, every miner's planted values as a really encrypted V2 payload.

Honest roles lock to the local beacon for the lock rule's minimum (plus one sample), as a miner who
wants every value scored must; `malformed` miners rotate through a catalogue of broken payloads,
each of which a validator must refuse with a known reason; `hostile` miners each keep up one attack
on the validator itself (HOSTILITIES), which must cost nobody but themselves. Encryption runs in a
process pool when there are enough payloads to pay for the workers.

Multi-asset challenges (value rules `object` and `pairs`, mantis.md §9) take `{asset: value}`: honest
miners send every asset they have a value for, in one of the well-formed forms by miner (a number, a
one-element list, or the flat list; for pairs a two-element list or the flat list), so the validator
reads all of them; hostile miners send the cells §9 zeroes (`hostile_object`, `hostile_pairs`), which
cost nobody but themselves either.
"""

from __future__ import annotations

import json
import math
import os
import secrets
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from devnet.world import World
from protocol import payload as pl
from protocol.drand import QUICKNET
from protocol.timelock import TimelockEncryptor
from protocol.validation import PER_ASSET, ChallengeFormat

# Each malformation and the refusal it must meet (the ledger's status or rejection reason).
MALFORMATIONS = {
    "late-round": "round",  # locked past the hard deadline: refused at download, never waited for
    "early-round": "lock",  # locked to a round already published when the sample is taken
    "not-json": "schema",
    "version": "schema",
    "time-garbage": "schema",
    "owner-key": "owner-key",
    "foreign-hotkey": "hotkey",
    "binding": "binding",
    "timelock": "timelock",
    "content": "aead",
}
_KINDS = tuple(MALFORMATIONS)
# Each hostile miner's attack, in hotkey order, and what it must meet (None: it opens, and counts).
HOSTILITIES = {
    "huge-int": "validation",  # a 400-digit integer in its vector (overflowed float checks)
    "utf16-deep": "schema",  # UTF-16 text whose nesting a byte-level guard cannot see
    "nul-url": "bad-url",  # commits a URL with a NUL byte (PostgreSQL refuses NUL in text)
    "padded": "fetch-error",  # a valid payload padded with a megabyte: past the size a payload needs
    "breadth-bomb": "schema",  # a valid encryption of a plaintext far wider than any challenge needs
    "late-lock": None,  # locks to the latest round the window allows: legal, and nobody waits longer
    "ancient-round": "lock",  # names an old round, a different one every five samples
}
_HOSTILE_KINDS = tuple(HOSTILITIES)
_POOL_MIN_JOBS = 24
BOMB_EXCESS = 256  # bytes past the plaintext limit a breadth bomb carries, at least: its body is still fetched
ROUND_GRID = 100  # rounds (5 min at 3 s): consecutive samples share a round, and its pairing table


@dataclass(frozen=True)
class Job:
    hotkey: str
    round: int
    plaintext: bytes
    beacon_pk: bytes
    owner_pk: bytes
    malformation: str | None = None
    foreign_hotkey: str = ""
    plaintext_limit: int = 0  # the validator's plaintext limit (a breadth bomb must pass it)


_ENCRYPTORS: dict[bytes, TimelockEncryptor] = {}


def _encryptor(pk: bytes) -> TimelockEncryptor:
    if pk not in _ENCRYPTORS:
        _ENCRYPTORS[pk] = TimelockEncryptor(pk)
    return _ENCRYPTORS[pk]


def hostility(world: World, hotkey: str) -> str | None:
    """The attack a hostile miner keeps up (by its place among the hostile miners), else None."""
    hostile = [m.hotkey for m in world.miners if m.role == "hostile"]
    return _HOSTILE_KINDS[hostile.index(hotkey) % len(_HOSTILE_KINDS)] if hotkey in hostile else None


def object_answer(assets: tuple[str, ...], row: np.ndarray, form: int = 0) -> dict | list[float]:
    """An honest miner's value for a multi-asset challenge: each asset whose planted value is finite
    (NaN: it has none), as a number (form 0), a one-element list (1), or the flat list (2, when it
    has every asset); a row of two values an asset (pairs) as a two-element list or the flat list.
    Each yields the same vector at the validator (§9)."""
    values = [float(x) for x in row]
    if form % 3 == 2 and all(math.isfinite(v) for v in values):
        return values
    if len(values) == 2 * len(assets):
        return {a: values[2 * k : 2 * k + 2] for k, a in enumerate(assets)
                if all(math.isfinite(v) for v in values[2 * k : 2 * k + 2])}
    return {a: [v] if form % 3 == 1 else v for a, v in zip(assets, values) if math.isfinite(v)}


# Cells of a hostile object value and what §9 makes of each (v: a worthless signal in [-0.5, 0.5]).
# NaN and 1e999 are JSON literals json.dumps(allow_nan=False) cannot write: spliced in after
# (`_RAW`). One asset in every len(_CELLS) + 1 is left out (missing: 0).
_RAW = {"@NaN@": b"NaN", "@1e999@": b"1e999"}
_CELLS = (
    (lambda v: v, lambda v: v),  # kept
    (lambda v: [3 * v], lambda v: max(-1.0, min(1.0, 3 * v))),  # one-element list: clipped
    (lambda v: 1 + abs(v) + 1e-9, lambda v: 0.0),  # out of range
    (lambda v: "0.5", lambda v: 0.0),
    (lambda v: True, lambda v: 0.0),
    (lambda v: [True], lambda v: 0.0),
    (lambda v: [[v]], lambda v: 0.0),
    (lambda v: [v, v], lambda v: 0.0),
    (lambda v: None, lambda v: 0.0),
    (lambda v: {"v": v}, lambda v: 0.0),
    (lambda v: "@NaN@", lambda v: 0.0),
    (lambda v: ["@1e999@"], lambda v: 0.0),  # [inf]
)
_HUGE = 10**400  # one cell per object: an int no float holds (two, bare and listed, would crowd the size limit)


def hostile_object(assets: tuple[str, ...], v: float, shift: int) -> tuple[dict, list[float]]:
    """(a hostile object value with `v` as its signal, the vector §9 makes of it).

    Every kind of cell §9 keeps, clips or zeroes, rotating over the assets with `shift`; unknown and
    lower-cased asset names, which are ignored; and one huge int, bare (0) or in a list (±1).
    """
    value, expected = {}, []
    for k, asset in enumerate(assets):
        form = (k + shift) % (len(_CELLS) + 1)
        if form == len(_CELLS):  # missing
            expected.append(0.0)
            continue
        send, get = _CELLS[form]
        value[asset], cell = send(v), get(v)
        expected.append(0.0 if cell == 0 else float(cell))
    huge = assets[shift % len(assets)]
    value[huge], expected[shift % len(assets)] = ([_HUGE], 1.0) if shift % 2 else (_HUGE, 0.0)
    value |= {"NOT-AN-ASSET": v, assets[0].lower(): 1.0, "hotkey": 0.5}
    return value, expected


# Pairs of a hostile pairs value (p: a worthless probability in [0, 1]): the first is kept, §9 makes
# [0, 0] of every other (wrong length, out of [0, 1], not numbers, NaN, inf, nested, a bare number).
_PAIRS = (
    lambda p: [p, 1 - p],  # kept
    lambda p: [p],
    lambda p: [p, 1 - p, 0.0],
    lambda p: [1 + p + 1e-9, 0.5],
    lambda p: [-1e-9 - p, 0.5],
    lambda p: p,
    lambda p: [True, 0.5],
    lambda p: ["0.5", p],
    lambda p: None,
    lambda p: {"p": p},
    lambda p: ["@NaN@", p],
    lambda p: [p, "@1e999@"],
    lambda p: [[p], 1 - p],
    lambda p: [_HUGE, 0],
)


def hostile_pairs(assets: tuple[str, ...], v: float, shift: int) -> tuple[dict, list[float]]:
    """(a hostile pairs value with p = 0.5 + v, the vector §9 makes of it): every kind of pair
    rotating over the assets with `shift`, one asset in every len(_PAIRS) + 1 left out, and unknown
    and lower-cased asset names, which are ignored."""
    p, value, expected = 0.5 + v, {}, []
    for k, asset in enumerate(assets):
        form = (k + shift) % (len(_PAIRS) + 1)
        if form < len(_PAIRS):
            value[asset] = _PAIRS[form](p)
        expected += [p, 1 - p] if form == 0 else [0.0, 0.0]
    value |= {"NOT-AN-ASSET": [p, 1 - p], assets[0].lower(): [1.0, 0.0], "hotkey": 0.5}
    return value, expected


def hostile_plaintext(answer: dict, hotkey: str) -> bytes:
    """`pl.plaintext_bytes` with the placeholders of `_RAW` spliced in as the literals JSON cannot write."""
    plaintext = pl.plaintext_bytes(answer, hotkey)
    for placeholder, literal in _RAW.items():
        plaintext = plaintext.replace(json.dumps(placeholder).encode(), literal)
    return plaintext


def _hostile_body(job: Job) -> bytes:
    kind = job.malformation.removeprefix("hostile:")
    if kind == "utf16-deep":
        # Each level holds the string U+0122 U+5D5D U+0122: in UTF-16 a '"' byte, two ']' bytes and
        # another '"', so a guard counting bytes sees one level. Under the size limit, to reach the parser.
        depth = 350
        return ('["\u0122\u5d5d\u0122",' * depth + "0" + "]" * depth).encode("utf-16-le")
    plaintext = job.plaintext
    if kind == "breadth-bomb":  # a wide plaintext, just small enough for the body to be fetched
        wide = ",".join(["0"] * max(1000, (job.plaintext_limit + BOMB_EXCESS - len(plaintext)) // 2))
        plaintext = plaintext[:-1] + b',"wide":[' + wide.encode() + b"]}"
    body = pl.seal(job.hotkey, job.round, plaintext, _encryptor(job.beacon_pk), job.owner_pk).to_json()
    if kind == "padded":
        body["padding"] = "0" * (1 << 20)
    return json.dumps(body, separators=(",", ":")).encode()


def _flip(hex_text: str) -> str:
    raw = bytearray(bytes.fromhex(hex_text))
    raw[len(raw) // 2] ^= 0x01
    return raw.hex()


def build(job: Job) -> bytes:
    """One payload file's bytes (top-level so worker processes can run it)."""
    kind = job.malformation
    if kind and kind.startswith("hostile:"):
        return _hostile_body(job)
    if kind == "not-json":
        return b'{"v": 2, "round": ' + str(job.round).encode() + b", this is not json"
    owner = secrets.token_bytes(32) if kind == "owner-key" else job.owner_pk
    hk = job.foreign_hotkey if kind == "foreign-hotkey" else job.hotkey
    pk = QUICKNET.public_key if kind == "timelock" else job.beacon_pk
    body = pl.seal(hk, job.round, job.plaintext, _encryptor(pk), owner).to_json()
    if kind == "owner-key":
        body["owner_pk"] = owner.hex()  # honest about the key it used: not the subnet owner's
    elif kind == "version":
        body["v"] = 1
    elif kind == "time-garbage":
        body["W_time"]["ct"] = secrets.token_bytes(372).hex()
    elif kind == "binding":
        body["binding"] = _flip(body["binding"])
    elif kind == "content":
        body["C"]["ct"] = _flip(body["C"]["ct"])
    return json.dumps(body, separators=(",", ":")).encode()


class Miners:
    """The devnet's miners for one world; `publish(sidx)` writes every payload file of a sample."""

    def __init__(self, world: World, directory: str | Path, workers: int | None = None) -> None:
        self.world = world
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.workers = workers if workers is not None else (os.cpu_count() or 1)
        self._pool: ProcessPoolExecutor | None = None
        self._ahead: tuple[int, float, tuple] | None = None  # (sidx, now, _bodies(...)) started early
        self.owner_pk = bytes.fromhex(world.profile.protocol.owner_pk)
        self.formats: dict[str, ChallengeFormat] = {f.name: f for f in world.profile.challenge_formats()}
        self.plaintext_limit = world.profile.payload_limits().plaintext

    def close(self) -> None:
        self._ahead = None
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def __enter__(self) -> "Miners":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def lock_seconds(self) -> float:
        """The rule's minimum lock plus one sample, so values count under it (rounds are then
        rounded up to a grid of ROUND_GRID rounds, as a miner may: a longer lock is always valid)."""
        return self.world.lock_seconds()

    def jobs(self, sidx: int, now: float) -> tuple[list[Job], list[str]]:
        """Payload jobs of a sample, and the hotkeys that publish nothing (their files are removed)."""
        world = self.world
        row = world.row(sidx)
        if row is None:
            raise ValueError(f"sample {sidx} is outside the devnet world")
        chain = world.beacon.chain
        earliest = chain.round_at(now + self.lock_seconds())
        round_ = -(-earliest // ROUND_GRID) * ROUND_GRID  # lock a little longer, on a shared grid
        # Odd rounds sit on the grid too, so each costs one pairing table per grid step, not per sample.
        late = chain.round_at(now + world.profile.round_deadline_seconds() + 60)
        odd_rounds = {"late-round": -(-late // ROUND_GRID) * ROUND_GRID,
                      "early-round": chain.current_round(now) // ROUND_GRID * ROUND_GRID}
        latest = chain.current_round(now + world.profile.latest_lock_seconds())
        hostile_rounds = {"late-lock": latest // ROUND_GRID * ROUND_GRID, "ancient-round": 1 + ROUND_GRID * (sidx // 5 % 1000)}
        challenges = world.profile.mantis_challenges
        values = {c.mantis.ticker: world.panels[c.name].embeddings[row] for c in challenges}
        assets = {c.mantis.ticker: self.formats[c.name].assets for c in challenges
                  if self.formats[c.name].rule in PER_ASSET}
        pairs = {c.mantis.ticker for c in challenges if self.formats[c.name].rule == "pairs"}
        jobs, silent = [], []
        for i, miner in enumerate(world.miners):
            if miner.role == "hostile":
                kind = hostility(world, miner.hotkey)
                if kind == "huge-int":  # integers no float holds, for the first challenge (one kept under the size limit)
                    answer = {challenges[0].mantis.ticker: [10**400] * challenges[0].mantis.dim}
                else:  # late-lock and the rest: a worthless signal, and every cell §9 zeroes in objects
                    answer = {c.mantis.ticker: [0.5 * math.sin(sidx + i)] * c.mantis.dim for c in challenges}
                    answer |= {t: (hostile_pairs if t in pairs else hostile_object)(a, 0.5 * math.sin(sidx + i), sidx + i + k)[0]
                               for k, (t, a) in enumerate(assets.items())}
                plaintext = hostile_plaintext(answer, miner.hotkey)
                jobs.append(Job(miner.hotkey, hostile_rounds.get(kind, round_), plaintext, chain.public_key,
                                self.owner_pk, f"hostile:{kind}", plaintext_limit=self.plaintext_limit))
            elif miner.role == "malformed":
                kind = _KINDS[(sidx + i) % len(_KINDS)]
                other = world.miners[(i + 1) % len(world.miners)].hotkey
                plaintext = pl.plaintext_bytes({c.mantis.ticker: [0.0] * c.mantis.dim for c in challenges}, miner.hotkey)
                jobs.append(Job(miner.hotkey, odd_rounds.get(kind, round_), plaintext, chain.public_key, self.owner_pk,
                                kind, other))
            else:
                # Each challenge's values where the miner submits them this sample; nothing at all
                # (silent, young before its start, a miss everywhere) removes its file.
                # A multi-asset challenge's values go as an object of the assets it has (form by miner).
                answer = {t: object_answer(assets[t], v[i], i) if t in assets else [float(x) for x in v[i]]
                          for t, v in values.items() if not (np.isnan(v[i]).all() if t in assets else np.isnan(v[i]).any())}
                if not answer:
                    silent.append(miner.hotkey)
                    continue
                plaintext = pl.plaintext_bytes(answer, miner.hotkey)
                jobs.append(Job(miner.hotkey, round_, plaintext, chain.public_key, self.owner_pk))
        return jobs, silent

    def _bodies(self, sidx: int, now: float) -> tuple[list[Job], list[str], Iterator[bytes] | list[bytes]]:
        """A sample's jobs, silent hotkeys and bodies: built in the worker pool (an iterator over
        results still being built) when there are enough jobs, else here."""
        jobs, silent = self.jobs(sidx, now)
        if self.workers > 1 and len(jobs) >= _POOL_MIN_JOBS:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(self.workers)
            return jobs, silent, self._pool.map(build, jobs, chunksize=max(1, len(jobs) // (4 * self.workers)))
        return jobs, silent, [build(job) for job in jobs]

    def publish(self, sidx: int, now: float) -> dict[str, Job]:
        """Write (atomically) every miner's payload for sample `sidx` taken at world time `now`.

        The next sample's bodies are started in the pool before this one's are written, so the
        miners encrypt while the validator reads this sample (its time is the world's, known now)."""
        ahead, self._ahead = self._ahead, None
        jobs, silent, bodies = ahead[2] if ahead is not None and ahead[:2] == (sidx, now) else self._bodies(sidx, now)
        bodies = list(bodies)
        following = sidx + 1
        if self._pool is not None and self.world.row(following) is not None:
            later = self.world.time_of(following * self.world.sample_every)
            self._ahead = (following, later, self._bodies(following, later))
        for job, body in zip(jobs, bodies):
            tmp = self.directory / f".{job.hotkey}.tmp"
            tmp.write_bytes(body)
            os.replace(tmp, self.directory / job.hotkey)
        for hotkey in silent:
            (self.directory / hotkey).unlink(missing_ok=True)
        return {job.hotkey: job for job in jobs}


__all__ = ["HOSTILITIES", "MALFORMATIONS", "Job", "Miners", "build", "hostile_object", "hostile_pairs", "hostile_plaintext",
           "hostility", "object_answer"]
