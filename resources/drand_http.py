"""Live drand: quicknet rounds from HTTP relays, every signature verified before use (mantis.md §4).

Relays are tried in order; each speaks v1 (`{base}/{chain_hash}/public/{round}`) or, when its URL
ends in "/v2", v2 (`{base}/v2/beacons/{beacon_id}/rounds/{round}`). A relay's answer counts only
if the signature verifies under the configured key (`BeaconChain.verify`), so a lying or broken relay
costs one request and the next relay is asked. Verified signatures are kept in memory.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests
from pydantic import Field, PrivateAttr

from protocol import json_guard
from protocol.drand import QUICKNET, U64_MAX, BeaconChain, SignatureError
from resources.drand import DrandResource, DrandUnavailable, signatures_from
from resources.payloads_http import BodyTooLarge, DeadlinePassed, describe_error, read_capped

# mantis.md §4: the v1 bases in fallback order, then the v2 API of the first one.
DEFAULT_RELAYS = (
    "https://api.drand.sh",
    "https://api2.drand.sh",
    "https://api3.drand.sh",
    "https://drand.cloudflare.com",
    "https://api.drand.secureweb3.com:6875",
    "https://api.drand.sh/v2",
)
MAX_BEACON_BYTES = 64 * 1024  # a beacon is ~300 bytes of JSON
_RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


def api_version(relay: str) -> int:
    """2 for a relay URL ending in "/v2" (the drand.sh REST API), else 1 (every relay speaks v1)."""
    return 2 if relay.rstrip("/").endswith("/v2") else 1


def beacon_url(relay: str, chain_hash: str, beacon_id: str, round_: int | None) -> str:
    """The URL of one round (or the latest, `round_` None) on this relay, in the relay's API version."""
    base = relay.rstrip("/")
    which = "latest" if round_ is None else str(round_)
    if api_version(relay) == 2:
        return f"{base}/beacons/{beacon_id}/rounds/{which}"
    return f"{base}/{chain_hash}/public/{which}"


def parse_beacon(body: bytes, want_round: int | None) -> tuple[int, bytes]:
    """(round, 48-byte signature) from a relay's JSON answer; ValueError for anything else.

    v1 and v2 both carry "round" and hex "signature" (v1 adds "randomness", which is ignored: it is
    SHA256(signature) and recomputed by verification). The round must be the one asked for, so a
    relay cannot answer a question with a valid signature of a different round. Hex is checked here
    because the native verifier panics on malformed input.
    """
    doc = json_guard.loads_object(body)
    round_, sig_hex = doc.get("round"), doc.get("signature")
    if isinstance(round_, bool) or not isinstance(round_, int) or not 1 <= round_ <= U64_MAX:
        raise ValueError(f"bad round {round_!r}")
    if want_round is not None and round_ != want_round:
        raise ValueError(f"answered round {round_} for round {want_round}")
    if not isinstance(sig_hex, str) or len(sig_hex) != 96:
        raise ValueError("signature is not 96 hex characters")
    try:
        return round_, bytes.fromhex(sig_hex)
    except ValueError:
        raise ValueError("signature is not hex") from None


