"""The live Almanac trades feed against loopback servers: paging, retries, refusals, hangs."""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs, urlsplit

import pytest
from bittensor_core import Keypair

from resources.trades import TradesSourceError
from resources.trades_http import HttpTradesSource, basic_auth
from tests.loopback import reply, serve

ALICE = "//Alice"


def page(data, cursor=None, success=True) -> bytes:
    return json.dumps({"success": success, "data": data,
                       "meta": {"pagination": {"next_cursor": cursor}}}).encode()


def source(base: str, **kw) -> HttpTradesSource:
    return HttpTradesSource(url=f"{base}/api/v1/trading/trading-history", hotkey_env="TEST_ALMANAC_HOTKEY",
                            timeout_s=kw.pop("timeout_s", 2.0), **kw)


@pytest.fixture(autouse=True)
def hotkey(monkeypatch):
    monkeypatch.setenv("TEST_ALMANAC_HOTKEY", ALICE)


def query(handler) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(handler.path).query).items()}


def test_pages_follow_the_cursor_signed_with_the_hotkey():
    pages = {None: ([{"position_id": 1}, {"position_id": 2}], "c2"), "c2": ([{"position_id": 3}], "c3"),
             "c3": ([{"position_id": 4}], "")}
    seen = []

    def route(handler, state):
        q = query(handler)
        seen.append((q, handler.headers.get("Authorization")))
        data, cursor = pages[q.get("cursor")]
        reply(handler, 200, page(data, cursor))

    with serve(route) as (base, state):
        pulled = source(base).pull(0.0)
    assert [r["position_id"] for r in pulled.records] == [1, 2, 3, 4] and pulled.pages == 3
    assert [q.get("cursor") for q, _ in seen] == [None, "c2", "c3"]
    assert all(q["days"] == "30" and q["limit"] == "1000" for q, _ in seen)
    user, password = base64.b64decode(seen[0][1].split()[1]).decode().split(":", 1)
    alice = Keypair.create_from_uri(ALICE)
    assert user == alice.ss58_address and password.startswith("0x")
    assert alice.verify(user.encode(), bytes.fromhex(password[2:]))
    assert basic_auth(alice)[0] == user


def test_one_records_huge_integer_costs_only_that_record():
    """Past the parser's 4300-digit limit the whole page would fail, and every trader's epoch with it."""
    body = ('{"success": true, "data": [{"volume": ' + "9" * 5000 + '}, {"volume": -' + "9" * 500
            + '}, {"volume": 12}], "meta": {"pagination": {"next_cursor": ""}}}').encode()
    with serve(lambda handler, state: reply(handler, 200, body)) as (base, state):
        pulled = source(base).pull(0.0)
    assert pulled.records == [{"volume": float("inf")}, {"volume": float("-inf")}, {"volume": 12}]


def test_an_empty_page_echoing_its_cursor_ends_the_pull():
    def route(handler, state):
        cursor = query(handler).get("cursor")
        reply(handler, 200, page([{"n": 1}], "c2") if cursor is None else page([], "c2"))

    with serve(route) as (base, state):
        pulled = source(base).pull(0.0)
    assert pulled.records == [{"n": 1}] and pulled.pages == 2


def test_a_cursor_that_loops_fails_the_pull():
    def route(handler, state):
        cursor = query(handler).get("cursor")
        reply(handler, 200, page([{"n": 1}], {None: "a", "a": "b", "b": "a"}[cursor]))

    with serve(route) as (base, state), pytest.raises(TradesSourceError, match="repeats cursor 'a'"):
        source(base).pull(0.0)
    assert len(state.paths) == 3


def test_a_server_error_then_success_is_retried_after_the_back_off():
    waits = []

    def route(handler, state):
        if len(state.paths) == 1:
            reply(handler, 500, b"oops")
        else:
            reply(handler, 200, page([{"n": 1}]))

    with serve(route) as (base, state):
        pulled = source(base).pull(0.0, sleep=waits.append)
    assert pulled.records == [{"n": 1}] and waits == [3.0] and len(state.paths) == 2


@pytest.mark.parametrize("body,reason", [
    (page([], success=False), "success: False"),
    (b"<html>not json", "not JSON"),
    (json.dumps({"success": True, "data": {"a": 1}}).encode(), 'no "data" list'),
])
def test_a_page_that_stays_wrong_fails_the_whole_pull(body, reason):
    waits = []

    def route(handler, state):
        if query(handler).get("cursor") is None:
            reply(handler, 200, page([{"n": 1}], "c2"))
        else:
            reply(handler, 200, body)

    with serve(route) as (base, state), pytest.raises(TradesSourceError) as failed:
        source(base).pull(0.0, sleep=waits.append)
    assert "the page at cursor 'c2' failed 4 times" in str(failed.value) and reason in str(failed.value)
    assert waits == [3.0, 6.0, 12.0] and len(state.paths) == 5  # no partial history comes back


def test_a_hanging_server_times_out_and_fails():
    def route(handler, state):
        state.stop.wait(10)

    with serve(route) as (base, state), pytest.raises(TradesSourceError, match="read timeout"):
        source(base, timeout_s=0.3, backoff_s=[0.0]).pull(0.0, sleep=lambda s: None)
    assert len(state.paths) == 2


def test_refused_credentials_fail_at_once():
    def route(handler, state):
        reply(handler, 401, b'{"success": false, "error": "bad signature"}')

    with serve(route) as (base, state), pytest.raises(TradesSourceError, match="refused the hotkey"):
        source(base).pull(0.0, sleep=lambda s: None)
    assert len(state.paths) == 1


def test_no_hotkey_means_no_request(monkeypatch):
    monkeypatch.delenv("TEST_ALMANAC_HOTKEY")
    with pytest.raises(TradesSourceError, match="TEST_ALMANAC_HOTKEY is not set"):
        source("http://127.0.0.1:9").pull(0.0)
    with pytest.raises(TradesSourceError, match="no hotkey configured"):
        HttpTradesSource(url="http://127.0.0.1:9").pull(0.0)
    monkeypatch.setenv("TEST_ALMANAC_HOTKEY", "not a uri or mnemonic")
    with pytest.raises(TradesSourceError) as failed:
        source("http://127.0.0.1:9").pull(0.0)
    assert "not a uri" not in str(failed.value)  # the secret is never echoed
