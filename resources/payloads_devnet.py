"""PayloadStore on the devnet miners' directory: the file named by the URL's path, no network."""

from __future__ import annotations

import time
from pathlib import Path

from devnet.chain import payload_url
from resources.payloads import ABSENT, BAD_URL, FETCHED, FetchResult, PayloadStore


class DevnetPayloadStore(PayloadStore):
    directory: str
    port: int = 8787  # the loopback port the directory is served on (its URLs name it)

    def fetch_all(self, urls: dict[str, str], deadline_s: float) -> dict[str, FetchResult]:
        out = {}
        for hotkey, url in urls.items():
            t0 = time.perf_counter()
            if url != payload_url(self.port, hotkey):
                out[hotkey] = FetchResult(hotkey, url, BAD_URL, reason="not this devnet's URL for the hotkey")
                continue
            path = Path(self.directory) / hotkey
            try:
                body = path.read_bytes()
            except FileNotFoundError:
                out[hotkey] = FetchResult(hotkey, url, ABSENT, reason="no payload published")
                continue
            out[hotkey] = FetchResult(hotkey, url, FETCHED, body, seconds=time.perf_counter() - t0)
        return out
