"""roster.py: the compute instance name rule, GUIDs, sizes, and every problem of a roster at once."""

from __future__ import annotations

import pytest

from onboarding import roster

OID = "17bac01b-4294-48c1-a35d-5bd1b4e8c777"
TID = "72f988bf-86f1-41af-91ab-2d7cd011db47"


def _parse(text: str) -> tuple[list[roster.Member], list[str]]:
    return roster.parse(text, "team.csv", default_size="Standard_DS3_v2",
                        check_ref=lambda ref: None if "/" in ref else f"bad ref {ref!r}")


@pytest.mark.parametrize("name", ["abc", "ci-alice", "CI-Alice-dev", "a" * 24, "ci-a1", "x2-b"])
def test_names_azure_accepts(name: str) -> None:
    assert roster.name_problem(name) is None


@pytest.mark.parametrize(("name", "why"), [
    ("ab", "2 characters"),
    ("a" * 25, "25 characters"),
    ("1ci", "starting with a letter"),
    ("-ci", "starting with a letter"),
    ("ci_alice", "letters, digits and '-' only"),
    ("ci.alice", "letters, digits and '-' only"),
    ("ci alice", "letters, digits and '-' only"),
    ("ci-", "a letter somewhere after the last '-'"),
    ("ci-01", "a letter somewhere after the last '-'"),
    ("ci-a-1", "a letter somewhere after the last '-'"),
    ("cï-alice", "letters, digits and '-' only"),
])
def test_names_azure_refuses(name: str, why: str) -> None:
    problem = roster.name_problem(name)
    assert problem is not None and why in problem


@pytest.mark.parametrize("size", ["Standard_DS3_v2", "Standard_E4-2ds_v4", "STANDARD_NC6"])
def test_sizes_as_text(size: str) -> None:
    assert roster.size_problem(size) is None


@pytest.mark.parametrize("size", ["", "Standard DS3", "3ds", "Standard_DS3_v2;rm", "S" * 65])
def test_bad_sizes(size: str) -> None:
    assert roster.size_problem(size) is not None


def test_a_good_roster_gives_members_with_line_numbers_and_the_default_size() -> None:
    text = (f"instance,user_object_id,user_tenant_id,size\n"
            f"ci-alice,{OID},{TID},\n\n"
            f" ci-bob , {OID.upper()} ,{TID},Standard_E4ds_v4\n")
    members, problems = _parse(text)
    assert problems == []
    assert [(m.line, m.instance, m.size) for m in members] == [
        (2, "ci-alice", "Standard_DS3_v2"), (4, "ci-bob", "Standard_E4ds_v4")]
    assert members[1].user_object_id == OID.upper()


def test_every_problem_at_once_each_naming_its_line_and_column() -> None:
    text = (f"instance,user_object_id,user_tenant_id,passphrase_keyvault\n"
            f"ci-alice-has-a-very-long-name,{OID},{TID},\n"  # 29 characters
            f"ci-bob,{OID},{TID},\n"
            f"CI-BOB,{OID},{TID},\n"  # the same name for Azure
            f"ci-carol,not-a-guid,{TID},\n"
            f"ci-dave,{OID},{TID[:-1]},nonsense\n"
            f"ci-erin,{OID}\n")
    members, problems = _parse(text)
    assert [m.instance for m in members] == ["ci-bob"]
    assert problems == [
        "team.csv line 2, column instance: 'ci-alice-has-a-very-long-name' has 29 characters: "
        "a compute instance name has 3 to 24",
        "team.csv line 4, column instance: 'CI-BOB' is also on line 3: each instance needs its own name",
        "team.csv line 5, column user_object_id: 'not-a-guid' is not a GUID (8-4-4-4-12 hexadecimal digits)",
        f"team.csv line 6, column user_tenant_id: '{TID[:-1]}' is not a GUID (8-4-4-4-12 hexadecimal digits)",
        "team.csv line 6, column passphrase_keyvault: bad ref 'nonsense'",
        "team.csv line 7: 2 fields, the header has 4",
    ]


def test_a_missing_column_an_unknown_one_and_a_repeated_one_are_named() -> None:
    members, problems = _parse(f"instance,user_object_id,tenant,instance\nci-alice,{OID},{TID},x\n")
    assert members == []
    assert "team.csv line 1: missing column 'user_tenant_id' (the header needs instance, user_object_id, " \
           "user_tenant_id)" in problems
    assert "team.csv line 1: unknown column 'tenant' (known: instance, user_object_id, user_tenant_id, size, " \
           "passphrase_keyvault)" in problems
    assert "team.csv line 1: column 'instance' appears twice" in problems


def test_empty_and_header_only_rosters() -> None:
    assert _parse("")[1] == ["team.csv: empty file; the first line names the columns: "
                             "instance, user_object_id, user_tenant_id"]
    assert _parse("instance,user_object_id,user_tenant_id\n\n")[1] == [
        "team.csv: no rows: add one line per member under the header"]


def test_a_broken_quote_is_a_problem_with_its_line() -> None:
    members, problems = _parse(f'instance,user_object_id,user_tenant_id\nci-a,{OID},{TID}\n"ci-b,{OID}\n')
    assert len(problems) == 1 and problems[0].startswith("team.csv line ")
    assert [m.instance for m in members] == ["ci-a"]


def test_more_rows_than_one_copy_loop_makes() -> None:
    rows = "".join(f"ci-m{chr(97 + i % 26)}{chr(97 + i // 26 % 26)}{chr(97 + i // 676)},{OID},{TID}\n"
                   for i in range(roster.MAX_ROWS + 1))
    _members, problems = _parse("instance,user_object_id,user_tenant_id\n" + rows)
    assert problems == [f"team.csv: {roster.MAX_ROWS + 1} rows; an ARM copy loop makes at most 800: split the roster"]
