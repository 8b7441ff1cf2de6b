"""`incentive payload inspect` and the owner path: a real ledger of one miner's samples, read back as an operator.

The payloads are real V2 payloads locked to the devnet world's local beacon (the drand resource of a
devnet profile), for a profile whose owner key is a fresh X25519 key whose secret the test holds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

import profiles
from assets.epochs import EpochBlocks, SampleRules
from assets.mantis.ingest import screened_row
from cli.payload_inspect import Record, printable, render, utc
from cli.main import main
from devnet.world import World
from ledger import Ledger, Rejection
from protocol import payload as pl
from protocol.timelock import TimelockEncryptor
from resources.payloads import BAD_URL, FETCHED, FetchResult
from resources.settings import OWNER_SK_ENV

ROOT = Path(__file__).resolve().parent.parent
ALICE, BOB = "5Alice" + "a" * 42, "5Bob" + "b" * 44


def secret_hex(key: X25519PrivateKey) -> str:
    return key.private_bytes_raw().hex()


@dataclass
class Scene:
    """The ledger of one epoch of ALICE (and one later sample of BOB) and what it was built from."""

    profile_path: str
    owner_sk: X25519PrivateKey
    store: Ledger
    epoch: int
    sidx: list[int]  # opened, refused at download, lock-rejected at reveal, sealed, missed
    rounds: dict[int, int]  # sidx -> round
    reveal: dict[int, float]  # round -> publication time
    bob_sidx: int

    def run(self, *argv: str) -> int:
        return main(["payload", "inspect", *argv, "--profile", self.profile_path])


@pytest.fixture
def scene(tmp_path, monkeypatch) -> Scene:
    for name in (profiles.ENV, OWNER_SK_ENV):
        monkeypatch.delenv(name, raising=False)
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    monkeypatch.setenv("INCENTIVE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("INCENTIVE_LEDGER_URL", url)

    owner = X25519PrivateKey.generate()
    owner_pk = owner.public_key().public_bytes_raw()
    doc = yaml.safe_load((ROOT / "profiles" / "devnet.yaml").read_text())
    doc["protocol"]["owner_pk"] = owner_pk.hex()
    profile_path = tmp_path / "profile.yaml"
    profile_path.write_text(yaml.safe_dump(doc))
    profile = profiles.load(profile_path)

    world = World(profile)
    beacon, ticker = world.beacon, profile.challenges[0].mantis.ticker
    encryptor = TimelockEncryptor(beacon.chain.public_key)
    epoch = world.live_start_block // profile.chain.tempo
    blocks = EpochBlocks.of(epoch, profile)
    store = Ledger(url)

    sidx = list(blocks.sidx_range[:5])
    opened, refused, locked, sealed, missed = sidx
    rounds, rows = {}, []
    for s, lock_s, value in [(opened, 3700, 0.25), (locked, 3700, -0.125), (sealed, 4000, 0.75)]:
        taken_at = world.time_of(s * blocks.every)
        rounds[s] = beacon.chain.round_at(taken_at + lock_s)
        body = json.dumps(pl.build(ALICE, rounds[s], {ticker: [value, -0.5]}, encryptor, owner_pk).to_json())
        result = FetchResult(ALICE, f"http://miner/{ALICE}", FETCHED, body.encode())
        rows.append(screened_row(result, s, taken_at, SampleRules.of(beacon.chain, profile, taken_at)))
    rows.append(screened_row(FetchResult(ALICE, "http://elsewhere/x", BAD_URL, reason="path is not the hotkey"),
                             refused, world.time_of(refused * blocks.every),
                             SampleRules.of(beacon.chain, profile, world.time_of(refused * blocks.every))))
    for s in sidx:
        if s == missed:
            store.record_sample(s, s * blocks.every, world.time_of(s * blocks.every), status="missed",
                                reason="no collection was running")
        else:
            store.record_sample(s, s * blocks.every, world.time_of(s * blocks.every))
    store.record_payloads(rows)
    # The reveal has run for the first two payloads' rounds; the sealed one's round is not in the ledger.
    store.store_signatures({rounds[s]: beacon.signature(rounds[s], beacon.chain.reveal_time(rounds[s]))
                            for s in (opened, locked)})
    store.record_rejections([Rejection(locked, ALICE, "lock", f"round {rounds[locked]} opens before the horizon",
                                       profile.challenges[0].name)])

    later = EpochBlocks.of(epoch + 1, profile).sidx_range.start
    store.record_sample(later, later * blocks.every, world.time_of(later * blocks.every))
    store.record_payloads([screened_row(FetchResult(BOB, f"http://miner/{BOB}", FETCHED, b"not json"), later,
                                        world.time_of(later * blocks.every),
                                        SampleRules.of(beacon.chain, profile, world.time_of(later * blocks.every)))])
    return Scene(str(profile_path), owner, store, epoch, sidx, rounds,
                 {r: beacon.chain.reveal_time(r) for r in rounds.values()}, later)


def test_latest_payload_sidx(scene):
    assert scene.store.latest_payload_sidx(ALICE) == scene.sidx[3]  # the sealed one; the missed has no row
    assert scene.store.latest_payload_sidx(BOB) == scene.bob_sidx
    assert scene.store.latest_payload_sidx("5Nobody") is None


def test_text_shows_values_refusals_rejections_and_sealed(scene, capsys):
    assert scene.run(ALICE) == 0  # default epoch: the newest holding a payload of ALICE
    out = capsys.readouterr().out
    lines = out.splitlines()
    opened, sealed = scene.sidx[0], scene.sidx[3]
    assert lines[0] == f"{ALICE}: epoch {scene.epoch}, samples {scene.sidx[0]}..{scene.sidx[0] + 71}"
    assert 'opened: {"ETH": [0.25, -0.5]}' in out
    assert "refused: bad-url: path is not the hotkey" in out
    assert 'opened: {"ETH": [-0.125, -0.5]}' in out
    assert "rejected at reveal [ETH-1H-BINARY]: lock: round" in out
    until = utc(scene.reveal[scene.rounds[sealed]])
    assert f"sealed until {until} (round {scene.rounds[sealed]}: its signature is not in the ledger)" in out
    assert "missing: missed: no collection was running" in out
    assert "owner path" not in out
    head = next(line for line in lines if line.startswith(f"sidx {opened} "))
    assert f"round {scene.rounds[opened]} (published {utc(scene.reveal[scene.rounds[opened]])})" in head
    assert "fetched" in head and f"http://miner/{ALICE}" in head
    assert lines[-1] == ("summary: 5 samples; opened 2, refused 1, sealed 1, missing 1; "
                         "status: fetched 3, bad-url 1, no-row 1; reasons: bad-url 1, lock 1, missed 1")


def test_owner_path_opens_the_sealed_payload(scene, capsys, monkeypatch):
    monkeypatch.setenv(OWNER_SK_ENV, secret_hex(scene.owner_sk))
    assert scene.run(ALICE, "--sample", str(scene.sidx[3])) == 0
    out = capsys.readouterr().out
    assert 'opened (owner path): {"ETH": [0.75, -0.5]}' in out
    assert "sealed" not in out
    assert out.splitlines()[-1].startswith("summary: 1 samples; opened 1 (1 by the owner path);")
    assert secret_hex(scene.owner_sk) not in out


def test_json_records(scene, capsys, monkeypatch):
    monkeypatch.setenv(OWNER_SK_ENV, "0x" + secret_hex(scene.owner_sk).upper())  # prefix and case tolerated
    assert scene.run(ALICE, "--epoch", str(scene.epoch), "--json") == 0
    records = {r["sidx"]: r for r in json.loads(capsys.readouterr().out)}
    opened, refused, locked, sealed, missed = scene.sidx
    assert sorted(records) == scene.sidx
    first = records[opened]
    assert (first["outcome"], first["owner_path"], first["status"]) == ("opened", False, "fetched")
    assert first["rejections"] == [] and first["reason"] == first["detail"] == ""
    assert (first["round"], first["published_at"]) == (scene.rounds[opened], utc(scene.reveal[scene.rounds[opened]]))
    assert first["values"] == {"ETH": [0.25, -0.5]}
    assert first["size"] > 500 and first["fetched_at"].endswith("Z")
    assert (records[refused]["outcome"], records[refused]["reason"], records[refused]["size"]) == \
        ("refused", "bad-url", None)
    assert [r["reason"] for r in records[locked]["rejections"]] == ["lock"]
    assert records[locked]["rejections"][0]["challenge"] == "ETH-1H-BINARY"
    assert (records[sealed]["outcome"], records[sealed]["owner_path"]) == ("opened", True)
    assert records[sealed]["values"] == {"ETH": [0.75, -0.5]}
    assert (records[missed]["outcome"], records[missed]["status"]) == ("missing", "no-row")


def test_download_refusal_of_a_body_shows_its_reason(scene, capsys):
    assert scene.run(BOB) == 0
    out = capsys.readouterr().out
    assert f"sidx {scene.bob_sidx} " in out and "refused: schema: not JSON" in out
    assert "reasons: schema 1" in out.splitlines()[-1]


@pytest.mark.parametrize("value, message", [
    ("not-hex-at-all", "INCENTIVE_OWNER_SK is not hex"),
    ("ab" * 31, "INCENTIVE_OWNER_SK has 31 bytes, expected 32"),
    (None, "INCENTIVE_OWNER_SK is not the secret of the profile's owner key"),
])
def test_a_bad_owner_secret_is_refused_without_showing_it(scene, capsys, monkeypatch, value, message):
    wrong = value or secret_hex(X25519PrivateKey.generate())
    monkeypatch.setenv(OWNER_SK_ENV, wrong)
    assert scene.run(ALICE) == 2
    out = capsys.readouterr()
    assert out.out == "" and out.err.startswith(f"incentive: {message}")
    assert wrong not in out.err and wrong.lower() not in out.err


def test_unknown_hotkey_or_empty_epoch_is_a_usage_error(scene, capsys):
    assert scene.run("5Nobody") == 2
    assert "the ledger holds no payload of hotkey 5Nobody" in capsys.readouterr().err
    assert scene.run(ALICE, "--epoch", str(scene.epoch + 1)) == 2
    err = capsys.readouterr().err
    assert f"has no payload in epoch {scene.epoch + 1}" in err and f"sample {scene.sidx[3]}" in err


def test_payload_open_owner(scene, tmp_path, capsys, monkeypatch):
    (row,) = scene.store.raw_payloads(scene.sidx[3], scene.sidx[3] + 1, hotkey=ALICE)
    path = tmp_path / "sealed.json"
    path.write_bytes(row.body)
    owner_pk = scene.owner_sk.public_key().public_bytes_raw().hex()
    argv = ["payload", "open", str(path), "--owner", "--owner-pk", owner_pk]
    assert main(argv) == 2  # no secret in the environment
    assert "set INCENTIVE_OWNER_SK" in capsys.readouterr().err
    monkeypatch.setenv(OWNER_SK_ENV, secret_hex(scene.owner_sk))
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out) == {"ETH": [0.75, -0.5], "hotkey": ALICE}
    assert main(argv + ["--hotkey", BOB]) == 1
    assert capsys.readouterr().err.startswith("rejected: hotkey:")
    # The secret must belong to --owner-pk (default: the MANTIS key), or nothing is opened.
    assert main(["payload", "open", str(path), "--owner"]) == 2
    err = capsys.readouterr().err
    assert "is not the secret of the owner key (--owner-pk)" in err and secret_hex(scene.owner_sk) not in err


@pytest.mark.parametrize("extra", [[], ["--owner", "--signature", "00" * 48]])
def test_payload_open_needs_exactly_one_of_signature_and_owner(tmp_path, extra):
    with pytest.raises(SystemExit) as exc:
        main(["payload", "open", str(tmp_path / "p.json"), *extra])
    assert exc.value.code == 2


def test_text_output_escapes_what_a_terminal_would_act_on():
    """A URL or plaintext is the miner's text: escape sequences and lone surrogates come out escaped."""
    refused = Record(5, 25, None, "bad-url", url="https://x.r2.dev/\x1b[2K\x1b]52;c;AAAA\x07", outcome="refused",
                     reason="bad-url", detail="URL has control characters")
    opened = Record(6, 30, None, "fetched", outcome="opened", values={"ETH": [0.1, 0.2], "note": "\ud800\x1b[1A"})
    text = "\n".join(printable(line) for record in (refused, opened) for line in render(record))
    assert "\x1b" not in text and "\x07" not in text
    assert "\\x1b[2K" in text and "\\ud800" in text
    text.encode("utf-8")  # nothing left that stdout could fail to encode
