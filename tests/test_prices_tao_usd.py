"""HttpPriceFeed.tao_usd (resources/prices_http.py) against loopback servers standing in for CoinGecko.

Servers come from tests/loopback.py: 127.0.0.1 on an ephemeral port, handlers that wait on an event
set at exit, so a hanging server does not outlive its test. Timeouts are fractions of a second.
"""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs, urlsplit

import pytest

from resources.prices import PriceFeedError
from resources.prices_http import DEFAULT_TAO_USD_URL, TAO_USD_MAX_BYTES, HttpPriceFeed
from tests.loopback import dead_base, reply, serve, trickle

NOW = 1_800_000_000.0
PATH = "/api/v3/simple/price?ids=bittensor&vs_currencies=usd"


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch):
    """requests honours proxy variables; loopback tests must reach their own servers directly."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


def answer(body: bytes, status: int = 200):
    def route(h, state):
        reply(h, status, body, {"Content-Type": "application/json"})

    return route


def feed(base: str, **overrides) -> HttpPriceFeed:
    return HttpPriceFeed(tao_usd_url=base + PATH, **{"tao_usd_timeout_s": 1.0, **overrides})


def test_default_url_is_coingecko_simple_price_and_timeout_30_s():
    parts = urlsplit(DEFAULT_TAO_USD_URL)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "api.coingecko.com", "/api/v3/simple/price")
    assert parse_qs(parts.query) == {"ids": ["bittensor"], "vs_currencies": ["usd"]}
    assert HttpPriceFeed().tao_usd_url == DEFAULT_TAO_USD_URL
    assert HttpPriceFeed().tao_usd_timeout_s == 30.0


@pytest.mark.parametrize(("body", "price"), [(b'{"bittensor": {"usd": 412.3}}', 412.3),
                                             (b'{"bittensor": {"usd": 380}}', 380.0)])
def test_good_answer(body, price):
    with serve(answer(body)) as (base, state):
        got = feed(base).tao_usd(NOW)
    assert type(got) is float and got == price
    assert state.paths == [PATH]


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b"<html>rate limited</html>", "TAO/USD answer is not JSON"),
        (b'{"bittensor": {"usd": 41', "TAO/USD answer is not JSON"),
        (b"[412.3]", "TAO/USD answer is not a JSON object"),
        (b"{}", 'no "bittensor": {"usd": …} entry'),
        (b'{"bittensor": {}}', 'no "bittensor": {"usd": …} entry'),
        (b'{"bittensor": {"eur": 380.1}}', 'no "bittensor": {"usd": …} entry'),
        (b'{"bittensor": 412.3}', 'no "bittensor": {"usd": …} entry'),
        (b'{"bittensor": {"usd": "412.3"}}', "not a positive finite number: '412.3'$"),
        (b'{"bittensor": {"usd": null}}', "not a positive finite number: None$"),
        (b'{"bittensor": {"usd": true}}', "not a positive finite number: True$"),
        (b'{"bittensor": {"usd": -412.3}}', "not a positive finite number: -412.3$"),
        (b'{"bittensor": {"usd": 0}}', "not a positive finite number: 0$"),
        (b'{"bittensor": {"usd": NaN}}', "not a positive finite number: nan$"),
        (b'{"bittensor": {"usd": Infinity}}', "not a positive finite number: inf$"),
        (b'{"bittensor": {"usd": 1e400}}', "not a positive finite number: inf$"),
        (b'{"bittensor": {"usd": 1' + b"0" * 400 + b"}}", "not a positive finite number: 1000"),
    ],
)
def test_unusable_answer_raises(body, match):
    with serve(answer(body)) as (base, _):
        with pytest.raises(PriceFeedError, match=match) as caught:
            feed(base).tao_usd(NOW)
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 200


@pytest.mark.parametrize("status", [500, 429, 404])
def test_http_error_raises(status):
    with serve(answer(b'{"bittensor": {"usd": 412.3}}', status)) as (base, _):
        with pytest.raises(PriceFeedError, match=f"^TAO/USD feed answered HTTP {status}$"):
            feed(base).tao_usd(NOW)


def test_unreachable_raises():
    with pytest.raises(PriceFeedError, match="^TAO/USD feed unreachable: connection error"):
        feed(dead_base()).tao_usd(NOW)


def test_hanging_server_raises_after_the_timeout():
    def hang(h, state):
        state.stop.wait(10.0)  # never answers within the test; released at exit

    with serve(hang) as (base, _):
        t0 = time.monotonic()
        with pytest.raises(PriceFeedError, match="^TAO/USD feed unreachable: read timeout$"):
            feed(base, tao_usd_timeout_s=0.3).tao_usd(NOW)
        elapsed = time.monotonic() - t0
    assert 0.3 <= elapsed < 1.5, elapsed


def test_trickling_body_is_abandoned_at_the_deadline():
    with serve(trickle) as (base, state):
        t0 = time.monotonic()
        with pytest.raises(PriceFeedError, match="body still arriving"):
            feed(base, tao_usd_timeout_s=0.3).tao_usd(NOW)
        assert time.monotonic() - t0 < 1.5  # connect + read timeout, not as long as the server likes
        assert state.finished.wait(2.0), "the client kept reading after the deadline"


@pytest.mark.parametrize("declare_length", [True, False])
def test_oversized_body_raises(declare_length):
    padding = b" " * TAO_USD_MAX_BYTES  # valid JSON whitespace: only the cap can refuse it
    body = b'{"bittensor": {"usd": 412.3}}' + padding
    too_large = f"^TAO/USD feed body is larger than {TAO_USD_MAX_BYTES} bytes$"
    with serve(lambda h, state: reply(h, 200, body, length=declare_length)) as (base, _):
        with pytest.raises(PriceFeedError, match=too_large):
            feed(base).tao_usd(NOW)


def test_snapshot_and_tao_usd_use_their_own_urls():
    doc = {"prices": {"BTC": 65000.5}, "timestamp": NOW}

    def route(h, state):
        body = json.dumps(doc if h.path == "/latest" else {"bittensor": {"usd": 412.3}}).encode()
        reply(h, 200, body)

    with serve(route) as (base, state):
        prices = feed(base, url=base + "/latest", read_timeout_s=1.0)
        assert prices.snapshot(NOW).prices == {"BTC": 65000.5}
        assert prices.tao_usd(NOW) == 412.3
    assert state.paths == ["/latest", PATH]
