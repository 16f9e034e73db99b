"""scripts/setup-compute-instance.sh: pinned sources only, the system team file, exit 4 handling.

The install tests run the script as root (CI does) for a throwaway account, from a hashed
wheelhouse built offline by tests/helpers/wheelhouse.py, into directories of the test's own
(--prefix, --link-dir, --system-dir): nothing of this machine's /opt, /usr/local or /etc changes.
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import wheelhouse

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "setup-compute-instance.sh"
SHA = "0123456789abcdef0123456789abcdef01234567"


def sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def run(*args: str, env: dict[str, str] | None = None, cwd: Path | str = "/",
        script: Path = SCRIPT) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("ONBOARD_", "CI_", "PYTHON", "MSI_", "DEFAULT_IDENTITY"))}
    return subprocess.run(["bash", str(script), *args], capture_output=True, text=True, timeout=600,
                          env={**base, **(env or {})}, cwd=cwd, stdin=subprocess.DEVNULL)


# --- the source: refused unless pinned -----------------------------------------------------

@pytest.mark.parametrize(("source", "says"), [
    (None, "no --source"),
    ("onboarding", "refusing the unpinned source 'onboarding'"),
    ("onboarding==0.1.0", "refusing the unpinned source"),
    ("git+https://github.com/org/onboarding.git", "refusing the unpinned source"),
    ("git+https://github.com/org/onboarding.git@main", "refusing the unpinned source"),
    ("git+https://github.com/org/onboarding.git@v0.1.0", "refusing the unpinned source"),
    ("git+https://github.com/org/onboarding.git@0123456", "refusing the unpinned source"),
    (f"git+http://github.com/org/onboarding.git@{SHA}", "refusing the unpinned source"),
    (f"git+https://github.com/org/onboarding.git@{SHA.upper()}", "refusing the unpinned source"),
])
def test_refuses_an_unpinned_source(tmp_path: Path, source: str | None, says: str) -> None:
    prefix = tmp_path / "opt" / "onboard"
    result = run(*(["--source", source] if source else []), "--prefix", str(prefix))
    assert result.returncode == 2
    assert says in result.stderr
    assert "40-hex commit" in result.stderr
    assert not (tmp_path / "opt").exists()


def test_refuses_a_wheelhouse_whose_requirements_are_not_all_hashed(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text(f"onboarding==0.1.0 --hash=sha256:{'a' * 64}\nparamiko==3.4\n")
    result = run("--dry-run", "--source", f"wheelhouse:{tmp_path}", "--user", "root",
                 "--requirements-sha256", sha(tmp_path / "requirements.txt"))
    assert result.returncode == 2
    assert "every requirement needs NAME==VERSION and --hash" in result.stderr and "paramiko==3.4" in result.stderr


def test_accepts_a_full_commit_pin(tmp_path: Path) -> None:
    result = run("--dry-run", "--offline", "--source", f"git+https://git.invalid/team/onboarding.git@{SHA}",
                 "--extras", "azure", "--user", "root")
    assert result.returncode == 0, result.stderr
    assert f"pip install onboarding[azure] @ git+https://git.invalid/team/onboarding.git@{SHA}" in result.stdout


def test_accepts_a_hashed_requirements_file_in_pip_compile_layout(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text(
        "# pip-compile --generate-hashes\n"
        f"cffi==1.16.0 \\\n    --hash=sha256:{'a' * 64} \\\n    --hash=sha256:{'b' * 64}\n"
        f'tomli==2.0.1 ; python_version < "3.11" \\\n    --hash=sha256:{"c" * 64}\n'
        f"onboarding[azure]==0.1.0 --hash=sha256:{'d' * 64}\n")
    # No interpreter given that only root can change: the install is not tried, the layout is accepted.
    result = run("--dry-run", "--source", f"wheelhouse:{tmp_path}", "--user", "root", "--python", str(tmp_path),
                 "--requirements-sha256", sha(tmp_path / "requirements.txt"))
    assert result.returncode == 2, result.stderr
    assert "every requirement needs" not in result.stderr and f"--python {tmp_path} cannot be trusted" in result.stderr


# --- as root for a real account -------------------------------------------------------------


def _local_provider(tmp_path: Path, port: int) -> str:
    key = tmp_path / "hostkey"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    public = " ".join(Path(f"{key}.pub").read_text().split()[:2])
    return f'[setup]\nproviders = ["local"]\n\n[providers.local]\nhosts = ["[127.0.0.1]:{port}"]\nkeys = ["{public}"]\n'


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.root
def test_installs_from_a_hashed_wheelhouse_and_the_system_team_file(
        other_user: pwd.struct_passwd, shared_dir: Path, tmp_path: Path) -> None:
    house = wheelhouse.build(REPO, shared_dir / "wheelhouse")
    team = tmp_path / "team.toml"
    team.write_text(_local_provider(tmp_path, _closed_port()))
    team.chmod(0o600)  # the installed copy gets its own mode, whatever the source's
    prefix, system = shared_dir / "opt" / "onboard", shared_dir / "etc" / "onboard"
    args = ["--source", f"wheelhouse:{house}", "--python", sys.executable, "--prefix", str(prefix),
            "--link-dir", str(shared_dir / "bin"), "--system-dir", str(system), "--team-file", str(team),
            "--team-file-sha256", sha(team), "--requirements-sha256", sha(house / "requirements.txt"),
            "--user", other_user.pw_name, "--providers", "local"]  # never a built-in: nothing leaves loopback
    result = run(*args, "--offline")
    assert result.returncode == 0, result.stdout + result.stderr

    installed = system / "team.toml"
    st, dst = installed.stat(), system.stat()
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (0, 0, 0o644)
    assert (dst.st_uid, dst.st_gid, stat.S_IMODE(dst.st_mode)) == (0, 0, 0o755)
    assert installed.read_text() == team.read_text()
    assert prefix.is_symlink() and (shared_dir / "bin" / "onboard").resolve() == (prefix / "bin" / "onboard").resolve()
    known_hosts = Path(other_user.pw_dir) / ".ssh" / "known_hosts"
    assert known_hosts.stat().st_uid == other_user.pw_uid  # written by the account itself
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("still to do:") and f"'onboard' (team file {installed})" in last
    assert installed.is_absolute()

    # a startup script reruns at every boot: the same pin is not installed again
    again = run(*args, "--offline")
    assert again.returncode == 0, again.stderr
    assert "already installed from this source" in again.stdout

    # without --offline the closed port is a real network failure: exit 4, and the script fails
    online = run(*args)
    assert online.returncode == 4, online.stdout + online.stderr
    assert "network error or timeout (exit 4)" in online.stdout
    assert online.stdout.strip().splitlines()[-1].startswith("still to do: fix the error above")


@pytest.mark.root
def test_a_tampered_wheel_is_refused_by_its_hash(other_user: pwd.struct_passwd, shared_dir: Path) -> None:
    house = wheelhouse.build(REPO, shared_dir / "wheelhouse")
    wheel = next(house.glob("onboarding-*.whl"))
    wheel.write_bytes(wheel.read_bytes() + b"\0")  # still a zip; no longer the pinned file
    prefix = shared_dir / "opt" / "onboard"
    result = run("--source", f"wheelhouse:{house}", "--python", sys.executable, "--prefix", str(prefix),
                 "--link-dir", str(shared_dir / "bin"), "--system-dir", str(shared_dir / "etc"),
                 "--requirements-sha256", sha(house / "requirements.txt"), "--user", other_user.pw_name, "--offline")
    assert result.returncode != 0
    assert "HASHES" in result.stderr.upper()
    assert not (prefix / "bin" / "onboard").exists()


def _stub_venv(directory: Path, rc: int) -> Path:
    """An 'installed onboard' (--venv) that records its arguments and exits with rc."""
    (directory / "bin").mkdir(parents=True)
    stub = directory / "bin" / "onboard"
    stub.write_text(f'#!/bin/sh\necho "$*" >> "{directory}/calls"\nexit {rc}\n')
    stub.chmod(0o755)
    return directory


@pytest.mark.root
@pytest.mark.parametrize(("offline", "expected"), [(False, 4), (True, 0)])
def test_exit_4_fails_the_script_unless_offline_was_asked_for(
        other_user: pwd.struct_passwd, tmp_path: Path, offline: bool, expected: int) -> None:
    venv = _stub_venv(tmp_path / "venv", 4)
    result = run("--venv", str(venv), "--user", other_user.pw_name, "--system-dir", str(tmp_path / "etc"),
                 *(["--offline"] if offline else []), "--", "--repo", "git@github.com:org/app.git")
    assert result.returncode == expected, result.stdout + result.stderr
    calls = (venv / "calls").read_text().splitlines()
    if offline:
        assert "--offline was given" in result.stdout
        assert calls[0].startswith(f"hosts verify --user {other_user.pw_name}") and calls[0].endswith("--offline")
        assert calls[1] == f"setup --non-interactive --user {other_user.pw_name} --offline --repo git@github.com:org/app.git"
    else:
        assert "network error or timeout (exit 4)" in result.stdout
        assert calls == [f"hosts verify --user {other_user.pw_name}"]  # setup is not tried after a failure
    assert result.stdout.strip().splitlines()[-1].startswith("still to do:")


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
                           "--team-file-sha256", sha(team),
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


# --- from a member's side: the script's folder on the share is theirs ---------------------------
# On an instance the script runs as root in the folder it was uploaded to, on the workspace share,
# which every member can write. Here that folder belongs to a real unprivileged account, which
# rewrites what it holds; root-owned decoys and markers prove that nothing of theirs was used.

CI_VARS = {"CI_NAME": "ci-test", "CI_WORKSPACE": "ws", "CI_RESOURCE_GROUP": "rg"}


def as_member(member: pwd.struct_passwd, *argv: str) -> None:
    subprocess.run(["setpriv", f"--reuid={member.pw_uid}", f"--regid={member.pw_gid}", "--clear-groups", *argv],
                   check=True, capture_output=True, cwd="/", timeout=120)


def member_share(member: pwd.struct_passwd, base: Path) -> Path:
    """The script's folder on the share: the member's to write."""
    share = base / "code" / "Users" / "admin"
    share.mkdir(parents=True)
    for d in (base / "code", base / "code" / "Users", share):
        os.chown(d, member.pw_uid, member.pw_gid)
    return share


def installed_venv() -> Path:
    """The onboard beside this Python, as an image that ships it (--venv): root's alone."""
    venv = Path(sys.executable).parent.parent
    if not (venv / "bin" / "onboard").exists():
        pytest.skip("the onboard console script is not installed beside this Python")
    return venv


