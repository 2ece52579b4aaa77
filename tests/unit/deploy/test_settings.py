"""Every setting the code reads is set in Azure and in the local example.

The names come from the code, not from a list kept here: ``Settings``'s fields
under its ``SRE_COPILOT_`` prefix (or the vendor's spelling, the first of a
field's alias choices), the Functions host's own names, and the ``%NAME%``
references in host.json. A name left out on purpose is in an allow-list below
with its reason (and in bicep/README.md, "Settings").
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import AliasChoices

from shared.settings import Settings
from tests.unit.deploy.conftest import ROOT

HOST_SETTINGS = {
    "AzureWebJobsStorage": "the host's storage: a connection string locally, by identity in Azure",
    "APPLICATIONINSIGHTS_CONNECTION_STRING": "where telemetry goes; empty locally (nothing sent)",
    "FUNCTIONS_WORKER_RUNTIME": "the language worker Core Tools starts",
}

ABSENT_FROM_BICEP = {
    "FUNCTIONS_WORKER_RUNTIME": "Flex Consumption takes the runtime from functionAppConfig.runtime "
    "and refuses this app setting",
    "SRE_COPILOT_COSMOS_KEY": "Cosmos DB local auth is off: the app uses its identity",
    "SRE_COPILOT_AZURE_SEARCH_KEY": "Search API keys are off: the app uses its identity",
    "ANTHROPIC_BASE_URL": "test-only: points the SDK at the tests' local Messages API server",
    "SLACK_CHANNEL": "demo-only: the channel `sre-copilot demo` posts to; tenants name their own",
    "SRE_COPILOT_RUNBOOKS_DIR": "the local runbook index's folder; Azure searches Azure AI Search "
    "(and an empty value would read as '.')",
    "SRE_COPILOT_KUBERNETES_CA_FILE": "a file path: none ships in the package, so the system "
    "trust store is used (an empty value would not mean unset)",
}

ABSENT_FROM_LOCAL_EXAMPLE = {
    "ANTHROPIC_BASE_URL": "test-only: points the SDK at the tests' local Messages API server",
}


def code_settings() -> set[str]:
    """The environment names ``Settings`` reads (its primary spelling of each field)."""
    prefix = str(Settings.model_config.get("env_prefix", ""))
    names = set()
    for field_name, field in Settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            first = alias.choices[0]
            assert isinstance(first, str), f"{field_name}: alias path, not a name"
            names.add(first)
        elif isinstance(alias, str):
            names.add(alias)
        else:
            names.add(f"{prefix}{field_name}".upper())
    return names


def host_json_settings() -> set[str]:
    """Names host.json takes from app settings (``%NAME%``)."""
    return set(re.findall(r"%(\w+)%", (ROOT / "host.json").read_text()))


def required() -> set[str]:
    return code_settings() | host_json_settings() | set(HOST_SETTINGS)


def bicep_settings(parsed: dict[str, dict[str, Any]]) -> set[str]:
    return set(parsed["main.bicep"]["variables"]["appSettings"]["value"])


def local_settings() -> set[str]:
    return set(json.loads((ROOT / "local.settings.example.json").read_text())["Values"])


def present(name: str, names: set[str]) -> bool:
    """Set as itself, or as an identity-based connection (``NAME__accountName``)."""
    return name in names or any(n.startswith(f"{name}__") for n in names)


def test_the_code_reads_its_settings_as_expected() -> None:
    names = code_settings()
    assert {"SRE_COPILOT_STORE", "ANTHROPIC_API_KEY", "SLACK_SIGNING_SECRET"} <= names
    assert "SRE_COPILOT_TASK_HUB" in host_json_settings()


def test_every_setting_is_in_the_bicep_app_settings(parsed: dict[str, dict[str, Any]]) -> None:
    names = bicep_settings(parsed)
    missing = sorted(n for n in required() - set(ABSENT_FROM_BICEP) if not present(n, names))
    assert missing == [], f"add to appSettings in bicep/main.bicep: {missing}"


def test_every_setting_is_in_the_local_example() -> None:
    names = local_settings()
    missing = sorted(
        n for n in required() - set(ABSENT_FROM_LOCAL_EXAMPLE) if not present(n, names)
    )
    assert missing == [], f"add to local.settings.example.json: {missing}"


def test_the_allow_lists_are_documented() -> None:
    readme = (ROOT / "bicep" / "README.md").read_text()
    for name in {**ABSENT_FROM_BICEP, **ABSENT_FROM_LOCAL_EXAMPLE}:
        assert f"`{name}`" in readme, f"bicep/README.md, 'Settings': why is {name} absent?"


def test_secrets_reach_the_app_as_key_vault_references(parsed: dict[str, dict[str, Any]]) -> None:
    settings = parsed["main.bicep"]["variables"]["appSettings"]["value"]
    secret_fields = [
        name
        for name, field in Settings.model_fields.items()
        if field.annotation is not None and "SecretStr" in str(field.annotation)
    ]
    by_identity = {"cosmos_key", "azure_search_key"}
    prefix = str(Settings.model_config.get("env_prefix", ""))
    for field_name in secret_fields:
        if field_name in by_identity:
            continue
        alias = Settings.model_fields[field_name].validation_alias
        own = f"{prefix}{field_name}".upper()
        env = alias.choices[0] if isinstance(alias, AliasChoices) else own
        value = json.dumps(settings[env])
        assert "kvRef" in value and "has" in value, f"{env} should be a Key Vault reference"
