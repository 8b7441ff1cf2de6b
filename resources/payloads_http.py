"""Live payload store: HTTP GET of each miner's committed URL (mantis.md §2, project rules).

Every refusal has a reason, and nothing a miner's host does can stop the sample: the URL is checked
against the allow-list before any connection, the body is read in a stream with the size cap enforced
while reading, redirects are never followed, and `fetch_all` returns for every hotkey when its
deadline passes, leaving any hung request to die on its own socket timeouts.

Redirect policy: **every** 3xx is refused (FETCH_ERROR, with the status and where it pointed). The
spec only forbids redirects to another host, but a same-host redirect would serve the body of a path
that is not the hotkey, which the URL rules exist to prevent, and R2 never redirects an object GET.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor, wait
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from pydantic import Field

from resources.payloads import ABSENT, BAD_URL, FETCH_ERROR, FETCHED, FetchResult, PayloadStore

MAX_PAYLOAD_BYTES = 25 * 1024 * 1024
DEFAULT_HOST_SUFFIXES = (".r2.dev", ".r2.cloudflarestorage.com")
_CHUNK = 64 * 1024
_DEFAULT_PORTS = {"http": 80, "https": 443}


class BodyTooLarge(Exception):
    """The body went past the cap; raised as soon as cap + 1 bytes have arrived."""


class DeadlinePassed(Exception):
    """The caller's deadline passed while the body was still arriving."""


def read_capped(response: requests.Response, max_bytes: int, until: float | None = None) -> bytes:
    """The body of a `stream=True` response, reading no more than `max_bytes` + 1 bytes.

    Why not `response.content` or `iter_content`: the first reads everything a server sends, and
    the second fills each chunk before returning, so a server trickling a byte per second would keep
    the reader inside one chunk (every recv beats the socket timeout) for hours. `read1` returns
    after a single receive, so the monotonic deadline `until` is checked at least once per socket
    read timeout. Counts decoded bytes, so a compressed body cannot expand past the cap either.
    Raises BodyTooLarge, DeadlinePassed, or urllib3 errors (see `describe_error`).
    """
    body = bytearray()
    while True:
        if until is not None and time.monotonic() >= until:
            raise DeadlinePassed()
        chunk = response.raw.read1(_CHUNK, decode_content=True)
        if not chunk:
            return bytes(body)
        body += chunk
        if len(body) > max_bytes:
            raise BodyTooLarge()


