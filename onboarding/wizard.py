"""The interactive flow: the pipeline's hooks answered by a person, with confirmations between stages."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING

from onboarding import clone as cl
from onboarding import doctor, keys, pipeline
from onboarding import providers as prov
from onboarding.console import Console, wrap
from onboarding.errors import NetworkError, OnboardError, UsageError
from onboarding.identity import Identity
from onboarding.instance import Target, default_comment, detect_compute_instance
from onboarding.pipeline import Run, Summary
from onboarding.pipeline.stages import show_public_key
from onboarding.prompts import Prompter
from onboarding.settings import Settings

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

COPY_HELP = (
    "To copy it: select the line with the mouse, then Ctrl-Insert (Windows terminal, VS Code) or Cmd-C (macOS); "
    "in the browser paste with Ctrl-V / Shift-Insert (Windows, Linux) or Cmd-V (macOS). "
    "In the Azure ML studio terminal, Ctrl-Shift-V pastes and Ctrl-Insert copies."
)


def _existing_type(settings: Settings, tgt: Target) -> str | None:
    """The type of a key already at a default path (a rerun): RSA first, as the default is."""
    if settings.key_file is not None:
        return None
    for key_type, name in keys.DEFAULT_NAMES.items():
        if os.path.lexists(tgt.ssh_dir / name):
            return key_type
    return None


def _key_choices(settings: Settings, prompter: Prompter, tgt: Target) -> Settings:
    s = settings
    existing = _existing_type(s, tgt) if "key_type" not in s.origins else None
    if existing is not None:  # a rerun: the key that is there, not a question about a new one
        s = s._replace(key_type=existing)
    elif "key_type" not in s.origins:  # --key-type (or the team file) answered it already
        # questionary cuts a choice at the terminal's edge: the reasons are printed before, the choices short
        prompter.console.para("RSA 4096 is recommended: Azure DevOps accepts only RSA keys, and every other "
                              "provider takes them. Ed25519 keys are shorter and faster, but Azure DevOps "
                              "rejects them.")
        key_type = prompter.select(
            "Key type:",
            [("rsa", "RSA 4096 (recommended)"), ("ed25519", "Ed25519 (not for Azure DevOps)")],
            flags="--key-type", default=s.key_type,
        )
        s = s._replace(key_type=key_type)
    path = Run(s, None, prompter.console, prompter, tgt).key_path  # type: ignore[arg-type]
    if os.path.lexists(path) and not s.force:
        s = s._replace(force=_replace_existing(prompter, path))
    if s.email is None and (s.force or not os.path.lexists(path)):  # a reused key keeps its comment
        s = s._replace(email=_text_or(prompter, "Email for the key comment", default_comment(tgt), "--email"))
    return s


def _text_or(prompter: Prompter, question: str, default: str, flags: str) -> str:
    """Ask with an empty field and the default named: a prefilled default would be typed after, not over."""
    hint = f"Enter for {default}" if default else "Enter to skip"
    return prompter.text(f"{question} ({hint}):", flags=flags).strip() or default


def _replace_existing(prompter: Prompter, path: Path) -> bool:
    """Reuse or replace, asked until one is chosen: "no" to both never means reuse in silence."""
    while True:
        if prompter.confirm(f"{path} exists. Reuse it?", flags="--force", default=True):
            return False
        if prompter.confirm(f"Replace it? (the old pair is kept as {path.name}.bak-<time>)",
                            flags="--force", default=False):
            return True
        prompter.console.info(f"The key needs one of the two: reuse {path}, or replace it (Ctrl-C stops here).")


def _providers(settings: Settings, prompter: Prompter, catalogue: dict[str, prov.Provider]) -> list[prov.Provider]:
    if settings.providers:
        return prov.select(catalogue, settings.providers)
    preselect = "github"
    while True:
        picked = prompter.checkbox("Where do your repositories live? (space to select, enter to go on)",
                                   [(p.name, p.title, p.name == preselect) for p in catalogue.values()],
                                   flags="--providers")
        preselect = ""  # asked again: what the person deselected stays deselected
        if picked:
            return prov.select(catalogue, picked)
        # nothing chosen is never "GitHub" in silence: the key must be added somewhere
        prompter.console.info("Choose at least one: select with the space bar, then press Enter.")


def _paste_instructions(console: Console, key: keys.KeyResult, chosen: list[prov.Provider]) -> None:
    show_public_key(console, key, [])
    console.out(wrap(COPY_HELP))  # the wizard runs on a terminal: words not cut at its edge
    for p in (p for p in chosen if p.add_key_url):
        console.out(f"\n{p.title}: open {p.add_key_url}")
        if p.paste:
            console.out(wrap(" ".join(p.paste.split()), "  "))


def _auth_test(console: Console, prompter: Prompter, key: keys.KeyResult, chosen: list[prov.Provider],
               kh: Path, timeout: float, secret: bytes | None) -> None:
    """Asked once; after a failure, one offer to try again (e.g. once the key is pasted)."""
    if not chosen or not prompter.confirm("Test the connection now (ssh -T)?", flags="--non-interactive",
                                          default=True):
        return
    for attempt in range(2):
        results = doctor.auth_checks(chosen, key.path, kh, timeout, secret)
        for r in results:
            (console.ok if r.status == "pass" else console.warn)(f"{r.detail}" + (f" — {r.fix}" if r.fix else ""))
        if all(r.status == "pass" for r in results) or attempt or not prompter.confirm(
                "Try again (say, after adding the key)?", flags="--non-interactive", default=True):
            return


def _offer_upload(r: Run, key: keys.KeyResult, chosen: list[prov.Provider]) -> list[str]:
    """With a token in the environment, offer to register the key through the API instead of pasting."""
    from onboarding import upload as up
    from onboarding.pipeline.upload import upload_all

    done: list[str] = []
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


def _wrap(text: str, indent: str = "    ") -> str:
    """To the terminal's width: questionary cuts a long choice, so the explanation is printed before."""
    return wrap(text, indent)


