"""Reading capacity@1 files: the SPEC's object out, a named problem for a bad file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.errors import BadInput
from shared.predict.series import read_series, spec_output
from tests.unit.predict.synthetic import make


def _write(tmp_path: Path, doc: object, name: str = "cap.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def test_a_kit_file_reads_and_answers_in_the_spec_shape(tmp_path: Path) -> None:
    path = _write(tmp_path, make("linear", 21).as_json("cap-x"))
    series = read_series(path)
    assert series.where == "/data on db-1"
    out = spec_output(series.id, series.forecast())
    assert list(out) == ["id", "exhausted_at", "hours_left", "range_hours"]
    assert out["id"] == "cap-x"
    if out["exhausted_at"] is not None:
        assert out["exhausted_at"].endswith(":00Z") and len(out["range_hours"]) == 2


def test_not_filling_prints_nulls(tmp_path: Path) -> None:
    series = read_series(_write(tmp_path, make("idle", 21).as_json("cap-idle")))
    assert spec_output(series.id, series.forecast()) == {
        "id": "cap-idle",
        "exhausted_at": None,
        "hours_left": None,
        "range_hours": None,
    }


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"schema": "capacity@2"}, "field 'schema'"),
        ({"id": ""}, "field 'id'"),
        ({"now": "yesterday"}, "field 'now'"),
        ({"now": None}, "field 'now'"),
        ({"samples": []}, "field 'samples'"),
        ({"samples": [[1, 2], [3, "x"]]}, "field 'samples.1'"),
        ({"size_bytes": -5}, "field 'size_bytes'"),
        ({"labels": {"instance": 3}}, "field 'labels'"),
    ],
)
def test_a_bad_field_is_named_with_the_file(tmp_path: Path, change: dict, problem: str) -> None:
    doc = make("linear", 22).as_json("cap-bad") | change
    path = _write(tmp_path, doc)
    with pytest.raises(BadInput) as caught:
        read_series(path)
    assert caught.value.reason.startswith(f"{path}: {problem}")


def test_missing_file_bad_json_and_nan_are_named(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="file not found"):
        read_series(tmp_path / "absent.json")
    broken = tmp_path / "broken.json"
    broken.write_text('{"id": "x", "samples": [')
    with pytest.raises(BadInput, match=r"broken\.json: malformed JSON at line 1"):
        read_series(broken)
    nan = tmp_path / "nan.json"
    nan.write_text('{"id": "x", "now": "2026-03-04T14:00:00Z", "samples": [[1, NaN]]}')
    with pytest.raises(BadInput, match="NaN is not JSON"):
        read_series(nan)
    with pytest.raises(BadInput, match="is a folder"):
        read_series(tmp_path)
    array = _write(tmp_path, [1, 2], "array.json")
    with pytest.raises(BadInput, match="expected a JSON object"):
        read_series(array)