def stub_venv(directory: Path, body: str) -> Path:
    """A root-owned 'installed onboard' (--venv) running `body` (sh), recording into directory/calls."""
    (directory / "bin").mkdir(parents=True)
    stub = directory / "bin" / "onboard"
    stub.write_text(f'#!/bin/sh\ncalls="{directory}/calls"\n{body}\n')
    stub.chmod(0o755)
    return directory


@pytest.mark.root
def test_a_team_file_the_member_turned_into_a_link_is_never_read(
        other_user: pwd.struct_passwd, tmp_path: Path, shared_dir: Path) -> None:
    share = member_share(other_user, shared_dir)
    team = share / "team.toml"
    team.write_text('[setup]\nproviders = ["github"]\n')
    pin = sha(team)
    decoy = shared_dir / "shadow"
    decoy.write_text("root:SECRET-HASH:19000:0:99999:7:::\n")
    decoy.chmod(0o600)
    os.chown(team, other_user.pw_uid, other_user.pw_gid)
    as_member(other_user, "sh", "-c", f"rm -f {team} && ln -s {decoy} {team}")
    system = shared_dir / "etc"
    result = run("--venv", str(installed_venv()), "--team-file", "team.toml", "--team-file-sha256", pin,
                 "--system-dir", str(system), "--user", other_user.pw_name, "--offline", cwd=share, env=CI_VARS)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "the team file team.toml is a symbolic link: refusing it" in result.stderr
    assert "nothing was installed" in result.stderr
    assert not system.exists()
    assert "SECRET-HASH" not in result.stdout + result.stderr
    assert decoy.read_text() == "root:SECRET-HASH:19000:0:99999:7:::\n"


