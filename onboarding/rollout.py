"""`onboard rollout`'s files: a compute-instance YAML per member and one ARM template for all.

Nothing here talks to Azure. The YAML registers the scripts by their path in the workspace
file share (what azure-ai-ml's ScriptReference sends as `scriptSource: workspaceStorage`,
`scriptData: <path>`), the template carries them inline (`scriptSource: inline`, base64):
the registration a member who can write the share cannot change. Both give each script
the same arguments, which carry the sha256 pins of what the script installs.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import hashlib
import json
import os
import shlex
from dataclasses import dataclass
from pathlib import Path

from onboarding.roster import Member

# Where the workspace file share is mounted on every instance (also while setup scripts run):
# arguments name files there by absolute path, because a script registered by share path runs
# in its own folder and an inline one in the share's Users/ folder (how-to-customize-compute-instance).
INSTANCE_MOUNT = "/home/azureuser/cloudfiles/code"
SCHEMA_URL = "https://azuremlschemas.azureedge.net/latest/computeInstance.schema.json"
TEMPLATE_SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"
RESOURCE_TYPE = "Microsoft.MachineLearningServices/workspaces/computes"
API_VERSION = "2024-04-01"  # GA; has enableRootAccess, enableSSO, setupScripts and personalComputeInstanceSettings
TEMPLATE_NAME = "azuredeploy.json"
README_NAME = "README.md"
MAX_SCRIPT = 256 * 1024  # an inline script rides in the template (ARM caps a template at 4 MiB)


@dataclass(frozen=True)
class ShareFile:
    """A file under the share's mount: its bytes, digest, and path as Azure ML names it."""

    share_path: str  # relative to the share's root, "/"-separated: YAML `path`, ARM workspaceStorage scriptData
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def on_instance(self) -> str:
        return f"{INSTANCE_MOUNT}/{self.share_path}"


def share_path(path: Path, root: Path) -> str | None:
    """`path` relative to the share root (both resolved: a link out of the share is outside), or None."""
    real, base = os.path.realpath(path), os.path.realpath(root)
    if os.path.commonpath([real, base]) != base or real == base:
        return None
    return Path(os.path.relpath(real, base)).as_posix()


@dataclass(frozen=True)
class Plan:
    """Everything the files say, checked: the members and the scripts with their arguments."""

    roster_name: str
    members: tuple[Member, ...]
    creation: ShareFile
    startup: ShareFile | None
    pins: tuple[str, ...]  # the sha256-pinned inputs, given to both scripts
    creation_args: tuple[str, ...]
    startup_args: tuple[str, ...]
    timeout_minutes: int
    enable_root_access: bool

    def creation_command(self, member: Member) -> str:
        return _command([*self.pins, *self.creation_args])

    def startup_command(self, member: Member) -> str:
        ref = ["--passphrase-keyvault", member.passphrase_keyvault] if member.passphrase_keyvault else []
        return _command([*self.pins, *self.startup_args, *ref])


def _command(args: list[str]) -> str:
    # The arguments are one string (REST scriptArguments); each is shell-quoted so that a path
    # with a space stays one argument.
    return " ".join(shlex.quote(a) for a in args)


def _q(text: str) -> str:
    # A JSON string (ASCII, \u escapes) is a valid YAML double-quoted scalar: no YAML library needed,
    # and nothing a value holds (": ", "#", a leading "-", "yes") can change the document's meaning.
    return json.dumps(text)


def _script_yaml(kind: str, script: ShareFile, command: str, timeout: int) -> list[str]:
    return [f"  {kind}:", f"    path: {_q(script.share_path)}", f"    command: {_q(command)}",
            f"    timeout_minutes: {timeout}"]


def instance_yaml(plan: Plan, m: Member) -> str:
    lines = [
        f"# {m.instance}: {plan.roster_name} line {m.line}, written by `onboard rollout` (README.md: how to apply it)",
        f"$schema: {_q(SCHEMA_URL)}",
        f"name: {_q(m.instance)}",
        "type: computeinstance",
        f"size: {_q(m.size)}",
        "create_on_behalf_of:",
        f"  user_object_id: {_q(m.user_object_id)}",
        f"  user_tenant_id: {_q(m.user_tenant_id)}",
        "identity:  # what the startup unlock reads Key Vault with (role: Key Vault Secrets User)",
        "  type: system_assigned",
        "# written on purpose, see README.md: the member does not get sudo unless the lead chose it,",
        "# and Azure turns single sign-on off for an instance made on someone's behalf with a setup script",
        f"enable_root_access: {'true' if plan.enable_root_access else 'false'}",
        "enable_sso: false",
        "setup_scripts:",
        *_script_yaml("creation_script", plan.creation, plan.creation_command(m), plan.timeout_minutes),
    ]
    if plan.startup is not None:
        lines += _script_yaml("startup_script", plan.startup, plan.startup_command(m), plan.timeout_minutes)
    return "\n".join(lines) + "\n"


def _arm_literal(text: str) -> str:
    # ARM reads a string that starts with "[" as an expression; "[[" is its escape for a literal "[".
    return "[" + text if text.startswith("[") else text


def _each(field: str) -> str:
    return f"[variables('instances')[copyIndex()].{field}]"