def _share_root(settings: Settings, tgt: Target) -> Path:
    return (settings.cloudfiles_root or tgt.home / "cloudfiles" / "code").expanduser()


def _choose_target(settings: Settings, prompter: Prompter, console: Console, tgt: Target) -> str:
    """The two disks: where each puts the clones and the speed-versus-persistence trade-off, then a short choice."""
    local = (settings.local_root or tgt.home).expanduser()
    root = _share_root(settings, tgt)
    console.info("Where should the clones go?")
    console.info(f"  local       {local}/<repo>")
    console.info(_wrap(cl.TRADE_OFF["local"]))
    choices = [("local", "local disk: fast, but lost if the instance is deleted")]
    if root.is_dir():
        console.info(f"  cloudfiles  {root}/Users/<you>/<repo>")
        console.info(_wrap(cl.TRADE_OFF["cloudfiles"]))
        choices.append(("cloudfiles", "cloudfiles share: kept and shared, but slower"))
    else:
        console.info(_wrap(f"(cloudfiles, the workspace share, is not offered: nothing is mounted at {root}; "
                           "it exists on an Azure ML compute instance)", "  "))
    default = settings.target if settings.target in dict(choices) else "local"
    return prompter.select("Clone to:", choices, flags="--target", default=default)


def _share_first(settings: Settings, prompter: Prompter, tgt: Target) -> Settings:
    """A clone target of the share with no share mounted: said before any question, not after all of them."""
    if settings.target != "cloudfiles" or settings.dest is not None or _share_root(settings, tgt).is_dir():
        return settings
    where = settings.origins.get("target", "--target")
    prompter.console.warn(f"{where} sends the clones to the cloudfiles share, but nothing is mounted at "
                          f"{_share_root(settings, tgt)} (it exists on an Azure ML compute instance)")
    if prompter.confirm("Clone to the local disk instead?", flags="--target local", default=True):
        return settings._replace(target="local", origins={**settings.origins, "target": "your answer"})
    raise UsageError(f"the cloudfiles share is not mounted at {_share_root(settings, tgt)}",
                     hint="run onboard on the compute instance, or give --target local or --cloudfiles-root DIR")


