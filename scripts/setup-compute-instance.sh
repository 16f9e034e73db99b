#!/usr/bin/env bash
# Azure ML compute instance setup script (creation script): get the instance's user ready
# for Git over SSH with `onboard`. It runs as root, with no terminal, in the folder it was
# uploaded to; put team.toml beside it. Its output lands in the workspace file share under
# Logs/<instance-name>/.
#
# Settings (environment; all optional):
#   ONBOARD_PACKAGE         what pip installs          (default: onboarding)
#   ONBOARD_SKIP_INSTALL=1  use the onboard already on PATH
#   TEAM_FILE               the team configuration     (default: ./team.toml if present)
#   ONBOARD_PASSPHRASE_FILE a root-only file holding the key's passphrase (see below)
#
# The passphrase choice for a key made unattended:
#   - With ONBOARD_PASSPHRASE_FILE (e.g. written from Azure Key Vault just before this
#     script, mode 0600), the key is protected; the member types that passphrase when git
#     asks (or loads it once per session with `ssh-add`), and should change it with
#     `ssh-keygen -p -f ~/.ssh/id_rsa`.
#   - Without it, the key is made WITHOUT a passphrase and the log says so: anyone who can
#     read the user's home can use the key. On a single-user instance that is a common
#     trade-off; the member can add one any time with `ssh-keygen -p -f ~/.ssh/id_rsa`.
#
# The member still has to paste the public key at the provider (the log and
# `onboard keygen` on the instance show it), so the clones of team.toml's repositories
# cannot succeed on this first run: exit 6 (a git failure) is reported, not fatal.
set -euo pipefail
cd "$(dirname "$0")"

user="${CI_LOCAL_UBUNTU_USER:-azureuser}"
echo "onboard setup script: preparing Git over SSH for ${user} on ${CI_NAME:-this machine}"

if [ "${ONBOARD_SKIP_INSTALL:-0}" != "1" ]; then
  # A venv of its own (readable by every account), so nothing of the system Python changes.
  python3 -m venv /opt/onboard
  /opt/onboard/bin/python -m pip install --quiet --disable-pip-version-check "${ONBOARD_PACKAGE:-onboarding}"
  ln -sf /opt/onboard/bin/onboard /usr/local/bin/onboard
fi

args=(setup --non-interactive --user "$user")
team="${TEAM_FILE:-}"
if [ -z "$team" ] && [ -f team.toml ]; then team=team.toml; fi
if [ -n "$team" ]; then args+=(--config "$team"); fi
if [ -n "${ONBOARD_PASSPHRASE_FILE:-}" ]; then
  args+=(--passphrase-file "$ONBOARD_PASSPHRASE_FILE")
else
  echo "note: no ONBOARD_PASSPHRASE_FILE: the key is created without a passphrase (see this script's header)"
  args+=(--no-passphrase)
fi

rc=0
onboard "${args[@]}" || rc=$?
case "$rc" in
  0) echo "onboard: ${user} is ready for Git over SSH" ;;
  6) echo "onboard: key and host keys are ready; the clones wait until ${user} adds the public key" \
          "at the provider, then runs: onboard --config ${team:-team.toml}"
     rc=0 ;;
  *) echo "onboard failed with exit code ${rc}; run 'onboard doctor' as ${user} for the fixes" ;;
esac
exit "$rc"
