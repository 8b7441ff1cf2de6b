"""The metadata charts: real PNGs of the size asked for, written where the metadata says, whatever a
miner named itself."""

from __future__ import annotations

import base64
import re
import struct

import dagster as dg
from hypothesis import given, settings, strategies as st

from assets.charts import DPI, SIZE_IN, TOP_SALIENCE, label, salience_png, weights_png
from resources.charts import ChartStore

PNG = b"\x89PNG\r\n\x1a\n"


def size(png: bytes) -> tuple[int, int]:
    assert png.startswith(PNG) and png[12:16] == b"IHDR"
    return struct.unpack(">II", png[16:24])


def test_weights_chart_is_a_small_png():
    png = weights_png(3058, [0.45, 0.3, 0.25, 0.0], [0, 7, 9, 12], burn_uid=0)
    assert size(png) == (round(SIZE_IN[0] * DPI), round(SIZE_IN[1] * DPI))
    assert len(png) < 40_000


def test_charts_of_nothing_still_render():
    assert size(weights_png(1, [], [], burn_uid=0))[0] > 0
    assert size(salience_png("C", 1, {}))[0] > 0
    assert size(salience_png("C", 1, {"a": 0.0}))[0] > 0


def test_labels_are_short_plain_letters():
    assert label("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY") == "5GrwvaEF"
    assert label("$\\frac{1}{0}$ <b>") == "frac10b"
    assert label("$$$") == "?"


@settings(max_examples=25, deadline=None)
@given(st.dictionaries(st.text(max_size=80), st.floats(min_value=0, max_value=1), max_size=60))
def test_any_names_and_values_render(salience):
    """Keys are miners' hotkeys or, in Almanac's general pool, text a trader chose: mathtext markers,
    markup and control characters must neither raise nor reach the chart."""
    assert salience_png("C", 9, salience).startswith(PNG)


def test_the_store_writes_the_chart_where_the_metadata_says(tmp_path):
    png = salience_png("ETH-1H-BINARY", 3058, {f"hk{i}": 1 / (i + 1) for i in range(3 * TOP_SALIENCE)})
    store = ChartStore(base_dir=str(tmp_path))
    key = dg.AssetKey(["mantis", "salience"])
    meta = store.show(key, "ETH-1H-BINARY|00003058", lambda: png)
    path = tmp_path / "charts" / "mantis" / "salience" / "ETH-1H-BINARY__00003058.png"
    assert meta["chart_file"].value == str(path) and path.read_bytes() == png
    inline = re.fullmatch(r"!\[mantis/salience ETH-1H-BINARY\|00003058\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)",
                          meta["chart"].value)
    assert inline and base64.b64decode(inline.group(1)) == png
    again = store.show(key, "ETH-1H-BINARY|00003058", lambda: weights_png(1, [1.0], [3], 0))
    assert path.read_bytes() != png and again["chart_file"].value == str(path)  # a rerun replaces it


def test_a_chart_that_cannot_be_drawn_or_written_says_why_and_never_raises(tmp_path):
    def broken() -> bytes:
        raise ValueError("no")

    meta = ChartStore(base_dir=str(tmp_path)).show(dg.AssetKey("final_weights"), "00000001", broken)
    assert meta == {"chart": dg.MetadataValue.text("not drawn: ValueError: no")}
    (tmp_path / "charts").write_text("a file where the folder goes")
    meta = ChartStore(base_dir=str(tmp_path)).show(dg.AssetKey("final_weights"), "00000001", lambda: PNG)
    assert meta["chart"].value.startswith("not written to ") and "chart_file" not in meta


def test_weights_that_are_not_numbers_still_draw():
    nan = float("nan")
    assert weights_png(5, [nan, 0.5, nan, 0.5], [0, 1, 2, 3], burn_uid=0).startswith(PNG)
    assert weights_png(5, [float("inf"), 1.0], [1, 2], burn_uid=0).startswith(PNG)
