"""build_resources: the profile picks live or devnet per resource, and they run inside Dagster."""

import dagster as dg
import pytest

import profiles
from devnet.world import World
from resources.chain import ChainResource
from resources.chain_bittensor import BittensorChain
from resources.chain_devnet import DevnetChain
from resources.drand import DrandResource
from resources.drand_devnet import DevnetDrand
from resources.drand_http import HttpDrand
from resources.ledger import LedgerResource, resolved_url
from resources.payloads_devnet import DevnetPayloadStore
from resources.payloads_http import HttpPayloadStore
from resources.prices_devnet import DevnetPriceFeed
from resources.prices_http import HttpPriceFeed
from resources.settings import build_resources


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.delenv("INCENTIVE_LEDGER_URL", raising=False)
    return tmp_path


def test_devnet_profile_builds_devnet_resources(home):
    r = build_resources(profiles.load(), home=home)
    assert isinstance(r["chain"], DevnetChain) and isinstance(r["drand"], DevnetDrand)
    assert isinstance(r["payloads"], DevnetPayloadStore) and isinstance(r["prices"], DevnetPriceFeed)
    assert r["ledger"].url == f"sqlite:///{home}/ledger.sqlite"
    assert r["payloads"].directory == str(home / "payloads")


def test_live_profile_builds_live_resources(home, monkeypatch):
    monkeypatch.setenv("INCENTIVE_WALLET_NAME", "validator")
    monkeypatch.setenv("INCENTIVE_LEDGER_URL", "postgresql+psycopg2://v@127.0.0.1:5432/ledger")
    base = profiles.load()
    live = base.model_copy(update={
        "chain": base.chain.model_copy(update={"network": "finney", "netuid": 123}),
        "sources": base.sources.model_copy(update={"drand": "quicknet", "payloads": "http",
                                                   "prices": "https://prices.example/latest.json"}),
    })
    r = build_resources(live, home=home)
    mine = live.model_copy(update={"sources": live.sources.model_copy(update={
        "payload_hosts": (".example.org", "127.0.0.1:8787"), "payload_max_bytes": 1 << 20,
        "drand_relays": ("https://relay.example/v2",)})})
    own = build_resources(mine, home=home)
    assert own["payloads"].allowed_host_suffixes == [".example.org"]
    # the streaming cap is the profile's setting or what the challenges' payloads need, whichever is less
    assert own["payloads"].allowed_hosts == ["127.0.0.1:8787"]
    assert own["payloads"].max_bytes == live.payload_limits().body < 1 << 20
    tiny = mine.model_copy(update={"sources": mine.sources.model_copy(update={"payload_max_bytes": 1000})})
    assert build_resources(tiny, home=home)["payloads"].max_bytes == 1000
    assert own["drand"].relays == ["https://relay.example/v2"]
    assert isinstance(r["chain"], BittensorChain) and r["chain"].network == "finney" and r["chain"].netuid == 123
    assert r["chain"].wallet_name == "validator"
    assert isinstance(r["drand"], HttpDrand) and isinstance(r["payloads"], HttpPayloadStore)
    assert r["payloads"].allowed_host_suffixes == [".r2.dev", ".r2.cloudflarestorage.com"]
    assert r["payloads"].allowed_hosts == [] and r["payloads"].max_bytes == live.payload_limits().body
    assert r["drand"].relays[0] == "https://api.drand.sh" and len(r["drand"].relays) == 6
    assert isinstance(r["prices"], HttpPriceFeed) and r["prices"].url == "https://prices.example/latest.json"
    # From the environment the URL may hold a password: configured as the variable, resolved in use.
    assert isinstance(r["ledger"].url, dg.EnvVar) and r["ledger"].url.env_var_name == "INCENTIVE_LEDGER_URL"
    assert resolved_url(r["ledger"].url) == "postgresql+psycopg2://v@127.0.0.1:5432/ledger"


def test_devnet_resources_run_inside_dagster(home):
    resources = build_resources(profiles.load(), home=home)
    resources["ledger"].ledger()  # migrate
    from devnet.chain import DevnetChainState
    from devnet.world import World

    DevnetChainState(World(profiles.load()), resources["ledger"].ledger()).install()

    @dg.asset
    def head(chain: ChainResource, drand: DrandResource, ledger: LedgerResource) -> dict:
        meta = chain.metagraph()
        return {"head": chain.head_block(), "neurons": len(meta.neurons), "round": drand.latest_round(),
                "signature": drand.signature(drand.latest_round()) is not None}

    result = dg.materialize([head], resources=resources)
    out = result.output_for_node("head")
    assert result.success and out["neurons"] == 2 + sum(profiles.load().devnet.roles.model_dump().values()) + len(
        World(profiles.load()).traders)
    assert out["signature"]
    assert out["head"] == World(profiles.load()).live_start_block
