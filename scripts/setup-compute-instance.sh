#!/usr/bin/env bash
# Azure ML compute instance setup script (creation or startup script): install `onboard`
# pinned, install the team's file as /etc/onboard/team.toml, pin the providers' host keys for
# the instance's user, and (flow a, optional) run `onboard setup` unattended. It runs as root,
# with no terminal, in the folder it was uploaded to; its output lands in the workspace file
# share under Logs/<instance-name>/. Documentation: docs/setup-scripts.md.
#
# Usage:
#   setup-compute-instance.sh --source SOURCE [--team-file FILE] [--user NAME] [--offline]
#                             [--extras LIST] [--python PATH] [--prefix DIR] [--link-dir DIR]
#                             [--system-dir DIR] [--venv DIR] [-- SETUP-ARGS...]
#
# SOURCE must pin what runs as root on every instance; anything else is refused (exit 2):
#   wheelhouse:DIR         DIR holds wheels and a requirements.txt where every line has --hash:
#                          pip install --require-hashes --no-index --find-links DIR -r DIR/requirements.txt
#   git+https://HOST/PATH@<40-hex commit>
#                          pip cannot hash-check a VCS source: the full commit is the pin (its
#                          dependencies then come from the package index, unpinned: prefer a wheelhouse)
# --venv DIR               use an onboard already installed in the venv DIR (an image that has it); no install
# --team-file FILE         installed as SYSTEM-DIR/team.toml, root:root 0644 (directory 0755)
# --user NAME              the member's account (default: $CI_LOCAL_UBUNTU_USER, else azureuser)
# --offline                a run that must not need the network: host keys are written from the
#                          pins without probing, and a network failure (exit 4) is not fatal
# --providers LIST         providers whose host keys to pin, comma-separated (default: the team
#                          file's [setup] providers, else every built-in one)
# --extras LIST            pip extras of onboarding, e.g. azure (Key Vault references)
# --python PATH            the Python (>= 3.10) for the venv (default: found, see find_python)
# --prefix DIR             the venv (default /opt/onboard); --link-dir DIR: where the `onboard`
#                          link goes (default /usr/local/bin)
# --system-dir DIR         default /etc/onboard, where onboard reads team.toml by itself; another
#                          directory (tests, staging) is passed to onboard as --config
# -- SETUP-ARGS...         also run `onboard setup --non-interactive --user NAME SETUP-ARGS...`
#                          (flow a: e.g. --passphrase-keyvault VAULT/NAME --upload github ...)
# --dry-run                check the arguments, print what pip would install, change nothing
#
# Exit codes: 0 ready (or offline with the network part left for later), 2 bad arguments or an
# unpinned source, 3 host key mismatch, 4 network (unless --offline), anything else onboard's.
# The last line says what the member still has to do.
set -euo pipefail
umask 022
cd "$(dirname "$0")"

die() { echo "setup-compute-instance: $*" >&2; exit 2; }

source_spec="" team_file="" user="${CI_LOCAL_UBUNTU_USER:-azureuser}" offline=0 extras=""
python="" prefix=/opt/onboard link_dir=/usr/local/bin system_dir=/etc/onboard venv="" setup_args=() run_setup=0
dry_run=0 providers=""
while [ $# -gt 0 ]; do
  case "$1" in
    --source) source_spec="${2:?--source needs a value}"; shift 2 ;;
    --team-file) team_file="${2:?--team-file needs a value}"; shift 2 ;;
    --user) user="${2:?--user needs a value}"; shift 2 ;;
    --offline) offline=1; shift ;;
    --providers) providers="${2:?--providers needs a value}"; shift 2 ;;
    --extras) extras="${2:?--extras needs a value}"; shift 2 ;;
    --python) python="${2:?--python needs a value}"; shift 2 ;;
    --prefix) prefix="${2:?--prefix needs a value}"; shift 2 ;;
    --link-dir) link_dir="${2:?--link-dir needs a value}"; shift 2 ;;
    --system-dir) system_dir="${2:?--system-dir needs a value}"; shift 2 ;;
    --venv) venv="${2:?--venv needs a value}"; shift 2 ;;
    --dry-run) dry_run=1; shift ;;
    --) shift; setup_args=("$@"); run_setup=1; break ;;
    *) die "unknown argument: $1 (see the usage at the top of this script)" ;;
  esac
done

# --- the source: pinned or refused --------------------------------------------------------
sha_re='^git\+https://[^@[:space:]]+@[0-9a-f]{40}$'
pkg="onboarding${extras:+[$extras]}"
if [ -n "$venv" ]; then
  [ -x "$venv/bin/onboard" ] || die "--venv $venv has no bin/onboard"
  [ -z "$source_spec" ] || die "give --source or --venv, not both"
