"""Pipeline files are validated before anything runs; errors name the file, the line and the key."""

from __future__ import annotations

import textwrap

import pytest

from edgekd.errors import ConfigError
from edgekd.pipeline import load_pipeline
from edgekd.pipeline.yamlfile import load_with_lines


def write(tmp_path, text: str):
    path = tmp_path / "p.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def error_of(tmp_path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_pipeline(write(tmp_path, text))
    message = str(info.value)
    assert "\n" not in message
    return message


def test_a_full_pipeline_reads_into_typed_sections(tmp_path):
    pipeline = load_pipeline(
        write(
            tmp_path,
            """
        name: demo
        data: {spec: digits, val_size: 0.2, limit_train: 500}
        teacher: {arch: resnet10t, epochs: 2, img_size: 16}
        distill:
          student: mobilenetv3_small_050
          methods: [kd, {method: fitnet, name: fitnet-b1, beta: 1.0}]
          seeds: [0, 1]
        gate: {max_drop_vs_teacher: 3, batch: 32}
        report: {}
        eval: {}
    """,
        )
    )
    assert pipeline.stages() == ["teacher", "distill", "eval", "report", "gate"]
    assert pipeline.data.to_config().limit_train == 500
    assert [m.name or m.method for m in pipeline.distill.methods] == ["kd", "fitnet-b1"]
    assert pipeline.teacher.train_config().epochs == 2
    assert pipeline.gate_thresholds().max_drop_vs_teacher == 3 and pipeline.root.as_posix() == "runs/demo"


def test_unknown_key_names_line_key_and_the_close_match(tmp_path):
    message = error_of(
        tmp_path,
        """
        name: demo
        teacher:
          arch: resnet18
          epoch: 3
    """,
    )
    assert (
        message.startswith(f"{tmp_path / 'p.yaml'}:5: unknown key 'teacher.epoch'")
        and "Did you mean 'epochs'?" in message
    )


def test_bad_value_in_a_list_item_points_at_its_line(tmp_path):
    message = error_of(
        tmp_path,
        """
        name: demo
        teacher: {arch: resnet18}
        distill:
          student: mobilenetv3_small_050
          methods:
            - kd
            - method: fitnet
              alpha: 1.5
    """,
    )
    assert ":9: 'distill.methods[1].alpha': Input should be less than or equal to 1 (got 1.5)." in message


def test_yaml_syntax_errors_and_duplicate_keys_give_their_line(tmp_path):
    assert ":3: invalid YAML" in error_of(tmp_path, "name: demo\nteacher: {arch: resnet18\ngate: {}\n")
    assert ":3: 'name' is given twice" in error_of(tmp_path, "name: demo\ndata: {}\nname: again\n")


def test_sections_that_need_an_earlier_one(tmp_path):
    assert "a 'gate:' section needs a 'report:' section" in error_of(tmp_path, "name: demo\ngate: {max_size_mb: 3}\n")
    assert "either 'arch'" in error_of(tmp_path, "name: demo\nteacher: {epochs: 3}\n")
    assert "'name' is required" in error_of(tmp_path, "teacher: {arch: resnet18}\n")
    assert "use letters, digits" in error_of(tmp_path, "name: ../escape\n")


def test_yaml_keys_keep_their_spelling(tmp_path):
    data, lines = load_with_lines(write(tmp_path, "on: yes\nno: 1\n"))
    assert data == {"on": True, "no": 1} and lines[("no",)] == 2


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="pipeline file not found"):
        load_pipeline(tmp_path / "nope.yaml")


def test_distill_keys_for_learning_beyond_labels_reach_the_stage_config(tmp_path):
    pipeline = load_pipeline(
        write(
            tmp_path,
            """
        name: missing-class
        data: {spec: digits}
        teacher: {arch: resnet10t, img_size: 16, epochs: 1}
        distill:
          student: mobilenetv3_small_050
          drop_classes: ["3"]
          bias_adjust: auto
          transfer_ratio: 0.5
    """,
        )
    )
    assert pipeline.distill.drop_classes == ["3"] and pipeline.distill.bias_adjust == "auto"
    assert "transfer_ratio" in error_of(
        tmp_path,
        """
        name: bad
        data: {spec: digits}
        distill: {student: mobilenetv3_small_050, transfer_ratio: 2}
    """,
    )