def _cloudfiles_folder(settings: Settings, prompter: Prompter, tgt: Target) -> str | None:
    """The folder under Users/: the only one there, else asked (never guessed from the login name)."""
    root = _share_root(settings, tgt)
    folders = cl.cloudfiles_folders(root)
    if settings.cloudfiles_user or len(folders) == 1:
        return settings.cloudfiles_user or folders[0]
    users = root / "Users"
    if folders:
        return prompter.select(f"Which folder under {users} is yours?", [(f, f) for f in folders],
                               flags="--cloudfiles-user")
    while True:
        name = prompter.text(f"{users} has no folder yet. Your folder name there (as the studio shows it):",
                             flags="--cloudfiles-user").strip()
        try:
            return cl.cloudfiles_user(root, name)
        except OnboardError as exc:
            prompter.console.warn(exc.message)


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
    s = settings._replace(repos=tuple(repos))
    if s.dest is None and "target" not in s.origins:
        s = s._replace(target=_choose_target(s, prompter, console, tgt))
    if s.dest is None and s.target == "cloudfiles" and _share_root(s, tgt).is_dir():
        s = s._replace(cloudfiles_user=_cloudfiles_folder(s, prompter, tgt))
    return s


class _Pregenerate:
    """An RSA key generated in a thread while the person answers questions: the prime search
    needs no passphrase, so after the second passphrase only the KDF and the write are left."""

    def __init__(self, bits: int) -> None:
        import threading

        from onboarding.proc import non_dumpable

        non_dumpable()  # an unencrypted private key is in memory from now on
        self.bits = bits
        self._key: list[PrivateKeyTypes] = []
        # a daemon: Ctrl-C during the questions must not wait for the prime search
        self._thread = threading.Thread(target=self._run, name="onboard-rsa", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        self._key.append(keys.generate("rsa", self.bits))

    def result(self) -> PrivateKeyTypes | None:
        self._thread.join()
        return self._key[0] if self._key else None


class Wizard(pipeline.Hooks):
    """The pipeline's questions, asked on the terminal."""

    def __init__(self, r: Run) -> None:
        self.r = r
        self.chosen: list[prov.Provider] = []
        self._rsa: _Pregenerate | None = None

    def _start_rsa(self, r: Run) -> None:
        s = r.settings
        if ("key_type" in s.origins and s.key_type != "rsa") or not 3072 <= s.bits <= 16384:
            return
        rsa_path = r.with_settings(key_type="rsa").key_path
        if s.force or not os.path.lexists(rsa_path):
            self._rsa = _Pregenerate(s.bits)

    def before_key(self, r: Run) -> Run:
        tgt, console = r.target, r.console
        self._start_rsa(r)
        ci = detect_compute_instance(tgt.home)
        console.step(f"Setting up Git over SSH for {tgt.name} on {ci.name if ci else socket.gethostname()}")
        if ci:
            console.info(wrap(f"This is an Azure ML compute instance: keys go to {tgt.ssh_dir} (kept across "
                              f"stop/start), shared clones to {tgt.home / 'cloudfiles/code/Users'}/<you>."))
        settings = _share_first(r.settings, r.prompter, tgt)
        return Run(_key_choices(settings, r.prompter, tgt), r.secrets, console, r.prompter, tgt)

    def pregenerated(self, r: Run) -> PrivateKeyTypes | None:
        if self._rsa is None or r.settings.key_type != "rsa" or r.key_exists:
            return None
        return self._rsa.result()

    def providers(self, r: Run, key: keys.KeyResult) -> tuple[Run, list[prov.Provider]]:
        self.chosen = _providers(r.settings, r.prompter, r.catalogue)
        return r, self.chosen

    def show_key(self, r: Run, key: keys.KeyResult, chosen: list[prov.Provider]) -> bool:
        _paste_instructions(r.console, key, chosen)
        return False

    def upload(self, r: Run, key: keys.KeyResult, chosen: list[prov.Provider]) -> list[str]:
        return _offer_upload(r, key, chosen)

    def key_added(self, r: Run, summary: Summary) -> None:
        if len(summary.uploads) < len(self.chosen):
            r.prompter.pause("Press any key once the key is added (or to go on and add it later).", flags="-y")

    def hosts_unreachable(self, r: Run, exc: NetworkError) -> bool:
        """No network: the pinned keys are known, so offer to write them as they are and go on."""
        r.console.warn(exc.message)
        if not self.chosen or not all(p.keys for p in self.chosen):
            return False  # a provider pinned by fingerprints only needs its live keys
        names = ", ".join(p.title for p in self.chosen)
        r.console.info(f"The host keys of {names} are pinned in onboard (from the providers' published keys), so "
                       "they can be written without asking the servers; `onboard hosts verify` checks them later.")
        if r.prompter.confirm("Write the pinned host keys now and go on?", flags="--offline", default=True):
            return True
        r.console.info(wrap(f"What is left: known_hosts was not changed and nothing was cloned. Your key is "
                            f"{r.key_path}.pub. Once the network is back, run `onboard` again (it reuses the key), "
                            "or `onboard hosts verify` and then `onboard clone URL`."))
        return False

    def after_hosts(self, r: Run, summary: Summary) -> None:
        if summary.key is None or r.settings.repos:  # the clones that follow test the key, and say the fix
            return
        if summary.offline_hosts:
            r.console.info("Skipping the connection test: the servers are not reachable now.")
            return
        _auth_test(r.console, r.prompter, summary.key, self.chosen, r.known_hosts, r.settings.timeout,
                   r.secrets.passphrase)

    def identity(self, r: Run, current: Identity, key: keys.KeyResult) -> Identity:
        """Ask only what git does not know yet; the key's email is the default address."""
        s = r.settings
        name = s.git_name
        if not current.name and not name:
            name = _text_or(r.prompter, "Your name for git commits (user.name)", _full_name(r.target),
                            "--git-name") or None
        email = s.email
        if not current.email and "email" not in s.origins:  # --email (or the team file's) answered it
            comment = key.public_line.split(maxsplit=2)[2].strip() if key.public_line.count(" ") >= 2 else ""
            offered = email or (comment if "@" in comment else "")
            if offered == default_comment(r.target):  # user@host is a key comment, never someone's address
                offered = ""
            email = _text_or(r.prompter, "Email for git commits (user.email)", offered, "--email") or None
        return Identity(name, email)

    def before_clone(self, r: Run) -> Run:
        return Run(_repos(r.settings, r.prompter, r.console, r.target), r.secrets, r.console, r.prompter, r.target)

    def keep_unlocked(self, r: Run) -> bool:
        if "keep_unlocked" in r.settings.origins:  # --keep-unlocked, ONBOARD_KEEP_UNLOCKED or the team file
            return r.settings.keep_unlocked
        if not keys.is_encrypted(r.key_path):  # a key without a passphrase is never locked: nothing to ask
            return False
        r.console.para("Unlocked, the key lets git work from VS Code, Jupyter, notebooks and cron without "
                       "asking for the passphrase, but until the instance stops every process running as you, "
                       "and root, can use it.")
        return r.prompter.confirm("Keep the key unlocked until the instance stops?", flags="--keep-unlocked",
                                  default=False)


def _full_name(tgt: Target) -> str:
    """The account's full name from the password database (GECOS), if it has one."""
    import pwd

    try:
        gecos = pwd.getpwuid(tgt.uid).pw_gecos.split(",")[0].strip()
    except KeyError:
        return ""
    return gecos if gecos and gecos != tgt.name else ""
