"""``sre-copilot anomalies run`` and the timer: the same sweep through the tenant's sources."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shared import bootstrap
from shared.adapters.store.sqlite import SqliteStore
from shared.anomaly.sweep import digest_for
from shared.cli import app
from shared.clock import FixedClock
from shared.models.tenant import Service, Tenant, Topology
from shared.settings import Settings
from tests.unit.anomaly.test_sweep import NOW, _metrics_text

runner = CliRunner()


def _tenant(metrics_file: Path | None) -> Tenant:
    services = tuple(Service(name=s) for s in ("checkout", "search", "pricing"))
    return Tenant(
        id="acme",
        tenant_id="acme",
        name="Acme",
        metrics_file=str(metrics_file) if metrics_file else None,
        topology=Topology(services=services),
    )


def test_anomalies_run_prints_what_it_filed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SRE_COPILOT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SRE_COPILOT_STORE", "sqlite")
    metrics = tmp_path / "metrics.om"
    metrics.write_text(_metrics_text(), encoding="utf-8")
    topology = tmp_path / "topology.json"
    topology.write_text(
        json.dumps({"services": [{"name": s} for s in ("checkout", "search", "pricing")]}),
        encoding="utf-8",
    )
    added = runner.invoke(
        app, ["tenants", "add", "acme", "--metrics-file", str(metrics), "--topology", str(topology)]
    )
    assert added.exit_code == 0, added.output
    at = NOW.strftime("%Y-%m-%dT%H:%M:%SZ")

    shown = runner.invoke(app, ["anomalies", "run", "--tenant", "acme", "--at", at])
    assert shown.exit_code == 0, shown.output
    assert "0 attached to 0 open incident(s), 2 to the 2026-04-14 digest" in shown.output
    assert "error_ratio of checkout" in shown.output

    as_json = runner.invoke(app, ["anomalies", "run", "--tenant", "acme", "--at", at, "--json"])
    body = json.loads(as_json.output)
    assert sorted(f["entity"] for f in body["digest"]["findings"]) == ["checkout", "search"]

    bad = runner.invoke(app, ["anomalies", "run", "--tenant", "acme", "--at", "yesterday"])
    assert bad.exit_code == 2 and "not an ISO time" in bad.output


def test_the_timer_sweeps_every_tenant_and_says_when_metrics_are_missing(
    tmp_path: Path,
) -> None:
    from functions import schedules

    metrics = tmp_path / "metrics.om"
    metrics.write_text(_metrics_text(), encoding="utf-8")
    settings = Settings(home=tmp_path, echo_messages=False)
    db = SqliteStore(settings.sqlite_path)
    rt = bootstrap.configure(bootstrap.build(settings, store=db, clock=FixedClock(NOW)))
    try:
        rt.tenants.add(_tenant(metrics))
        bare = Tenant(id="globex", tenant_id="globex", name="Globex")
        rt.tenants.add(bare)

        schedules.sweep_anomalies(None)

        digest = digest_for(db, "acme", NOW.date().isoformat())
        assert digest is not None and len(digest.findings) == 2
        assert digest_for(db, "globex", NOW.date().isoformat()) is None
        from shared.anomaly.live import run

        assert run(rt, bare, NOW).errors == ("no metrics source",)
    finally:
        bootstrap.reset()
        db.close()
