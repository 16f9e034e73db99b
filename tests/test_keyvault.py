"""keyvault.py against a local managed-identity endpoint and Key Vault (tests/helpers/fake_azure.py)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.fake_azure import FakeAzure, Running, running

from onboarding import keyvault
from onboarding.errors import ExitCode, OnboardError, UsageError

if os.environ.get("ONBOARD_REQUIRE_SDK") != "1":  # CI installs the extra and must not skip
    pytest.importorskip("azure.keyvault.secrets", reason="the extra is not installed: pip install '.[azure]'")

SECRET = "correct horse battery staple 7d1e"


@pytest.fixture
def azure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Running]:
    fake = FakeAzure(secrets={"passphrase": SECRET, "gh-token": "ghp_fakeTokenValue123"}, forbidden={"locked"})
    with running(tmp_path, fake) as r:
        for name, value in r.env().items():
            monkeypatch.setenv(name, value)
        yield r


def _fail(ref: str, **kwargs: object) -> OnboardError:
    with pytest.raises(OnboardError) as info:
        keyvault.fetch(keyvault.parse_ref(ref), timeout=10, **kwargs)  # type: ignore[arg-type]
    return info.value


# --- parse_ref ---------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "url", "name", "version"), [
    ("kv-team1/passphrase", "https://kv-team1.vault.azure.net", "passphrase", None),
    ("KV1/pass/0123abcd", "https://kv1.vault.azure.net", "pass", "0123abcd"),
    ("https://kv1.vault.azure.net/secrets/pass", "https://kv1.vault.azure.net", "pass", None),
    ("https://127.0.0.1:8443/secrets/pass/", "https://127.0.0.1:8443", "pass", None),
    ("https://kv1.vault.azure.cn/secrets/pass/ab12", "https://kv1.vault.azure.cn", "pass", "ab12"),
])
def test_parse_ref_accepts_both_forms(text: str, url: str, name: str, version: str | None) -> None:
    ref = keyvault.parse_ref(text)
    assert (ref.vault_url, ref.name, ref.version) == (url, name, version)


@pytest.mark.parametrize("text", [
    "passphrase", "kv/", "/name", "a/name", "kv--x/name", "-kv/name", "kv/na_me", "kv/a/b/c",
    "http://kv1.vault.azure.net/secrets/pass", "https://kv1.vault.azure.net/keys/pass",
    "https://user:pw@kv1.vault.azure.net/secrets/pass", "https://kv1.vault.azure.net/secrets/pass?x=1",
    "https://kv1.vault.azure.net:99999/secrets/pass", "https:///secrets/pass",
])
def test_parse_ref_refuses_anything_else(text: str) -> None:
    with pytest.raises(UsageError) as info:
        keyvault.parse_ref(text)
    assert info.value.exit_code == ExitCode.USAGE
    assert "VAULT/NAME" in (info.value.hint or "")


# --- fetch -------------------------------------------------------------------------------

def test_fetch_reads_the_secret_with_the_identity_token(azure: Running) -> None:
    assert keyvault.fetch(keyvault.parse_ref("kv1/passphrase"), timeout=10) == SECRET.encode()
    identity = [s for s in azure.fake.seen if s.path == "/MSI/auth"]
    vault = [s for s in azure.fake.seen if s.path.startswith("/secrets/")]
    assert identity and identity[0].headers["secret"] == azure.fake.msi_secret
    assert identity[0].query["api-version"] == ["2017-09-01"]
    # the challenge first (no token), then the token, only to the vault's real name
    assert "authorization" not in vault[0].headers
    assert vault[-1].headers["authorization"] == f"Bearer {azure.fake.token}"
    assert {s.host.split(":")[0] for s in vault} == {"kv1.vault.azure.net"}


def test_fetch_with_a_user_assigned_identity_sends_its_client_id(azure: Running) -> None:
    azure.fake.client_ids = {"11111111-2222-3333-4444-555555555555"}
    ref = keyvault.parse_ref("https://kv1.vault.azure.net/secrets/gh-token")
    assert keyvault.fetch(ref, timeout=10, client_id="11111111-2222-3333-4444-555555555555") == b"ghp_fakeTokenValue123"
    assert [s.query.get("clientid") for s in azure.fake.seen if s.path == "/MSI/auth"] == [
        ["11111111-2222-3333-4444-555555555555"]]


def test_unknown_user_assigned_identity_is_exit_2(azure: Running) -> None:
    err = _fail("kv1/passphrase", client_id="99999999-0000-0000-0000-000000000000")
    assert err.exit_code == ExitCode.USAGE
    assert "managed identity gave no token" in err.message
    assert "--keyvault-client-id" in (err.hint or "")


def test_forbidden_names_the_role(azure: Running) -> None:
    err = _fail("kv1/locked")
    assert err.exit_code == ExitCode.USAGE
    assert "403" in err.message and "kv1.vault.azure.net/secrets/locked" in err.message
    assert "Key Vault Secrets User" in (err.hint or "")


def test_missing_secret_names_it(azure: Running) -> None:
    err = _fail("kv1/no-such-secret")
    assert err.exit_code == ExitCode.USAGE
    assert "'no-such-secret'" in err.message and "404" in err.message


def test_no_identity_endpoint_is_exit_2_before_any_request(azure: Running, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MSI_ENDPOINT")
    err = _fail("kv1/passphrase")
    assert err.exit_code == ExitCode.USAGE
    assert "no managed identity" in err.message and "MSI_ENDPOINT" in err.message
    assert "absent where this runs" in (err.hint or "")
    assert azure.fake.seen == []


def test_slow_vault_is_exit_4_within_the_outer_deadline(azure: Running) -> None:
    azure.fake.delay = 60  # longer than any retry schedule: only the outer deadline ends the wait
    with pytest.raises(OnboardError) as info:
        keyvault.fetch(keyvault.parse_ref("kv1/passphrase"), timeout=1)
    assert info.value.exit_code == ExitCode.NETWORK
    assert "did not answer within 1s" in info.value.message


def test_unreachable_identity_endpoint_is_exit_4(azure: Running, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket
    with socket.socket() as s:  # a port with nobody listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("MSI_ENDPOINT", f"https://127.0.0.1:{port}/MSI/auth")
    assert _fail("kv1/passphrase").exit_code == ExitCode.NETWORK


def test_token_is_never_sent_to_a_host_outside_the_challenge_domain(azure: Running) -> None:
    # https://127.0.0.1:PORT is not under vault.azure.net: the client must refuse to authenticate
    err = _fail(f"https://127.0.0.1:{azure.fake.port}/secrets/passphrase")
    assert err.exit_code == ExitCode.USAGE
    assert "another domain" in err.message
    assert not any("authorization" in s.headers for s in azure.fake.seen)


def test_without_the_extra_exit_2_names_it(azure: Running, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "azure.keyvault.secrets", None)  # import now raises ImportError
    err = _fail("kv1/passphrase")
    assert err.exit_code == ExitCode.USAGE
    assert "pip install 'onboarding[azure]'" in (err.hint or "")


# --- the secret and the token never show -------------------------------------------------

def test_secret_and_token_stay_out_of_logs_and_messages(azure: Running, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    assert keyvault.fetch(keyvault.parse_ref("kv1/passphrase"), timeout=10) == SECRET.encode()
    errors = [_fail(r) for r in ("kv1/locked", "kv1/nothing")]
    shown = caplog.text + "".join(f"{e.message}{e.hint}{e!r}{e.__cause__!r}" for e in errors)
    for value in (SECRET, azure.fake.token, azure.fake.msi_secret):
        assert value not in shown


_CHILD = """
import logging, sys
logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
from onboarding import keyvault
from onboarding.errors import OnboardError
value = keyvault.fetch(keyvault.parse_ref(sys.argv[1]), timeout=10)
print("fetched", len(value))
try:
    keyvault.fetch(keyvault.parse_ref("kv1/locked"), timeout=10)
