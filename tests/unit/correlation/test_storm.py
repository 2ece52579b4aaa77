"""Storm files: parsed through the webhook's normaliser; bad input names file and field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from shared.bench.storms import baseline_groups, pair_scores
from shared.correlation.storm import correlate, read_storm
from shared.errors import BadInput


def delivery(*alerts: dict[str, Any], key: str = '{}:{alertname="X"}') -> dict[str, Any]:
    return {
        "source": "alertmanager",
        "received_at": "2026-03-04T14:05:00Z",
        "body": {
            "version": "4",
            "status": "firing",
            "receiver": "r",
            "groupKey": key,
            "groupLabels": {},
            "commonLabels": {},
            "commonAnnotations": {},
            "externalURL": "http://am",
            "truncatedAlerts": 0,
            "alerts": list(alerts),
        },
    }


def am_alert(fp: str, name: str, at: str, **labels: str) -> dict[str, Any]:
    return {
        "status": "firing",
        "labels": {"alertname": name, **labels},
        "annotations": {},
        "startsAt": f"2026-03-04T14:{at}Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prom",
        "fingerprint": fp,
    }


STORM = {
    "schema": "storm@1",
    "id": "storm-t",
    "tenant": "acme",
    "topology": {
        "services": [
            {"name": "checkout", "depends_on": ["orders-db"], "instances": ["node-1"]},
            {"name": "orders-db", "instances": ["node-2"]},
        ]
    },
    "deliveries": [
        delivery(am_alert("b", "HighErrorRate", "01:10", service="checkout"), key="k1"),
        delivery(am_alert("a", "HighErrorRate", "00:00", service="orders-db"), key="k2"),
        delivery(am_alert("c", "NodeClockNotSynchronising", "00:30", instance="node-9:9100")),
        delivery(am_alert("a", "HighErrorRate", "00:00", service="orders-db"), key="k2"),
    ],
}


def write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "storm.json"
    path.write_text(json.dumps(data))
    return path


def test_a_storm_groups_by_cause_whatever_the_arrival_order(tmp_path: Path) -> None:
    result = correlate(read_storm(write(tmp_path, STORM)))
    out = result.to_json()
    assert out["storm"] == "storm-t" and out["alerts"] == 3
    assert sorted(sorted(i["alerts"]) for i in out["incidents"]) == [["a", "b"], ["c"]]
    assert correlate(read_storm(write(tmp_path, STORM))).to_json() == out


def test_reasons_on_request(tmp_path: Path) -> None:
    out = correlate(read_storm(write(tmp_path, STORM))).to_json(reasons=True)
    joined = [r for i in out["incidents"] for r in i["reasons"] if r["relation"] == "calls"]
    assert joined and joined[0]["via"] == "orders-db"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"schema": "storm@9"}, "'schema'"),
        ({"tenant": ""}, "'tenant'"),
        ({"deliveries": {}}, "'deliveries'"),
        ({"deliveries": [{"source": "nagios", "body": {}}]}, "'deliveries[0].source'"),
        ({"deliveries": [{"source": "alertmanager", "body": {"alerts": 3}}]}, "deliveries[0].body"),
        ({"topology": {"services": [{"name": ""}]}}, "'topology.services.0.name'"),
    ],
)
def test_bad_input_names_the_file_and_the_field(
    tmp_path: Path, change: dict[str, Any], field: str
) -> None:
    path = write(tmp_path, STORM | change)
    with pytest.raises(BadInput) as caught:
        read_storm(path)
    assert str(path) in caught.value.reason and field in caught.value.reason


def test_unreadable_or_not_json(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="cannot read"):
        read_storm(tmp_path / "missing.json")
    (tmp_path / "x.json").write_text("{")
    with pytest.raises(BadInput, match="not JSON"):
        read_storm(tmp_path / "x.json")


def test_pair_scores_and_the_baseline(tmp_path: Path) -> None:
    scores = pair_scores([["a", "b"], ["c"]], [["a", "b", "c"]])
    assert scores["precision"] == 1.0 and scores["recall"] == pytest.approx(1 / 3)
    assert scores["noise_reduction"] == pytest.approx(1 / 3)
    storm = read_storm(write(tmp_path, STORM))
    assert sorted(map(sorted, baseline_groups(storm))) == [["a"], ["b"], ["c"]]
