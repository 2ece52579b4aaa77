"""Role assignments use the documented built-in role definitions, and only those.

The ids below were copied from Microsoft's reference pages (bicep/README.md,
"Roles", names the page of each); a mistyped id in Bicep would grant nothing
or, worse, something else.
"""

from __future__ import annotations

import json
from typing import Any

from tests.unit.deploy.conftest import ROOT, resources

BUILT_IN_ROLES = {
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
    "974c5e8b-45b9-4653-ba55-5f855dd0fb88": "Storage Queue Data Contributor",
    "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": "Storage Table Data Contributor",
    "1407120a-92aa-4202-b7e9-c0e197c71c8f": "Search Index Data Reader",
    "8ebe5a00-799e-43f5-93ac-243d3dce84a7": "Search Index Data Contributor",
    "7ca78c08-252a-4471-8644-bb5ff32d4ba0": "Search Service Contributor",
    "4633458b-17de-408a-b874-0445c86b69e6": "Key Vault Secrets User",
    "b86a8fe4-44ce-4948-aee5-eccb2c155cd7": "Key Vault Secrets Officer",
    "3913510d-42f4-4e42-8a64-420c390055eb": "Monitoring Metrics Publisher",
}
"""Azure RBAC built-in roles (learn.microsoft.com: role-based-access-control/built-in-roles)."""

COSMOS_DATA_ROLES = {
    "00000000-0000-0000-0000-000000000002": "Cosmos DB Built-in Data Contributor",
}
"""Cosmos DB for NoSQL data-plane roles (cosmos-db/nosql/security/reference-data-plane-roles)."""

APP_NEEDS = {
    ("storage", "Storage Blob Data Owner"),
    ("storage", "Storage Queue Data Contributor"),
    ("storage", "Storage Table Data Contributor"),
    ("search", "Search Index Data Reader"),
    ("vault", "Key Vault Secrets User"),
    ("appInsights", "Monitoring Metrics Publisher"),
    ("cosmos", "Cosmos DB Built-in Data Contributor"),
}
"""What the app's identity must hold, on which resource (access.bicep's symbols)."""

APP = "appPrincipalId"


def _access(parsed: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return parsed["modules/access.bicep"]


def _role_of(body: dict[str, Any], roles: dict[str, str], cosmos_role: str) -> str:
    """The role definition id an assignment names, through access.bicep's variables."""
    definition = body["properties"]["roleDefinitionId"]
    if isinstance(definition, str):  # Cosmos: a path under the account
        assert definition.endswith("/sqlRoleDefinitions/${cosmosDataContributor}"), definition
        return cosmos_role
    function = definition["function"]
    assert function["type"] == "subscription_resource_id", "use subscriptionResourceId(...)"
    assert function["parameters"]["resource_type"] == "Microsoft.Authorization/roleDefinitions"
    name = function["parameters"]["resource_name_1"]["operator"]["operands"]["operand_2"]
    return roles[name]


def _assignments(parsed: dict[str, dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(principal parameter, scope symbol, role id) of every assignment."""
    doc = _access(parsed)
    roles = doc["variables"]["roles"]["value"]
    cosmos_role = doc["variables"]["cosmosDataContributor"]["value"]
    found = []
    for kind, body in resources(doc).values():
        if kind == "Microsoft.Authorization/roleAssignments":
            scope = body["scope"]
        elif kind == "Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments":
            scope = body["parent"]
        else:
            continue
        found.append((body["properties"]["principalId"], scope, _role_of(body, roles, cosmos_role)))
    return found


def test_role_ids_are_the_documented_built_in_ones(parsed: dict[str, dict[str, Any]]) -> None:
    doc = _access(parsed)
    for key, role_id in doc["variables"]["roles"]["value"].items():
        assert role_id in BUILT_IN_ROLES, f"roles.{key} = {role_id}: not a documented built-in role"
    assert doc["variables"]["cosmosDataContributor"]["value"] in COSMOS_DATA_ROLES


def test_every_role_id_is_named_in_the_readme() -> None:
    readme = (ROOT / "bicep" / "README.md").read_text()
    for role_id, name in {**BUILT_IN_ROLES, **COSMOS_DATA_ROLES}.items():
        assert role_id in readme and name in readme, f"bicep/README.md, 'Roles': {name}"


def test_the_app_holds_what_it_needs(parsed: dict[str, dict[str, Any]]) -> None:
    names = {**BUILT_IN_ROLES, **COSMOS_DATA_ROLES}
    held = {(scope, names[role]) for who, scope, role in _assignments(parsed) if who == APP}
    assert held == APP_NEEDS


def test_the_app_holds_data_plane_roles_only(parsed: dict[str, dict[str, Any]]) -> None:
    management = {"Search Service Contributor", "Key Vault Secrets Officer"}
    names = {**BUILT_IN_ROLES, **COSMOS_DATA_ROLES}
    app_roles = {names[role] for who, _, role in _assignments(parsed) if who == APP}
    assert app_roles.isdisjoint(management)


def test_every_role_assignment_is_named_after_its_scope_principal_and_role(
    parsed: dict[str, dict[str, Any]],
) -> None:
    """guid(scope, principal, role): deterministic, so redeploying updates in place."""
    for symbol, (kind, body) in resources(_access(parsed)).items():
        if not kind.endswith(("roleAssignments", "sqlRoleAssignments")):
            continue
        name = body["name"]["function"]
        assert name["type"] == "guid", symbol
        assert json.dumps(name["parameters"]).count("PrincipalId") == 1, symbol