elif [ -z "$source_spec" ]; then
  die "no --source: give a pinned source (wheelhouse:DIR with hashed requirements.txt, or git+https://...@<40-hex commit>); there is no default, because 'pip install onboarding' installs whatever that name holds today, as root"
elif [[ "$source_spec" == wheelhouse:* ]]; then
  wheelhouse="${source_spec#wheelhouse:}"
  [ -f "$wheelhouse/requirements.txt" ] || die "wheelhouse $wheelhouse has no requirements.txt"
  # pip enforces this too (--require-hashes); checking first gives the reason before any work.
  # Logical lines (pip-compile continues them with a backslash): NAME==VERSION ... --hash=sha256:...
  unpinned=$(sed -e ':a' -e '/\\$/N; s/\\\n//; ta' "$wheelhouse/requirements.txt" \
             | grep -Ev '^[[:space:]]*(#|$)' | grep -Ev '==[^ ]+ .*--hash=sha256:[0-9a-f]{64}' || true)
  [ -z "$unpinned" ] || die "refusing $wheelhouse/requirements.txt: every requirement needs NAME==VERSION and --hash=sha256:...; not: $(echo "$unpinned" | head -n 3 | tr '\n' ';')"
  pip_args=(--require-hashes --no-index --find-links "$wheelhouse" -r "$wheelhouse/requirements.txt")
elif [[ "$source_spec" =~ $sha_re ]]; then
  pip_args=("$pkg @ $source_spec")
else
  die "refusing the unpinned source '$source_spec': a package name, a branch or a tag can change under you and this runs as root; give wheelhouse:DIR (requirements.txt with --hash) or git+https://HOST/PATH@<40-hex commit>"
fi
if [ "$dry_run" = 1 ]; then
  if [ -n "$venv" ]; then echo "would use $venv/bin/onboard"; else echo "would run: pip install ${pip_args[*]}"; fi
  exit 0
fi
[ "$(id -u)" = 0 ] || die "run as root (Azure ML runs setup scripts as root)"
getent passwd "$user" >/dev/null || die "no local account '$user' (--user, or CI_LOCAL_UBUNTU_USER)"
[ -z "$team_file" ] || [ -f "$team_file" ] || die "team file not found: $team_file"
echo "onboard setup script: Git over SSH for ${user} on ${CI_NAME:-this machine}"

