"""Live HTTP resources against loopback servers: drand relays, payload hosts, the price feed.

Every server here binds 127.0.0.1 on an ephemeral port, answers a bounded number of requests, and
every slow or hanging handler waits on an event the fixture sets at teardown, so nothing outlives
its test. Timeouts are a fraction of a second so the file stays fast.
"""

from __future__ import annotations

import json
import math
import re
import time

import pytest

from protocol.drand import QUICKNET, LocalBeacon, RoundNotPublished
from resources.drand import DrandUnavailable
from resources.drand_http import DEFAULT_RELAYS, HttpDrand, api_version, beacon_url, parse_beacon
from resources.payloads import ABSENT, BAD_URL, FETCH_ERROR, FETCHED
from resources.payloads_http import HttpPayloadStore, url_problem
from resources.prices import PriceFeedError
from resources.prices_http import HttpPriceFeed, parse_snapshot
from tests import vectors as v
from tests.loopback import dead_base, netloc, reply, serve, trickle

MiB = 1024 * 1024


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch):
    """requests honours proxy variables; loopback tests must reach their own servers directly."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


# --- drand -------------------------------------------------------------------------------------

GENESIS = int(time.time()) - 30_000  # rounds 1..~10 000 are published by the wall clock
SERVER_NOW = GENESIS + 3 * 199  # but the local relays have only signed up to round 200
CHAIN_HASH = "ab" * 32
BEACON = LocalBeacon.from_seed(b"http-relay-tests".ljust(32, b"\0"), genesis=GENESIS)
IMPOSTOR = LocalBeacon.from_seed(b"another-key".ljust(32, b"\0"), genesis=GENESIS)
_V1 = re.compile(rf"/{CHAIN_HASH}/public/(\d+|latest)")
_V2 = re.compile(r"/v2/beacons/quicknet/rounds/(\d+|latest)")


def relay(kind: str = "good", delay: float = 0.0):
    """A drand relay route for BEACON's chain speaking both API versions; `kind` says how it lies."""

    def route(h, state):
        if delay:
            state.stop.wait(delay)
        if kind == "error":
            return reply(h, 500, b"oops")
        m = _V1.fullmatch(h.path) or _V2.fullmatch(h.path)
        if not m:
            return reply(h, 400, b"unknown path")  # not 404: a wrong URL must not read as "unpublished"
        round_ = BEACON.chain.current_round(SERVER_NOW) if m[1] == "latest" else int(m[1])
        try:
            sig = BEACON.signature(round_, SERVER_NOW)
        except RoundNotPublished:
            return reply(h, 404, b'{"error": "not yet"}')
        if kind == "wrong-key":
            sig = IMPOSTOR.signature(round_, SERVER_NOW)
        elif kind == "other-round":  # a genuine signature, but of the previous round
            sig = BEACON.signature(round_ - 1, SERVER_NOW)
        if kind == "not-json":
            return reply(h, 200, b"<html>gateway</html>")
        doc = {"round": round_, "signature": sig.hex()}
        if h.path.startswith(f"/{CHAIN_HASH}/"):
            doc["randomness"] = "00" * 32  # v1 carries it; the client ignores it and verifies instead
        reply(h, 200, json.dumps(doc).encode(), {"Content-Type": "application/json"})

    return route


def make_drand(relays: list[str], **overrides) -> HttpDrand:
    config = dict(
        relays=relays, chain_hash=CHAIN_HASH, public_key_hex=BEACON.chain.public_key.hex(), genesis=GENESIS,
        period=3, connect_timeout_s=0.5, read_timeout_s=0.3, attempts=2, backoff_s=0.01,
    )
    config.update(overrides)
    return HttpDrand(**config)


def test_defaults_follow_the_spec():
    d = HttpDrand()
    assert d.relays == list(DEFAULT_RELAYS)
    assert [api_version(r) for r in d.relays] == [1, 1, 1, 1, 1, 2]
    assert d.relays[:5] == [
        "https://api.drand.sh", "https://api2.drand.sh", "https://api3.drand.sh",
        "https://drand.cloudflare.com", "https://api.drand.secureweb3.com:6875",
    ]
    assert d.chain() == QUICKNET
    assert beacon_url("https://api.drand.sh/v2", QUICKNET.chain_hash, "quicknet", 42) == (
        "https://api.drand.sh/v2/beacons/quicknet/rounds/42"
    )
    assert beacon_url("https://api2.drand.sh/", QUICKNET.chain_hash, "quicknet", None) == (
        f"https://api2.drand.sh/{QUICKNET.chain_hash}/public/latest"
    )