@pytest.mark.root
def test_a_team_file_rewritten_on_the_share_fails_its_pin(
        other_user: pwd.struct_passwd, tmp_path: Path, shared_dir: Path) -> None:
    share = member_share(other_user, shared_dir)
    team = share / "team.toml"
    team.write_text('[setup]\nproviders = ["github"]\n')
    pin = sha(team)
    os.chown(team, other_user.pw_uid, other_user.pw_gid)
    as_member(other_user, "sh", "-c", f"printf '[setup]\\nproviders = [\"evil\"]\\n' > {team}")
    system = shared_dir / "etc"
    result = run("--venv", str(installed_venv()), "--team-file", "team.toml", "--team-file-sha256", pin,
                 "--system-dir", str(system), "--user", other_user.pw_name, "--offline", cwd=share, env=CI_VARS)
    assert result.returncode == 2
    assert f"not the pinned {pin}" in result.stderr
    assert not system.exists()


@pytest.mark.root
def test_a_rebuilt_wheel_with_a_rewritten_requirements_file_installs_nothing(
        other_user: pwd.struct_passwd, tmp_path: Path, shared_dir: Path) -> None:
    share = member_share(other_user, shared_dir)
    house = wheelhouse.build(REPO, share / "wheelhouse")
    pin = sha(house / "requirements.txt")
    # The member rebuilds onboard's wheel and writes its new hash into requirements.txt, so that
    # pip's own --require-hashes would accept it: only the pin in the arguments stands in the way.
    wheel = next(house.glob("onboarding-*.whl"))
    wheel.write_bytes(wheel.read_bytes() + b"\0")
    import hashlib
    import re

    text = (house / "requirements.txt").read_text()
    text = re.sub(r"(onboarding==\S+ --hash=sha256:)[0-9a-f]{64}",
                  lambda m: m.group(1) + hashlib.sha256(wheel.read_bytes()).hexdigest(), text)
    (house / "requirements.txt").write_text(text)
    subprocess.run(["chown", "-R", f"{other_user.pw_uid}:{other_user.pw_gid}", str(house)], check=True)
    prefix = shared_dir / "opt" / "onboard"
    result = run("--source", "wheelhouse:wheelhouse", "--requirements-sha256", pin, "--python", sys.executable,
                 "--prefix", str(prefix), "--link-dir", str(shared_dir / "bin"), "--system-dir", str(shared_dir / "etc"),
                 "--user", other_user.pw_name, "--offline", cwd=share, env=CI_VARS)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "the wheelhouse's requirements wheelhouse/requirements.txt: its sha256 is" in result.stderr
    assert not (shared_dir / "opt").exists() and not (shared_dir / "bin").exists()