def _inline(variable: str, arguments_field: str, timeout: int) -> dict[str, str]:
    return {"scriptSource": "inline", "scriptData": f"[variables('{variable}')]",
            "scriptArguments": _each(arguments_field), "timeout": f"{timeout}m"}


def arm_template(plan: Plan) -> str:
    instances = []
    for m in plan.members:
        row = {"name": m.instance, "size": m.size, "userObjectId": m.user_object_id,
               "userTenantId": m.user_tenant_id, "creationArguments": plan.creation_command(m)}
        if plan.startup is not None:
            row["startupArguments"] = plan.startup_command(m)
        instances.append({k: _arm_literal(v) for k, v in row.items()})
    variables: dict[str, object] = {"instances": instances,
                                    "creationScript": base64.b64encode(plan.creation.data).decode()}
    scripts = {"creationScript": _inline("creationScript", "creationArguments", plan.timeout_minutes)}
    if plan.startup is not None:
        variables["startupScript"] = base64.b64encode(plan.startup.data).decode()
        scripts["startupScript"] = _inline("startupScript", "startupArguments", plan.timeout_minutes)
    resource = {
        "type": RESOURCE_TYPE,
        "apiVersion": API_VERSION,
        "name": "[format('{0}/{1}', parameters('workspaceName'), variables('instances')[copyIndex()].name)]",
        "location": "[parameters('location')]",
        "copy": {"name": "instanceLoop", "count": "[length(variables('instances'))]"},
        "identity": {"type": "SystemAssigned"},
        "properties": {
            "computeType": "ComputeInstance",
            "disableLocalAuth": True,  # as azure-ai-ml sends it for an instance without SSH
            "properties": {
                "vmSize": _each("size"),
                "personalComputeInstanceSettings": {
                    "assignedUser": {"objectId": _each("userObjectId"), "tenantId": _each("userTenantId")}},
                "enableRootAccess": plan.enable_root_access,
                "enableSSO": False,
                "setupScripts": {"scripts": scripts},
            },
        },
    }
    template = {
        "$schema": TEMPLATE_SCHEMA,
        "contentVersion": "1.0.0.0",
        "metadata": {"generator": "onboard rollout", "roster": plan.roster_name},
        "parameters": {
            "workspaceName": {"type": "string", "metadata": {"description": "the Azure ML workspace"}},
            "location": {"type": "string", "defaultValue": "[resourceGroup().location]"},
        },
        "variables": variables,
        "resources": [resource],
    }
    return json.dumps(template, indent=2) + "\n"


@dataclass(frozen=True)
class Written:
    status: str  # "written" (at least one file new) or "unchanged" (every file already there, identical)
    written: tuple[str, ...]
    kept: tuple[str, ...]


def write_set(out: Path, files: dict[str, bytes]) -> Written:
    """Write every file of the set into `out`, or none: a file already there with other bytes is
    exit 5 before anything is written; identical files are kept (a rerun is "unchanged")."""
    from onboarding import fsutil
    from onboarding.errors import ConflictError

    existing = {name: fsutil.read_bytes(out / name) if os.path.isdir(out) else None for name in files}
    differ = sorted(name for name, old in existing.items() if old is not None and old != files[name])
    if differ:
        raise ConflictError(f"{out} already holds other versions of {', '.join(differ)}; nothing was written",
                            hint="choose another --out DIR, or move that folder away and run again")
    new = [name for name, old in existing.items() if old is None]
    if not new:
        return Written("unchanged", (), tuple(sorted(files)))
    made_dir = _make_dir(out)
    temps: dict[str, Path] = {}
    done: list[str] = []
    try:
        for name in new:  # every byte on disk first, then the names: a failure leaves no partial set
            temps[name] = fsutil.write_temp(out / name, files[name], mode=0o644, owner=None)
        for name in new:
            _link_new(temps[name], out / name)
            done.append(name)
    except BaseException:
        for path in [*(out / name for name in done), *temps.values()]:
            fsutil.discard_temp(path)
        if made_dir:  # empty again: the temps are gone too
            with contextlib.suppress(OSError):
                os.rmdir(out)
        raise
    for tmp in temps.values():
        fsutil.discard_temp(tmp)
    fsutil.fsync_dir(out)
    return Written("written", tuple(sorted(new)), tuple(sorted(set(files) - set(new))))


def _make_dir(out: Path) -> bool:
    from onboarding.errors import ConflictError

    if os.path.lexists(out) and not os.path.isdir(out):
        raise ConflictError(f"{out} exists and is not a folder; nothing was written")
    if os.path.isdir(out):
        return False
    try:
        os.makedirs(out, 0o755)
    except OSError as exc:
        from onboarding.fsutil import WriteError

        raise WriteError(f"cannot create {out}: {exc.strerror}") from None
    return True


def _link_new(tmp: Path, path: Path) -> None:
    """Give the complete temp file its name, never replacing a file that appeared meanwhile."""
    from onboarding.errors import ConflictError
    from onboarding.fsutil import WriteError

    try:
        os.link(tmp, path)
    except FileExistsError:
        raise ConflictError(f"{path} appeared while writing; nothing was changed") from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK) or os.path.lexists(path):
            raise WriteError(f"cannot write {path}: {exc.strerror}") from None
        os.rename(tmp, path)  # a share without hard links (SMB): checked absent just above
