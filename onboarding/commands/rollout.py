"""`onboard rollout`: compute-instance YAML and an ARM template for a team's roster (docs/rollout.md).

Every input is checked before anything is written, and every problem is reported at once
(exit 2); then the whole set is written, or nothing (a folder holding other versions: exit 5).
"""

from __future__ import annotations

import os
from pathlib import Path

from onboarding import rollout, roster
from onboarding.console import Console, Result
from onboarding.errors import UsageError
from onboarding.settings import Settings

DEFAULT_OUT = Path("rollout")


def run(settings: Settings, console: Console) -> Result:
    problems: list[str] = []
    root = (settings.cloudfiles_root or Path("~/cloudfiles/code")).expanduser()
    members = _members(settings, problems)
    creation = _script(settings.script, "--script", root, problems, required=True)
    startup = _script(settings.startup_script, "--startup-script", root, problems, required=False)
    pins = _pins(settings, root, problems)
    if not 1 <= settings.timeout_minutes <= 1440:
        problems.append(f"--timeout-minutes {settings.timeout_minutes}: choose 1 to 1440 minutes")
    if startup is None and settings.script is not None and any(m.passphrase_keyvault for m in members):
        problems.append("the roster names passphrase_keyvault references, which go to the startup script: "
                        "pass --startup-script PATH")
    if problems or creation is None or settings.roster is None:
        raise _problems(problems)
    plan = rollout.Plan(settings.roster.name, tuple(members), creation, startup, pins, settings.script_args,
                        settings.startup_args, settings.timeout_minutes, settings.enable_root_access)
    out = (settings.out or DEFAULT_OUT).expanduser()
    done = rollout.write_set(out, _files(plan))
    return _report(plan, out, done, console)


def _problems(problems: list[str]) -> UsageError:
    text = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}; nothing was written:\n  - "
    return UsageError(text + "\n  - ".join(problems), hint="fix them all, then run again",
                      result={"problems": problems})


def _check_ref(text: str) -> str | None:
    from onboarding import keyvault

    try:
        keyvault.parse_ref(text)
    except UsageError as exc:
        return exc.message
    return None


def _members(settings: Settings, problems: list[str]) -> list[roster.Member]:
    if settings.roster is None:
        problems.append("--roster FILE is required (a CSV: instance,user_object_id,user_tenant_id[,size]"
                        "[,passphrase_keyvault])")
        return []
    why = roster.size_problem(settings.size)
    if why:
        problems.append(f"--size {why}")
    path = settings.roster.expanduser()
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:  # utf-8-sig: a spreadsheet's BOM
            text = fh.read(4 << 20)
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f"--roster {path}: cannot read it ({getattr(exc, 'strerror', None) or exc})")
        return []
    members, found = roster.parse(text, path.name, default_size=settings.size, check_ref=_check_ref)
    problems += found
    return members


def _read_under(path: Path, flag: str, root: Path, problems: list[str]) -> rollout.ShareFile | None:
    path = path.expanduser()
    rel = rollout.share_path(path, root)
    if rel is None:
        problems.append(f"{flag} {path} is not under the share's mount {root} (--cloudfiles-root): "
                        "Azure ML can only run what is in the workspace file share")
        return None
    try:
        with open(path, "rb") as fh:
            data = fh.read(rollout.MAX_SCRIPT + 1)
    except OSError as exc:
        problems.append(f"{flag} {path}: cannot read it ({exc.strerror})")
        return None
    if len(data) > rollout.MAX_SCRIPT:
        problems.append(f"{flag} {path} is larger than {rollout.MAX_SCRIPT // 1024} KiB")
        return None
    if any(ch in rel for ch in "\n\r\t\"\\") or rel.startswith("-"):
        problems.append(f"{flag} {path}: its share path {rel!r} has a character a setup-script path cannot carry")
        return None
    return rollout.ShareFile(rel, data)


def _script(path: Path | None, flag: str, root: Path, problems: list[str], *,
            required: bool) -> rollout.ShareFile | None:
    if path is None:
        if required:
            problems.append(f"{flag} PATH is required: the setup script, a file under the share's mount {root}")
        return None
    return _read_under(path, flag, root, problems)


def _pins(settings: Settings, root: Path, problems: list[str]) -> tuple[str, ...]:
    """The arguments that pin what the script installs: each file's place on the instance and digest."""
    pins: list[str] = []
    if settings.wheelhouse is not None:
        folder = settings.wheelhouse.expanduser()
        req = _read_under(folder / "requirements.txt", "--wheelhouse", root, problems)
        if req is not None:
            pins += ["--source", f"wheelhouse:{os.path.dirname(req.on_instance)}", "--requirements-sha256", req.sha256]
    if settings.team_file is not None:
        team = _read_under(settings.team_file, "--team-file", root, problems)
        if team is not None:
            pins += ["--team-file", team.on_instance, "--team-file-sha256", team.sha256]
    return tuple(pins)


def _files(plan: rollout.Plan) -> dict[str, bytes]:
    from onboarding import rolloutdocs

    files = {f"{m.instance}.yml": rollout.instance_yaml(plan, m).encode() for m in plan.members}
    files[rollout.TEMPLATE_NAME] = rollout.arm_template(plan).encode()
    files[rollout.README_NAME] = rolloutdocs.readme(plan).encode()
    return files


def _report(plan: rollout.Plan, out: Path, done: rollout.Written, console: Console) -> Result:
    if done.status == "unchanged":
        console.ok(f"{out}: unchanged (every file is already there, identical)")
    else:
        console.ok(f"{out}: wrote {len(done.written)} file(s): {', '.join(done.written)}")
    console.info(f"next: read {out / rollout.README_NAME}, then apply {rollout.TEMPLATE_NAME} "
                 "(az deployment group create) or the YAML files (az ml compute create --file)")
    scripts = {"creation": {"share_path": plan.creation.share_path, "sha256": plan.creation.sha256}}
    if plan.startup is not None:
        scripts["startup"] = {"share_path": plan.startup.share_path, "sha256": plan.startup.sha256}
    return Result({"out": str(out), "status": done.status, "written": list(done.written), "kept": list(done.kept),
                   "instances": [m.instance for m in plan.members], "template": rollout.TEMPLATE_NAME,
                   "api_version": rollout.API_VERSION, "scripts": scripts, "pins": list(plan.pins)})
