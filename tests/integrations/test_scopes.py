"""SMART v2 system scopes: what parses, what a grant covers, what each FHIR interaction needs."""

from __future__ import annotations

import pytest

from integrations.scopes import RESOURCE_TYPES, Scope, ScopeInvalid, allowed, needed, parse_scope, parse_scopes


@pytest.mark.parametrize(
    ("text", "scope"),
    [
        ("system/Patient.rs", Scope("Patient", "rs")),
        ("system/*.cruds", Scope("*", "cruds")),
        ("system/Observation.r", Scope("Observation", "r")),
        ("system/Patient.c", Scope("Patient", "c")),
    ],
)
def test_a_v2_system_scope_parses(text: str, scope: Scope) -> None:
    assert parse_scope(text) == scope
    assert str(parse_scope(text)) == text


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("patient/Patient.rs", "not a SMART v2 system scope"),
        ("user/*.rs", "not a SMART v2 system scope"),
        ("system/Patient.read", "not a SMART v2 system scope"),
        ("system/Patient.sr", "in that order"),
        ("system/Patient.rrs", "in that order"),
        ("system/Encounter.rs", "Encounter is not served here"),
        ("system/Observation.rs?category=laboratory", "not a SMART v2 system scope"),
        ("openid", "not a SMART v2 system scope"),
    ],
)
def test_other_scopes_are_refused_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(ScopeInvalid, match=reason.replace("?", r"\?")):
        parse_scope(text)


def test_scopes_parse_in_order_without_duplicates() -> None:
    assert parse_scopes(" system/Patient.rs  system/*.rs system/Patient.rs ") == [
        Scope("Patient", "rs"),
        Scope("*", "rs"),
    ]


def test_a_wildcard_covers_each_type_and_a_type_only_itself() -> None:
    wildcard = [Scope("*", "rs")]
    assert all(Scope(t, "rs").within(wildcard) for t in RESOURCE_TYPES)
    assert not Scope("Patient", "c").within(wildcard)
    assert Scope("Patient", "r").within([Scope("Patient", "rs")])
    assert not Scope("*", "r").within([Scope("Patient", "rs")])
    assert Scope("*", "r").within([Scope(t, "r") for t in RESOURCE_TYPES])


def test_each_interaction_needs_its_permission() -> None:
    assert needed("Patient", "read") == [("Patient", "r")]
    assert needed("Patient", "search") == [("Patient", "s")]
    assert needed("Patient", "create") == [("Patient", "c")]
    assert set(needed("Patient", "everything") or []) == {(t, p) for t in RESOURCE_TYPES for p in "rs"}
    assert needed("Patient", "unknown") is None
    assert needed("CodeSystem", "read") is None
    assert allowed([Scope("*", "rs")], "Device", "r")
    assert not allowed([Scope("Patient", "rs")], "Device", "r")
