"""The Bicep files parse, hang together, and build what the code expects.

No Bicep compiler installs on these machines (it ships through NuGet only), so
``pycep-parser`` stands in for its parser: it checks the syntax, not names or
types. What a compiler would catch beyond that is checked here by hand where
it matters: every module path exists, the parameter file names declared
parameters, the workbook and index definitions are the files Bicep loads.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pycep import BicepParser

from shared.adapters.search.azure_search import index_schema
from shared.ports.store import Container
from tests.unit.deploy.conftest import BICEP, ROOT, bicep_files, resources


@pytest.mark.parametrize("path", bicep_files(), ids=lambda p: p.relative_to(BICEP).as_posix())
def test_every_bicep_file_parses(path: Path) -> None:
    doc = BicepParser().parse(file_path=path)
    assert doc.get("resources") or doc.get("modules"), f"{path.name} declares nothing"


def test_every_module_path_exists(parsed: dict[str, dict[str, Any]]) -> None:
    for name, doc in parsed.items():
        for symbol, module in doc.get("modules", {}).items():
            target = (BICEP / name).parent / module["detail"]["path"]
            assert target.is_file(), f"{name}: module {symbol} points at missing {target}"


def test_every_module_is_used_by_main(parsed: dict[str, dict[str, Any]]) -> None:
    used = {m["detail"]["path"] for m in parsed["main.bicep"]["modules"].values()}
    for path in (BICEP / "modules").glob("*.bicep"):
        assert f"modules/{path.name}" in used, f"{path.name} is not deployed by main.bicep"


def test_the_parameter_file_names_declared_parameters(parsed: dict[str, dict[str, Any]]) -> None:
    text = (BICEP / "main.bicepparam").read_text()
    assert re.search(r"^using '\./main\.bicep'$", text, re.M)
    given = re.findall(r"^param (\w+) =", text, re.M)
    declared = parsed["main.bicep"]["parameters"]
    assert given, "main.bicepparam gives no parameters"
    assert [p for p in given if p not in declared] == []
    required = [n for n, p in declared.items() if p.get("default") is None]
    assert [p for p in required if p not in given] == [], "required parameters without values"


def test_azd_deploys_the_root_folder_with_this_infrastructure(
    parsed: dict[str, dict[str, Any]],
) -> None:
    azd = yaml.safe_load((ROOT / "azure.yaml").read_text())
    assert azd["infra"] == {"provider": "bicep", "path": "bicep", "module": "main"}
    assert azd["services"] == {"api": {"project": ".", "language": "python", "host": "function"}}
    assert "'azd-service-name': 'api'" in (BICEP / "modules" / "functionapp.bicep").read_text()


def test_the_function_app_runs_python_313_on_flex_with_warm_http_instances(
    parsed: dict[str, dict[str, Any]],
) -> None:
    found = resources(parsed["modules/functionapp.bicep"])
    _, plan = found["plan"]
    assert plan["sku"] == {"tier": "FlexConsumption", "name": "FC1"}
    _, app = found["app"]
    assert app["identity"] == {"type": "SystemAssigned"}
    props = app["properties"]
    assert props["httpsOnly"] is True
    assert props["siteConfig"]["minTlsVersion"] == "1.2"
    assert props["siteConfig"]["ftpsState"] == "Disabled"
    config = props["functionAppConfig"]
    assert config["runtime"] == {"name": "python", "version": "3.13"}
    assert config["deployment"]["storage"]["authentication"] == {"type": "SystemAssignedIdentity"}
    assert [group["name"] for group in config["scaleAndConcurrency"]["alwaysReady"]] == ["http"]
    assert {
        found[s][1]["name"]: found[s][1]["properties"]["allow"]
        for s in ("ftpCredentials", "scmCredentials")
    } == {
        "ftp": False,
        "scm": False,
    }


def test_storage_is_reached_by_identity_only(parsed: dict[str, dict[str, Any]]) -> None:
    _, storage = resources(parsed["modules/storage.bicep"])["storage"]
    props = storage["properties"]
    assert props["allowSharedKeyAccess"] is False
    assert props["minimumTlsVersion"] == "TLS1_2"
    assert props["allowBlobPublicAccess"] is False


def test_cosmos_holds_every_container_the_code_uses(parsed: dict[str, dict[str, Any]]) -> None:
    doc = parsed["modules/cosmos.bicep"]
    names = doc["variables"]["containerNames"]["value"]
    assert sorted(names) == sorted(c.value for c in Container)
    _, body = resources(doc)["containers"]  # the loop's body
    resource = body["properties"]["resource"]
    # The Cosmos adapter's own create_container_if_not_exists: /tenantId, TTL on without expiry.
    assert resource["partitionKey"]["paths"] == ["/tenantId"]
    assert resource["defaultTtl"] == {
        "operator": {"type": "minus", "operands": {"integer_value": 1}}
    }


def test_cosmos_is_serverless_by_default_without_keys(parsed: dict[str, dict[str, Any]]) -> None:
    doc = parsed["modules/cosmos.bicep"]
    assert doc["parameters"]["serverless"]["default"] is True
    _, account = resources(doc)["account"]
    assert account["properties"]["disableLocalAuth"] is True
    assert parsed["main.bicep"]["parameters"]["cosmosServerless"]["default"] is True


def test_search_and_key_vault_refuse_keys_and_access_policies(
    parsed: dict[str, dict[str, Any]],
) -> None:
    _, search = resources(parsed["modules/search.bicep"])["search"]
    assert search["properties"]["disableLocalAuth"] is True
    _, vault = resources(parsed["modules/keyvault.bicep"])["vault"]
    assert vault["properties"]["enableRbacAuthorization"] is True


def test_the_index_definition_is_the_one_the_adapter_builds() -> None:
    deployed = json.loads((BICEP / "search-index.json").read_text())
    expected = index_schema(deployed["name"])
    assert deployed["name"] == "runbooks"
    attributes = ("key", "searchable", "filterable", "facetable", "sortable", "retrievable")
    assert [(f["name"], f["type"], *(f[a] for a in attributes)) for f in deployed["fields"]] == [
        (f.name, f.type, *(bool(getattr(f, a)) for a in attributes)) for f in expected.fields
    ]


def test_the_index_name_is_the_one_the_app_is_told(parsed: dict[str, dict[str, Any]]) -> None:
    deployed = json.loads((BICEP / "search-index.json").read_text())
    assert parsed["main.bicep"]["variables"]["searchIndexName"]["value"] == deployed["name"]


def test_the_workbook_is_loaded_from_its_json(parsed: dict[str, dict[str, Any]]) -> None:
    _, workbook = resources(parsed["modules/workbook.bicep"])["workbook"]
    loaded = workbook["properties"]["serializedData"]["function"]
    assert loaded["type"] == "load_text_content"
    assert (BICEP / "modules" / loaded["parameters"]["file_path"]).resolve() == (
        BICEP / "workbook.json"
    ).resolve()
    notebook = json.loads((BICEP / "workbook.json").read_text())
    assert notebook["version"] == "Notebook/1.0"
    assert all(
        item["content"]["version"] == "KqlItem/1.0"
        for item in notebook["items"]
        if item["type"] == 3
    )