def test_quicknet_signature_from_a_v1_relay_with_default_chain():
    def route(h, state):
        if h.path == f"/{QUICKNET.chain_hash}/public/1000":
            return reply(h, 200, json.dumps({"round": 1000, "signature": v.SIG_1000.hex()}).encode())
        reply(h, 400)

    with serve(route) as (base, state):
        d = HttpDrand(relays=[base], read_timeout_s=1.0)
        assert d.signature(1000) == v.SIG_1000
        assert state.paths == [f"/{QUICKNET.chain_hash}/public/1000"]


@pytest.mark.parametrize("version", [1, 2])
def test_round_from_each_api_version(version):
    with serve(relay()) as (base, state):
        # timeouts far above a loaded machine's stalls: a retry would add a path this test does not expect
        d = make_drand([base if version == 1 else base + "/v2"], connect_timeout_s=5.0, read_timeout_s=5.0)
        assert d.signature(150) == BEACON.signature(150, SERVER_NOW)
        assert d.chain().public_key == BEACON.chain.public_key
        expected = f"/{CHAIN_HASH}/public/150" if version == 1 else "/v2/beacons/quicknet/rounds/150"
        assert state.paths == [expected]


@pytest.mark.parametrize("kind", ["down", "slow", "wrong-key", "other-round", "not-json", "error"])
def test_bad_relay_falls_back_to_the_next(kind):
    with serve(relay(kind, delay=1.0 if kind == "slow" else 0.0)) as (bad, bad_state), serve(relay()) as (
        good,
        good_state,
    ):
        first = dead_base() if kind == "down" else bad
        d = make_drand([first, good + "/v2"])
        t0 = time.monotonic()
        assert d.signature(120) == BEACON.signature(120, SERVER_NOW)
        assert time.monotonic() - t0 < 2.0
        assert len(good_state.paths) == 1
        if kind != "down":
            # transient failures are retried, wrong answers are not
            assert len(bad_state.paths) == (2 if kind in ("slow", "error") else 1)


def test_every_bad_relay_in_turn_then_a_good_one():
    with serve(relay("slow", delay=1.0)) as (slow, _), serve(relay("wrong-key")) as (liar, liar_state), serve(
        relay()
    ) as (good, _):
        d = make_drand([dead_base(), slow + "/v2", liar, good])
        t0 = time.monotonic()
        assert d.signature(77) == BEACON.signature(77, SERVER_NOW)
        assert time.monotonic() - t0 < 3.0
        assert liar_state.paths == [f"/{CHAIN_HASH}/public/77"]


def test_all_relays_bad_raises_unavailable():
    with serve(relay("wrong-key")) as (liar, _), serve(relay("error")) as (broken, _):
        d = make_drand([dead_base(), liar, broken + "/v2"])
        with pytest.raises(DrandUnavailable, match="round 60") as info:
            d.signature(60)
        assert "does not verify" in str(info.value) and "HTTP 500" in str(info.value)
        with pytest.raises(DrandUnavailable):
            d.latest_round()


def test_unpublished_round_is_none():
    with serve(relay()) as (base, state):
        d = make_drand([base, base + "/v2"])
        assert d.signature(500) is None  # published by the clock, but the relays say 404
        assert len(state.paths) == 2  # one lagging relay does not decide alone
        assert d.signature(10**9) is None  # in the future by the chain's arithmetic: not even asked
        assert len(state.paths) == 2


def test_lagging_relay_does_not_hide_a_published_round():
    def lagging(h, state):
        reply(h, 404, b"{}")

    with serve(lagging) as (lag, _), serve(relay()) as (good, _):
        assert make_drand([lag, good]).signature(199) == BEACON.signature(199, SERVER_NOW)


def test_cache_avoids_a_second_request():
    with serve(relay()) as (base, state):
        d = make_drand([base])
        first = d.signature(88)
        assert d.signature(88) == first == BEACON.signature(88, SERVER_NOW)
        assert len(state.paths) == 1
        assert d.latest_round() == 200  # latest is always asked, and its signature cached
        assert d.signature(200) == BEACON.signature(200, SERVER_NOW)
        assert len(state.paths) == 2


