"""Live trade history: the Almanac trading-history API (almanac_sn41.md §15).

`GET <url>?days=30&limit=1000[&cursor=C]` with HTTP Basic auth: the validator's hotkey address as the
user and `0x` + the hex of its signature over that address's UTF-8 bytes as the password. Each page is
`{"success": true, "data": [...], "meta": {"pagination": {"next_cursor": C}}}`; paging stops at an
empty cursor, or at an empty page that echoes the cursor it was asked for. A page is tried up to four
times (a timeout, a 5xx, `success: false` or a body that is not such a page; back-off 3, 6, 12 s);
refused credentials fail at once. A cursor seen before on a page with data would loop forever and
fails the pull, as does any page still failing after its retries.

The hotkey comes from a keyfile wallet (`wallet_name`, as the chain resource reads it) or from the
environment variable named by `hotkey_env` (a secret URI or mnemonic); it is never logged.
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable

import requests
from pydantic import Field

from protocol import json_guard
from resources.payloads_http import BodyTooLarge, DeadlinePassed, describe_error, read_capped
from resources.trades import TradesPull, TradesSource, TradesSourceError

DEFAULT_TRADES_URL = "https://api.almanac.market/api/v1/trading/trading-history"
TESTNET_TRADES_URL = "https://test-api.almanac.market/api/v1/trading/trading-history"


class _Retry(Exception):
    """This attempt failed in a way another attempt may not."""


def basic_auth(keypair: Any) -> tuple[str, str]:
    """(user, password) for the API: the hotkey address and 0x + its signature over that address."""
    address = keypair.ss58_address
    return address, "0x" + bytes(keypair.sign(address.encode("utf-8"))).hex()


def parse_page(body: bytes) -> tuple[list, str | None]:
    """A page's records and next cursor; _Retry with the reason if it is not a successful page."""
    try:
        doc = json_guard.loads_object(body, parse_int=json_guard.bounded_int)
    except ValueError as exc:
        raise _Retry(f"the page is {exc}") from None
    if doc.get("success") is not True:
        raise _Retry(f"the page says success: {str(doc.get('success'))[:40]}")
    data = doc.get("data")
    if not isinstance(data, list):
        raise _Retry('the page has no "data" list')
    meta = doc.get("meta")
    pagination = meta.get("pagination") if isinstance(meta, dict) else None
    cursor = pagination.get("next_cursor") if isinstance(pagination, dict) else None
    if cursor is not None and not isinstance(cursor, (str, int)):
        raise _Retry("the page's next_cursor is neither a string nor a number")
    return data, (str(cursor) if cursor not in (None, "") else None)


class HttpTradesSource(TradesSource):
    """Pulls the whole trading history, page by page, signed with the validator's hotkey."""

    url: str = Field(default=DEFAULT_TRADES_URL, description="Trading-history endpoint (§15).")
    days: int = Field(default=30, description="History window asked for, in days.")
    limit: int = Field(default=1000, description="Records per page.")
    timeout_s: float = Field(default=30.0, description="Connect and read timeout of each request.")
    backoff_s: list[float] = Field(default=[3.0, 6.0, 12.0], description="Waits before each retry.")
    max_pages: int = Field(default=10_000, description="More pages than this fails the pull.")
    max_page_bytes: int = Field(default=64 * 1024 * 1024, description="Body size cap of one page.")
    wallet_name: str | None = Field(default=None, description="Keyfile wallet holding the hotkey.")
    wallet_hotkey: str | None = Field(default=None, description="Hotkey name in the wallet (default).")
    wallet_path: str | None = Field(default=None, description="Wallet directory (the SDK's default).")
    hotkey_env: str | None = Field(default=None, description="Environment variable with the hotkey's secret URI.")

    def keypair(self) -> Any:
        """The hotkey that signs the credentials: from the environment variable or the keyfile."""
        if self.hotkey_env:
            secret = os.environ.get(self.hotkey_env)
            if not secret:
                raise TradesSourceError(f"{self.hotkey_env} is not set: no hotkey to sign the API credentials")
            from bittensor_core import Keypair
            try:
                return Keypair.create_from_uri(secret.strip())
            except Exception:  # noqa: BLE001 - never echo the secret
                raise TradesSourceError(f"{self.hotkey_env} does not hold a secret URI or mnemonic") from None
        if self.wallet_name:
            import bittensor as bt
            kwargs = {} if self.wallet_path is None else {"path": self.wallet_path}
            wallet = bt.Wallet(self.wallet_name, self.wallet_hotkey or "default", **kwargs)
            keyfile = wallet.hotkey_file
            if not keyfile.is_readable():
                raise TradesSourceError(f"hotkey keyfile {keyfile.path} does not exist or is not readable")
            if keyfile.is_encrypted() and not bt.sp_core.get_password_from_environment(keyfile.env_var_name()):
                raise TradesSourceError(f"hotkey keyfile {keyfile.path} is encrypted and "
                                        f"{keyfile.env_var_name()} is not set; refusing to prompt")
            return wallet.hotkey
        raise TradesSourceError("no hotkey configured (wallet_name or hotkey_env) to sign the API credentials")

    def pull(self, now: float, sleep: Callable[[float], None] = time.sleep) -> TradesPull:
        auth = basic_auth(self.keypair())
        records: list = []
        seen: set[str] = set()
        cursor: str | None = None
        for page in range(1, self.max_pages + 1):
            data, following = self._page(cursor, auth, sleep)
            records += data
            if following is None or (not data and following == cursor):
                return TradesPull(records=records, pages=page, pulled_at=time.time())
            if following in seen or following == cursor:
                raise TradesSourceError(f"the API repeats cursor {following[:40]!r} on page {page}: "
                                        f"paging would never end")
            seen.add(following)
            cursor = following
        raise TradesSourceError(f"more than {self.max_pages} pages; refusing a history that may not end")

    def _page(self, cursor: str | None, auth: tuple[str, str], sleep: Callable[[float], None]) -> tuple[list, str | None]:
        params: dict[str, Any] = {"days": self.days, "limit": self.limit}
        if cursor is not None:
            params["cursor"] = cursor
        reason = ""
        for attempt, wait in enumerate([0.0, *self.backoff_s]):
            if wait:
                sleep(wait)
            try:
                return self._get(params, auth)
            except _Retry as exc:
                reason = str(exc)
        where = "the first page" if cursor is None else f"the page at cursor {cursor[:40]!r}"
        raise TradesSourceError(f"{where} failed {len(self.backoff_s) + 1} times; last: {reason}")

    def _get(self, params: dict[str, Any], auth: tuple[str, str]) -> tuple[list, str | None]:
        until = time.monotonic() + 2 * self.timeout_s  # a trickling body ends too
        try:
            with requests.get(self.url, params=params, auth=auth, stream=True,
                              timeout=(self.timeout_s, self.timeout_s),
                              headers={"Accept": "application/json"}) as response:
                if response.status_code in (401, 403):
                    raise TradesSourceError(f"the API refused the hotkey's credentials (HTTP {response.status_code})")
                if response.status_code != 200:
                    raise _Retry(f"HTTP {response.status_code}")
                body = read_capped(response, self.max_page_bytes, until)
        except (TradesSourceError, _Retry):
            raise
        except BodyTooLarge:
            raise _Retry(f"a page larger than {self.max_page_bytes} bytes") from None
        except DeadlinePassed:
            raise _Retry("the page was still arriving after the request's time") from None
        except Exception as exc:  # noqa: BLE001 - requests / urllib3 failures: unreachable, timeouts
            raise _Retry(describe_error(exc)) from None
        return parse_page(body)