# --- a Python >= 3.10, and a venv that works without python3-venv ------------------------
is_recent() { "$1" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; }
find_python() {
  # System first (Ubuntu 22.04: 3.10), then the image's conda environments (20.04 images: 3.8 system).
  local c
  for c in python3 python3.13 python3.12 python3.11 python3.10 /anaconda/envs/*/bin/python3 /anaconda/bin/python3; do
    if command -v "$c" >/dev/null 2>&1 && is_recent "$c"; then command -v "$c"; return 0; fi
  done
  return 1
}
make_venv() {  # $1 python, $2 directory
  "$1" -m venv "$2" 2>/dev/null && return 0
  rm -rf "$2"
  # Debian/Ubuntu split ensurepip into python3.X-venv: install it (we are root, with network).
  if command -v apt-get >/dev/null 2>&1 && [ "$offline" = 0 ]; then
    local v; v=$("$1" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
    echo "python $v: ensurepip is missing; installing python${v}-venv with apt-get"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "python${v}-venv" >/dev/null && "$1" -m venv "$2" && return 0
    rm -rf "$2"
  fi
  if command -v virtualenv >/dev/null 2>&1; then
    echo "using virtualenv"; virtualenv -q -p "$1" "$2" && return 0
  fi
  echo "setup-compute-instance: cannot create a venv with $1 (no ensurepip: apt-get install python3-venv)" >&2
  return 1
}

install_onboard() {
  if [ -z "$python" ]; then python=$(find_python) || die "no Python >= 3.10 found (system or /anaconda/envs); pass --python"; fi
  [ -x "$(command -v "$python" || true)" ] || die "--python $python is not an executable"
  is_recent "$python" || die "$python is older than 3.10"
  echo "using $python ($("$python" -c 'import sys; print(sys.version.split()[0])'))"
  local want digest dir
  want="$source_spec [$extras] $python $( [ -z "${wheelhouse:-}" ] || sha256sum "$wheelhouse/requirements.txt" | cut -d' ' -f1 )"
  digest=$(printf '%s' "$want" | sha256sum | cut -c1-16)
  # One directory per pinned source, and $prefix a symlink to it: a venv's scripts hard-code
  # its path, so it is built where it stays, and the switch to it is one rename.
  dir="$prefix-$digest"
  if [ -x "$dir/bin/onboard" ] && [ -f "$dir/.onboard-complete" ]; then
    # A startup script runs at every boot: the same pinned source is installed once.
    echo "onboard is already installed from this source in $dir"
  else
    rm -rf "$dir"
    make_venv "$python" "$dir" || exit 1
    "$dir/bin/python" -m pip install --quiet --disable-pip-version-check --no-input "${pip_args[@]}"
    printf '%s\n' "$want" > "$dir/.onboard-complete"
  fi
  if [ -e "$prefix" ] && [ ! -L "$prefix" ]; then
    # the venv an older version of this script made in place; anything else is not ours to remove
    [ -f "$prefix/pyvenv.cfg" ] || die "$prefix exists and is not this script's symlink: move it away"
    rm -rf "$prefix"
  fi
  ln -sfn "$dir" "$prefix.link.$$" && mv -Tf "$prefix.link.$$" "$prefix"
  echo "installed $("$prefix/bin/onboard" --version) into $dir ($prefix)"
}

if [ -n "$venv" ]; then prefix="$venv"; echo "using the onboard installed in $venv"; else install_onboard; fi
onboard="$prefix/bin/onboard"
if [ -z "$venv" ]; then mkdir -p "$link_dir"; ln -sfn "$onboard" "$link_dir/onboard"; fi

# --- the system team file -----------------------------------------------------------------
config_args=()
team_dest=""
if [ -n "$team_file" ]; then
  install -d -o root -g root -m 0755 "$system_dir"
  team_dest="$(cd "$system_dir" && pwd -P)/team.toml"
  install -o root -g root -m 0644 "$team_file" "$team_dest.tmp.$$"
  mv -f "$team_dest.tmp.$$" "$team_dest"
  echo "installed the team file $team_dest (root:root 0644)"
  # onboard reads /etc/onboard/team.toml by itself; only a staged copy elsewhere needs naming.
  [ "$team_dest" = /etc/onboard/team.toml ] || config_args=(--config "$team_dest")
elif [ -f /etc/onboard/team.toml ]; then
  team_dest=/etc/onboard/team.toml
fi

# --- run onboard for the member: exit 4 is fatal unless --offline -------------------------
status=0
outcome() {  # $1 what, $2 exit code of onboard; sets status
  case "$2" in
    0) return 0 ;;
    4) if [ "$offline" = 1 ]; then
         echo "onboard $1: no network (exit 4); --offline was given, so this is left for the member's run"
         return 0
       fi
       echo "onboard $1 failed: network error or timeout (exit 4); the instance could not reach the provider (pass --offline to tolerate it)" ;;
    3) echo "onboard $1 failed: a provider's host key does not match its pin (exit 3): see the log above" ;;
    *) echo "onboard $1 failed with exit code $2; run 'onboard doctor' as ${user} for the fixes" ;;
  esac
  status=$2
}

hosts_args=(hosts verify --user "$user" "${config_args[@]}")
# shellcheck disable=SC2206 # a comma-separated list of plain names, split on purpose
[ -z "$providers" ] || { IFS=', ' read -r -a names <<< "$providers"; hosts_args+=("${names[@]}"); }
[ "$offline" = 0 ] || hosts_args+=(--offline)
rc=0; "$onboard" "${hosts_args[@]}" || rc=$?
outcome "hosts verify" "$rc"

if [ "$status" = 0 ] && [ "$run_setup" = 1 ]; then
  setup=(setup --non-interactive --user "$user" "${config_args[@]}")
  [ "$offline" = 0 ] || setup+=(--offline)
  rc=0; "$onboard" "${setup[@]}" "${setup_args[@]}" || rc=$?
  outcome "setup" "$rc"
fi

team_note="${team_dest:+ (team file $team_dest)}"
if [ "$status" != 0 ]; then
  echo "still to do: fix the error above, then rerun this script; or ${user} runs 'onboard'${team_note}"
elif [ "$run_setup" = 1 ] && [ "$rc" = 0 ]; then
  echo "still to do: nothing: ${user} is ready for Git over SSH${team_note}"
else
  echo "still to do: ${user} opens a terminal on the instance and runs 'onboard'${team_note}: it asks for a passphrase, shows where to add the key (or uploads it), then clones"
fi
exit "$status"