def test_many_rounds_at_once_concurrently_with_fallback():
    with serve(relay("wrong-key")) as (liar, _), serve(relay(delay=0.2)) as (good, state):
        d = make_drand([liar, good], max_workers=8)
        rounds = list(range(100, 116)) + [5000]  # 5000: past the relays' newest signed round
        answers = d.signatures(rounds)
    assert list(answers) == rounds and answers[5000] is None
    assert all(answers[r] == BEACON.signature(r, SERVER_NOW) for r in rounds[:-1])
    assert state.max_in_flight > 1  # asked concurrently, not one after another


def test_latest_round_verified_with_fallback():
    with serve(relay("wrong-key")) as (liar, liar_state), serve(relay()) as (good, good_state):
        d = make_drand([liar + "/v2", good])
        assert d.latest_round() == 200
        assert liar_state.paths == ["/v2/beacons/quicknet/rounds/latest"]
        assert good_state.paths == [f"/{CHAIN_HASH}/public/latest"]


@pytest.mark.parametrize(
    "body",
    [b"[]", b'{"round": 5}', b'{"round": true, "signature": "' + b"a" * 96 + b'"}', b'{"round": 5, "signature": "zz"}',
     b'{"round": 6, "signature": "' + b"a" * 96 + b'"}', b"[" * 10_000],
)
def test_parse_beacon_refuses_malformed_answers(body):
    with pytest.raises(ValueError):
        parse_beacon(body, 5)


# --- payload store -----------------------------------------------------------------------------

HK = "5F3sa2TJAWMqDhXG6jhV4N8ko9SxwGy8TpaNS1repo5EYjQX"


def make_store(*bases: str, **overrides) -> HttpPayloadStore:
    config = dict(allowed_hosts=[netloc(b) for b in bases], connect_timeout_s=0.5, read_timeout_s=1.0)
    config.update(overrides)
    return HttpPayloadStore(**config)


def files(mapping: dict[str, bytes]):
    """A payload host serving mapping[path segment]; 404 for anything else."""

    def route(h, state):
        body = mapping.get(h.path.lstrip("/"))
        reply(h, 404, b"no such key") if body is None else reply(h, 200, body)

    return route


def test_good_payload_absent_and_garbage():
    good, garbage = json.dumps({"v": 2, "round": 1}).encode(), bytes(range(256)) * 40
    with serve(files({HK: good, "garbage": garbage})) as (base, state):
        results = make_store(base).fetch_all(
            {HK: f"{base}/{HK}", "garbage": f"{base}/garbage", "missing": f"{base}/missing", "nothing": ""}, 5.0
        )
    assert list(results) == [HK, "garbage", "missing", "nothing"]
    assert results[HK].status == FETCHED and results[HK].body == good and results[HK].seconds > 0
    assert results["garbage"].status == FETCHED and results["garbage"].body == garbage  # checked later, not here
    assert results["missing"].status == ABSENT and results["missing"].body is None
    assert results["nothing"].status == ABSENT and results["nothing"].reason == "no commitment"
    assert sorted(state.paths) == sorted([f"/{HK}", "/garbage", "/missing"])


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://evil.example/{hk}", "allow-list"),
        ("https://pub-1.r2.dev.evil.com/{hk}", "allow-list"),
        ("https://evilr2.dev/{hk}", "allow-list"),
        ("http://127.0.0.1:10/{hk}", "allow-list"),  # the allowed host on another port
        ("http://127.0.0.1:9/other", "not the hotkey"),
        ("http://127.0.0.1:9/{hk_lower}", "not the hotkey"),  # SS58 is case-sensitive
        ("http://127.0.0.1:9/%35F3sa", "not the hotkey"),  # never percent-decoded
        ("http://127.0.0.1:9/x/{hk}", "segments"),
        ("http://127.0.0.1:9//{hk}", "segments"),
        ("http://127.0.0.1:9/{hk}/", "ends with /"),
        ("http://127.0.0.1:9/", "ends with /"),
        ("http://127.0.0.1:9", "segments"),
        ("http://127.0.0.1:9/{hk}?x=1", "query"),
        ("http://127.0.0.1:9/{hk}#frag", "fragment"),
        ("http://user@127.0.0.1:9/{hk}", "userinfo"),
        ("ftp://127.0.0.1:9/{hk}", "scheme"),
        ("http://127.0.0.1:9/{hk} ", "whitespace"),
        ("http://127.0.0.1:9\\@evil.example/{hk}", "backslash"),
        ("http://127.0.0.1:99999/{hk}", "parse"),
    ],
)
def test_bad_urls_are_refused_without_a_request(url, reason):
    url = url.format(hk=HK, hk_lower=HK.lower())
    # port 9 (discard) is allowed but nothing answers there: a request would show as FETCH_ERROR
    results = HttpPayloadStore(allowed_hosts=["127.0.0.1:9"], connect_timeout_s=0.2).fetch_all({HK: url}, 2.0)
    assert results[HK].status == BAD_URL, results[HK]
    assert reason in results[HK].reason


