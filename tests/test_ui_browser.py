"""The Dagster UI in a real browser: headless Chromium (Debian's) driven through Playwright.

After `incentive run` has materialized two epochs from the command line, the UI launcher
(`python -m devnet.ui`) serves the same instance on a free port, in its own process group, bounded
and stopped by that group's PID. The browser then checks the global lineage (every asset of the
devnet profile, every edge), a `final_weights` partition (its metadata, chart and passed checks), and
launches a two-epoch backfill from the asset's page whose weights must equal the CLI's.
Screenshots of the lineage and of the weights partition are kept in the test's temporary folder.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.execution.backfill import BulkActionStatus
from dagster._core.instance.ref import InstanceRef

pytestmark = [pytest.mark.slow, pytest.mark.integration]
ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
START_S, BACKFILL_S, STOP_S = 180, 300, 30
LINEAGE_VIEWPORT = {"width": 3000, "height": 2000}  # large enough for full asset nodes (names not shortened)
PAGE_VIEWPORT = {"width": 1600, "height": 1400}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def chromium() -> str:
    path = shutil.which("chromium")
    assert path, "Debian's chromium is not installed (.ci/run installs it: apt-get install chromium)"
    return path


def expected_graph() -> tuple[list[str], list[tuple[str, str]]]:
    """The devnet profile's assets (their names, as the UI's nodes show them) and their edges."""
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    keys = sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string())
    edges = [(parent.path[-1], key.path[-1]) for key in keys for parent in graph.get(key).parent_keys]
    return sorted(k.path[-1] for k in keys), sorted(edges)


def drawn_graph(page) -> tuple[list[str], list[tuple[str, str]]]:
    """The asset nodes and edges the lineage page drew: an edge is mapped to the nodes its ends touch."""
    nodes = page.evaluate("""() => [...document.querySelectorAll('foreignObject')]
        .filter(f => f.querySelector('[class*=AssetNode_assetNodeContainer]'))
        .map(f => ({x: +f.getAttribute('x'), y: +f.getAttribute('y'), w: +f.getAttribute('width'),
                    h: +f.getAttribute('height'), name: f.querySelector('[class*=AssetNode_assetName]').textContent}))""")
    paths = page.evaluate("""() => [...document.querySelectorAll('path[stroke="var(--color-lineage-edge)"]')]
        .map(p => p.getAttribute('d'))""")

    def touching(x: float, y: float, side: str) -> str:
        near = [n for n in nodes if n["y"] <= y <= n["y"] + n["h"]
                and abs((n["x"] + n["w"] if side == "right" else n["x"]) - x) <= 10]
        assert len(near) == 1, f"edge end ({x}, {y}) touches {len(near)} nodes"
        return near[0]["name"]

    edges = []
    for d in paths:
        numbers = [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", d)]
        edges.append((touching(numbers[0], numbers[1], "right"), touching(numbers[-2], numbers[-1], "left")))
    return sorted(n["name"] for n in nodes), sorted(edges)


def dismiss_first_visit(page) -> None:
    """The UI greets a new instance with a community dialog: skip it when it shows."""
    skip = page.get_by_role("button", name="Skip")
    try:
        skip.wait_for(state="visible", timeout=5000)
    except Exception:  # noqa: BLE001 - not shown (already dismissed on this instance)
        return
    skip.click()


def visible_text(page, text: str):
    return page.get_by_text(text, exact=True).filter(visible=True)


def wait_for_ui(url: str, ui: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        assert ui.poll() is None, f"the UI launcher exited with {ui.returncode}:\n{log.read_text()[-4000:]}"
        try:
            with urllib.request.urlopen(f"{url}/server_info", timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(1)
    pytest.fail(f"the UI did not answer within {START_S} s:\n{log.read_text()[-4000:]}")


def stop(ui: subprocess.Popen) -> None:
    """SIGINT to the launcher's process group (it restored the default handler, so the tree stops)."""
    if ui.poll() is not None:
        return
    os.killpg(ui.pid, signal.SIGINT)
    try:
        ui.wait(timeout=STOP_S)
    except subprocess.TimeoutExpired:
        os.killpg(ui.pid, signal.SIGKILL)
        ui.wait()


