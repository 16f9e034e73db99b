"""`onboard demo`: the whole unattended setup against a local sandbox server. No network, no root.

Everything happens in a temporary home that is removed afterwards: a real passphrase-
protected key, a pinned host key checked live, a known_hosts merge, a clone over SSH
through the private agent, and the Git properties Azure ML would record.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

from onboarding.commands import common, setup
from onboarding.commands.hosts import ensure_trusted
from onboarding.console import Console
from onboarding.errors import OnboardError
from onboarding.settings import Settings


def _demo_repo(root: Path) -> Path:
    work = root / "seed"
    env = {**os.environ, "GIT_AUTHOR_NAME": "Demo", "GIT_AUTHOR_EMAIL": "demo@example.com",
           "GIT_COMMITTER_NAME": "Demo", "GIT_COMMITTER_EMAIL": "demo@example.com", "GIT_CONFIG_NOSYSTEM": "1"}
    work.mkdir()
    (work / "README.md").write_text("# demo\nA repository served by the onboard sandbox.\n")
    (work / "train.py").write_text("print('training')\n")
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "Initial commit"]):
        subprocess.run(["git", *args], cwd=work, env=env, check=True, capture_output=True)
    bare = root / "repos" / "demo.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True, capture_output=True)
    shutil.rmtree(work)
    return bare.parent


def _requirements() -> None:
    missing = [tool for tool in ("git", "ssh", "ssh-agent") if not shutil.which(tool)]
    if missing:
        raise OnboardError(f"the demo needs {', '.join(missing)}",
                           hint="apt-get install git openssh-client (no server is needed)")


def run(settings: Settings, console: Console) -> int:
    _requirements()
    base = Path(tempfile.mkdtemp(prefix="onboard-demo-"))
    old_home = os.environ.get("HOME")
    try:
        home = base / "home"
        home.mkdir()
        os.environ["HOME"] = str(home)  # the whole demo happens in this throwaway home
        console.step(f"Demo: a throwaway home in {home}, a sandbox Git server on 127.0.0.1")
        return _run_demo(settings, console, base, home)
    finally:
        if old_home is None:
            os.environ.pop("HOME", None)
        else:
            os.environ["HOME"] = old_home
        shutil.rmtree(base, ignore_errors=True)


def _run_demo(settings: Settings, console: Console, base: Path, home: Path) -> int:
    from onboarding import gitinfo, keys
    from onboarding.commands import keygen
    from onboarding.prompts import Prompter
    from onboarding.sandbox import running

    repos = _demo_repo(base)
    demo = settings._replace(non_interactive=True, user=None, key_file=None, passphrase_env=None,
                   passphrase_file=None, passphrase_stdin=False, no_passphrase=False, force=False,
                   known_hosts=None, offline=False, target="local", dest=None, local_root=home,
                   providers=("sandbox",), hash=None, team_providers={}, config=None)
    prompter = Prompter(console, non_interactive=True)
    console.step("1/4  SSH key")
    tgt = common.target(demo)
    secret = secrets.token_urlsafe(18).encode()  # held in memory only: never argv, a file or the environment
    key = keygen.ensure(demo, console, tgt, secret)
    with running(repos, key.public_line) as box:
        console.info(f"(the sandbox server accepts exactly this key; a real provider needs it pasted at its "
                     f"add-key page)\n{key.public_line.strip()[:60]}...  {key.fingerprint}")
        pins = base / "sandbox-pins.toml"
        pins.write_text(f'[providers.sandbox]\ntitle = "Sandbox"\nhosts = ["[127.0.0.1]:{box.port}"]\n'
                        f'keys = ["{box.host_key_line}"]\n')
        demo = demo._replace(providers_file=pins, repos=(box.url("demo.git"),))
        catalogue = common.providers(demo)
        console.step("2/4  Host keys: the live key must match the pin (never trust on first use)")
        merged = ensure_trusted(demo, console, tgt, setup.chosen_providers(demo, catalogue))
        console.step("3/4  Clone over SSH with the passphrase key, no terminal (a private ssh-agent)")
        summary = setup.Summary(key=key, providers=["sandbox"], known_hosts=str(tgt.ssh_dir / "known_hosts"),
                                known_hosts_added=len(merged.added))
        failures = setup.clone_all(demo, console, prompter, tgt, catalogue, secret, summary)
    if failures:
        raise failures[0]
    clone = Path(summary.clones[0].path)
    console.step("4/4  What Azure ML would record for a job submitted from the clone (onboard git-info)")
    props = gitinfo.properties(gitinfo.gather(clone), "v2")
    console.table([(k, v) for k, v in props.items()], to_stderr=True)
    setup.print_summary(console, summary, next_steps=False)
    console.ok(f"demo finished: key {'with' if keys.is_encrypted(key.path) else 'WITHOUT'} passphrase, "
               f"{len(merged.added)} pinned host key(s), 1 clone; the throwaway home is removed now")
    console.emit_json({**summary.as_json(), "git_info": props})
    return 0