class HttpDrand(DrandResource):
    """drand over HTTP: relays with fallback and retries, verification, in-memory cache.

    Worst case when every relay hangs: len(relays) × attempts × (connect or read timeout) plus
    backoff, about 38 s with the defaults; a relay that refuses connections costs milliseconds.
    """

    relays: list[str] = Field(
        default=list(DEFAULT_RELAYS), description='Relay base URLs in fallback order; a URL ending in "/v2" speaks v2.'
    )
    beacon_id: str = Field(default="quicknet", description="Beacon name in v2 URLs.")
    chain_hash: str = Field(default=QUICKNET.chain_hash, description="Chain hash in v1 URLs.")
    public_key_hex: str = Field(default=QUICKNET.public_key.hex(), description="The beacon's G2 public key (hex).")
    genesis: int = Field(default=QUICKNET.genesis, description="Unix time of round 1.")
    period: int = Field(default=QUICKNET.period, description="Seconds between rounds.")
    connect_timeout_s: float = Field(default=3.0, description="Socket connect timeout per request.")
    read_timeout_s: float = Field(default=3.0, description="Socket read timeout per request.")
    attempts: int = Field(default=2, description="Tries per relay for transient failures (timeouts, 5xx).")
    backoff_s: float = Field(default=0.25, description="Pause before a retry, doubled on each further retry.")
    max_workers: int = Field(default=16, description="Rounds asked for concurrently by `signatures`.")

    _cache: dict[int, bytes] = PrivateAttr(default_factory=dict)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def chain(self) -> BeaconChain:
        return BeaconChain(bytes.fromhex(self.public_key_hex), self.genesis, self.period, self.chain_hash)

    def signature(self, round_: int) -> bytes | None:
        if isinstance(round_, bool) or not isinstance(round_, int) or not 1 <= round_ <= U64_MAX:
            raise ValueError(f"round {round_!r} is not in 1..2^64-1")
        with self._lock:
            cached = self._cache.get(round_)
        if cached is not None:
            return cached
        chain = self.chain()
        if not chain.is_published(round_, time.time()):
            return None  # by the chain's clock arithmetic no relay can have it yet
        answer = self._ask(chain, round_)
        return None if answer is None else answer[1]

    def signatures(self, rounds: list[int]) -> dict[int, bytes | None]:
        """Many rounds at once (an epoch names hundreds); a round the relays failed on is left
        out, and DrandUnavailable is raised only when every round failed (`signatures_from`)."""
        if len(rounds) < 2:
            return super().signatures(rounds)
        with ThreadPoolExecutor(max_workers=max(1, min(self.max_workers, len(rounds)))) as pool:
            return signatures_from(rounds, list(pool.map(self._signature_or_error, rounds)))

    def latest_round(self) -> int:
        answer = self._ask(self.chain(), None)
        assert answer is not None  # _ask raises rather than answer None for "latest"
        return answer[0]

    def _ask(self, chain: BeaconChain, round_: int | None) -> tuple[int, bytes] | None:
        """The first verified (round, signature) over the relays (`round_` None: the latest).

        None if some relay said 404 for the round and none had it; DrandUnavailable if no relay gave
        a usable answer (for "latest", a 404 is a broken relay, not an unpublished round).
        """
        failures: list[str] = []
        not_published = False
        for relay in self.relays:
            url = beacon_url(relay, self.chain_hash, self.beacon_id, round_)
            for attempt in range(max(1, self.attempts)):
                if attempt:
                    time.sleep(self.backoff_s * 2 ** (attempt - 1))
                outcome = self._get(url)
                if outcome == 404:
                    not_published = True
                    break  # this relay does not have it; a lagging relay must not hide the others
                if isinstance(outcome, str):
                    failures.append(f"{relay}: {outcome}")
                    if outcome.startswith("retryable"):
                        continue
                    break
                try:
                    got_round, sig = parse_beacon(outcome, round_)
                    chain.verify(got_round, sig)
                except (ValueError, SignatureError) as exc:
                    failures.append(f"{relay}: {exc}")
                    break  # a wrong answer is not transient; ask the next relay
                with self._lock:
                    self._cache[got_round] = sig
                return got_round, sig
        if not_published and round_ is not None:
            return None
        what = "latest round" if round_ is None else f"round {round_}"
        raise DrandUnavailable(f"no relay gave a verified {what}: " + "; ".join(failures))

    def _get(self, url: str) -> bytes | int | str:
        """The body of a 200, the int 404, or a failure text ("retryable: …" when worth retrying)."""
        until = time.monotonic() + self.connect_timeout_s + self.read_timeout_s
        try:
            with requests.get(
                url,
                stream=True,  # redirects are followed: the signature is verified whoever serves it
                timeout=(self.connect_timeout_s, self.read_timeout_s),
                headers={"Accept": "application/json"},
            ) as response:
                if response.status_code == 404:
                    return 404
                if response.status_code != 200:
                    retry = "retryable: " if response.status_code in _RETRYABLE_STATUS else ""
                    return f"{retry}HTTP {response.status_code}"
                # A relay trickling a byte per second never trips the read timeout: bound the whole body.
                return read_capped(response, MAX_BEACON_BYTES, until)
        except BodyTooLarge:
            return f"answer larger than {MAX_BEACON_BYTES} bytes"
        except DeadlinePassed:
            return "retryable: answer still arriving after the request's time"
        except Exception as exc:  # noqa: BLE001 - requests and urllib3 errors: timeouts, resets, bad bodies
            return f"retryable: {describe_error(exc)}"
