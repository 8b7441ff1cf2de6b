"""Where the assets' charts go: `<artifacts>/charts/<asset key>/<partition>.png`, beside the epoch's artifacts."""

from __future__ import annotations

import base64
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import dagster as dg

from resources.storage import safe_name


class ChartStore(dg.ConfigurableResource):
    base_dir: str  # the artifacts directory (the IO manager's)

    def path(self, key: dg.AssetKey, partition: str) -> Path:
        return Path(self.base_dir, "charts", *key.path, safe_name(partition) + ".png")

    def show(self, key: dg.AssetKey, partition: str, draw: Callable[[], bytes]) -> dict[str, dg.MetadataValue]:
        """Draw the chart, write it and return the metadata that shows it: the image inline and its file.
        A chart only illustrates: one that cannot be drawn or written says why in its place and never
        fails the asset."""
        try:
            png = draw()
        except Exception as exc:  # noqa: BLE001 - the boundary: a picture never stops the weights
            return {"chart": dg.MetadataValue.text(f"not drawn: {type(exc).__name__}: {str(exc)[:200]}")}
        path = self.path(key, partition)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")  # two reruns at once never share one
            with os.fdopen(fd, "wb") as f:
                f.write(png)
            os.replace(tmp, path)
        except OSError as exc:
            return {"chart": dg.MetadataValue.text(f"not written to {path}: {exc}")}
        inline = base64.b64encode(png).decode()
        return {"chart": dg.MetadataValue.md(f"![{key.to_user_string()} {partition}](data:image/png;base64,{inline})"),
                "chart_file": dg.MetadataValue.path(str(path))}