except OnboardError as e:
    print("error", e.message, e.hint, file=sys.stderr)
"""


def test_secret_and_token_stay_out_of_a_process_output_even_at_debug(azure: Running) -> None:
    repo = str(Path(__file__).resolve().parent.parent)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": repo, **azure.env()}
    proc = subprocess.run([sys.executable, "-c", _CHILD, "kv1/passphrase"], capture_output=True, text=True,
                          env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert f"fetched {len(SECRET)}" in proc.stdout
    assert "Key Vault Secrets User" in proc.stderr
    for value in (SECRET, azure.fake.token, azure.fake.msi_secret):
        assert value not in proc.stdout + proc.stderr


def _live_token_holders(token: str) -> list[str]:
    """Objects still alive that hold the identity's access token (credentials, clients, caches)."""
    import gc

    gc.collect()
    found = []
    for obj in gc.get_objects():
        kind = getattr(type(obj), "__module__", None)
        if not isinstance(kind, str) or not kind.startswith(("azure", "msal")):
            continue
        try:
            state = repr(vars(obj))
        except TypeError:
            continue
        if token in state or type(obj).__name__ in ("ManagedIdentityCredential", "SecretClient", "TokenCache"):
            found.append(f"{kind}.{type(obj).__name__}")
    return found


def test_no_access_token_is_kept_once_the_secret_is_read(azure: Running) -> None:
    """Root reads the secrets for --user and then runs for the whole command: the identity's token
    (in the credential, the client's policy, msal's cache) must not outlive the read."""
    assert keyvault.fetch(keyvault.parse_ref("kv1/passphrase"), timeout=10) == SECRET.encode()
    assert _live_token_holders(azure.fake.token) == []
