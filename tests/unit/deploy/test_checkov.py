"""checkov's Bicep checks: every failed check is one bicep/README.md accepts, with a reason.

checkov pins dependencies that clash with the app's (packaging<24 under
pytest 9, python-dateutil<3 under kubernetes), so it lives in its own virtual
environment, .tools/checkov, which `make test` creates (`make checkov`). Run
once per session (about 20 s, most of it checkov starting up); without the
tool the tests skip, unless SRE_COPILOT_REQUIRE_CHECKOV is set, as `make test`
sets it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.unit.deploy.conftest import BICEP, ROOT


def _checkov() -> Path | None:
    local = ROOT / ".tools" / "checkov" / "bin" / "checkov"
    if local.is_file():
        return local
    found = shutil.which("checkov")
    return Path(found) if found else None


@pytest.fixture(scope="session")
def report() -> dict[str, Any]:
    tool = _checkov()
    if tool is None:
        if os.environ.get("SRE_COPILOT_REQUIRE_CHECKOV"):
            pytest.fail("checkov is not installed: run `make checkov`")
        pytest.skip("checkov is not installed (`make checkov`)")
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"}
    done = subprocess.run(
        [str(tool), "-d", str(BICEP), "--framework", "bicep", "--output", "json", "--quiet",
         "--compact", "--skip-download"],
        capture_output=True, text=True, timeout=240, env=env, check=False,
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr[-2000:]
    parsed = json.loads(done.stdout)
    reports = parsed if isinstance(parsed, list) else [parsed]
    (bicep,) = [r for r in reports if r.get("check_type", "bicep") == "bicep"]
    return bicep


def accepted() -> dict[str, str]:
    """check id -> reason, from the table in bicep/README.md ("checkov")."""
    text = (BICEP / "README.md").read_text()
    rows = re.findall(r"^\| (CKV\w+) \| [^|]* \| ([^|]+) \|$", text, re.M)
    return {check: reason.strip() for check, reason in rows}


def test_the_bicep_files_parse_for_checkov(report: dict[str, Any]) -> None:
    assert report["summary"]["parsing_errors"] == 0
    assert report["summary"]["resource_count"] > 30


def test_every_failed_check_is_accepted_with_a_reason(report: dict[str, Any]) -> None:
    failed = report.get("results", {}).get("failed_checks", [])
    reasons = accepted()
    unexplained = sorted(
        {f"{c['check_id']} {c['check_name']} ({c['file_path']}: {c['resource']})" for c in failed
         if not reasons.get(c["check_id"])}
    )  # fmt: skip
    assert unexplained == [], "fix, or accept with a reason in bicep/README.md: " + "; ".join(
        unexplained
    )


def test_no_accepted_check_is_stale(report: dict[str, Any]) -> None:
    failing = {c["check_id"] for c in report.get("results", {}).get("failed_checks", [])}
    assert sorted(set(accepted()) - failing) == [], "passes now: drop it from bicep/README.md"
