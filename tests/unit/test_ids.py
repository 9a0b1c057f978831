"""ResourceId: ARM's case-insensitive ids as one value, spelt as given."""

from __future__ import annotations

import pytest

from onboarding.errors import PermanentError
from onboarding.ids import ResourceId

SUB = "/subscriptions/00000000-0000-0000-0000-000000000001"
GROUP = f"{SUB}/resourceGroups/MRG-Contoso"
IDENTITY = f"{GROUP}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/App-Id"
CREDENTIAL = f"{IDENTITY}/federatedIdentityCredentials/ama-contoso"
ROLE = f"{SUB}/providers/Microsoft.Authorization/roleDefinitions/ACDD72A7-3385-48EF-BD42-F606FBA81AE7"


def test_equal_and_hashed_as_arm_compares_ids() -> None:
    lowered = ResourceId(IDENTITY.lower() + "/")
    assert lowered == ResourceId(IDENTITY) and hash(lowered) == hash(ResourceId(IDENTITY))
    assert len({ResourceId(IDENTITY), lowered, ResourceId(IDENTITY.upper())}) == 1
    assert ResourceId(IDENTITY) != ResourceId(CREDENTIAL)
    assert ResourceId(IDENTITY) != IDENTITY, "a string is not an id: compare ResourceId with ResourceId"


def test_str_keeps_the_spelling_and_the_value_is_frozen() -> None:
    rid = ResourceId(IDENTITY)
    assert str(rid) == IDENTITY and f"{rid}" == IDENTITY
    with pytest.raises(AttributeError):
        rid.text = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "name", "group", "resource_type"),
    [
        (IDENTITY, "App-Id", "MRG-Contoso", "Microsoft.ManagedIdentity/userAssignedIdentities"),
        (
            CREDENTIAL,
            "ama-contoso",
            "MRG-Contoso",
            "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials",
        ),
        (IDENTITY + "/", "App-Id", "MRG-Contoso", "Microsoft.ManagedIdentity/userAssignedIdentities"),
        (GROUP, "MRG-Contoso", "MRG-Contoso", None),
        (ROLE, "ACDD72A7-3385-48EF-BD42-F606FBA81AE7", None, "Microsoft.Authorization/roleDefinitions"),
    ],
)
def test_parts(text: str, name: str, group: str | None, resource_type: str | None) -> None:
    rid = ResourceId(text)
    assert (rid.name, rid.resource_group, rid.resource_type) == (name, group, resource_type)
    assert rid.subscription == "00000000-0000-0000-0000-000000000001" and rid.valid


def test_parent_walks_up_to_the_subscription() -> None:
    chain = []
    rid: ResourceId | None = ResourceId(CREDENTIAL)
    while rid is not None:
        chain.append(rid)
        rid = rid.parent
    assert chain == [ResourceId(x) for x in (CREDENTIAL, IDENTITY, GROUP, SUB)]
    assert ResourceId(ROLE).parent == ResourceId(SUB)
    assert ResourceId("not-an-id").parent is None


def test_require_names_the_type_it_wanted() -> None:
    assert ResourceId(IDENTITY).require("microsoft.managedidentity/USERASSIGNEDIDENTITIES") == ResourceId(
        IDENTITY
    )
    for text in (GROUP, CREDENTIAL, "not-an-id"):
        with pytest.raises(
            PermanentError, match=r"not a Microsoft\.ManagedIdentity/userAssignedIdentities resource id"
        ):
            ResourceId(text).require("Microsoft.ManagedIdentity/userAssignedIdentities")