@pytest.mark.root
def test_an_interpreter_environment_a_member_can_write_is_never_run(
        other_user: pwd.struct_passwd, tmp_path: Path, shared_dir: Path) -> None:
    home = Path(other_user.pw_dir)
    env = home / "env"
    as_member(other_user, "/usr/bin/python3", "-m", "venv", "--without-pip", str(env))
    marker = shared_dir / "ran-as"
    site = next((env / "lib").glob("python3*/site-packages"))
    pth = f"import os; open('{marker}', 'a').write(str(os.getuid()) + chr(10))\n"
    as_member(other_user, "sh", "-c", f"printf '%s' \"$0\" > {site}/zz-evil.pth", pth)
    # The trap is live: started as root the usual way, the member's .pth runs as uid 0.
    subprocess.run([str(env / "bin" / "python3"), "-c", "pass"], check=True, cwd="/")
    assert set(marker.read_text().split()) == {"0"}  # (once per site folder: lib and its lib64 link)
    marker.unlink()

    prefix = shared_dir / "opt" / "onboard"
    result = run("--source", f"git+https://git.invalid/team/onboarding.git@{SHA}", "--python", str(env / "bin" / "python3"),
                 "--prefix", str(prefix), "--user", other_user.pw_name, "--offline", env=CI_VARS)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"--python {env}/bin/python3 cannot be trusted to run as root" in result.stderr
    assert f"belongs to uid {other_user.pw_uid}" in result.stderr
    assert not marker.exists()
    assert not (shared_dir / "opt").exists()


