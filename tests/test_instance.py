"""Compute-instance detection and the target account, as the reference describes them."""

from __future__ import annotations

import os
from pathlib import Path

from onboarding.instance import detect_compute_instance, resolve_target


def test_ci_name_alone_is_not_a_compute_instance(tmp_path: Path) -> None:
    assert detect_compute_instance(tmp_path, {"CI_NAME": "build-42"}) is None  # other CI systems set it
    assert detect_compute_instance(tmp_path, {}) is None


def test_ci_name_with_the_local_user_or_the_share(tmp_path: Path) -> None:
    ci = detect_compute_instance(tmp_path, {"CI_NAME": "ws-ci-1", "CI_LOCAL_UBUNTU_USER": "azureuser"})
    assert ci is not None and ci.name == "ws-ci-1" and ci.local_user == "azureuser" and ci.cloudfiles is None
    (tmp_path / "cloudfiles" / "code").mkdir(parents=True)
    ci = detect_compute_instance(tmp_path, {"CI_NAME": "ws-ci-1"})
    assert ci is not None and ci.cloudfiles == tmp_path / "cloudfiles" / "code"


def test_target_is_the_current_user_with_home_from_home(home: Path) -> None:
    t = resolve_target(None)
    assert t.home == home and t.ssh_dir == home / ".ssh" and t.uid == os.geteuid()


def test_doctor_checks_the_share_only_on_a_compute_instance(home: Path) -> None:
    from helpers.run import onboard

    r = onboard("doctor", "--providers", "github", env={"CI_NAME": "ws-ci-1", "CI_LOCAL_UBUNTU_USER": "azureuser"})
    assert "cloudfiles" in r.stdout and "not mounted" in r.stdout
    r = onboard("doctor", "--providers", "github")
    assert "cloudfiles" not in r.stdout
