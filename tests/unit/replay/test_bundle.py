"""Bundle loading: every defect is a BadInput naming the file and the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.errors import BadInput
from shared.replay.bundle import find_runbooks_dir, load_bundle
from tests.fixtures.intelligence.builder import payments_release, write_bundle


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    return write_bundle(tmp_path, payments_release())


def edit_json(path: Path, change: object) -> None:
    data = json.loads(path.read_text())
    change(data)  # type: ignore[operator]
    path.write_text(json.dumps(data))


def test_a_good_bundle_loads(bundle: Path) -> None:
    loaded = load_bundle(bundle)
    assert loaded.scenario.id == "payments-release"
    assert {a.name for a in loaded.alerts} == {"HighErrorRate", "CPUThrottlingHigh", "HighLatency"}
    assert loaded.expected is not None and loaded.expected.target == "payments"
    assert len(loaded.history) == 2
    assert find_runbooks_dir(bundle) == (bundle.parent / "runbooks").resolve()


@pytest.mark.parametrize("name", ["scenario.json", "metrics.om", "history.json"])
def test_missing_file_is_named(bundle: Path, name: str) -> None:
    (bundle / name).unlink()
    with pytest.raises(BadInput, match=f"^{name}: missing"):
        load_bundle(bundle)


def test_bad_json_is_named_with_its_position(bundle: Path) -> None:
    (bundle / "history.json").write_text('[{"id": "INC-1",}]')
    with pytest.raises(BadInput, match=r"^history.json: not valid JSON \(line 1 column"):
        load_bundle(bundle)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(schema="scenario@2"), r"scenario.json: field schema"),
        (lambda d: d.pop("alert_time"), r"scenario.json: field alert_time"),
        (lambda d: d.update(alert_time="2026-03-04T14:05:00"), r"scenario.json: field alert_time"),
        (
            lambda d: d["webhooks"][0].update(source="email"),
            r"scenario.json: field webhooks\.0\.source",
        ),
        (
            lambda d: d["changes"][1].update(kind="rollout"),
            r"scenario.json: field changes\.1\.kind",
        ),
        (
            lambda d: d["topology"]["services"][0].pop("name"),
            r"scenario.json: field topology\.services\.0\.name",
        ),
        (
            lambda d: d["webhooks"][0]["body"]["alerts"][0].pop("startsAt"),
            r"scenario.json: field webhooks\.0\.body: .*startsAt",
        ),
    ],
)
def test_schema_errors_name_file_and_field(bundle: Path, change: object, message: str) -> None:
    edit_json(bundle / "scenario.json", change)
    with pytest.raises(BadInput, match=message):
        load_bundle(bundle)


def test_history_and_expected_errors_name_their_field(bundle: Path) -> None:
    edit_json(bundle / "history.json", lambda d: d[1].pop("id"))
    with pytest.raises(BadInput, match=r"^history.json: field 1\.id"):
        load_bundle(bundle)
    (bundle / "history.json").write_text("{}")
    with pytest.raises(BadInput, match=r"^history.json: field \(root\)"):
        load_bundle(bundle)
    (bundle / "history.json").write_text("[]")
    edit_json(bundle / "expected.json", lambda d: d.update(category="gremlins"))
    with pytest.raises(BadInput, match=r"^expected.json: field category"):
        load_bundle(bundle)


def test_bad_metrics_line_is_named_when_read(bundle: Path) -> None:
    with (bundle / "metrics.om").open("a") as out:
        out.write('up{instance="x"} not-a-number 1\n')
    loaded = load_bundle(bundle)
    with pytest.raises(BadInput, match=r"^metrics.om: line \d+"):
        loaded.metrics()


def test_not_a_folder(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="not a bundle folder"):
        load_bundle(tmp_path / "nope")
