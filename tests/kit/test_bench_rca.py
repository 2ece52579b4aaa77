"""``bench rca`` on the kit's halves of the labelled datasets beats the trivial baseline."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shared.bench import nezha, petshop
from shared.bench.rca import bench, bench_moved, run_case
from shared.cli import app
from shared.errors import BadInput

KIT = Path(__file__).parents[2].parent / "shared"
RCA = KIT / "data" / "rca"

pytestmark = pytest.mark.kit


def _folder(name: str) -> Path:
    folder = RCA / name
    if not folder.is_dir():
        pytest.skip(f"{name} data not found at {folder} (it lives in ../shared beside the repo)")
    return folder


def test_petshop_meets_the_targets_and_beats_the_baseline() -> None:
    """Issue 8's PetShop targets (top-1 >= 0.55, top-3 >= 0.80) on the kit's half."""
    result = bench("petshop", _folder("petshop"))
    assert result["cases"] == 20
    assert result["pipeline"]["top1"] >= 0.55
    assert result["pipeline"]["top3"] >= 0.80
    assert result["pipeline"]["top3"] > result["baseline"]["top3"]
    assert result["timings"]["median_ms"] < 1500  # loose: the 300 ms target is reported, not timed


def test_nezha_meets_the_online_boutique_targets_and_beats_the_baseline() -> None:
    """Online Boutique AS@1 >= 0.65 and AS@3 >= 0.80 (issue 8); Train Ticket, whose
    code faults barely show in its metrics, at least beats the trivial baseline."""
    result = bench("nezha", _folder("nezha"))
    assert result["cases"] >= 40
    assert result["pipeline"]["top3"] > result["baseline"]["top3"]
    groups = {g["group"]: g for g in result["groups"]}
    boutique = groups["online-boutique"]
    assert boutique["pipeline"]["top1"] >= 0.65
    assert boutique["pipeline"]["top3"] >= 0.80
    assert "MicroRCA" in boutique["published"]
    ticket = groups["train-ticket"]
    assert ticket["pipeline"]["top3"] > ticket["baseline"]["top3"]


def test_cli_skips_in_one_line_without_data(tmp_path: Path) -> None:
    out = CliRunner().invoke(app, ["bench", "rca", "nezha", str(tmp_path)])
    assert out.exit_code == 0
    assert out.output.strip() == f"skipped: no nezha data under {tmp_path}"


def test_cli_json_has_the_figures() -> None:
    out = CliRunner().invoke(
        app, ["bench", "rca", "petshop", str(_folder("petshop")), "--limit", "1", "--json"]
    )
    assert out.exit_code == 0, out.output
    assert '"baseline"' in out.output and '"pipeline"' in out.output


@pytest.mark.parametrize("minutes", [2, 3, 4])
def test_train_ticket_cpu_faults_stay_in_the_top_3_whatever_the_alert_delay(minutes: int) -> None:
    """The Train Ticket faults its metrics do carry (CPU contention: the pod's CPU
    and latency leave their noise) stay in the top 3 with the alert 2, 3 or 4
    minutes after the injection, first at the usual 2 (at 4, a service on the
    faulty one's call path that began 2 minutes after the alert's symptom may
    pass it: the flat graph cannot say it is a caller, and onsets that close
    count as simultaneous). At 1 minute the pod's next sample may not be in yet."""
    cases = [
        case
        for case in nezha.read_cases(_folder("nezha"), alert_delay=timedelta(minutes=minutes))
        if case.system == "train-ticket" and case.fault == "cpu_contention"
    ]
    assert len(cases) >= 4
    ranks = [run_case(case).rank("ranking") for case in cases]
    assert all(r is not None and r <= 3 for r in ranks), ranks
    if minutes == 2:
        assert ranks == [1] * len(cases)


def test_petshop_faults_moved_to_the_other_root_causes_are_followed() -> None:
    """Every kit PetShop case has the same root cause; moved onto the dataset's two
    other labelled root-cause services (semi-synthetic, ``--move-fault``), the
    ranking must follow the evidence there, not stay where faults used to be."""
    targets = ["payforadoption_AWS::ECS::Container", "lambdastatusupdater_AWS::Lambda::Function"]
    result = bench_moved("petshop", _folder("petshop"), to=targets)
    assert set(result["targets"]) == set(targets)
    for target in targets:
        figures = result["targets"][target]
        assert figures["cases"] == 20
        assert figures["top3"] >= 0.8, (target, figures)
    assert result["all"]["top1"] >= 0.5, result["all"]


def test_petshop_marks_the_step_functions_execution_as_not_waited_for() -> None:
    case = next(petshop.read_cases(_folder("petshop"), limit=1))
    started = case.async_calls.get("PetSite", ())
    assert started == ("AWS::StepFunctions::StateMachine",)
    assert set(started) <= set(case.depends_on["PetSite"])
    services = {s["name"]: s for s in case.topology()["services"]}
    assert services["PetSite"]["async_calls"] == list(started)


def test_moving_a_fault_to_a_service_nothing_reaches_is_refused() -> None:
    with pytest.raises(BadInput, match="--to nowhere: no case's fault could be moved there"):
        bench_moved("petshop", _folder("petshop"), limit=1, to=["nowhere"])