def bootstrap(share_root: Path, script: Path, *args: str) -> str:
    out = subprocess.run(["bash", str(REPO / "scripts" / "setup-script-pins"), "--script", script.name,
                          "--share-root", str(share_root), "--", *args],
                         capture_output=True, text=True, check=True, cwd=script.parent).stdout
    return out.split("# the inline bootstrap (ARM/REST scriptSource: inline):\n", 1)[1].split("\n\n# its base64", 1)[0]


@pytest.mark.root
def test_a_rewritten_script_is_not_run_by_the_inline_bootstrap(
        other_user: pwd.struct_passwd, tmp_path: Path, shared_dir: Path) -> None:
    share = member_share(other_user, shared_dir)
    script = share / "setup-compute-instance.sh"
    script.write_bytes(SCRIPT.read_bytes())
    os.chown(script, other_user.pw_uid, other_user.pw_gid)
    inline = shared_dir / "bootstrap.sh"  # registered inline: the admin's, not on the share
    inline.write_text(bootstrap(shared_dir / "code", script, "--dry-run", "--venv", str(installed_venv()),
                                "--user", other_user.pw_name, "--offline"))
    env = {**CI_VARS, "ONBOARD_SHARE": str(shared_dir / "code")}

    good = subprocess.run(["bash", str(inline)], capture_output=True, text=True, env={**os.environ, **env},
                          cwd="/", timeout=300)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "dry run: every check passed" in good.stdout

    marker = shared_dir / "member-code-ran"
    as_member(other_user, "sh", "-c", f"printf '#!/bin/bash\\ntouch {marker}\\n' > {script}")
    bad = subprocess.run(["bash", str(inline)], capture_output=True, text=True, env={**os.environ, **env},
                         cwd="/", timeout=300)
    assert bad.returncode == 2
    assert "is not the pinned script" in bad.stderr and "nothing was run" in bad.stderr
    assert not marker.exists()


@pytest.mark.root
def test_dry_run_names_every_problem_at_once(other_user: pwd.struct_passwd, tmp_path: Path, shared_dir: Path) -> None:
    share = member_share(other_user, shared_dir)
    team = share / "team.toml"
    team.write_text('[setup]\ntarget = "cloudfile"\n')
    secret = share / "passphrase.txt"
    secret.write_text("correct horse\n")
    result = run("--dry-run", "--venv", str(installed_venv()), "--team-file", "team.toml",
                 "--team-file-sha256", sha(team), "--file-sha256", f"passphrase.txt={'0' * 64}",
                 "--user", "no-such-member", "--offline", "--", "--passphrase-file", "passphrase.txt", cwd=share)
    assert result.returncode == 2, result.stdout + result.stderr
    err = result.stderr
    assert "no local account 'no-such-member'" in err
    assert f"the file passphrase.txt: its sha256 is {sha(secret)}, not the pinned {'0' * 64}" in err
    assert "the team file team.toml is not valid" in err and "target must be local or cloudfiles" in err
    assert "3 problem(s); nothing was installed" in err
    assert "correct horse" not in result.stdout + err


@pytest.mark.root
def test_an_input_without_a_pin_is_refused_before_anything_runs(tmp_path: Path) -> None:
    team = tmp_path / "team.toml"
    team.write_text('[setup]\nproviders = ["github"]\n')
    venv = stub_venv(tmp_path / "venv", 'echo "$*" >> "$calls"')
    result = run("--venv", str(venv), "--team-file", str(team), "--user", "root", "--offline")
    assert result.returncode == 2
    assert f"the team file {team} has no sha256 pin in the arguments (--team-file-sha256 HEX)" in result.stderr
    assert not (venv / "calls").exists()


