"""`--user NAME` from root, played by the attacker: the user controls their home (issue #11).

Root runs `onboard ... --user NAME` as a setup script does. The account plants symlinks,
an ssh config with `Match exec`/`ProxyCommand` that swap directories mid-run, git hooks,
racing processes. The victim is a root-owned decoy outside the user's home. Each test
proves the decoy is byte-identical and still root's, that root created nothing in the
user's home, and that the user's ssh/git configuration never ran as uid 0 (the markers
it writes with `id` hold only the user's uid). DESIGN.md, "Root acting for a user".
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.attacker import (
    AS_AN_ACCOUNT,
    Account,
    Recorder,
    Run,
    Shims,
    as_user,
    assert_ran_as,
    assert_untouched,
    create_account,
    delete_account,
    install_shims,
    leaks,
    make_decoy,
    onboard_as_root,
    root_file,
    root_owned_in,
    root_safe_dir,
    serve_recorder,
    snapshot,
    spawn_as_user,
    start_onboard_as_root,
    stop,
)
from helpers.sshd import Sshd

pytestmark = AS_AN_ACCOUNT

SPY_SSH = ".spy-ssh-marker"  # `id` output of the user's Match exec, wherever ssh read the config
SPY_HOOK = ".spy-hook-marker"  # `id` output of the user's git hooks


# -- fixtures ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def homes_base() -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="onboard-homes-"))
    base.chmod(0o755)
    yield base
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def user(homes_base: Path) -> Iterator[Account]:
    """A fresh unprivileged account; its home is its own, with a spy ssh config and spy hooks."""
    acct = create_account(homes_base)
    plant_spies(acct)
    try:
        yield acct
    finally:
        delete_account(acct)
        shutil.rmtree(acct.home, ignore_errors=True)


@pytest.fixture
def vault() -> Iterator[Path]:
    """Root's side: a root-owned directory only root can change (decoys, pins, secrets, shims)."""
    d = root_safe_dir("onboard-attack-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    yield from serve_recorder()


# -- planting (always as the user, so the user owns what is planted) ---------------------------
def plant_spies(acct: Account, ssh_extra: str = "") -> None:
    """~/.ssh/config whose first line records who runs it; ~/.gitconfig whose hooks do the same."""
    h = acct.home
    as_user(acct, f"""
mkdir -p -m 700 {h}/.ssh {h}/.spyhooks
cat > {h}/.ssh/config <<'EOF'
Match exec "/usr/bin/id >> {h}/{SPY_SSH}; exit 1"
{ssh_extra}
EOF
for hook in post-checkout pre-commit post-merge reference-transaction; do
  printf '#!/bin/sh\\n/usr/bin/id >> {h}/{SPY_HOOK}\\n' > {h}/.spyhooks/$hook
  chmod 755 {h}/.spyhooks/$hook
done
printf '[core]\\n\\thooksPath = {h}/.spyhooks\\n[init]\\n\\tdefaultBranch = main\\n' > {h}/.gitconfig
""")


def user_key(acct: Account, passphrase: str = "", kind: str = "ed25519") -> Path:
    """A key pair the user made with ssh-keygen (not onboard), to test the other steps."""
    key = acct.home / ".ssh" / f"id_{kind}"
    as_user(acct, f"ssh-keygen -q -t {kind} -N '{passphrase}' -C {acct.name}@test -f {key}")
    return key


def pins(sshd: Sshd, vault: Path) -> Path:
    return root_file(vault / "pins.toml", sshd.providers_toml())


def check_no_damage(acct: Account, before: dict[Path, dict[str, tuple[object, ...]]], run: Run | None,
                    *markers: Path) -> None:
    """The three promises of every test here."""
    for decoy, snap in before.items():
        assert_untouched(snap, snapshot(decoy), run)
    owned = root_owned_in(acct.home)
    assert not owned, "root created files in the user's home (a root process wrote there):\n" + "\n".join(owned) \
        + (f"\n--- onboard said:\n{run.output[-2000:]}" if run else "")
    assert_ran_as(acct, acct.home / SPY_SSH, acct.home / SPY_HOOK, *markers)


def no_trace(run: Run) -> None:
    assert "Traceback" not in run.output, run.output


# -- issue #11, one test per finding -----------------------------------------------------------
@pytest.mark.sshd
def test_failed_clone_does_not_empty_a_destination_swapped_for_a_symlink(user: Account, vault: Path, sshd: Sshd,
                                                                         bare_repo: str) -> None:
    """A ProxyCommand renames ~/REPO (an empty folder: clone into it) mid-clone, leaving a symlink
    to root's directory; the failed clone's clean-up then emptied that directory."""
    repo = bare_repo[:-4]
    decoy = make_decoy(vault, "victim")
    user_key(user)  # not authorized: the clone fails after the swap, whatever the ssh options
    h = user.home
    as_user(user, f"""mkdir {h}/{repo}
cat > {h}/swap.sh <<'EOF'
/usr/bin/id >> {h}/proxy-marker
if [ -e {h}/{repo} ] && [ ! -L {h}/{repo} ]; then mv {h}/{repo} {h}/{repo}.moved; fi
[ -L {h}/{repo} ] || ln -s {decoy} {h}/{repo}
exit 1
EOF""")
    plant_spies(user, f"Host *\n  ProxyCommand /bin/sh {h}/swap.sh")
    before = {decoy: snapshot(decoy)}
    r = onboard_as_root(user, "clone", sshd.url(bare_repo), "-y", "--key-type", "ed25519",
                        "--providers-file", str(pins(sshd, vault)))
    assert r.returncode != 0, r.output
    no_trace(r)
    check_no_damage(user, before, r, h / "proxy-marker")


@pytest.mark.sshd
def test_failed_cloudfiles_clone_does_not_remove_a_root_directory_of_the_repo_name(
        user: Account, vault: Path, sshd: Sshd, bare_repo: str) -> None:
    """The cloudfiles variant: Users/NAME is swapped for a symlink to a root dir holding <repo>/."""
    repo = bare_repo[:-4]
    decoy = make_decoy(vault, "cfvictim", {f"{repo}/precious.txt": "root's\n", "other.txt": "root's too\n"})
    user_key(user)
    h = user.home
    users = h / "cloudfiles" / "code" / "Users"
    as_user(user, f"""mkdir -p {users}/{user.name}
cat > {h}/swap.sh <<'EOF'
/usr/bin/id >> {h}/proxy-marker
if [ ! -L {users}/{user.name} ]; then mv {users}/{user.name} {h}/cf.moved; ln -s {decoy} {users}/{user.name}; fi
exit 1
EOF""")
    plant_spies(user, f"Host *\n  ProxyCommand /bin/sh {h}/swap.sh")
    before = {decoy: snapshot(decoy)}
    r = onboard_as_root(user, "clone", sshd.url(bare_repo), "-y", "--key-type", "ed25519",
                        "--target", "cloudfiles", "--cloudfiles-root", str(h / "cloudfiles" / "code"),
                        "--cloudfiles-user", user.name, "--providers-file", str(pins(sshd, vault)))
    assert r.returncode != 0, r.output
    no_trace(r)
    check_no_damage(user, before, r, h / "proxy-marker")


SHADOW_INCLUDE = """Match exec "test $(/usr/bin/id -u) -eq 0"
  Include /etc/shadow
  Include {secret}
Host *
  ProxyCommand /bin/sh -c '/usr/bin/id >> {home}/proxy-marker; exit 1'
"""


def _shadow_needles(secret_word: str) -> list[str]:
    """What would show if root read /etc/shadow or the root-only decoy for the user."""
    needles = [secret_word.lower()]
    for line in Path("/etc/shadow").read_text().splitlines()[:3]:
        name, _, rest = line.partition(":")
        field = rest.split(":")[0]
        if name and field:
            needles.append(f"{name}:{field}".lower())
    return needles


@pytest.mark.sshd
@pytest.mark.parametrize("auth_test", [False, True], ids=["doctor", "doctor-auth-test"])
def test_doctor_does_not_run_the_users_ssh_config_as_root(user: Account, vault: Path, sshd: Sshd,
                                                          auth_test: bool) -> None:
    """`doctor --user` ran `Match exec` as uid 0 and printed `Include /etc/shadow`; --auth-test ran ssh -T."""
    secret_word = f"Rootonlysecret{time.monotonic_ns()}"
    secret = root_file(vault / "secret.conf", f"{secret_word} yes\n", mode=0o600)
    user_key(user)
    sshd.authorize(user.home / ".ssh" / "id_ed25519.pub")
    plant_spies(user, SHADOW_INCLUDE.format(secret=secret, home=user.home))
    args = ["doctor", "--key-type", "ed25519", "--providers", "local", "--providers-file", str(pins(sshd, vault)),
            "--timeout", "5"]
    before = {secret: snapshot(secret)}
    r = onboard_as_root(user, *args, *(["--auth-test"] if auth_test else []))
    no_trace(r)
    shown = [n for n in _shadow_needles(secret_word) if n in r.output.lower()]
    assert not shown, f"root read a file for the user's `Include` and printed it: {shown}\n{r.output}"
    check_no_damage(user, before, r, user.home / "proxy-marker")


def test_match_exec_swapping_ssh_dir_does_not_redirect_known_hosts(user: Account, vault: Path) -> None:
    """`ssh -G` between reading and writing known_hosts runs a Match exec that swaps ~/.ssh."""
    decoy = make_decoy(vault, "etc-apt-conf.d")
    h = user.home
    as_user(user, f"""cat > {h}/swap-ssh.sh <<'EOF'
/usr/bin/id >> {h}/swap-marker
if [ ! -L {h}/.ssh ]; then mv {h}/.ssh {h}/.ssh.real && ln -s {decoy} {h}/.ssh; fi
exit 1
EOF""")
    plant_spies(user, f'Match exec "/bin/sh {h}/swap-ssh.sh"')
    root_file(vault / "pins.toml", '[providers.local]\nhosts = ["[127.0.0.1]:2222"]\nuser = "git"\n'
                                     'keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"]\n')
    before = {decoy: snapshot(decoy)}
    r = onboard_as_root(user, "hosts", "verify", "local", "--offline", "--providers-file", str(vault / "pins.toml"))
    no_trace(r)
    check_no_damage(user, before, r, h / "swap-marker")


@pytest.mark.sshd
@pytest.mark.parametrize("command", ["hosts-verify", "clone", "keygen"])
def test_planted_ssh_dir_symlink_is_not_followed(user: Account, vault: Path, sshd: Sshd, bare_repo: str,
                                                 command: str) -> None:
    """~/.ssh -> a root-owned directory, planted before the run (no race at all)."""
    decoy = make_decoy(vault, "victim-ssh")
    h = user.home
    as_user(user, f"mv {h}/.ssh {h}/.ssh.real && ln -s {decoy} {h}/.ssh")
    before = {decoy: snapshot(decoy)}
    p = str(pins(sshd, vault))
    args = {"hosts-verify": ["hosts", "verify", "local", "--providers-file", p],
            "clone": ["clone", sshd.url(bare_repo), "-y", "--key-type", "ed25519", "--providers-file", p],
            "keygen": ["keygen", "-y", "--key-type", "ed25519", "--no-passphrase"]}[command]
    r = onboard_as_root(user, *args)
    no_trace(r)
    check_no_damage(user, before, r)


@pytest.mark.sshd
def test_planted_known_hosts_symlink_is_not_followed(user: Account, vault: Path, sshd: Sshd) -> None:
    """~/.ssh/known_hosts -> a root-owned file: root must not write it (nor hand it to the user)."""
    decoy = make_decoy(vault, "victim-kh", {"known_hosts": "root's own known_hosts\n"})
    as_user(user, f"ln -s {decoy}/known_hosts {user.home}/.ssh/known_hosts")
    before = {decoy: snapshot(decoy)}
    r = onboard_as_root(user, "hosts", "verify", "local", "--providers-file", str(pins(sshd, vault)))
    no_trace(r)
    check_no_damage(user, before, r)


_BACKUP_RACER = r"""
import os, time
ssh, decoy = {ssh!r}, {decoy!r}
while True:
    now = time.time()
    names = []
    for t in (now - 1, now, now + 1):
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(t))
        for n in ("", "-2", "-3", "-4"):
            for ext in ("", ".pub"):
                names.append(os.path.join(ssh, "id_ed25519.bak-" + stamp + n + ext))
    for name in names:  # plant at every predictable backup name ...
        try:
            os.symlink(decoy, name)
        except OSError:
            pass
    for name in names:  # ... and free them again, so a check-then-copy sees a free name
        try:
            if os.readlink(name) == decoy:
                os.unlink(name)
        except OSError:
            pass
"""


def test_keygen_force_backup_does_not_follow_a_raced_symlink(user: Account, vault: Path) -> None:
    """The backup fell back to shutil.copy2, which followed a symlink raced in at the backup name."""
    decoy = make_decoy(vault, "victim-bak", {"passwd-like": "root:x:0:0:root:/root:/bin/bash\n"})
    user_key(user)
    racer = spawn_as_user(user, f"exec {os.path.realpath(sys.executable)} -IS -c "
                                + _shquote(_BACKUP_RACER.format(ssh=str(user.home / ".ssh"),
                                                                decoy=str(decoy / "passwd-like"))))
    before = {decoy: snapshot(decoy)}
    try:
        runs = [onboard_as_root(user, "keygen", "-y", "--force", "--key-type", "ed25519", "--no-passphrase")
                for _ in range(4)]
    finally:
        stop(racer)
    for r in runs:
        no_trace(r)
    check_no_damage(user, before, runs[-1])


_SWAPPER = r"""
import os, time
ssh, real, decoy = {ssh!r}, {real!r}, {decoy!r}
while True:
    try:
        os.rename(ssh, real)
        os.symlink(decoy, ssh)
    except OSError:
        pass
    time.sleep(0.0005)
    try:
        if os.path.islink(ssh):
            os.unlink(ssh)
        os.rename(real, ssh)
    except OSError:
        pass
"""


def _shquote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


def test_ssh_dir_swapped_during_rsa_generation_does_not_receive_the_keys(user: Account, vault: Path) -> None:
    """~/.ssh is swapped for a symlink to a root directory in a tight loop while RSA keys generate."""
    decoy = make_decoy(vault, "victim-rsa")
    h = user.home
    racer = spawn_as_user(user, f"exec {os.path.realpath(sys.executable)} -IS -c "
                                + _shquote(_SWAPPER.format(ssh=str(h / ".ssh"), real=str(h / ".ssh.real"),
                                                           decoy=str(decoy))))
    before = {decoy: snapshot(decoy)}
    try:
        runs = [onboard_as_root(user, "keygen", "-y", "--key-type", "rsa", "--bits", "3072", "--no-passphrase",
                                "--force") for _ in range(2)]
    finally:
        stop(racer)
    as_user(user, f"if [ -L {h}/.ssh ]; then rm {h}/.ssh; mv {h}/.ssh.real {h}/.ssh; fi")
    for r in runs:
        no_trace(r)
    check_no_damage(user, before, runs[-1])


@pytest.mark.sshd
@pytest.mark.parametrize("link", ["Users", "Users/NAME"])
def test_cloudfiles_mid_path_symlink_does_not_create_directories_elsewhere(user: Account, vault: Path, sshd: Sshd,
                                                                           bare_repo: str, link: str) -> None:
    """A symlink under ~/cloudfiles/code/Users made root create directories in a root-owned place."""
    decoy = make_decoy(vault, "victim-cf")
    h = user.home
    code = h / "cloudfiles" / "code"
    link_path = code / link.replace("NAME", user.name)
    as_user(user, f"mkdir -p {link_path.parent} && ln -s {decoy} {link_path}")
    sshd.authorize(Path(str(user_key(user)) + ".pub"))
    before = {decoy: snapshot(decoy)}
    r = onboard_as_root(user, "clone", sshd.url(bare_repo), "-y", "--key-type", "ed25519", "--target", "cloudfiles",
                        "--cloudfiles-root", str(code), "--cloudfiles-user", user.name,
                        "--providers-file", str(pins(sshd, vault)))
    no_trace(r)
    check_no_damage(user, before, r)


def test_keys_upload_does_not_read_the_public_key_through_a_symlink(user: Account, vault: Path,
                                                                    recorder: Recorder) -> None:
    """~/.ssh/id_ed25519.pub -> a root-only file: root read it and sent it to the API."""
    secret_word = f"ROOTONLY{time.monotonic_ns()}"
    decoy = make_decoy(vault, "victim-pub", {"secret.pub": f"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{secret_word} x\n"})
    (decoy / "secret.pub").chmod(0o600)
    user_key(user)
    as_user(user, f"rm {user.home}/.ssh/id_ed25519.pub && ln -s {decoy}/secret.pub {user.home}/.ssh/id_ed25519.pub")
    token = root_file(vault / "token", "tok_attacker_test\n", mode=0o600)
    before = {decoy: snapshot(decoy)}
    r = onboard_as_root(user, "keys", "upload", "github", "--github-api", recorder.github, "--token-file", str(token),
                        "--key-type", "ed25519", "--timeout", "5")
    no_trace(r)
    sent = [b for b in recorder.bodies if secret_word.encode() in b]
    assert not sent, f"root read a root-only file through the user's symlink and sent it to the API: {sent}"
    assert secret_word not in r.output, f"root printed a root-only file read through the user's symlink:\n{r.output}"
    check_no_damage(user, before, r)


PASSPHRASE = "pp-Secret-7d1e9a"
TOKEN = "ghp_rootsTokenShouldNeverLeak42"
ROOT_AGENT = "/tmp/root-agent-sock-that-must-not-reach-the-user/agent.1"


def _passphrase_setup(user: Account, vault: Path, sshd: Sshd, bare_repo: str,
                      pause: tuple[str, str] | None = None) -> tuple[Shims, list[str], dict[str, str]]:
    """A passphrase key the user made (authorized), shims first on PATH, secrets in root's env."""
    key = user_key(user, PASSPHRASE)
    sshd.authorize(Path(str(key) + ".pub"))
    pw = root_file(vault / "pw", PASSPHRASE + "\n", mode=0o600)
    shims = install_shims(vault, pause)
    args = ["setup", "-y", "--key-type", "ed25519", "--passphrase-file", str(pw),
            "--providers-file", str(pins(sshd, vault)), "--repo", sshd.url(bare_repo)]
    env = {"ONBOARD_PASSPHRASE": PASSPHRASE, "GITHUB_TOKEN": TOKEN, "GH_TOKEN": TOKEN, "SSH_AUTH_SOCK": ROOT_AGENT}
    return shims, args, env


@pytest.mark.sshd
def test_root_secrets_never_reach_the_users_children(user: Account, vault: Path, sshd: Sshd, bare_repo: str) -> None:
    """Root's ONBOARD_PASSPHRASE, GITHUB_TOKEN and SSH_AUTH_SOCK reached ssh -G, git, ssh, ssh-agent."""
    as_user(user, f"""cat >> {user.home}/.ssh/config <<'EOF'
Match exec "/usr/bin/env >> {user.home}/matchexec-env; exit 1"
EOF""")
    shims, args, env = _passphrase_setup(user, vault, sshd, bare_repo)
    before = {vault / "pw": snapshot(vault / "pw")}
    r = onboard_as_root(user, *args, env=env, path_first=shims.bindir)
    records = shims.records()
    as_root = [f"{rec['tool']} {rec['argv']}" for rec in records if rec["uid"] == 0 or rec["euid"] == 0]
    assert not as_root, "these ran as uid 0 during setup --user:\n" + "\n".join(as_root)
    found = leaks(records, [PASSPHRASE, TOKEN, ROOT_AGENT])
    assert not found, "a child of setup --user was given a secret:\n" + "\n".join(found)
    tools = {rec["tool"] for rec in records}
    assert {"git", "ssh"} <= tools, f"the shims first on PATH saw only {tools}: nothing to check\n{r.output}"
    wrong_home = [f"{rec['tool']}: HOME={rec['env'].get('HOME')}" for rec in records
                  if rec["env"].get("HOME") != str(user.home)]
    assert not wrong_home, f"children did not get the user's HOME: {wrong_home}"
    seen = (user.home / "matchexec-env").read_text() if (user.home / "matchexec-env").exists() else ""
    for secret in (PASSPHRASE, TOKEN, ROOT_AGENT):
        assert secret not in seen, f"the user's Match exec was given {secret!r} in its environment"
    assert PASSPHRASE not in r.output and TOKEN not in r.output
    check_no_damage(user, before, r)
    assert r.returncode == 0, r.output
    assert (user.home / bare_repo[:-4] / "README.md").exists(), r.output


@pytest.mark.sshd
def test_setup_as_root_for_the_user_twice_keeps_the_clone(user: Account, vault: Path, sshd: Sshd,
                                                          bare_repo: str) -> None:
    """The rerun exited 5: root's "is this already our clone?" check tripped on safe.directory."""
    sshd.authorize(Path(str(user_key(user)) + ".pub"))
    args = ["setup", "-y", "--key-type", "ed25519", "--no-passphrase", "--providers-file", str(pins(sshd, vault)),
            "--repo", sshd.url(bare_repo)]
    first = onboard_as_root(user, *args)
    assert first.returncode == 0, first.output
    clone = user.home / bare_repo[:-4]
    assert (clone / "README.md").exists(), first.output
    ino = clone.stat().st_ino
    second = onboard_as_root(user, *args)
    assert second.returncode == 0, f"the rerun of setup --user failed:\n{second.output}"
    assert clone.stat().st_ino == ino and (clone / "README.md").exists(), "the rerun did not keep the clone"
    check_no_damage(user, {}, second)


def test_no_way_to_drop_privileges_refuses_with_exit_2(user: Account, vault: Path) -> None:
    """In a user namespace root is uid 0 but cannot become anyone else: refuse, never act as root."""
    if shutil.which("unshare") is None or subprocess.run(
            ["unshare", "--user", "--map-root-user", "true"], capture_output=True).returncode != 0:
        pytest.skip("user namespaces are not available here")
    user.home.chmod(0o777)  # so that a silent fallback to root could write, and be seen
    shims = install_shims(vault)
    r = onboard_as_root(user, "keygen", "-y", "--key-type", "ed25519", "--no-passphrase",
                        prefix=["unshare", "--user", "--map-root-user"], path_first=shims.bindir)
    user.home.chmod(0o755)
    assert r.returncode == 2, f"expected a refusal (exit 2) when privileges cannot be dropped:\n{r.output}"
    no_trace(r)
    made = sorted(str(p) for p in user.home.rglob("id_ed25519*"))
    assert not made, f"the run went on without dropping privileges and made {made}"
    assert not shims.records(), f"tools ran although privileges could not be dropped: {shims.records()}"
    check_no_damage(user, {}, r)


def test_interpreter_the_user_cannot_run_is_never_run_as_root_instead(user: Account, vault: Path) -> None:
    """The interpreter lives where the user cannot enter: refuse (exit 2) or run as the user; never as root."""
    hidden = vault / "hidden"
    hidden.mkdir(mode=0o700)
    prefix = Path(sys.prefix)
    exe = Path(sys.executable)
    if exe.is_relative_to(prefix):  # a venv: keep pyvenv.cfg next to bin/, so it stays that venv
        (hidden / "py").symlink_to(prefix)
        interpreter = hidden / "py" / exe.relative_to(prefix)
    else:
        (hidden / "python").symlink_to(exe)
        interpreter = hidden / "python"
    r = onboard_as_root(user, "keygen", "-y", "--key-type", "ed25519", "--no-passphrase",
                        interpreter=str(interpreter))
    no_trace(r)
    key = user.home / ".ssh" / "id_ed25519"
    if r.returncode == 2:
        assert not key.exists(), "refused with exit 2 but wrote the key anyway"
    else:
        assert r.returncode == 0, r.output
        assert key.lstat().st_uid == user.uid, "the key was not made by the user"
    check_no_damage(user, {}, r)


@pytest.mark.sshd
def test_without_setpriv_on_path_git_and_hooks_do_not_run_as_root(user: Account, vault: Path, sshd: Sshd,
                                                                  bare_repo: str) -> None:
    """Without setpriv, git ran as root with the user's HOME: the user's hooks ran as uid 0."""
    sshd.authorize(Path(str(user_key(user)) + ".pub"))
    shims = install_shims(vault)
    assert not (shims.bindir / "setpriv").exists()
    r = onboard_as_root(user, "clone", sshd.url(bare_repo), "-y", "--key-type", "ed25519",
                        "--providers-file", str(pins(sshd, vault)), env={"PATH": str(shims.bindir)})
    no_trace(r)
    assert r.returncode in (0, 2), f"expected a clone as the user (0) or a refusal (2):\n{r.output}"
    as_root = [f"{rec['tool']} {rec['argv']}" for rec in shims.records() if 0 in (rec["uid"], rec["euid"])]
    assert not as_root, "without setpriv on PATH these ran as uid 0:\n" + "\n".join(as_root)
    if r.returncode == 0:
        assert (user.home / SPY_HOOK).exists(), "the clone ran no post-checkout hook: nothing was checked"
    check_no_damage(user, {}, r)


def test_tilde_in_a_team_file_is_the_users_home(user: Account, vault: Path, home: Path) -> None:
    """`~` in team-file paths expanded to root's home, so root's home got the user's files."""
    team = root_file(vault / "team.toml", '[setup]\nkey_file = "~/.ssh/team_key"\nkey_type = "ed25519"\n'
                                          'known_hosts = "~/.ssh/team_known_hosts"\n')
    r = onboard_as_root(user, "keygen", "-y", "--no-passphrase", "--config", str(team))
    assert r.returncode == 0, r.output
    assert not (home / ".ssh").exists(), f"root's home got the user's key: {sorted(map(str, (home / '.ssh').rglob('*')))}"
    key = user.home / ".ssh" / "team_key"
    assert key.exists() and key.lstat().st_uid == user.uid, f"no key of the user's at {key}:\n{r.output}"
    check_no_damage(user, {}, r)


@pytest.mark.sshd
def test_callers_git_config_variables_do_not_set_hooks_for_the_clone(user: Account, vault: Path, sshd: Sshd,
                                                                     bare_repo: str) -> None:
    """git_env kept every GIT_CONFIG* variable of the caller: core.hooksPath for the clone."""
    hooks = vault / "roothooks"
    hooks.mkdir(mode=0o755)
    log = vault / "hooklog"
    log.mkdir()
    log.chmod(0o1777)
    for name in ("post-checkout", "reference-transaction"):
        root_file(hooks / name, f"#!/bin/sh\n/usr/bin/id >> {log}/marker\n", mode=0o755)
    sshd.authorize(Path(str(user_key(user)) + ".pub"))
    env = {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "core.hooksPath", "GIT_CONFIG_VALUE_0": str(hooks),
           "GIT_CONFIG_PARAMETERS": f"'core.hooksPath'='{hooks}'"}
    r = onboard_as_root(user, "clone", sshd.url(bare_repo), "-y", "--key-type", "ed25519",
                        "--providers-file", str(pins(sshd, vault)), env=env)
    assert r.returncode == 0, r.output
    assert not (log / "marker").exists(), \
        f"the caller's GIT_CONFIG_* set core.hooksPath for the clone: {(log / 'marker').read_text()}"
    assert (user.home / SPY_HOOK).exists(), "the user's own hooks did not run: was GIT_CONFIG_* really ignored?"
    check_no_damage(user, {}, r)


@pytest.mark.sshd
def test_user_side_process_holding_the_passphrase_is_not_dumpable(user: Account, vault: Path, sshd: Sshd,
                                                                  bare_repo: str) -> None:
    """While git clones, the user-side onboard holds the passphrase: /proc/PID/status is root's
    exactly when the process is non-dumpable (proc(5)), so same-uid ptrace and core files are off."""
    shims, args, env = _passphrase_setup(user, vault, sshd, bare_repo, pause=("git", "clone"))
    p = start_onboard_as_root(user, *args, env=env, path_first=shims.bindir)
    try:
        deadline = time.monotonic() + 120
        while not shims.paused() and p.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        paused = shims.paused()
        shims.release()
        out = p.communicate(timeout=120)[0].decode(errors="replace")
    finally:
        if p.poll() is None:
            p.kill()
    assert paused, f"git clone never started:\n{out}"
    rec = next(r for r in shims.records() if r["tool"] == "git" and "clone" in r["argv"])
    onboard_procs = [a for a in rec["ancestors"] if "onboarding" in a["cmdline"] or "onboard" in a["cmdline"]]
    user_side = [a for a in onboard_procs if a["uid"] == user.uid]
    assert user_side, f"no onboard process ran as the user above git clone: {onboard_procs}"
    dumpable = [a for a in user_side if a["proc_owner"] != 0]
    assert not dumpable, f"the user-side process holding the passphrase is dumpable (ptrace/core): {dumpable}"


_THIEF = r"""
import os
me, out, base, needle = os.getuid(), {out!r}, os.getpid(), {needle!r}
held = {{}}  # pid -> (maps fd, mem fd), opened while the process was still dumpable
while True:
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) <= base or pid in held:  # only processes newer than the thief
            continue
        try:
            if os.stat("/proc/" + pid).st_uid != me:
                continue
            # Opening maps and mem needs the same uid and a dumpable process; the open fds stay
            # usable after the process makes itself non-dumpable.
            held[pid] = (os.open("/proc/" + pid + "/maps", os.O_RDONLY), os.open("/proc/" + pid + "/mem", os.O_RDONLY))
        except OSError:
            continue
    for pid, (maps, mem) in list(held.items()):
        try:
            text = os.pread(maps, 1 << 20, 0).decode()
        except OSError:
            del held[pid]
            continue
        if not text:
            del held[pid]
            continue
        for line in text.splitlines():
            parts = line.split()
            if len(parts) < 2 or not parts[1].startswith("rw"):
                continue
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            try:
                data = os.pread(mem, hi - lo, lo)
            except OSError:
                continue
            for n in needle:
                if n in data:
                    with open(out, "ab") as f:
                        f.write(pid.encode() + b" " + n + b"\\n")
"""


def test_handoff_secrets_cannot_be_stolen_before_the_user_side_is_non_dumpable(user: Account, vault: Path) -> None:
    """The user races root's hand-off: were the re-executed process ever dumpable as the user
    (interpreter start-up as the user, or the instant between a change of ids and prctl) the same
    uid could open its /proc/PID/mem, and that fd keeps reading the process's memory after it turns
    non-dumpable, secrets included. The user side starts as root, is non-dumpable before it is the
    user's, and the secrets go to a fork made after that (its memory never was dumpable)."""
    pw = root_file(vault / "pw", PASSPHRASE + "\n", mode=0o600)
    loot = user.home / "loot"
    needles = (PASSPHRASE.encode(), base64.b64encode(PASSPHRASE.encode())[:12])
    thief = spawn_as_user(user, f"exec {os.path.realpath(sys.executable)} -IS -c "
                                + _shquote(_THIEF.format(out=str(loot), needle=needles)))
    try:
        time.sleep(0.3)  # the thief is scanning /proc before root starts
        runs = [onboard_as_root(user, "keygen", "-y", "--force", "--key-type", "ed25519", "--kdf-rounds", "1",
                                "--passphrase-file", str(pw)) for _ in range(4)]
    finally:
        stop(thief)
    stolen = loot.read_bytes() if loot.exists() else b""
    assert not stolen, ("the user read the passphrase from the memory of the user-side process through "
                        f"/proc/PID/mem opened while it was still dumpable:\n{stolen[:600]!r}")
    for r in runs:
        no_trace(r)