def test_url_rules_accept_r2_hosts_and_default_list_refuses_loopback():
    suffixes = HttpPayloadStore().allowed_host_suffixes
    assert suffixes == [".r2.dev", ".r2.cloudflarestorage.com"]
    assert url_problem(f"https://pub-abc.r2.dev/{HK}", HK, suffixes, []) is None
    assert url_problem(f"https://ACC.R2.CloudflareStorage.com/{HK}", HK, suffixes, []) is None
    assert url_problem(f"http://pub-abc.r2.dev:8443/{HK}", HK, suffixes, []) is None
    assert "allow-list" in url_problem(f"http://127.0.0.1:9/{HK}", HK, suffixes, [])
    assert url_problem(f"http://127.0.0.1:9/{HK}", HK, suffixes, ["127.0.0.1"]) is None  # any port
    assert url_problem(f"https://r2.dev/{HK}", HK, suffixes, []) is not None
    assert HttpPayloadStore().fetch_all({HK: 5}, 1.0)[HK].status == BAD_URL  # not a string: no crash


def _big_body(declare_length: bool):
    def route(h, state):
        h.send_response(200)
        if declare_length:
            h.send_header("Content-Length", str(100 * MiB))
        h.end_headers()
        chunk = b"x" * (64 * 1024)
        try:
            while state.bytes_sent < 100 * MiB and not state.stop.is_set():
                h.wfile.write(chunk)
                state.bytes_sent += len(chunk)
        finally:
            state.finished.set()

    return route


@pytest.mark.parametrize("declare_length", [False, True])
def test_oversized_body_is_cut_at_the_cap(declare_length):
    cap = 2 * MiB
    with serve(_big_body(declare_length)) as (base, state):
        results = make_store(base, max_bytes=cap).fetch_all({HK: f"{base}/{HK}"}, 10.0)
        assert state.finished.wait(5.0), "the client did not hang up"
    assert results[HK].status == FETCH_ERROR and results[HK].body is None
    assert "too large" in results[HK].reason
    assert ("Content-Length" in results[HK].reason) == declare_length
    # the server could write only what the cap plus the two kernel socket buffers admit
    assert state.bytes_sent < 20 * MiB, state.bytes_sent


def test_redirects_are_refused():
    def route(h, state):
        target = {"/away": "http://elsewhere.invalid/away", "/here": "/here-too"}.get(h.path)
        reply(h, 302, b"", {"Location": target}) if target else reply(h, 200, b"followed!")

    with serve(route) as (base, state):
        results = make_store(base).fetch_all({"away": f"{base}/away", "here": f"{base}/here"}, 5.0)
    assert results["away"].status == FETCH_ERROR and "another host 'elsewhere.invalid'" in results["away"].reason
    assert results["here"].status == FETCH_ERROR and "within the host" in results["here"].reason
    assert sorted(state.paths) == ["/away", "/here"]  # neither redirect was followed


def test_http_errors_and_refused_connections():
    def route(h, state):
        reply(h, 500 if h.path == "/boom" else 403, b"no")

    with serve(route) as (base, _):
        dead = dead_base()
        results = make_store(base, dead).fetch_all(
            {"boom": f"{base}/boom", "deny": f"{base}/deny", "dead": f"{dead}/dead"}, 5.0
        )
    assert (results["boom"].status, results["boom"].reason) == (FETCH_ERROR, "HTTP 500")
    assert (results["deny"].status, results["deny"].reason) == (FETCH_ERROR, "HTTP 403")
    assert results["dead"].status == FETCH_ERROR and results["dead"].reason.startswith("connection error")


def test_hanging_host_is_a_deadline_error_while_others_succeed():
    def route(h, state):
        if h.path == "/hang":
            state.stop.wait(10.0)  # never answers within the test; released at teardown
        reply(h, 200, h.path.encode())

    with serve(route) as (base, _):
        store = make_store(base, read_timeout_s=5.0)
        urls = {"hang": f"{base}/hang", **{f"hk{i}": f"{base}/hk{i}" for i in range(4)}}
        t0 = time.monotonic()
        results = store.fetch_all(urls, deadline_s=1.0)
        elapsed = time.monotonic() - t0
    assert elapsed < 1.5, elapsed
    assert (results["hang"].status, results["hang"].reason) == (FETCH_ERROR, "deadline")
    assert all(results[f"hk{i}"].status == FETCHED and results[f"hk{i}"].body == f"/hk{i}".encode() for i in range(4))