@pytest.mark.root
def test_steps_are_timed_and_the_deadline_stops_the_run(other_user: pwd.struct_passwd, shared_dir: Path) -> None:
    venv = stub_venv(shared_dir / "venv", 'echo "$*" >> "$calls"; sleep 3')
    result = run("--venv", str(venv), "--user", other_user.pw_name, "--offline", "--deadline", "2",
                 "--", "--no-passphrase")
    assert result.returncode == 4, result.stdout + result.stderr
    import re

    assert re.search(r"^\[\d+ s\] checks \(total \d+ s\)$", result.stdout, re.M)
    assert "stopped before 'setup': the run reached its deadline of 2 s" in result.stderr \
        or "was stopped at the run's deadline of 2 s" in result.stdout
    assert "setup" not in (venv / "calls").read_text()


@pytest.mark.root
def test_the_managed_identity_comes_from_the_environment_file(other_user: pwd.struct_passwd, shared_dir: Path) -> None:
    sso = shared_dir / "environment.sso"
    sso.write_text('MSI_ENDPOINT=http://127.0.0.1:1/msi\nMSI_SECRET="s3cr3t-value"\nOTHER=x\n')
    sso.chmod(0o644)
    venv = stub_venv(shared_dir / "venv", 'echo "$1 endpoint=$MSI_ENDPOINT secret=${#MSI_SECRET}" >> "$calls"')
    result = run("--venv", str(venv), "--user", other_user.pw_name, "--offline", "--", "--no-passphrase",
                 env={"ONBOARD_ENVIRONMENT_SSO": str(sso)})
    assert result.returncode == 0, result.stdout + result.stderr
    calls = (venv / "calls").read_text().splitlines()
    assert calls == ["hosts endpoint=http://127.0.0.1:1/msi secret=12", "setup endpoint=http://127.0.0.1:1/msi secret=12"]
    assert "s3cr3t-value" not in result.stdout + result.stderr
    # a file someone else could have written is not used
    sso.chmod(0o666)
    refused = run("--venv", str(venv), "--user", other_user.pw_name, "--offline", env={"ONBOARD_ENVIRONMENT_SSO": str(sso)})
    assert refused.returncode == 2 and "is not root's alone" in refused.stderr


SUDO = pytest.mark.skipif(not shutil.which("sudo"), reason="needs sudo (.ci/run installs it)")


@pytest.mark.root
@SUDO
def test_a_sudo_capable_service_account_runs_it_through_sudo(other_user: pwd.struct_passwd, shared_dir: Path) -> None:
    venv = stub_venv(shared_dir / "venv", 'echo "$1 uid=$(id -u) ci=$CI_NAME msi=${MSI_ENDPOINT:-}" >> "$calls"')
    rule = Path("/etc/sudoers.d") / f"onboard-test-{other_user.pw_name}"
    rule.write_text(f"{other_user.pw_name} ALL=(ALL) NOPASSWD: ALL\n")
    rule.chmod(0o440)
    script = shared_dir / "setup.sh"  # the service account's own copy (the bootstrap's private copy on an instance)
    script.write_bytes(SCRIPT.read_bytes())
    try:
        ran = subprocess.run(["setpriv", f"--reuid={other_user.pw_uid}", f"--regid={other_user.pw_gid}", "--clear-groups",
                              "bash", str(script), "--venv", str(venv), "--user", other_user.pw_name, "--offline"],
                             capture_output=True, text=True, timeout=120, cwd="/",
                             env={"PATH": os.environ["PATH"], **CI_VARS, "MSI_ENDPOINT": "http://127.0.0.1:1/m"})
    finally:
        rule.unlink()
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "not root: running this script again through sudo" in ran.stdout
    assert (venv / "calls").read_text().splitlines() == ["hosts uid=0 ci=ci-test msi=http://127.0.0.1:1/m"]


@pytest.mark.root
def test_a_service_account_without_sudo_is_told_so(other_user: pwd.struct_passwd, shared_dir: Path) -> None:
    script = shared_dir / "setup.sh"
    script.write_bytes(SCRIPT.read_bytes())
    ran = subprocess.run(["setpriv", f"--reuid={other_user.pw_uid}", f"--regid={other_user.pw_gid}", "--clear-groups",
                          "bash", str(script), "--venv", str(shared_dir), "--offline"],
                         capture_output=True, text=True, timeout=120, cwd="/", env={"PATH": os.environ["PATH"]})
    assert ran.returncode == 2
    assert "not root, and 'sudo -n' is not allowed for it" in ran.stderr
