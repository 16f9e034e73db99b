"""providers.toml: every shipped value is consistent, recomputed by the real ssh-keygen."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from helpers.cli import run_env

from onboarding import providers as prov
from onboarding.errors import UsageError

REFERENCE = {  # shared/reference/provider-host-keys.md, current keys
    "github": {"SHA256:+DiY3wvvV6TuJJhbpZisF/zLDA0zPMSvHdkr4UvCOqU", "SHA256:p2QAMXNIC1TJYWeIOttrVc98/R1BUFWu3/LiyKgUfQM",
               "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s"},
    "gitlab": {"SHA256:eUXGGm1YGsMAS7vkcx6JOJdOGHPem5gQp4taiCfCLB8", "SHA256:ROQFvPThGrW4RuWLoL9tq9I9zJ42fK4XywyRtbOz/EQ",
               "SHA256:HbW3g8zUjNSksFbqTiUWPWg2Bq1x8xdGUrliXFzSnUw"},
    "bitbucket": {"SHA256:FC73VB6C4OQLSCrjEayhMp9UMxS97caD/Yyi2bhW/J0", "SHA256:ybgmFkzwOSotHTHLJgHO0QN8L0xErw6vd0VhFA9m3SM",
                  "SHA256:46OSHA1Rmj8E8ERTC6xkNcmGOw9oFxYr0WF6zWW8l1E"},
    "azure-devops": {"SHA256:ohD8VZEXGWo6Ez8GSEJQ9WpafgLFsOfLOtGGQCQo6Og"},
    "codeberg": {"SHA256:mIlxA9k46MmM6qdJOdMnAQpzGxF4WIVVL+fj+wZbw0g", "SHA256:T9FYDEHELhVkulEKKwge5aVhVTbqCW0MIRwAfpARs/E",
                 "SHA256:6QQmYi4ppFS4/+zSZ5S4IU+4sa6rwvQ4PbhCtPEBekQ"},
}


def test_every_pinned_key_hashes_to_its_fingerprint_by_ssh_keygen(tmp_path: Path) -> None:
    for p in prov.builtin().values():
        for key in p.keys:
            f = tmp_path / "k.pub"
            f.write_text(key.text + "\n")
            out = subprocess.run(["ssh-keygen", "-l", "-f", str(f)], capture_output=True, text=True, check=True)
            assert out.stdout.split()[1] == key.fingerprint, (p.name, key.key_type)
        assert {k.fingerprint for k in p.keys} == p.fingerprints == REFERENCE[p.name]


def test_revoked_keys_are_listed_and_never_pinned() -> None:
    b = prov.builtin()
    assert "SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8" in b["github"].revoked
    assert "SHA256:zzXQOXSRBEiUtuE8AikJYKwbHaxvSc0ojez9YXaGp1A" in b["bitbucket"].revoked
    for p in b.values():
        assert not (p.fingerprints & p.revoked)
        assert p.add_key_url and p.docs_url
    assert [h.pattern for h in b["github"].hosts] == ["github.com", "[ssh.github.com]:443"]
    assert [h.pattern for h in b["azure-devops"].hosts] == ["ssh.dev.azure.com", "vs-ssh.visualstudio.com"]


def test_every_shipped_value_has_a_source_comment() -> None:
    text = (Path(prov.__file__).parent / "providers.toml").read_text()
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.strip().startswith(('"SHA256:', '"ssh-', '"ecdsa-')):
            # a key or fingerprint carries a comment, or one stands in the lines just above it
            above = "\n".join(lines[max(0, i - 4):i])
            assert "#" in line or "# source" in above or "# current" in above or "# RSA" in above, line[:40]


GOOD_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"


@pytest.mark.parametrize(("table", "message"), [
    ('hosts = ["x.example"]\nkeys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJ"]',
     "corrupted"),
    ('hosts = ["x.example"]\nkeys = ["ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"]',
     "does not start with its type"),
    ('hosts = ["x.example"]\nfingerprints = ["SHA256:short"]', "bad fingerprint"),
    ('hosts = ["x.example"]', "at least one of the two"),
    ('hosts = ["x.example"]\nfingerprints = ["SHA256:+DiY3wvvV6TuJJhbpZisF/zLDA0zPMSvHdkr4UvCOqU"]\ncolour = "red"',
     "unknown field 'colour'"),
    ('hosts = ["-oProxyCommand=x"]\nfingerprints = ["SHA256:+DiY3wvvV6TuJJhbpZisF/zLDA0zPMSvHdkr4UvCOqU"]', "bad host"),
    (f'hosts = ["x.example"]\nkeys = ["{GOOD_KEY}"]\nfingerprints = ["SHA256:ohD8VZEXGWo6Ez8GSEJQ9WpafgLFsOfLOtGGQCQo6Og"]',
     "disagree"),
    (f'hosts = ["github.com"]\nkeys = ["{GOOD_KEY}"]', "already pinned by 'github'"),
])
def test_bad_providers_file_is_exit_2_naming_file_and_field(tmp_path: Path, table: str, message: str) -> None:
    f = tmp_path / "extra.toml"
    f.write_text(f"[providers.internal]\n{table}\n")
    r = run_env("hosts", "list", "--providers-file", str(f))
    assert r.returncode == 2, r.output
    assert message in r.stderr and str(f) in r.stderr and "internal" in r.stderr


def test_builtin_cannot_be_redefined(tmp_path: Path) -> None:
    f = tmp_path / "extra.toml"
    f.write_text(f'[providers.github]\nhosts = ["evil.example"]\nkeys = ["{GOOD_KEY}"]\n')
    r = run_env("hosts", "list", "--providers-file", str(f))
    assert r.returncode == 2 and "built in" in r.stderr


def test_malformed_toml(tmp_path: Path) -> None:
    f = tmp_path / "extra.toml"
    f.write_text("[providers.x\nhosts=")
    r = run_env("hosts", "list", "--providers-file", str(f))
    assert r.returncode == 2 and "not valid TOML" in r.stderr


def test_list_json_has_every_provider() -> None:
    import json

    r = run_env("hosts", "list", "--json")
    assert r.returncode == 0
    names = [p["name"] for p in json.loads(r.stdout)["providers"]]
    assert names == ["github", "gitlab", "bitbucket", "azure-devops", "codeberg"]


@pytest.mark.parametrize("host", ["[GitHub.com]:22", "[SSH.GITHUB.COM]:443", "[SSH.DEV.AZURE.COM]:22", "GITHUB.COM",
                                  "[ssh.github.com]:00443",
                                  # issue 22: the trailing dot of a fully qualified name, a fallback
                                  # endpoint (ssh.github.com over 443) on another port, a built-in on any port
                                  "github.com.", "GitHub.com.", "[github.com.]:22", "ssh.github.com",
                                  "[ssh.github.com]:22", "[ssh.github.com.]:2222", "[github.com]:2222"])
def test_no_spelling_of_a_builtin_host_can_be_re_pinned(tmp_path: Path, host: str) -> None:
    kh = tmp_path / "known_hosts"
    before = b"# mine\n"
    kh.write_bytes(before)
    f = tmp_path / "extra.toml"
    f.write_text(f'[providers.evil]\nhosts = ["{host}"]\nkeys = ["{GOOD_KEY}"]\n')
    r = run_env("hosts", "verify", "evil", "--offline", "--providers-file", str(f), "--known-hosts", str(kh))
    assert r.returncode == 2, r.output
    assert "already pinned by" in r.stderr
    assert kh.read_bytes() == before


def test_bracketed_hosts_are_normalised() -> None:
    p = prov.parse_provider("x", {"hosts": ["[Git.Corp.Example]:22", "[GIT.corp.example]:2222"],
                                  "keys": [GOOD_KEY]}, "team.toml")
    assert [h.pattern for h in p.hosts] == ["git.corp.example", "[git.corp.example]:2222"]


@pytest.mark.parametrize("host", ["[x.example]:0", "[x.example]:99999", "[x.example]:65536",
                                  "[x.example]:123456789012345678901234567890"])
def test_ports_outside_1_to_65535_are_refused(host: str) -> None:
    with pytest.raises(UsageError, match="1 to 65535"):
        prov.parse_provider("x", {"hosts": [host], "keys": [GOOD_KEY]}, "team.toml")


@pytest.mark.parametrize(("field", "value"), [
    ("user", "git\nProxyCommand x"), ("title", "Corp\x1b[2J"), ("docs_url", "https://x\r\n"),
    ("add_key_url", "https://x\x00"), ("paste", "step one\x1b]0;owned\x07"),
])
def test_control_characters_in_text_fields_are_exit_2(tmp_path: Path, field: str, value: str) -> None:
    f = tmp_path / "extra.toml"
    f.write_text(f'[providers.internal]\nhosts = ["x.example"]\nkeys = ["{GOOD_KEY}"]\n{field} = {json.dumps(value)}\n')
    r = run_env("hosts", "list", "--providers-file", str(f))
    assert r.returncode == 2, r.output
    assert "control characters" in r.stderr and field in r.stderr


def test_5000_levels_of_nesting_is_exit_2(tmp_path: Path) -> None:
    f = tmp_path / "deep.toml"
    f.write_text("x = " + "[" * 5000 + "]" * 5000 + "\n")
    r = run_env("hosts", "list", "--providers-file", str(f))
    assert r.returncode == 2, r.output
    assert "nested too deeply" in r.stderr and "Traceback" not in r.stderr


# -- the decisions themselves, in-process ------------------------------------------------------
GITHUB_REVOKED_RSA = "SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8"  # leaked, replaced 2023-03-24


def test_only_a_pinned_key_that_is_not_revoked_is_accepted() -> None:
    github = prov.builtin()["github"]
    for fp in REFERENCE["github"]:
        assert github.accepted(fp)
    assert not github.accepted(GITHUB_REVOKED_RSA)
    assert not github.accepted(next(iter(REFERENCE["gitlab"])))  # another provider's key
    assert not github.accepted("SHA256:" + "A" * 43)
    # pinned and revoked at once (parse_provider refuses that file; a built Provider still must not accept it)
    import dataclasses

    both = dataclasses.replace(github, revoked=github.fingerprints)
    assert not any(both.accepted(fp) for fp in REFERENCE["github"])


def test_a_host_maps_to_its_provider_only() -> None:
    ps = prov.builtin()
    assert prov.for_host(ps, "GitHub.com", 22) is ps["github"]
    assert prov.for_host(ps, "ssh.github.com", 443) is ps["github"]
    assert prov.for_host(ps, "ssh.github.com", 22) is None  # the alias is pinned on 443 only
    assert prov.for_host(ps, "git.corp.example", 22) is None


def test_select_keeps_the_order_given_and_each_provider_once() -> None:
    ps = prov.builtin()
    assert prov.select(ps, ["gitlab", "github", "gitlab"]) == [ps["gitlab"], ps["github"]]
    with pytest.raises(UsageError, match="unknown provider 'gitlub'"):
        prov.select(ps, ["gitlub"])


@pytest.mark.parametrize(("text", "host"), [
    ("[x.example]:1", prov.Host("x.example", 1)), ("[x.example]:65535", prov.Host("x.example", 65535)),
    ("X.Example", prov.Host("x.example", 2222)),
])
def test_host_text_within_range(text: str, host: prov.Host) -> None:
    assert prov.host_from_text(text, 2222) == host


@pytest.mark.parametrize("text", ["-oProxyCommand=x", "-x.example", "[x.example]:000022", "[-x]:22", "x example",
                                  "[x.example]", "x.example:22", ""])
def test_host_text_that_ssh_could_misread_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="bad host"):
        prov.host_from_text(text, 22)


def _table(**fields: object) -> dict[str, object]:
    return {"hosts": ["x.example"], "keys": [GOOD_KEY], **fields}


@pytest.mark.parametrize(("raw", "message"), [
    (_table(hosts="x.example"), "hosts must be a list of strings"),
    (_table(keys=GOOD_KEY), "keys must be a list of strings"),
    (_table(hosts=["x.example", 3]), "hosts must be a list of strings"),
    (_table(hosts=[]), "hosts must list at least one host"),
    (_table(title="Corp\x7f"), "title must be one line without control characters"),
    (_table(keys=["ssh-ed25519"]), "keys: not 'type base64' with a known type"),
    (_table(keys=["ssh-dss AAAAB3NzaC1kc3MAAACBAP1/U4EddRIpUt9KnC7s5Of2EbdSPO9EAMMeP4C2USZpRV1AIlH7WT2NWPq/xfW6MPbLm1"
                  "Vs14E7gB00b/JmYLdrmVClpJ+f6AR7ECLCT7up1/63xhv4O1fnxqimFQ8E+4P208UewwI1VBNaFpEy9nXzrith1yrv8iIDGZ3RSAHH"]),
     "keys: not 'type base64' with a known type"),
    (_table(keys=["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl!"]),
     "keys: the base64 of ssh-ed25519 key is corrupted"),
    (_table(port=0), "port must be a number from 1 to 65535"),
    (_table(port=True), "port must be a number from 1 to 65535"),
    (_table(api="github"), "api_url must be the API's https:// address"),
    (_table(api="svn", api_url="https://x.example/api"), "api must be one of github, gitlab, bitbucket, gitea"),
])
def test_each_bad_field_is_named_with_the_file_and_the_provider(raw: dict[str, object], message: str) -> None:
    with pytest.raises(UsageError) as caught:
        prov.parse_provider("internal", raw, "team.toml")
    assert str(caught.value).startswith("team.toml: provider 'internal': " + message), str(caught.value)


@pytest.mark.parametrize("name", ["bad\nname", "bad\x7fname", "bad\x1b[2Jname"])
def test_a_provider_name_with_control_characters_is_refused(name: str) -> None:
    with pytest.raises(UsageError, match="provider name must be one line"):
        prov.parse_provider(name, _table(), "team.toml")


def test_a_providers_file_is_read_from_the_bytes_root_read(tmp_path: Path) -> None:
    """Under --user root hands over the bytes it read: the path is only a label then."""
    missing = tmp_path / "gone.toml"
    raw = f'[providers.internal]\nhosts = ["x.example"]\nkeys = ["{GOOD_KEY}"]\n'.encode()
    assert prov.load_file(missing, raw) == {"internal": {"hosts": ["x.example"], "keys": [GOOD_KEY]}}
    assert prov.load_file(missing, b"") == {}  # an empty file pins nothing
    with pytest.raises(UsageError, match=f"providers file not found: {missing}"):
        prov.load_file(missing)


@pytest.mark.parametrize("text", ['[other]\nx = 1\n', 'providers = 3\n', '[providers.x]\n[more]\n'])
def test_a_providers_file_has_only_provider_tables(tmp_path: Path, text: str) -> None:
    f = tmp_path / "p.toml"
    f.write_text(text)
    with pytest.raises(UsageError, match=r"only \[providers\.NAME\] tables"):
        prov.load_file(f)


@pytest.mark.parametrize("port", [1, 2222, 65535])
def test_a_providers_port_applies_to_its_bare_host_names(port: int) -> None:
    p = prov.parse_provider("internal", _table(hosts=["x.example", "[y.example]:22"], port=port), "team.toml")
    assert p.hosts == (prov.Host("x.example", port), prov.Host("y.example", 22))


@pytest.mark.parametrize("port", [0, 65536, "22", True, 22.0])
def test_a_port_that_is_not_a_number_from_1_to_65535_is_refused(port: object) -> None:
    with pytest.raises(UsageError, match="port must be a number from 1 to 65535"):
        prov.parse_provider("internal", _table(port=port), "team.toml")


@pytest.mark.parametrize("field", ["keys", "fingerprints", "revoked"])
def test_a_list_field_that_is_not_a_list_names_the_file_provider_and_field(field: str) -> None:
    with pytest.raises(UsageError) as caught:
        prov.parse_provider("internal", _table(**{field: "SHA256:x"}), "team.toml")
    assert str(caught.value) == f"team.toml: provider 'internal': {field} must be a list of strings"


def test_a_provider_name_may_have_spaces_and_non_ascii_letters() -> None:
    assert prov.parse_provider("corp git ü", _table(), "team.toml").name == "corp git ü"


def test_a_paste_text_may_span_lines() -> None:
    p = prov.parse_provider("internal", _table(paste="step one\nstep two"), "team.toml")
    assert p.paste == "step one\nstep two"


def _fp(key: str) -> str:
    return prov.parse_key(key).fingerprint


def test_keys_and_fingerprints_that_disagree_name_the_odd_one() -> None:
    extra = "SHA256:" + "B" * 43
    with pytest.raises(UsageError, match=f"disagree about {extra}"):
        prov.parse_provider("internal", _table(fingerprints=[_fp(GOOD_KEY), extra]), "team.toml")


@pytest.mark.parametrize("pinned", ["keys", "fingerprints"])
def test_a_pinned_key_listed_as_revoked_is_refused(pinned: str) -> None:
    fields = {"keys": [GOOD_KEY]} if pinned == "keys" else {"keys": [], "fingerprints": [_fp(GOOD_KEY)]}
    with pytest.raises(UsageError, match="a pinned key is also listed as revoked"):
        prov.parse_provider("internal", _table(**fields, revoked=[_fp(GOOD_KEY)]), "team.toml")


def test_a_provider_pinned_by_keys_or_by_fingerprints_accepts_exactly_those() -> None:
    other = "SHA256:" + "C" * 43
    by_keys = prov.parse_provider("internal", _table(), "team.toml")
    assert by_keys.fingerprints == {_fp(GOOD_KEY)} and by_keys.accepted(_fp(GOOD_KEY))
    by_fps = prov.parse_provider("internal", _table(keys=[], fingerprints=[other]), "team.toml")
    assert by_fps.fingerprints == {other} and by_fps.accepted(other) and not by_fps.accepted(_fp(GOOD_KEY))


def test_a_providers_defaults_and_where_it_came_from() -> None:
    plain = prov.parse_provider("internal", _table(), "team.toml")
    assert (plain.user, plain.title, plain.source) == ("git", "internal", "team.toml")
    named = prov.parse_provider("internal", _table(user="deploy", title="Corp Git"), "team.toml")
    assert (named.user, named.title) == ("deploy", "Corp Git")


@pytest.mark.parametrize("host", ["github.com..", ".", "[.]:22"])
def test_a_name_of_dots_is_not_a_host(host: str) -> None:
    with pytest.raises(UsageError, match="bad host"):
        prov.parse_provider("x", {"hosts": [host], "keys": [GOOD_KEY]}, "team.toml")


def test_a_trailing_dot_names_the_same_host() -> None:
    p = prov.parse_provider("x", {"hosts": ["Git.Corp.Example.", "[git.corp.example.]:2222"], "keys": [GOOD_KEY]},
                            "team.toml")
    assert [h.pattern for h in p.hosts] == ["git.corp.example", "[git.corp.example]:2222"]
    assert prov.for_host({"x": p}, "GIT.corp.example.", 22) is p
