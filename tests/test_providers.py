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
                                  "[ssh.github.com]:00443"])
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
