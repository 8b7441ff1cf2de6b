"""`make ui`: the Dagster UI and daemon on the project's instance, with the devnet on a scaled clock.

The devnet's world time runs `speed` times the wall clock, so the block sensor sees epochs start,
collection runs sample live, the reveal sensor waits for the beacon and automation carries each
epoch to a submission. Started through this launcher so one SIGINT to it stops the whole tree.
"""

from __future__ import annotations

import argparse
import os
import signal


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m devnet.ui")
    parser.add_argument("--speed", type=float, default=30.0, help="world seconds per wall second")
    parser.add_argument("--port", type=int, default=3000)
    args = parser.parse_args()
    import profiles
    from devnet.bootstrap import write_bootstrap
    from devnet.chain import DevnetChainState
    from devnet.world import World
    from resources.settings import build_resources

    profile_path = os.environ.get(profiles.ENV, "")
    profile = profiles.load(profile_path or None)
    if profile.chain.network == "devnet":
        store = build_resources(profile, profile_path=profile_path)["ledger"].ledger()
        state = DevnetChainState(World(profile), store)
        state.install()
        write_bootstrap(state.world, store)
        state.clock.set_scaled(args.speed)
        print(f"devnet clock: {args.speed:g}× from block {state.head_block()}; one epoch ≈ "
              f"{profile.chain.tempo * profile.chain.block_time / args.speed / 60:.1f} min", flush=True)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.execvp("dagster", ["dagster", "dev", "-m", "orchestration.definitions", "-h", "127.0.0.1", "-p", str(args.port)])


if __name__ == "__main__":
    main()
