"""build_resources(profile): the active profile chooses, per external system, live or devnet.

The chain is live unless `chain.network` is "devnet"; drand, payloads and prices follow the
profile's `sources` ("devnet" or a live setting), and so do Almanac's trades. Wallet names and paths come from the environment
(the keys themselves stay in keyfiles). Secrets never become plain resource configuration, which
Dagster displays: the ledger URL from the environment (it may carry a database password) is passed
as a `dg.EnvVar`, and the subnet owner's X25519 secret (`owner_secret`) is read from the environment
for the owner's tooling only.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dagster as dg

from profiles import Profile
from protocol import payload as pl
from resources.charts import ChartStore
from resources.fits import FitStore
from resources.ledger import LedgerResource
from resources.settings_resource import SettingsResource
from resources.storage import EpochArtifactIOManager

DEVNET = "devnet"
OWNER_SK_ENV = "INCENTIVE_OWNER_SK"
LEDGER_URL_ENV = "INCENTIVE_LEDGER_URL"  # may hold a password: resources get it as an EnvVar


class OwnerSecretError(ValueError):
    """INCENTIVE_OWNER_SK is malformed or not the owner key's secret (the message never holds it)."""


def owner_secret(profile: Profile) -> bytes | None:
    """The subnet owner's X25519 secret from INCENTIVE_OWNER_SK, checked against the profile's owner key.

    Environment only (never a file, profile or flag, so it stays out of shell history, configs and
    Dagster metadata); None when unset. Validators never need it: it opens payloads before their round.
    """
    return owner_secret_for(bytes.fromhex(profile.protocol.owner_pk), "the profile's owner key")


def owner_secret_for(owner_pk: bytes, whose: str = "the owner key") -> bytes | None:
    """`owner_secret` against any public key (`payload open --owner` has a key, not a profile)."""
    text = os.environ.get(OWNER_SK_ENV, "").strip()
    if not text:
        return None
    if text[:2].lower() == "0x":
        text = text[2:]
    try:
        secret = bytes.fromhex(text)
    except ValueError:
        raise OwnerSecretError(f"{OWNER_SK_ENV} is not hex (expected 64 hex characters)") from None
    if len(secret) != 32:
        raise OwnerSecretError(f"{OWNER_SK_ENV} has {len(secret)} bytes, expected 32 (64 hex characters)")
    if pl.owner_public_key(secret) != owner_pk:
        raise OwnerSecretError(f"{OWNER_SK_ENV} is not the secret of {whose} {owner_pk.hex()}")
    return secret


def home_dir() -> Path:
    """Where the ledger file and devnet payloads live by default: $INCENTIVE_HOME or ./.incentive."""
    return Path(os.environ.get("INCENTIVE_HOME", ".incentive")).resolve()


def ledger_url(home: Path | None = None) -> str:
    return os.environ.get(LEDGER_URL_ENV) or f"sqlite:///{(home or home_dir()) / 'ledger.sqlite'}"


def ledger_url_config(home: Path | None = None) -> str | dg.EnvVar:
    """The ledger URL as resource configuration: from the environment it may hold a database
    password, so it stays an `EnvVar` (Dagster shows its name, never its value, and resolves it only
    inside the run); the default SQLite path holds nothing secret."""
    return dg.EnvVar(LEDGER_URL_ENV) if os.environ.get(LEDGER_URL_ENV) else ledger_url(home)


def wallet_config() -> dict[str, str | None]:
    """The validator's keyfile wallet, named in the environment: it sets weights and signs API calls."""
    return {"wallet_name": os.environ.get("INCENTIVE_WALLET_NAME"),
            "wallet_hotkey": os.environ.get("INCENTIVE_WALLET_HOTKEY"),
            "wallet_path": os.environ.get("INCENTIVE_WALLET_PATH")}


def build_resources(profile: Profile, *, profile_path: str = "", home: Path | None = None) -> dict[str, Any]:
    home = home or home_dir()
    home.mkdir(parents=True, exist_ok=True)
    url = ledger_url_config(home)
    netuid = profile.chain.netuid
    resources: dict[str, Any] = {
        "ledger": LedgerResource(url=url),
        "settings": SettingsResource(profile_path=profile_path),
        "io_manager": EpochArtifactIOManager(base_dir=str(home / "artifacts")),
        "charts": ChartStore(base_dir=str(home / "artifacts")),  # beside the artifacts it illustrates
        "fits": FitStore(base_dir=str(home / "artifacts")),
    }

    if profile.chain.network == DEVNET:
        from resources.chain_devnet import DevnetChain

        resources["chain"] = DevnetChain(netuid=netuid, profile_path=profile_path, ledger_url=url,
                                         payload_dir=str(home / "payloads"))
    else:
        from resources.chain_bittensor import BittensorChain

        resources["chain"] = BittensorChain(netuid=netuid, network=profile.chain.network, **wallet_config())

    if profile.sources.drand == DEVNET:
        from resources.drand_devnet import DevnetDrand

        resources["drand"] = DevnetDrand(profile_path=profile_path, ledger_url=url)
    else:
        from resources.drand_http import HttpDrand

        resources["drand"] = HttpDrand(**({"relays": list(profile.sources.drand_relays)}
                                          if profile.sources.drand_relays else {}))

    if profile.sources.payloads == DEVNET:
        from resources.payloads_devnet import DevnetPayloadStore

        resources["payloads"] = DevnetPayloadStore(directory=str(home / "payloads"), port=profile.devnet.payload_port,
                                                   max_bytes=profile.payload_limits().body)
    else:
        from resources.payloads_http import HttpPayloadStore

        hosts = profile.sources.payload_hosts
        resources["payloads"] = HttpPayloadStore(
            allowed_host_suffixes=[h for h in hosts if h.startswith(".")],
            allowed_hosts=[h for h in hosts if not h.startswith(".")],
            max_bytes=min(profile.sources.payload_max_bytes, profile.payload_limits().body),
        )

    if profile.sources.prices == DEVNET:
        from resources.prices_devnet import DevnetPriceFeed

        resources["prices"] = DevnetPriceFeed(profile_path=profile_path, ledger_url=url)
    else:
        from resources.prices_http import HttpPriceFeed

        source = profile.sources.prices
        resources["prices"] = HttpPriceFeed(url=source) if source.startswith(("http://", "https://")) else HttpPriceFeed()

    if profile.sources.trades == DEVNET:
        from resources.trades_devnet import DevnetTradesSource

        resources["trades"] = DevnetTradesSource(profile_path=profile_path, ledger_url=url)
    else:
        from resources.trades_http import HttpTradesSource

        source = profile.sources.trades
        resources["trades"] = HttpTradesSource(
            **({"url": source} if source.startswith(("http://", "https://")) else {}), **wallet_config())
    return resources
