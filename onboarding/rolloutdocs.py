"""The README.md `onboard rollout` writes beside the files: how to apply them, and what they mean."""

from __future__ import annotations

from onboarding.rollout import API_VERSION, README_NAME, TEMPLATE_NAME, Plan

_INTRO = """\
# Compute instances for {roster}

Written by `onboard rollout` from `{roster}` ({count} instance{s}). Nothing has been created
yet: apply these files with your own Azure login, one of the two ways below. onboard itself
never talks to Azure.

| file | what |
|---|---|
{table}
| `{template}` | one ARM template for all of them (a copy loop; `{rtype}`, apiVersion `{api}`) |

The setup scripts and what pins them:

{scripts}

Both ways give each script the same arguments (`command` in the YAML, `scriptArguments` in the
template); they carry the sha256 of every input the script installs, and the script refuses an
input whose digest differs. Paths in them are absolute under `/home/azureuser/cloudfiles/code`,
the share's mount on every instance: a script registered by share path runs in its own folder,
an inline one in the share's `Users/` folder, so relative paths would mean different files.

Instance names were checked against Azure ML's rule (3 to 24 characters, letters, digits and
`-`, starting with a letter, a letter somewhere after the last `-`) and are unique within the
roster. Whether a name is free **in the region** can only be known online: a taken name fails
at creation, for that instance only.
"""

_APPLY = """\
## Way 1: the ARM template (recommended)

```sh
az deployment group create --resource-group RG --template-file {template} \\
    --parameters workspaceName=WORKSPACE
```

The template carries the scripts **inline** (`scriptSource: inline`, `scriptData` base64): what
runs as root on each new instance is exactly the bytes reviewed when this folder was written.
Nobody who can write the workspace file share can change it.

## Way 2: one YAML per instance

```sh
for f in *.yml; do az ml compute create --file "$f" --resource-group RG --workspace-name WORKSPACE; done
```

A compute-instance YAML can only name a script by its path in the workspace file share
(azure-ai-ml sends `scriptSource: workspaceStorage`), and Azure ML runs whatever that file holds
when the instance is created. Every member of the workspace can write the share, so check the
digest just before you apply (`sha256sum` on an instance, in `~/cloudfiles/code`), and prefer
Way 1 when members are not trusted with root on each other's instances.
"""

_IDENTITY = """\
## Each instance's identity and Key Vault

Each instance gets a **system-assigned managed identity**; the startup unlock reads the
member's passphrase from Key Vault with it. After creation, give each identity the role
**Key Vault Secrets User** on its member's vault (RBAC vaults; an access-policy vault needs a
policy with *Get* on secrets instead):

```sh
principal=$(az ml compute show --name NAME --resource-group RG --workspace-name WORKSPACE \\
    --query identity.principal_id -o tsv)
az role assignment create --role "Key Vault Secrets User" --assignee-object-id "$principal" \\
    --assignee-principal-type ServicePrincipal --scope "$(az keyvault show -n VAULT --query id -o tsv)"
```

{vaults}
"""

_LIMITS = """\
## What "on behalf of" means here

Each instance is created by you **on behalf of** its member (`create_on_behalf_of`:
the member's object id and tenant id). Azure ML then limits what can be set at creation:

- **No SSH public key at creation.** The key would be yours, not the member's, so none is
  set and public SSH to the instance stays off; the member works through the studio's
  terminal, Jupyter or VS Code. (Their Git key is made on the instance by onboard.)
- **Single sign-on is off** when a setup script is set on someone's behalf. The files say so
  (`enable_sso: false`, `enableSSO: false`) rather than ask for a value Azure overrides. The
  member turns SSO on after the first start: the studio's compute details page, or
  `MLClient.compute.enable_sso(name=...)` in azure-ai-ml.
- **Root access is {root}** (`enable_root_access: {root_value}`). {root_why}
- Only the member can use the instance's Jupyter, JupyterLab and terminal (not you, its
  creator); the member needs the start, stop and restart actions on the workspace's computes.
"""

_ROOT_OFF = ("The member cannot `sudo`: what the setup script installed as root (onboard, "
             "`/etc/onboard/team.toml`, the pinned host keys) stays as you set it. Setup scripts "
             "still run as root. Rerun with `--enable-root-access` if members need `sudo` "
             "(e.g. `apt-get install`).")
_ROOT_ON = ("The member can `sudo` (`--enable-root-access` was given): they can change what the "
            "setup script installed as root on their own instance, which is theirs to break.")


def readme(plan: Plan) -> str:
    count = len(plan.members)
    table = "\n".join(f"| `{m.instance}.yml` | `{m.instance}`, {m.size}, for object id `{m.user_object_id}` |"
                      for m in plan.members)
    scripts = [f"- creation script `{plan.creation.share_path}` (in the workspace file share), "
               f"sha256 `{plan.creation.sha256}`, timeout {plan.timeout_minutes} minutes"]
    if plan.startup is not None:
        scripts.append(f"- startup script (every start) `{plan.startup.share_path}`, sha256 "
                       f"`{plan.startup.sha256}`, timeout {plan.timeout_minutes} minutes")
    pins = plan.pins
    scripts += [f"- `{pins[i]} {pins[i + 1]}`" for i in range(0, len(pins) - 1, 2)]
    vault_rows = [f"| `{m.instance}` | `{m.passphrase_keyvault}` |" for m in plan.members if m.passphrase_keyvault]
    vaults = ("| instance | passphrase reference (given to its startup script) |\n|---|---|\n" + "\n".join(vault_rows)
              if vault_rows else "(No row names a `passphrase_keyvault`: no instance reads Key Vault at start.)")
    parts = [
        _INTRO.format(roster=plan.roster_name, count=count, s="" if count == 1 else "s", table=table,
                      template=TEMPLATE_NAME, rtype="Microsoft.MachineLearningServices/workspaces/computes",
                      api=API_VERSION, scripts="\n".join(scripts)),
        _APPLY.format(template=TEMPLATE_NAME),
        _IDENTITY.format(vaults=vaults),
        _LIMITS.format(root="on" if plan.enable_root_access else "off",
                       root_value="true" if plan.enable_root_access else "false",
                       root_why=_ROOT_ON if plan.enable_root_access else _ROOT_OFF),
    ]
    return "\n".join(parts)


__all__ = ["README_NAME", "readme"]
