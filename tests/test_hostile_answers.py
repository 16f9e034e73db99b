"""Whatever a provider's API answers, or a job file holds, the parse ends in the documented exit.

A provider's answer is exit 4 (NetworkError, naming the provider); a job file is exit 2
(UsageError). Never an "unexpected" crash (exit 1): hypothesis feeds arbitrary JSON bodies,
statuses and headers to every client's parsers (http.request is replaced by the answer; the
transport has its own tests against real sockets), and arbitrary JSON to `read_job` (issue 22).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from onboarding import api, gitjob
from onboarding.api import http
from onboarding.api.base import RemoteKey
from onboarding.errors import ExitCode, NetworkError, OnboardError, UsageError

KINDS = ("github", "gitlab", "gitea", "bitbucket")
LINE = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=12), inner, max_size=4), max_leaves=20)
# Entries shaped like a key list, so the parsers past the first shape check are reached too.
entries = st.fixed_dictionaries({"key": st.sampled_from([LINE, "x", ""]) | scalars,
                                 "id": st.integers() | st.text(max_size=8) | scalars,
                                 "uuid": st.text(max_size=8) | scalars,
                                 "title": st.text(max_size=12) | scalars, "label": st.text(max_size=12) | scalars,
                                 "created_at": st.text(max_size=25) | scalars,
                                 "created_on": st.sampled_from(["2025-01-01T00:00:00Z", "9999-99"]) | scalars})
bodies = json_values | st.lists(entries, max_size=3) | st.fixed_dictionaries(
    {"values": st.lists(entries, max_size=3), "next": scalars | st.just("http://127.0.0.1:99999/x"),
     "uuid": scalars | st.just("{u}")})
links = st.sampled_from(['<http://127.0.0.1:99999/next>; rel="next"', '<http://[::1/next>; rel="next"',
                         '<http://127.0.0.1:8/p2>; rel="next"', '<https://elsewhere.invalid/>; rel=next', ""]) \
    | st.text(max_size=60)
answers = st.tuples(st.sampled_from([200, 201, 204, 301, 302, 400, 401, 403, 404, 422, 500]),
                    bodies.map(lambda b: json.dumps(b).encode()) | st.binary(max_size=40), links)


def _client(kind: str) -> api.KeyClient:
    return api.client(api.Endpoint("prov", kind, "http://127.0.0.1:8"), "tok", timeout=5, email="me@x.invalid")


def _answering(monkeypatch: pytest.MonkeyPatch, replies: list[tuple[int, bytes, str]]) -> None:
    queue = list(replies)

    def fake(provider: str, method: str, url: str, **_: Any) -> http.Response:
        http.check_base(url)  # what the real one does first
        status, body, link = queue.pop(0) if queue else (200, b"[]", "")
        return http.Response(status, {"link": link} if link else {}, body)

    monkeypatch.setattr(http, "request", fake)


def _only_documented(action: Any) -> None:
    try:
        action()
    except NetworkError as exc:
        assert exc.exit_code == ExitCode.NETWORK and "prov" in exc.message, exc.message
    except OnboardError as exc:  # TokenError, ConflictError: documented, with the provider named
        assert "prov" in exc.message, exc.message


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(KINDS), replies=st.lists(answers, min_size=1, max_size=4))
def test_no_answer_crashes_a_client(monkeypatch: pytest.MonkeyPatch, kind: str,
                                    replies: list[tuple[int, bytes, str]]) -> None:
    _answering(monkeypatch, replies)
    _only_documented(_client(kind).list_keys)
    _answering(monkeypatch, replies)
    _only_documented(lambda: _client(kind).add_key(LINE, "onboard: t"))
    _answering(monkeypatch, replies)
    _only_documented(lambda: _client(kind).delete_key(RemoteKey("7", LINE, "t", None)))


def test_a_next_page_with_a_port_above_65535_is_exit_4(monkeypatch: pytest.MonkeyPatch) -> None:
    _answering(monkeypatch, [(200, b"[]", '<http://127.0.0.1:99999/user/keys?page=2>; rel="next"')])
    with pytest.raises(NetworkError) as err:
        _client("github").list_keys()
    assert "prov" in err.value.message and "another server" in err.value.message


@pytest.mark.parametrize("kind", ["github", "gitlab", "gitea"])
def test_a_key_id_that_is_not_a_number_is_exit_4(monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    body = json.dumps([{"id": "12; rm", "key": LINE, "title": "onboard: x"}]).encode()
    _answering(monkeypatch, [(200, body, "")])
    with pytest.raises(NetworkError) as err:
        _client(kind).list_keys()
    assert "not a number" in err.value.message and "prov" in err.value.message


# -- job files ----------------------------------------------------------------------------------
GIT_KEYS = st.sampled_from(["azureml.git.repository_uri", "azureml.git.branch", "azureml.git.commit",
                            "azureml.git.dirty", "mlflow.source.git.repoURL", "mlflow.source.git.commit", "k"])
tags = st.lists(st.fixed_dictionaries({"key": GIT_KEYS | json_values, "value": json_values}), max_size=4)
jobs = json_values | st.fixed_dictionaries({"properties": st.dictionaries(GIT_KEYS, json_values, max_size=4),
                                            "run": st.fixed_dictionaries({"data": st.fixed_dictionaries(
                                                {"tags": tags | json_values})})})


@settings(max_examples=300, deadline=None)
@given(job=jobs)
def test_no_job_file_crashes_the_reader(job: Any) -> None:
    try:
        found = gitjob.read_job(json.dumps(job))
    except UsageError as exc:
        assert exc.exit_code == ExitCode.USAGE and "--job" in exc.message
        return
    json.dumps(found._asdict())


def test_a_deeply_nested_job_file_is_exit_2() -> None:
    with pytest.raises(UsageError) as err:
        gitjob.read_job("[" * 100_000 + "]" * 100_000)
    assert "--job" in err.value.message


def test_a_tag_whose_key_is_a_list_is_ignored() -> None:
    job = {"run": {"data": {"tags": [{"key": ["azureml.git.commit"], "value": "abc"},
                                     {"key": "mlflow.source.git.commit", "value": "abcdef1"}]}}}
    assert gitjob.read_job(json.dumps(job)).commit == "abcdef1"