def test_trickling_host_is_abandoned_after_the_deadline():
    # only the deadline check can stop a trickle
    with serve(trickle) as (base, state):
        t0 = time.monotonic()
        results = make_store(base, read_timeout_s=1.0).fetch_all({"slow": f"{base}/slow"}, deadline_s=0.6)
        assert time.monotonic() - t0 < 1.0
        assert (results["slow"].status, results["slow"].reason) == (FETCH_ERROR, "deadline")
        assert state.finished.wait(2.0), "the worker kept reading after the deadline"


def test_concurrency_is_bounded():
    waiting = {"now": 0, "peak": 0}

    def route(h, state):
        # Counted here, not by the server: its own count drops only after the reply is written, when
        # the client may already have sent its next request, so it can overstate the peak by one.
        with state.lock:
            waiting["now"] += 1
            waiting["peak"] = max(waiting["peak"], waiting["now"])
        state.stop.wait(0.15)
        with state.lock:
            waiting["now"] -= 1
        reply(h, 200, b"ok")

    with serve(route) as (base, state):
        results = make_store(base, max_workers=2).fetch_all({f"k{i}": f"{base}/k{i}" for i in range(6)}, 5.0)
    assert all(r.status == FETCHED for r in results.values())
    assert waiting["peak"] == 2


# --- prices ------------------------------------------------------------------------------------

NOW = 1_800_000_000.0


def feed_route(body: bytes, status: int = 200):
    def route(h, state):
        reply(h, status, body, {"Content-Type": "application/json"})

    return route


def test_good_snapshot():
    doc = {"prices": {"BTC": 65000.5, "ETH": 3000}, "funding_rates": {"BTC": -1e-4, "ETH": 0}, "timestamp": NOW - 10}
    with serve(feed_route(json.dumps(doc).encode())) as (base, state):
        snap = HttpPriceFeed(url=f"{base}/latest_prices.json", read_timeout_s=1.0).snapshot(NOW)
    assert snap.taken_at == NOW - 10
    assert snap.prices == {"BTC": 65000.5, "ETH": 3000.0}
    assert snap.funding_rates == {"BTC": -1e-4, "ETH": 0.0}
    assert state.paths == ["/latest_prices.json"]


def test_invalid_prices_are_nan_never_zero():
    body = (
        b'{"ts": %d, "prices": {"ZERO": 0, "NEG": -3, "STR": "12.5", "NULL": null, "BOOL": true, "INF": 1e400,'
        b' "NAN": NaN, "OBJ": {}, "OK": 1.5}, "funding_rates": {"S": "0.1", "Z": 0, "N": -0.2, "I": -Infinity}}'
        % int(NOW)
    )
    with serve(feed_route(body)) as (base, _):
        snap = HttpPriceFeed(url=base + "/p", read_timeout_s=1.0).snapshot(NOW)
    assert snap.prices["OK"] == 1.5
    bad = {k: p for k, p in snap.prices.items() if k != "OK"}
    assert len(bad) == 8 and all(math.isnan(p) for p in bad.values())
    assert snap.funding_rates["Z"] == 0.0 and snap.funding_rates["N"] == -0.2
    assert math.isnan(snap.funding_rates["S"]) and math.isnan(snap.funding_rates["I"])


