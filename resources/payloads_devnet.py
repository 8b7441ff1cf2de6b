"""PayloadStore on the devnet miners' directory: the file named by the URL's path, no network."""

from __future__ import annotations

import errno
import os
import stat
import time
from pathlib import Path

from resources.devnet_context import payload_url
from resources.payloads import ABSENT, BAD_URL, FETCH_ERROR, FETCHED, FetchResult, PayloadStore


def _read_regular(path: Path, limit: int) -> bytes:
    """At most `limit` bytes of a regular file, never following a link or waiting on a FIFO."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read(limit)
    finally:
        os.close(fd)


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
            try:
                body = _read_regular(Path(self.directory) / hotkey, self.max_bytes + 1)
            except FileNotFoundError:
                out[hotkey] = FetchResult(hotkey, url, ABSENT, reason="no payload published")
                continue
            except OSError as exc:  # a link, FIFO, directory or unreadable file: this miner's problem only
                out[hotkey] = FetchResult(hotkey, url, FETCH_ERROR, reason=f"{type(exc).__name__}: {exc.strerror}")
                continue
            if len(body) > self.max_bytes:
                out[hotkey] = FetchResult(hotkey, url, FETCH_ERROR, reason=f"too large: more than {self.max_bytes} bytes")
                continue
            out[hotkey] = FetchResult(hotkey, url, FETCHED, body, seconds=time.perf_counter() - t0)
        return out
