"""`--max-int8-drop-vs-student PTS`: an INT8 artefact may lose at most PTS below the FP32 student it came from.

The report pairs each INT8 artefact with that student (`edgekd.report.int8`: PTQ with the student
it exported, QAD with the student it was trained from) and names the model whose eval is the FP32
reference. The drop is judged like the other drop checks: on the point estimate, or with
`--significance` on its paired bounds (the same images, McNemar's split). Artefacts that are not
INT8 are not its business; a report with no INT8 artefact among the selected ones is refused.
"""

from __future__ import annotations

from edgekd.errors import ConfigError
from edgekd.gate.context import GateContext, drop_row, make_row
from edgekd.gate.rows import SKIP, CheckRow
from edgekd.report import schema

CHECK, LABEL = "max_int8_drop_vs_student", "INT8 top-1 drop vs FP32 student"


def check_int8_drop_vs_student(ctx: GateContext) -> list[CheckRow]:
    pairs = {e.model: e for e in schema.load_report(ctx.report.path).int8_vs_fp32}
    selected = [m for m in ctx.artefacts if m.name in pairs]
    if not selected:
        raise ConfigError(
            "--max-int8-drop-vs-student needs an INT8 artefact with its FP32 student among the selected ones in "
            f"{ctx.report.path}: export with --int8 (or a QAD student) and report the student's run beside it."
        )
    rows = []
    for model in selected:
        reference = ctx.report.find(pairs[model.name].reference or "")
        if reference is None:
            rows.append(
                make_row(
                    ctx,
                    CHECK,
                    LABEL,
                    model,
                    None,
                    "pts",
                    "max",
                    SKIP,
                    f"its FP32 student '{pairs[model.name].student}' was not evaluated on the same images",
                )
            )
        else:
            rows.append(drop_row(ctx, CHECK, LABEL, reference, model))
    return rows