def test_every_key_of_the_challenges_from_one_snapshot():
    """What the collection stores (mantis.md §10): each key the profile's challenges read, an asset's
    price from "prices" (finite and > 0), its funding rate under funding_key(asset) from
    "funding_rates" (any finite number), NaN where the snapshot has none or an invalid one."""
    from mechanisms.mantis.universe import BREAKOUT_ASSETS, FUNDING_ASSETS, funding_key

    prices = {a: 1.0 + i for i, a in enumerate(BREAKOUT_ASSETS)} | {"ETH": 0, "DOGE": "0.1", "XAGUSD": 31.5}
    rates = {a: (-1) ** i * 1e-5 * i for i, a in enumerate(FUNDING_ASSETS)} | {"SOL": None, "TAO": 1e999}
    del prices["SKY"], rates["ONDO"]
    body = json.dumps({"prices": prices, "funding_rates": rates, "timestamp": NOW - 5}).encode()
    keys = ("XAGUSD", *BREAKOUT_ASSETS, *(funding_key(a) for a in FUNDING_ASSETS))
    with serve(feed_route(body)) as (base, _):
        got = HttpPriceFeed(url=base + "/p", read_timeout_s=1.0).snapshot(NOW).values(keys)
    assert list(got) == list(keys)
    assert got["XAGUSD"] == 31.5 and got["BTC"] == 1.0 and got["TON"] == 1.0 + BREAKOUT_ASSETS.index("TON")
    assert all(math.isnan(got[k]) for k in ("ETH", "DOGE", "SKY"))  # zero, a string, absent
    assert got[funding_key("BTC")] == 0.0 and got[funding_key("ETH")] == -1e-5 and got[funding_key("SUI")] == -9e-5
    assert all(math.isnan(got[funding_key(a)]) for a in ("SOL", "TAO", "ONDO"))  # null, infinite, absent
    stale = json.dumps({"prices": prices, "funding_rates": rates, "timestamp": NOW - 121}).encode()
    with serve(feed_route(stale)) as (base, _):
        with pytest.raises(PriceFeedError, match="121 s old"):  # funding rates do not make a stale snapshot usable
            HttpPriceFeed(url=base + "/p", read_timeout_s=1.0).snapshot(NOW)


@pytest.mark.parametrize(
    ("stamp", "taken_at"),
    [
        ({"timestamp": NOW - 119}, NOW - 119),
        ({"timestamp": NOW - 121}, None),  # None: refused as stale
        ({"ts": (NOW - 30) * 1000}, NOW - 30),  # milliseconds
        ({"ts": (NOW - 300) * 1000}, None),
        ({"time": "2027-01-15T07:59:00Z"}, NOW - 60),  # ISO 8601; NOW is 2027-01-15T08:00:00Z
        ({"updated_at": "2027-01-15T07:50:00+00:00"}, None),
        ({"time": "2027-01-15T07:59:30"}, NOW - 30),  # no zone: UTC
        ({"ts": NOW - 500, "timestamp": NOW - 5}, NOW - 5),  # "timestamp" is looked at first
        ({}, NOW),  # no timestamp: dated now
    ],
)
def test_freshness(stamp, taken_at):
    body = json.dumps({"prices": {"BTC": 1.0}, **stamp}).encode()
    if taken_at is None:
        with pytest.raises(PriceFeedError, match="s old"):
            parse_snapshot(body, NOW, 120.0)
    else:
        assert parse_snapshot(body, NOW, 120.0).taken_at == pytest.approx(taken_at, abs=1e-3)


def test_stale_snapshot_over_http_raises():
    body = json.dumps({"prices": {"BTC": 1.0}, "timestamp": NOW - 600}).encode()
    with serve(feed_route(body)) as (base, _):
        with pytest.raises(PriceFeedError, match="600 s old"):
            HttpPriceFeed(url=base + "/p", read_timeout_s=1.0).snapshot(NOW)


@pytest.mark.parametrize(
    ("body", "status", "match"),
    [
        (b"<html>not json</html>", 200, "not JSON"),
        (b"[1, 2]", 200, "not a JSON object"),
        (b'{"funding_rates": {}}', 200, "no \"prices\""),
        (b'{"prices": {}, "timestamp": "yesterday"}', 200, "not a timestamp"),
        (json.dumps({"prices": {}, "timestamp": NOW + 3600}).encode(), 200, "future"),
        (b'{"prices": {}}', 503, "HTTP 503"),
    ],
)
def test_unusable_feed_raises(body, status, match):
    with serve(feed_route(body, status)) as (base, _):
        with pytest.raises(PriceFeedError, match=match):
            HttpPriceFeed(url=base + "/p", read_timeout_s=1.0).snapshot(NOW)


def test_unreachable_feed_raises():
    with pytest.raises(PriceFeedError, match="unreachable: connection error"):
        HttpPriceFeed(url=dead_base() + "/p", connect_timeout_s=0.5).snapshot(NOW)


def test_a_trickling_relay_costs_one_request_budget_and_the_next_relay_answers():
    # a trickle never trips the 0.3 s read timeout; the request's own time limit must
    with serve(trickle) as (slow, _), serve(relay()) as (good, _):
        t0 = time.monotonic()
        answers = make_drand([slow, good], attempts=1).signatures([120, 121])
        elapsed = time.monotonic() - t0
    assert answers == {r: BEACON.signature(r, SERVER_NOW) for r in (120, 121)}
    assert elapsed < 5.0  # each request gives up after connect + read timeout (0.8 s), not hours
