"""setup unattended (flags, ONBOARD_*, team file), its rerun, the all-missing-answers error; demo; doctor."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import Sshd, onboard

PW = "team setup passphrase"


def team_file(tmp_path: Path, sshd: Sshd, repo_url: str, extra: str = "") -> Path:
    f = tmp_path / "team.toml"
    f.write_text(
        "[setup]\n"
        'email = "member@example.com"\n'
        'key_type = "ed25519"\n'
        'providers = ["local"]\n'
        f'repos = ["{repo_url}"]\n'
        'target = "local"\n'
        f"{extra}\n"
        f"{sshd.providers_toml()}"
    )
    return f


@pytest.mark.sshd
def test_unattended_setup_from_team_file_and_safe_rerun(sshd: Sshd, bare_repo: str, home: Path,
                                                        tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text(PW)
    team = team_file(tmp_path, sshd, sshd.url(bare_repo))
    # first run: the key is new, so the clone fails until the key is added (exit 6, with the hint)
    r = onboard("setup", "--non-interactive", "--config", str(team), "--passphrase-file", str(pw))
    assert r.returncode == 6, r.output
    key = home / ".ssh" / "id_ed25519"
    assert "member@example.com" in Path(str(key) + ".pub").read_text()
    assert "add " in r.stderr and str(key) in r.stderr
    assert not (home / bare_repo[:-4]).exists()
    sshd.authorize(Path(str(key) + ".pub"))  # what the member does in the provider's web page
    r = onboard("setup", "--non-interactive", "--config", str(team), "--passphrase-file", str(pw), "--json")
    assert r.returncode == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["key"]["status"] == "reused" and summary["providers"] == ["local"]
    assert [c["status"] for c in summary["clones"]] == ["cloned"]
    clone = Path(summary["clones"][0]["path"])
    assert clone == home / bare_repo[:-4] and (clone / "README.md").exists()
    snapshot = {p: p.read_bytes() for p in (key, home / ".ssh" / "known_hosts")}
    # rerun: key reused, known_hosts gains nothing, the clone is kept
    r = onboard("setup", "--non-interactive", "--config", str(team), "--passphrase-file", str(pw), "--json")
    assert r.returncode == 0, r.output
    assert [c["status"] for c in json.loads(r.stdout)["clones"]] == ["exists"]
    assert {p: p.read_bytes() for p in snapshot} == snapshot
    assert PW not in r.output


def test_all_missing_answers_reported_together(home: Path, tmp_path: Path) -> None:
    r = onboard("setup", "--non-interactive", "--providers", "github,nope", "--repo", "https://github.com/o/r",
                "--repo", "git@github.com:o/ok.git", "--target", "cloudfiles",
                "--cloudfiles-root", str(tmp_path / "missing"))
    assert r.returncode == 2, r.output
    for part in ("a passphrase for", "unknown provider 'nope'", "clones over SSH", "cloudfiles share is not mounted"):
        assert part in r.stderr, part
    assert not (home / ".ssh").exists()


def test_no_terminal_and_no_flags_fails_fast_naming_them(home: Path) -> None:
    r = onboard()  # `onboard` alone is `onboard setup`; stdin is /dev/null here
    assert r.returncode == 2 and "--passphrase-file" in r.stderr
    assert not (home / ".ssh").exists()


def test_team_file_unknown_key_names_key_and_file(tmp_path: Path) -> None:
    f = tmp_path / "team.toml"
    f.write_text('[setup]\nemial = "typo@example.com"\n')
    r = onboard("setup", "-y", "--config", str(f), "--no-passphrase")
    assert r.returncode == 2 and "'emial'" in r.stderr and str(f) in r.stderr
    f.write_text('[setup]\nemail = "x@example.com"\n[extras]\nx = 1\n')
    r = onboard("setup", "-y", "--config", str(f), "--no-passphrase")
    assert r.returncode == 2 and "'extras'" in r.stderr
    f.write_text('[setup]\nbits = "many"\n')
    r = onboard("keygen", "-y", "--config", str(f), "--no-passphrase")
    assert r.returncode == 2 and "bits" in r.stderr


def test_precedence_flags_over_env_over_file(home: Path, tmp_path: Path) -> None:
    f = tmp_path / "team.toml"
    f.write_text('[setup]\nemail = "from-file@example.com"\nkey_type = "ed25519"\n')

    def comment(name: str, *args: str, env: dict[str, str] | None = None) -> str:
        key = tmp_path / name
        r = onboard("keygen", "-y", "--no-passphrase", "--config", str(f), "--key-file", str(key), *args, env=env)
        assert r.returncode == 0, r.output
        return Path(str(key) + ".pub").read_text().split()[-1]

    assert comment("k1") == "from-file@example.com"
    assert comment("k2", env={"ONBOARD_EMAIL": "from-env@example.com"}) == "from-env@example.com"
    assert comment("k3", "--email", "from-flag@example.com",
                   env={"ONBOARD_EMAIL": "from-env@example.com"}) == "from-flag@example.com"
    r = onboard("keygen", "-y", "--no-passphrase", "--key-file", str(tmp_path / "k4"), env={"ONBOARD_CONFIG": str(f)})
    assert r.returncode == 0 and (tmp_path / "k4.pub").read_text().startswith("ssh-ed25519 ")
    r = onboard("keygen", "-y", env={"ONBOARD_NO_PASSPHRASE": "maybe"})
    assert r.returncode == 2 and "ONBOARD_NO_PASSPHRASE" in r.stderr


def test_demo_runs_offline_with_no_terminal_and_cleans_up(home: Path) -> None:
    before = set(Path("/tmp").glob("onboard-demo-*"))
    r = onboard("demo", "--json", timeout=120)
    assert r.returncode == 0, r.output
    data = json.loads(r.stdout)
    assert data["key"]["encrypted"] and data["key"]["key_type"] == "rsa" and data["key"]["bits"] == 4096
    assert data["clones"][0]["status"] == "cloned"
    assert data["git_info"]["mlflow.source.git.branch"] == "main"
    assert data["git_info"]["azureml.git.dirty"] == "False"
    assert "1 key(s) match the pins" in r.stderr
    assert set(Path("/tmp").glob("onboard-demo-*")) == before
    assert not (home / ".ssh").exists()  # the demo never touches the real (here: test) home
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert "onboard-agent-" not in ps


# -- doctor ----------------------------------------------------------------------------
def test_doctor_on_a_good_home(home: Path, tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text(PW)
    assert onboard("keygen", "-y", "--passphrase-file", str(pw), "--key-type", "ed25519").returncode == 0
    assert onboard("hosts", "verify", "github", "gitlab", "--offline").returncode == 0
    r = onboard("doctor", "--providers", "github,gitlab", "--key-type", "ed25519", "--json")
    assert r.returncode == 0, r.output
    data = json.loads(r.stdout)
    assert data["ok"] and {c["status"] for c in data["checks"]} == {"pass"}


def test_doctor_on_a_broken_home_lists_each_fix(home: Path) -> None:
    assert onboard("keygen", "-y", "--no-passphrase", "--key-type", "ed25519").returncode == 0
    ssh = home / ".ssh"
    (ssh / "id_ed25519").chmod(0o644)
    (ssh / "known_hosts").write_text(
        "github.com ssh-rsa AAAAB3NzaC1yc2EAAAABIwAAAQEAq2A7hRGmdnm9tUDbO9IDSwBK6TbQa+PXYPCPy6rbTrTtw7PHkccKrpp0yVhp5HdE"
        "IcKr6pLlVDBfOLX9QUsyCOV0wzfjIJNlGEYsdlLJizHhbn2mUjvSAHQqZETYP81eFzLQNnPHt4EVVUh7VfDESU84KezmD5QlWpXLmvU31/yMf+S"
        "e8xhHTvKSCZIFImWwoG6mbUoWf9nzpIoaSjB+weqqUUmpaaasXVal72J+UX2B+2RPW3RcT0eOzQgqlJL3RKrTJvdsjE3JEAvGq3lGHSZXy28G3s"
        "kua2SmVi/w4yCE6gbODqnTWlg7+wC604ydGXA8VJiS5ap43JXiUFFAaQ==\n")
    (ssh / "config").write_text("Host *\n  NoSuchOption yes\n")
    (ssh / "config").chmod(0o666)
    r = onboard("doctor", "--providers", "github", "--key-type", "ed25519")
    assert r.returncode == 1, r.output
    for fix in ("chmod 600", "onboard hosts verify --offline", "onboard hosts verify github", "ssh-keygen -p",
                "chmod 600 " + str(ssh / "config")):
        assert fix in r.stdout, fix
    assert "nThbg6kX" in r.stdout
    assert (ssh / "id_ed25519").stat().st_mode & 0o777 == 0o644  # doctor only reads


@pytest.mark.sshd
def test_doctor_auth_test_against_sshd(sshd: Sshd, home: Path, tmp_path: Path) -> None:
    assert onboard("keygen", "-y", "--no-passphrase", "--key-type", "ed25519").returncode == 0
    pins = tmp_path / "pins.toml"
    pins.write_text(sshd.providers_toml())
    assert onboard("hosts", "verify", "local", "--providers-file", str(pins)).returncode == 0
    args = ("doctor", "--providers", "local", "--providers-file", str(pins), "--key-type", "ed25519", "--auth-test")
    r = onboard(*args)
    assert r.returncode == 1 and "Permission denied" in r.stdout  # not authorized yet
    sshd.authorize(home / ".ssh" / "id_ed25519.pub")
    r = onboard(*args)
    assert r.returncode == 0, r.output
    assert "accepts the key" in r.stdout


def test_setup_script_as_root_for_the_instance_user(other_user, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import os
    import sys

    bindir = Path(sys.executable).parent
    if not (bindir / "onboard").exists():
        pytest.skip("the onboard console script is not installed beside this Python")
    team = tmp_path / "team.toml"
    team.write_text('[setup]\nproviders = ["github", "azure-devops"]\noffline = true\nemail = "member@example.com"\n')
    team.chmod(0o644)
    script = Path(__file__).resolve().parent.parent / "scripts" / "setup-compute-instance.sh"
    env = {**os.environ, "CI_LOCAL_UBUNTU_USER": other_user.pw_name, "CI_NAME": "ci-test"}
    # --venv: the onboard installed beside this Python (the script's pinned install has its own test)
    proc = subprocess.run(["bash", str(script), "--venv", str(bindir.parent), "--team-file", str(team),
                           "--system-dir", str(tmp_path / "etc"), "--offline", "--", "--no-passphrase"],
                          env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120)
    assert "is ready for Git over SSH" in proc.stdout
    ssh = Path(other_user.pw_dir) / ".ssh"
    for p in (ssh, ssh / "id_rsa", ssh / "id_rsa.pub", ssh / "known_hosts"):
        assert p.stat().st_uid == other_user.pw_uid, p
    assert "member@example.com" in (ssh / "id_rsa.pub").read_text()
    out = subprocess.run(["ssh-keygen", "-l", "-F", "ssh.dev.azure.com", "-f", str(ssh / "known_hosts")],
                         capture_output=True, text=True).stdout
    assert "SHA256:ohD8VZEXGWo6Ez8GSEJQ9WpafgLFsOfLOtGGQCQo6Og" in out


def test_existing_key_without_passphrase_needs_no_passphrase_flag(home: Path) -> None:
    assert onboard("keygen", "-y", "--no-passphrase", "--key-type", "ed25519").returncode == 0
    r = onboard("keygen", "-y", "--key-type", "ed25519")
    assert r.returncode == 0, r.output
    assert "reused" in r.stderr and "no passphrase" in r.stderr
    r = onboard("setup", "-y", "--key-type", "ed25519", "--providers", "github", "--offline")
    assert r.returncode == 0, r.output


def test_existing_key_with_passphrase_is_a_missing_answer_unattended(home: Path, tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text(PW)
    assert onboard("keygen", "-y", "--passphrase-file", str(pw), "--key-type", "ed25519").returncode == 0
    r = onboard("setup", "-y", "--key-type", "ed25519", "--providers", "github", "--offline")
    assert r.returncode == 2 and "a passphrase for" in r.stderr


def test_passphrase_stdin_serves_every_step(home: Path) -> None:
    assert onboard("keygen", "-y", "--passphrase-stdin", "--key-type", "ed25519", input=PW).returncode == 0
    r = onboard("setup", "-y", "--passphrase-stdin", "--key-type", "ed25519", "--providers", "github", "--offline",
                input=PW + "\n")
    assert r.returncode == 0, r.output
    assert "key reused" in r.stderr