def describe_error(exc: BaseException) -> str:
    """A short, stable reason for a failed request, for the ledger (no tracebacks, bounded length)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "connect timeout"
    if isinstance(exc, (requests.exceptions.ReadTimeout, urllib3.exceptions.ReadTimeoutError)):
        return "read timeout"
    if isinstance(exc, requests.exceptions.ConnectionError) and exc.args and isinstance(
        exc.args[0], urllib3.exceptions.ReadTimeoutError
    ):
        return "read timeout"  # requests wraps a read timeout during the body this way
    if isinstance(exc, requests.exceptions.ConnectionError):
        return f"connection error: {_short(exc)}"
    if isinstance(exc, (urllib3.exceptions.ProtocolError, urllib3.exceptions.DecodeError)):
        return f"broken body: {_short(exc)}"
    return f"{type(exc).__name__}: {_short(exc)}"


def _short(exc: BaseException, limit: int = 160) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def host_allowed(host: str, port: int | None, scheme: str, suffixes: list[str], hosts: list[str]) -> bool:
    """Whether `host` is on the allow-list: a suffix match, or an exact `host` / `host:port` entry.

    A suffix without its leading dot gets one, so "r2.dev" cannot admit "evilr2.dev". Exact entries
    exist so tests and the devnet can admit a loopback server (e.g. "127.0.0.1:8123") without
    widening the suffix rule; an entry without a port admits every port of that host.
    """
    host = host.lower()
    if any(host.endswith(s.lower() if s.startswith(".") else "." + s.lower()) for s in suffixes):
        return True
    effective_port = port if port is not None else _DEFAULT_PORTS.get(scheme)
    exact = {h.lower() for h in hosts}
    return host in exact or f"{host}:{effective_port}" in exact


def url_problem(url: str, hotkey: str, suffixes: list[str], hosts: list[str]) -> str | None:
    """Why `url` may not be fetched as `hotkey`'s payload, or None when it may (mantis.md §2).

    The path must be exactly "/<hotkey>": compared raw, never percent-decoded, so no encoding trick
    can make another object look like the hotkey's. Characters that parsers disagree on (spaces,
    controls, backslashes, non-ASCII) are refused before parsing, and so is userinfo, so the host
    checked here is the host `requests` connects to.
    """
    if any(c.isspace() or not 0x21 <= ord(c) <= 0x7E or c == "\\" for c in url):
        return "URL has whitespace, control, non-ASCII or backslash characters"
    if "?" in url or "#" in url:
        return "URL has a query or fragment"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"URL does not parse: {_short(exc)}"
    if parts.scheme not in _DEFAULT_PORTS:
        return f"scheme {parts.scheme!r} is not http or https"
    if "@" in parts.netloc:
        return "URL has userinfo"
    host = parts.hostname or ""
    if not host:
        return "URL has no host"
    if not host_allowed(host, port, parts.scheme, suffixes, hosts):
        return f"host {host!r} is not on the allow-list"
    if parts.path.endswith("/"):
        return "path ends with /"
    segments = parts.path.split("/")[1:]
    if len(segments) != 1 or not segments[0]:
        return f"path has {len(segments)} segments, not exactly one (the hotkey)"
    if segments[0] != hotkey:
        return "path segment is not the hotkey"
    return None


def redirect_reason(url: str, status: int, location: str | None) -> str:
    """The FETCH_ERROR reason for a 3xx: all redirects are refused, saying where this one pointed."""
    if not location:
        return f"redirect ({status}) refused"
    try:
        src, dst = urlsplit(url), urlsplit(urljoin(url, location))
        same = (src.hostname, src.port or _DEFAULT_PORTS.get(src.scheme)) == (
            dst.hostname,
            dst.port or _DEFAULT_PORTS.get(dst.scheme),
        )
    except ValueError:
        return f"redirect ({status}) to an unparseable location refused"
    if same:
        return f"redirect ({status}) within the host refused: redirects are not followed"
    return f"redirect ({status}) to another host {dst.hostname!r} refused"


def declared_length(headers) -> int | None:
    """Content-Length as an int, or None when absent or malformed (then only the stream cap applies)."""
    value = headers.get("Content-Length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


class HttpPayloadStore(PayloadStore):
    """Fetches committed payload URLs over HTTP(S) with a host allow-list, size cap and deadline."""

    allowed_host_suffixes: list[str] = Field(
        default=list(DEFAULT_HOST_SUFFIXES), description="Host suffixes a payload URL may use (mantis.md §2)."
    )
    allowed_hosts: list[str] = Field(
        default=[], description="Exact hosts or host:port entries also allowed (loopback for tests and the devnet)."
    )
    max_bytes: int = Field(default=MAX_PAYLOAD_BYTES, description="Body size cap, enforced while streaming.")
    connect_timeout_s: float = Field(default=5.0, description="Socket connect timeout per request.")
    read_timeout_s: float = Field(default=10.0, description="Socket read timeout (per receive) per request.")
    max_workers: int = Field(default=32, description="Concurrent requests at most.")

    def fetch_all(self, urls: dict[str, str], deadline_s: float) -> dict[str, FetchResult]:
        """Fetch each hotkey's URL; returns a result per hotkey within about `deadline_s` seconds.

        Requests still running at the deadline are recorded as FETCH_ERROR "deadline" and left to
        their worker threads, which stop at their next socket timeout or chunk boundary after the
        deadline (`read_capped`); queued ones are cancelled.
        """
        start = time.monotonic()
        until = start + max(0.0, deadline_s)
        results: dict[str, FetchResult] = {}
        pending: dict[str, str] = {}
        for hotkey, url in urls.items():
            if not url:
                results[hotkey] = FetchResult(hotkey, url or "", ABSENT, reason="no commitment")
            elif not isinstance(url, str):
                results[hotkey] = FetchResult(hotkey, repr(url), BAD_URL, reason="URL is not a string")
            elif problem := url_problem(url, hotkey, self.allowed_host_suffixes, self.allowed_hosts):
                results[hotkey] = FetchResult(hotkey, url, BAD_URL, reason=problem)
            else:
                pending[hotkey] = url
        if pending:
            pool = ThreadPoolExecutor(max_workers=max(1, min(self.max_workers, len(pending))))
            futures = {pool.submit(self._fetch_one, hk, url, until): hk for hk, url in pending.items()}
            done, _ = wait(futures, timeout=max(0.0, until - time.monotonic()))
            pool.shutdown(wait=False, cancel_futures=True)
            for future, hotkey in futures.items():
                if future in done:
                    results[hotkey] = future.result()
                else:
                    results[hotkey] = FetchResult(
                        hotkey, pending[hotkey], FETCH_ERROR, reason="deadline", seconds=time.monotonic() - start
                    )
        return {hotkey: results[hotkey] for hotkey in urls}

    def _fetch_one(self, hotkey: str, url: str, until: float) -> FetchResult:
        """One GET; never raises (a worker's exception would otherwise surface as the caller's)."""
        t0 = time.monotonic()

        def result(status: str, body: bytes | None = None, reason: str = "") -> FetchResult:
            return FetchResult(hotkey, url, status, body, reason, time.monotonic() - t0)

        remaining = until - t0
        if remaining <= 0:
            return result(FETCH_ERROR, reason="deadline")
        timeout = (min(self.connect_timeout_s, remaining), min(self.read_timeout_s, remaining))
        try:
            with requests.get(
                url, stream=True, allow_redirects=False, timeout=timeout, headers={"Accept-Encoding": "identity"}
            ) as response:
                status = response.status_code
                if 300 <= status < 400:
                    return result(FETCH_ERROR, reason=redirect_reason(url, status, response.headers.get("Location")))
                if status == 404:
                    return result(ABSENT, reason="HTTP 404")
                if not 200 <= status < 300:
                    return result(FETCH_ERROR, reason=f"HTTP {status}")
                length = declared_length(response.headers)
                if length is not None and length > self.max_bytes:
                    return result(FETCH_ERROR, reason=f"too large: Content-Length {length} > {self.max_bytes}")
                body = read_capped(response, self.max_bytes, until)
        except BodyTooLarge:
            return result(FETCH_ERROR, reason=f"too large: more than {self.max_bytes} bytes")
        except DeadlinePassed:
            return result(FETCH_ERROR, reason="deadline")
        except Exception as exc:  # noqa: BLE001 - every failure is a recorded reason, never a crash
            return result(FETCH_ERROR, reason=describe_error(exc))
        return result(FETCHED, body=body)