def backfill_status(dagster_home: Path, backfill_id: str, timeout_s: float) -> BulkActionStatus | None:
    """The backfill's status once it has left REQUESTED (or as it is when `timeout_s` runs out)."""
    deadline = time.monotonic() + timeout_s
    while True:
        with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(dagster_home))) as instance:
            backfill = instance.get_backfill(backfill_id)
        status = backfill.status if backfill is not None else None
        if status not in (None, BulkActionStatus.REQUESTED) or time.monotonic() > deadline:
            return status
        time.sleep(2)


def test_the_ui_in_a_browser(tmp_path):
    from playwright.sync_api import expect, sync_playwright

    from assets.weights import WEIGHT_CHECKS

    browser_path = chromium()
    dagster_home, home, shots = tmp_path / "dagster", tmp_path / "incentive", tmp_path / "screenshots"
    for d in (dagster_home, home, shots):
        d.mkdir()
    (dagster_home / "dagster.yaml").symlink_to(ROOT / "dagster.yaml")
    env = {k: v for k, v in os.environ.items() if k not in ("INCENTIVE_LEDGER_URL", "INCENTIVE_PROFILE")}
    env |= {"DAGSTER_HOME": str(dagster_home), "INCENTIVE_HOME": str(home), "PATH": f"{BIN}:{env.get('PATH', '')}"}

    # The command line first: two epochs end to end, their weights as the CLI materialized them.
    done = subprocess.run([str(BIN / "incentive"), "run"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(dagster_home))) as instance:
        epochs = instance.get_dynamic_partitions("epochs")
    assert len(epochs) == 2, epochs
    artifacts = home / "artifacts" / "final_weights"
    from_cli = {k: json.loads((artifacts / f"{k}.json").read_text()) for k in epochs}

    port, log = free_port(), tmp_path / "ui.log"
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:  # to a file, so a full pipe can never block the server
        ui = subprocess.Popen([str(BIN / "python"), "-m", "devnet.ui", "--port", str(port), "--speed", "1"], cwd=ROOT,
                              env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    t0 = time.monotonic()
    try:
        wait_for_ui(url, ui, log)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=browser_path, args=["--no-sandbox"])
            try:
                # 1. The global lineage: every asset and every edge of the profile's graph.
                page = browser.new_page(viewport=LINEAGE_VIEWPORT)  # one page: the dialog is dismissed once
                page.goto(f"{url}/asset-groups", wait_until="networkidle")
                dismiss_first_visit(page)
                page.locator("button:has([aria-label='settings'])").last.click()
                page.get_by_role("menuitem", name=re.compile("Expand all groups")).click()
                names, edges = expected_graph()
                expect(page.locator("foreignObject [class*=AssetNode_assetNodeContainer]")).to_have_count(len(names))
                expect(page.locator('path[stroke="var(--color-lineage-edge)"]')).to_have_count(len(edges))
                page.keyboard.press("Escape")  # close the settings menu before the picture
                page.wait_for_timeout(500)
                page.screenshot(path=shots / "lineage.png")
                assert drawn_graph(page) == (names, edges)

                # 2. A weights partition: its metadata (planted roles, the chart) and its passed checks.
                key = epochs[0]
                page.set_viewport_size(PAGE_VIEWPORT)
                page.goto(f"{url}/assets/final_weights?view=partitions&partition={key}", wait_until="networkidle")
                for field in ("source", "reproduces_stored_u16", "largest_share_sent", "burn_share", "top",
                              "top_planted_roles", "chart", "chart_file"):
                    expect(page.get_by_role("cell", name=field, exact=True)).to_be_visible()
                expect(page.get_by_role("columnheader", name="planted role")).to_be_visible()
                expect(page.get_by_role("cell", name="owner (burn)", exact=True)).to_be_visible()
                expect(page.get_by_role("cell", name="?", exact=True)).to_have_count(0)  # every top uid's role is known
                expect(page.get_by_role("cell", name=str(home / "artifacts" / "charts" / "final_weights" / f"{key}.png"))
                       ).to_be_visible()
                page.screenshot(path=shots / "weights-partition.png", full_page=True)
                page.get_by_role("row", name=re.compile(r"^chart ")).get_by_text("Show Markdown").click()
                chart = page.get_by_role("dialog").locator("img[src^='data:image/png;base64,']")
                expect(chart).to_be_visible()
                assert chart.evaluate("img => img.naturalWidth") > 0  # the PNG decoded
                page.wait_for_timeout(500)  # the dialog's fade-in, for the picture
                page.screenshot(path=shots / "weights-chart.png")
                page.keyboard.press("Escape")

                page.goto(f"{url}/assets/final_weights?view=checks", wait_until="networkidle")
                checks = sorted(k.name for c in WEIGHT_CHECKS for k in c.check_keys)
                assert len(checks) == 7
                for name in checks:
                    visible_text(page, name).first.click()
                    visible_text(page, "Partitions").last.click()
                    visible_text(page, key).last.click()
                    expect(page.get_by_text("Passed", exact=True).filter(visible=True).last).to_be_visible()
                    expect(page.get_by_text("Failed", exact=True).filter(visible=True)).to_have_count(0)

                # 3. A backfill of both epochs, launched from the asset's page.
                page.goto(f"{url}/assets/final_weights", wait_until="networkidle")
                page.locator("button", has_text="Materialize").first.click()
                launch = page.get_by_role("dialog").filter(has_text="Launch runs to materialize final_weights")
                launch.get_by_text("Select a partition or create one").click()
                picker = page.locator(".dagster-popover")
                for k in epochs:
                    picker.get_by_text(k, exact=True).filter(visible=True).first.click()
                page.keyboard.press("Escape")
                expect(launch.get_by_text(f"{len(epochs)} partitions")).to_be_visible()
                launch.get_by_role("button", name="Launch backfill").click()
                created = page.get_by_text(re.compile(r"Created backfill \w+")).first
                expect(created).to_be_visible(timeout=30_000)
                backfill_id = created.inner_text().split()[-1]
                page.goto(f"{url}/runs/b/{backfill_id}", wait_until="networkidle")
                expect(page.get_by_text("100% completed")).to_be_visible(timeout=BACKFILL_S * 1000)
                page.screenshot(path=shots / "backfill.png")
                # The page counts finished runs; the daemon marks the backfill itself done on a later
                # tick, so the UI (and its daemon) stays up until it has.
                assert backfill_status(dagster_home, backfill_id, BACKFILL_S) == BulkActionStatus.COMPLETED_SUCCESS
            finally:
                browser.close()
    finally:
        ui_seconds = time.monotonic() - t0
        stop(ui)
    assert ui.returncode is not None

    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(dagster_home))) as instance:
        backfills = instance.get_backfills()
        assert [(b.backfill_id, b.status) for b in backfills] == [(backfill_id, BulkActionStatus.COMPLETED_SUCCESS)]
        backfill = backfills[0]
        runs = instance.get_runs(dg.RunsFilter(tags={"dagster/backfill": backfill.backfill_id}))
        assert sorted(r.tags["dagster/partition"] for r in runs) == sorted(epochs)
        assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
        for k in epochs:  # the newest materialization of each epoch is the backfill's
            records = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=dg.AssetKey("final_weights"), asset_partitions=[k]), limit=1).records
            assert records[0].run_id in {r.run_id for r in runs}, k
    from_ui = {k: json.loads((artifacts / f"{k}.json").read_text()) for k in epochs}
    for k in epochs:
        assert from_ui[k]["u16"] == from_cli[k]["u16"] and from_ui[k]["uids"] == from_cli[k]["uids"]
        assert from_ui[k]["weights"] == from_cli[k]["weights"]
        assert from_ui[k]["hotkeys"] == from_cli[k]["hotkeys"]
    for name in ("lineage.png", "weights-partition.png", "weights-chart.png", "backfill.png"):
        assert (shots / name).stat().st_size > 10_000, name
    print(f"UI up and checked in {ui_seconds:.0f} s; screenshots in {shots}")
