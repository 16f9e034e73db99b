"""The interactive flow: the pipeline's hooks answered by a person, with confirmations between stages."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from onboarding import clone as cl
from onboarding import doctor, keys, pipeline
from onboarding import providers as prov
from onboarding.console import Console
from onboarding.errors import OnboardError
from onboarding.instance import Target, default_comment, detect_compute_instance
from onboarding.pipeline import Run, Summary
from onboarding.pipeline.stages import show_public_key
from onboarding.prompts import Prompter
from onboarding.settings import Settings

COPY_HELP = (
    "To copy it: select the line with the mouse, then Ctrl-Insert (Windows terminal, VS Code) or Cmd-C (macOS); "
    "in the browser paste with Ctrl-V / Shift-Insert (Windows, Linux) or Cmd-V (macOS). "
    "In the Azure ML studio terminal, Ctrl-Shift-V pastes and Ctrl-Insert copies."
)


def _key_choices(settings: Settings, prompter: Prompter, tgt: Target) -> Settings:
    email = settings.email or prompter.text("Email for the key comment:", flags="--email",
                                            default=default_comment(tgt))
    key_type = settings.key_type if "key_type" in settings.given else prompter.select(
        "Key type:",
        [("rsa", "RSA 4096 (recommended: Azure DevOps accepts only RSA, every provider takes it)"),
         ("ed25519", "Ed25519 (shorter and faster, but Azure DevOps rejects it)")],
        flags="--key-type", default=settings.key_type,
    )
    s = settings._replace(email=email, key_type=key_type)
    path = Run(s, None, prompter.console, prompter, tgt).key_path  # type: ignore[arg-type]
    if os.path.lexists(path) and not s.force:
        reuse = prompter.confirm(f"{path} exists. Reuse it?", flags="--force", default=True)
        if not reuse and prompter.confirm(f"Replace it? (the old pair is kept as {path.name}.bak-<time>)",
                                          flags="--force", default=False):
            s = s._replace(force=True)
    return s


def _providers(settings: Settings, prompter: Prompter, catalogue: dict[str, prov.Provider]) -> list[prov.Provider]:
    if settings.providers:
        return prov.select(catalogue, settings.providers)
    picked = prompter.checkbox("Where do your repositories live? (space to select, enter to go on)",
                               [(p.name, p.title, p.name == "github") for p in catalogue.values()],
                               flags="--providers")
    return prov.select(catalogue, picked or ["github"])


def _paste_instructions(console: Console, key: keys.KeyResult, chosen: list[prov.Provider]) -> None:
    show_public_key(console, key, [])
    console.out(COPY_HELP)
    for p in chosen:
        console.out(f"\n{p.title}: open {p.add_key_url}")
        if p.paste:
            console.out(f"  {p.paste}")


def _auth_test(console: Console, prompter: Prompter, key: keys.KeyResult, chosen: list[prov.Provider],
               kh: Path, timeout: float, secret: bytes | None) -> None:
    while prompter.confirm("Test the connection now (ssh -T)?", flags="--non-interactive", default=True):
        if secret is None:
            results = [doctor.check_auth(p, key.path, kh, timeout) for p in chosen]
        else:  # sign through a private agent, so ssh does not ask for the passphrase again
            from onboarding.agent import private_agent

            loaded, _ = keys.load_private(key.path, secret)
            with private_agent(loaded, f"onboard:{key.path}") as sock:
                results = [doctor.check_auth(p, key.path, kh, timeout, agent_sock=sock) for p in chosen]
        for r in results:
            (console.ok if r.status == "pass" else console.warn)(f"{r.detail}" + (f" — {r.fix}" if r.fix else ""))
        if all(r.status == "pass" for r in results):
            return


def _offer_upload(r: Run, key: keys.KeyResult, chosen: list[prov.Provider]) -> list[str]:
    """With a token in the environment, offer to register the key through the API instead of pasting."""
    from onboarding import upload as up
    from onboarding.pipeline.upload import upload_all

    done = []
    for p in chosen:
        names = [v for v in up.TOKEN_ENV.get(p.name, ()) if r.secrets.has_variable(v)]
        if not names or not r.prompter.confirm(f"{names[0]} is set: register the key with {p.title} now?",
                                               flags="--upload", default=True):
            continue
        try:
            done += [x.status for x in upload_all(r, key.public_line, [p.name])]
        except OnboardError as exc:
            r.console.warn(f"{exc.message}" + (f" ({exc.hint})" if exc.hint else "") + "; paste it by hand instead")
    return done


def _target_choices(settings: Settings, tgt: Target) -> list[tuple[str, str]]:
    """The two disks, each with where exactly the clones would go and the trade-off."""
    local = (settings.local_root or tgt.home).expanduser()
    root = (settings.cloudfiles_root or tgt.home / "cloudfiles" / "code").expanduser()
    share = root / "Users" / cl.cloudfiles_user(root, settings.cloudfiles_user, tgt.name) if root.is_dir() else None
    choices = [("local", f"{local}/<repo> — {cl.TRADE_OFF['local']}")]
    if share is not None:
        choices.append(("cloudfiles", f"{share}/<repo> — {cl.TRADE_OFF['cloudfiles']}"))
    return choices


def _repos(settings: Settings, prompter: Prompter, console: Console, tgt: Target) -> Settings:
    repos = list(settings.repos)
    if not repos:
        while url := prompter.text("SSH URL of a repository to clone (empty to finish):", flags="--repo").strip():
            try:
                cl.parse_url(url)
            except OnboardError as exc:
                console.warn(exc.message + (f" ({exc.hint})" if exc.hint else ""))
                continue
            repos.append(url)
    if not repos:
        return settings._replace(repos=())
    choices = _target_choices(settings, tgt)
    default = settings.target if settings.target in dict(choices) else "local"
    if "target" in settings.given and settings.target in dict(choices):  # the team file chose the disk
        return settings._replace(repos=tuple(repos))
    target = prompter.select("Where should they go?", choices, flags="--target", default=default)
    return settings._replace(repos=tuple(repos), target=target)


class Wizard(pipeline.Hooks):
    """The pipeline's questions, asked on the terminal."""

    def __init__(self, r: Run) -> None:
        self.r = r

    def before_key(self, r: Run) -> Run:
        tgt, console = r.target, r.console
        ci = detect_compute_instance(tgt.home)
        console.step(f"Setting up Git over SSH for {tgt.name} on {ci.name if ci else socket.gethostname()}")
        if ci:
            console.info(f"This is an Azure ML compute instance: keys go to {tgt.ssh_dir} (kept across stop/start), "
                         f"shared clones to {tgt.home / 'cloudfiles/code/Users'}.")
        return Run(_key_choices(r.settings, r.prompter, tgt), r.secrets, console, r.prompter, tgt)

    def providers(self, r: Run, key: keys.KeyResult) -> tuple[Run, list[prov.Provider]]:
        return r, _providers(r.settings, r.prompter, r.catalogue)

    def show_key(self, r: Run, key: keys.KeyResult, chosen: list[prov.Provider]) -> bool:
        _paste_instructions(r.console, key, chosen)
        return False

    def upload(self, r: Run, key: keys.KeyResult, chosen: list[prov.Provider]) -> list[str]:
        self.chosen = chosen
        return _offer_upload(r, key, chosen)

    def key_added(self, r: Run, summary: Summary) -> None:
        if len(summary.uploads) < len(self.chosen):
            r.prompter.confirm("Press enter once the key is added (or to go on and add it later).", flags="-y",
                               default=True)

    def after_hosts(self, r: Run, summary: Summary) -> None:
        if summary.key is None or r.settings.repos:  # the clones that follow test the key, and say the fix
            return
        _auth_test(r.console, r.prompter, summary.key, self.chosen, r.known_hosts, r.settings.timeout,
                   r.secrets.passphrase)

    def before_clone(self, r: Run) -> Run:
        return Run(_repos(r.settings, r.prompter, r.console, r.target), r.secrets, r.console, r.prompter, r.target)
