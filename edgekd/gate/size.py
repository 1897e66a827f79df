"""The file-size check (MB, 10^6 bytes)."""

from __future__ import annotations

from edgekd.gate.context import GateContext, make_row
from edgekd.gate.rows import SKIP, CheckRow


def check_size(ctx: GateContext) -> list[CheckRow]:
    rows = []
    for model in ctx.artefacts:
        if model.size_bytes is None:
            rows.append(make_row(ctx, "max_size_mb", "file size", model, None, "MB", "max", SKIP, "no size recorded"))
        else:
            rows.append(
                make_row(
                    ctx,
                    "max_size_mb",
                    "file size",
                    model,
                    model.size_bytes / 1e6,
                    "MB",
                    "max",
                    detail=f"{model.format} {model.precision}",
                )
            )
    return rows
