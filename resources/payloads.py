"""Miners' payloads by committed URL: `payloads_http.HttpPayloadStore` or `payloads_devnet.DevnetPayloadStore`."""

from __future__ import annotations

import abc
from dataclasses import dataclass

import dagster as dg

# Fetch statuses (the ledger's codes for what happened before any payload check).
FETCHED = "fetched"
ABSENT = "absent"  # no commitment, or nothing at the URL (404)
BAD_URL = "bad-url"  # not on the allow-list, or the path is not the hotkey
FETCH_ERROR = "fetch-error"  # timeout, connection error, HTTP error, too large, redirect elsewhere


@dataclass(frozen=True)
class FetchResult:
    hotkey: str
    url: str
    status: str  # FETCHED, ABSENT, BAD_URL or FETCH_ERROR
    body: bytes | None = None  # set when FETCHED
    reason: str = ""  # why, when not FETCHED
    seconds: float = 0.0


class PayloadStore(dg.ConfigurableResource, abc.ABC):
    @abc.abstractmethod
    def fetch_all(self, urls: dict[str, str], deadline_s: float) -> dict[str, FetchResult]:
        """Fetch each hotkey's committed URL concurrently; every hotkey gets a result by the deadline."""
