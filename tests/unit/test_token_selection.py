"""listTokens: the token used is the requested identity's; another identity's entry is never used instead.

The sandbox, like the service, answers 400 InvalidUserAssignedIdentities to an identity the application lacks,
so an answer without the requested identity cannot come over its wire: the selection is tested directly."""

from __future__ import annotations

import pytest

from onboarding.azure.credentials import select_token
from onboarding.errors import PermanentError

IDS = "/subscriptions/s/resourceGroups/mrg/providers/Microsoft.ManagedIdentity/userAssignedIdentities"
AUDIENCE = "https://management.azure.com/"


def test_the_requested_identitys_entry_is_chosen_whatever_its_case_and_position() -> None:
    entries = [
        {"resourceId": f"{IDS}/other", "access_token": "tok-other"},
        {"resourceId": f"{IDS}/APP", "access_token": "tok-app", "expires_on": "1"},
    ]
    assert select_token(entries, f"{IDS}/app", AUDIENCE)["access_token"] == "tok-app"


@pytest.mark.parametrize(
    ("entries", "returned"),
    [
        ([{"resourceId": f"{IDS}/other", "access_token": "tok-other"}], f"{IDS}/other"),
        ([{"access_token": "tok-anonymous"}], "(no resourceId)"),
        ([], "no entries"),
    ],
)
def test_no_entry_for_the_identity_is_refused_naming_what_came_back(
    entries: list[dict[str, str]], returned: str
) -> None:
    with pytest.raises(PermanentError) as err:
        select_token(entries, f"{IDS}/app", AUDIENCE)
    message = str(err.value)
    print(f"\n{message}")
    assert f"returned no token for identity {IDS}/app (it returned: {returned})" in message
    assert f"audience {AUDIENCE}" in message
    assert "identity property" in message and "userAssignedIdentities" in message
    assert "tok-" not in message


def test_an_entry_without_a_token_is_refused() -> None:
    with pytest.raises(PermanentError, match="without a token"):
        select_token([{"resourceId": f"{IDS}/app"}], f"{IDS}/app", AUDIENCE)
