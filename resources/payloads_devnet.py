"""PayloadStore on the devnet miners' directory: the file named by the URL's path, no network."""

from __future__ import annotations

import time
from pathlib import Path

from devnet.chain import payload_url
from resources.payloads import ABSENT, BAD_URL, FETCH_ERROR, FETCHED, FetchResult, PayloadStore


class DevnetPayloadStore(PayloadStore):
    directory: str
    port: int = 8787  # the loopback port the directory is served on (its URLs name it)
    max_bytes: int = 25 * 1024 * 1024  # the size cap, as the live store enforces it while streaming

    def fetch_all(self, urls: dict[str, str], deadline_s: float) -> dict[str, FetchResult]:
        out = {}
        for hotkey, url in urls.items():
            t0 = time.perf_counter()
            if url != payload_url(self.port, hotkey):
                out[hotkey] = FetchResult(hotkey, url, BAD_URL, reason="not this devnet's URL for the hotkey")
                continue
            path = Path(self.directory) / hotkey
            try:
                with path.open("rb") as f:
                    body = f.read(self.max_bytes + 1)
            except FileNotFoundError:
                out[hotkey] = FetchResult(hotkey, url, ABSENT, reason="no payload published")
                continue
            except OSError as exc:  # a directory or unreadable file at the path: this miner's problem only
                out[hotkey] = FetchResult(hotkey, url, FETCH_ERROR, reason=f"{type(exc).__name__}: {exc.strerror}")
                continue
            if len(body) > self.max_bytes:
                out[hotkey] = FetchResult(hotkey, url, FETCH_ERROR, reason=f"too large: more than {self.max_bytes} bytes")
                continue
            out[hotkey] = FetchResult(hotkey, url, FETCHED, body, seconds=time.perf_counter() - t0)
        return out
