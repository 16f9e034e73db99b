#!/usr/bin/env bash
# Azure ML compute instance setup script (creation or startup script): install `onboard`
# pinned, install the team's file as /etc/onboard/team.toml, pin the providers' host keys for
# the instance's user, and (flow a, optional) run `onboard setup` unattended. It runs as root,
# with no terminal, in the folder it was uploaded to; its output lands in the workspace file
# share under Logs/<instance-name>/. Documentation: docs/setup-scripts.md.
#
# Trust: everything on the workspace file share — this script's folder, the team file, a
# wheelhouse, this script itself — can be rewritten by every member of the workspace, and file
# ownership on the share's mount means nothing. So every input is pinned by a sha256 given in
# the ARGUMENTS (which only an admin sets, in the compute instance's definition), copied without
# following links into a root-only folder, checked there, and used only from there.
#
# Usage:
#   setup-compute-instance.sh --source SOURCE [--requirements-sha256 HEX]
#                             [--team-file FILE --team-file-sha256 HEX] [--file-sha256 FILE=HEX ...]
#                             [--user NAME] [--offline] [--providers LIST] [--extras LIST]
#                             [--python PATH] [--prefix DIR] [--link-dir DIR] [--system-dir DIR]
#                             [--venv DIR] [--deadline SECONDS] [--dry-run] [-- SETUP-ARGS...]
#
# SOURCE must pin what runs as root on every instance; anything else is refused (exit 2):
#   wheelhouse:DIR         DIR holds wheels and a requirements.txt where every line has --hash;
#                          --requirements-sha256 HEX pins that requirements.txt (which pins every
#                          wheel): pip install --require-hashes --no-index --find-links DIR -r COPY
#   git+https://HOST/PATH@<40-hex commit>
#                          pip cannot hash-check a VCS source: the full commit is the pin (its
#                          dependencies then come from the package index, unpinned: prefer a wheelhouse)
# --venv DIR               use an onboard already installed in the venv DIR (an image that has it;
#                          root's and nobody else's to change); no install
# --team-file FILE         with --team-file-sha256 HEX: checked with `onboard config check`, then
#                          installed as SYSTEM-DIR/team.toml, root:root 0644 (directory 0755)
# --file-sha256 FILE=HEX   the pin of a file that SETUP-ARGS name (--passphrase-file FILE,
#                          --token-file PROVIDER=FILE): onboard then reads the checked copy
# --user NAME              the member's account (default: $CI_LOCAL_UBUNTU_USER, else azureuser)
# --offline                a run that must not need the network: host keys are written from the
#                          pins without probing, and a network failure (exit 4) is not fatal
# --providers LIST         providers whose host keys to pin, comma-separated (default: the team
#                          file's [setup] providers, else every built-in one)
# --extras LIST            pip extras of onboarding, e.g. azure (Key Vault references)
# --python PATH            the Python (>= 3.10) for the venv (default: /usr/bin first, then the
#                          image's conda environments; each only if nobody but root can change it)
# --prefix DIR             the venv link (default /opt/onboard); --link-dir DIR: where the `onboard`
#                          link goes (default /usr/local/bin)
# --system-dir DIR         default /etc/onboard, where onboard reads team.toml by itself; another
#                          directory (tests, staging) is passed to onboard as --config
# --deadline SECONDS       stop (exit 4) when the whole run would take longer (default 720: under
#                          the instance's 15-minute limit), leaving the previous install in place
# -- SETUP-ARGS...         also run `onboard setup --non-interactive --user NAME SETUP-ARGS...`
#                          (flow a: e.g. --passphrase-keyvault VAULT/NAME --upload github ...)
# --dry-run                run every check (pins, team file, account, interpreter, source, network
#                          unless --offline), list every problem (exit 2) or none (exit 0), change nothing
#
# Not root (an image that runs setup scripts as a sudo-capable service account): the script runs
# itself again through `sudo -n`, keeping the CI_* and managed-identity variables; without sudo,
# exit 2. The managed identity's MSI_ENDPOINT / MSI_SECRET, when absent from the environment, are
# read from /etc/environment.sso (root's file only); their values are never printed.
#
# Exit codes: 0 ready (or offline with the network part left for later), 2 bad arguments, a pin
# that does not match, an untrusted interpreter or a bad team file (every problem listed), 3 host
# key mismatch, 4 network or the deadline (unless --offline), anything else onboard's.
# The last line says what the member still has to do.
set -euo pipefail
umask 022

die() { echo "setup-compute-instance: $*" >&2; exit 2; }
problems=()
problem() { problems+=("$*"); }

self=$(readlink -f -- "$0")
all_args=("$@")
source_spec="" team_file="" team_sha="" req_sha="" user="${CI_LOCAL_UBUNTU_USER:-azureuser}" offline=0 extras=""
python="" prefix=/opt/onboard link_dir=/usr/local/bin system_dir=/etc/onboard venv="" setup_args=() run_setup=0
dry_run=0 providers="" deadline=720 file_pins=()
while [ $# -gt 0 ]; do
  case "$1" in
    --source) source_spec="${2:?--source needs a value}"; shift 2 ;;
    --team-file) team_file="${2:?--team-file needs a value}"; shift 2 ;;
    --team-file-sha256) team_sha="${2:?--team-file-sha256 needs a value}"; shift 2 ;;
    --requirements-sha256) req_sha="${2:?--requirements-sha256 needs a value}"; shift 2 ;;
    --file-sha256) file_pins+=("${2:?--file-sha256 needs FILE=HEX}"); shift 2 ;;
    --user) user="${2:?--user needs a value}"; shift 2 ;;
    --offline) offline=1; shift ;;
    --providers) providers="${2:?--providers needs a value}"; shift 2 ;;
    --extras) extras="${2:?--extras needs a value}"; shift 2 ;;
    --python) python="${2:?--python needs a value}"; shift 2 ;;
    --prefix) prefix="${2:?--prefix needs a value}"; shift 2 ;;
    --link-dir) link_dir="${2:?--link-dir needs a value}"; shift 2 ;;
    --system-dir) system_dir="${2:?--system-dir needs a value}"; shift 2 ;;
    --venv) venv="${2:?--venv needs a value}"; shift 2 ;;
    --deadline) deadline="${2:?--deadline needs a value}"; shift 2 ;;
    --dry-run) dry_run=1; shift ;;
    --) shift; setup_args=("$@"); run_setup=1; break ;;
    *) die "unknown argument: $1 (see the usage at the top of this script)" ;;
  esac
done
[[ "$deadline" =~ ^[1-9][0-9]*$ ]] || die "--deadline $deadline: a whole number of seconds"

# --- root, or root through sudo --------------------------------------------------------------
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    echo "running as $(id -un), not root: running this script again through sudo"
    # The file this run started from (a hash-checked private copy when started by the bootstrap).
    exec sudo -n --preserve-env=CI_RESOURCE_GROUP,CI_WORKSPACE,CI_NAME,CI_LOCAL_UBUNTU_USER,MSI_ENDPOINT,MSI_SECRET,DEFAULT_IDENTITY_CLIENT_ID \
      -- bash "$self" "${all_args[@]}"
  fi
  die "running as $(id -un), not root, and 'sudo -n' is not allowed for it: register the script so that it runs as root, or give this account passwordless sudo"
fi

# --- time: every step says its seconds; the whole run stops at the deadline -----------------
step_name="" step_start=$SECONDS
step() {  # $1: the next step's name (empty: the end)
  [ -z "$step_name" ] || echo "[$((SECONDS - step_start)) s] $step_name (total $SECONDS s)"
  step_name=$1 step_start=$SECONDS
  if [ -n "$1" ] && [ "$SECONDS" -ge "$deadline" ]; then
    echo "setup-compute-instance: stopped before '$1': the run reached its deadline of $deadline s (--deadline); the previous install is left in place" >&2
    exit 4
  fi
}
left() { echo $((deadline - SECONDS > 1 ? deadline - SECONDS : 1)); }  # seconds left for one command

# --- a root-only folder for the checked copies --------------------------------------------------
step "checks"
private=$(mktemp -d "${TMPDIR:-/tmp}/onboard-setup.XXXXXX")  # 0700, root's
trap 'rm -rf "$private"' EXIT

# Copy $1 without following a link into the private folder as $3, and check it against $2; the
# checked copy's path is then in $copied (not printed: a subshell would lose the problems it adds).
pinned_copy() {  # $1 path, $2 sha256, $3 name of the copy, $4 what it is, $5 the flag that pins it
  local src=$1 want=$2 dst="$private/$3" got
  copied=""
  if [ -z "$want" ]; then problem "$4 $src has no sha256 pin in the arguments ($5 HEX): anything on the share can be rewritten by a member"; return 1; fi
  if ! [[ "$want" =~ ^[0-9a-f]{64}$ ]]; then problem "$4 $src: '$want' is not a sha256 (64 lowercase hex digits)"; return 1; fi
  if [ -L "$src" ]; then problem "$4 $src is a symbolic link: refusing it (copy the real file there)"; return 1; fi
  if [ ! -f "$src" ]; then problem "$4 not found, or not a regular file: $src"; return 1; fi
  if ! timeout 60 cp -P --no-preserve=all -- "$src" "$dst" 2>/dev/null || [ -L "$dst" ] || [ ! -f "$dst" ]; then
    rm -f "$dst"; problem "$4 $src could not be copied as a regular file (replaced while it was read?)"; return 1
  fi
  got=$(sha256sum "$dst" | cut -d' ' -f1)
  if [ "$got" != "$want" ]; then
    rm -f "$dst"; problem "$4 $src: its sha256 is $got, not the pinned $want (changed on the share, or a stale pin)"; return 1
  fi
  copied=$dst
}

# A path nobody but root can change: every folder from / down, and the file, root-owned and not
# writable by group or others (a sticky folder such as /tmp counts: only root can rename root's
# entries). Prints the first offender.
root_only_path() {  # $1 path
  local p=$1 real st
  real=$(readlink -f -- "$p") || { echo "$p does not exist"; return 1; }
  for p in "$p" "$real"; do
    while :; do
      st=$(stat -c '%u %a %F' -- "$p" 2>/dev/null) || { echo "$p cannot be read"; return 1; }
      read -r uid mode kind <<< "$st"
      [ "$uid" = 0 ] || { echo "$p belongs to uid $uid"; return 1; }
      if [ "$kind" != "symbolic link" ] && (( 8#$mode & 8#022 )) && ! { [ "$kind" = directory ] && (( 8#$mode & 8#1000 )); }; then
        echo "$p is writable by group or others (mode $mode)"; return 1
      fi
      [ "$p" = / ] && break
      p=$(dirname -- "$p")
    done
  done
}
# Everything under $1 (to depth $2) root's and not group/world writable.
root_only_tree() {  # $1 dir, $2 max depth
  local bad
  bad=$(find "$1" -maxdepth "$2" \( ! -user root -o -perm /022 \) ! -type l -print -quit 2>/dev/null) || true
  [ -z "$bad" ] || { echo "$bad is not root's alone"; return 1; }
}

# --- the source: pinned or refused ------------------------------------------------------------
sha_re='^git\+https://[^@[:space:]]+@[0-9a-f]{40}$'
pkg="onboarding${extras:+[$extras]}"
pip_args=()
if [ -n "$venv" ]; then
  [ -z "$source_spec" ] || problem "give --source or --venv, not both"
  if [ ! -x "$venv/bin/onboard" ]; then problem "--venv $venv has no bin/onboard"
  elif why=$(root_only_path "$venv/bin/onboard") && why=$(root_only_tree "$venv" 4); then :
  else problem "--venv $venv can be changed by someone else than root ($why): it would run as root"; fi
elif [ -z "$source_spec" ]; then
  problem "no --source: give a pinned source (wheelhouse:DIR with hashed requirements.txt, or git+https://...@<40-hex commit>); there is no default, because 'pip install onboarding' installs whatever that name holds today, as root"
elif [[ "$source_spec" == wheelhouse:* ]]; then
  wheelhouse="${source_spec#wheelhouse:}"
  if pinned_copy "$wheelhouse/requirements.txt" "$req_sha" requirements.txt "the wheelhouse's requirements" --requirements-sha256; then
    requirements=$copied
    # pip enforces this too (--require-hashes); checking first gives the reason before any work.
    # Logical lines (pip-compile continues them with a backslash): NAME==VERSION ... --hash=sha256:...
    unpinned=$(sed -e ':a' -e '/\\$/N; s/\\\n//; ta' "$requirements" \
               | grep -Ev '^[[:space:]]*(#|$)' | grep -Ev '==[^ ]+ .*--hash=sha256:[0-9a-f]{64}' || true)
    [ -z "$unpinned" ] || problem "refusing $wheelhouse/requirements.txt: every requirement needs NAME==VERSION and --hash=sha256:...; not: $(echo "$unpinned" | head -n 3 | tr '\n' ';')"
    # The wheels stay on the share: pip checks each against the hashes of the checked copy.
    pip_args=(--require-hashes --no-index --find-links "$wheelhouse" -r "$requirements")
  fi
elif [[ "$source_spec" =~ $sha_re ]]; then
  pip_args=("$pkg @ $source_spec")
else
  problem "refusing the unpinned source '$source_spec': a package name, a branch or a tag can change under you and this runs as root; give wheelhouse:DIR (requirements.txt with --hash) or git+https://HOST/PATH@<40-hex commit>"
fi

# --- the other inputs -----------------------------------------------------------------------------
getent passwd "$user" >/dev/null || problem "no local account '$user' (--user, or CI_LOCAL_UBUNTU_USER)"
team_copy=""
if [ -n "$team_file" ]; then
  if pinned_copy "$team_file" "$team_sha" team.toml "the team file" --team-file-sha256; then team_copy=$copied; fi
elif [ -n "$team_sha" ]; then
  problem "--team-file-sha256 without --team-file"
fi
# Files that SETUP-ARGS name: onboard reads them as root, so they are pinned like the rest.
pin_for() {  # $1 path: prints its pin from --file-sha256
  local pin
  for pin in "${file_pins[@]+"${file_pins[@]}"}"; do [ "${pin%=*}" != "$1" ] || { echo "${pin##*=}"; return 0; }; done
}
n=0
for i in "${!setup_args[@]}"; do
  arg=${setup_args[$i]} path="" head=""
  case "$arg" in
    --passphrase-file=*|--token-file=*) head=${arg%%=*}=; path=${arg#*=} ;;
    *) prev=${setup_args[$((i > 0 ? i - 1 : 0))]}
       if [ "$i" -gt 0 ] && { [ "$prev" = --passphrase-file ] || [ "$prev" = --token-file ]; }; then path=$arg; fi ;;
  esac
  [ -n "$path" ] || continue
  provider=""
  if [[ "$path" == *=* ]] && { [ "$head" = --token-file= ] || [ "${setup_args[$((i - 1))]:-}" = --token-file ]; }; then
    provider=${path%%=*}=; path=${path#*=}
  fi
  n=$((n + 1))
  if pinned_copy "$path" "$(pin_for "$path")" "input-$n" "the file" "--file-sha256 $path="; then
    chmod 0600 "$copied"
    setup_args[i]="$head$provider$copied"
  fi
done

# The managed identity: the instance keeps its variables in /etc/environment.sso.
sso_file=${ONBOARD_ENVIRONMENT_SSO:-/etc/environment.sso}
if { [ -z "${MSI_ENDPOINT:-}" ] || [ -z "${MSI_SECRET:-}" ]; } && [ -e "$sso_file" ]; then
  if why=$(root_only_path "$sso_file"); then
    while IFS='=' read -r name value; do
      case "$name" in
        MSI_ENDPOINT|MSI_SECRET|DEFAULT_IDENTITY_CLIENT_ID)
          value=${value%\"}; value=${value#\"}
          [ -n "${!name:-}" ] || export "$name=$value" ;;
      esac
    done < "$sso_file"
    echo "the managed identity's variables were read from $sso_file"
  else
    problem "$sso_file is not root's alone ($why): its managed-identity variables are not used"
  fi
fi

# --- a Python >= 3.10 that nobody but root can change ------------------------------------------
# Checked before it runs at all: its binary and every folder above, its standard library (a
# member-writable module, or a .pth in its site-packages, would run as root), then probed with -I -S.
python_problem() {  # $1 interpreter: prints why it is not usable, or nothing
  local p=$1 real lib why
  real=$(readlink -f -- "$p" 2>/dev/null) || { echo "$p does not exist"; return; }
  [ -x "$real" ] || { echo "$p is not executable"; return; }
  why=$(root_only_path "$p") || { echo "$why"; return; }
  for lib in "$(dirname -- "$(dirname -- "$p")")" "$(dirname -- "$(dirname -- "$real")")"; do
    why=$(root_only_path "$lib") || { echo "$why"; return; }
    [ ! -f "$lib/pyvenv.cfg" ] || { why=$(root_only_tree "$lib" 1) || { echo "$why"; return; }; }
    for stdlib in "$lib"/lib/python3*; do
      [ -d "$stdlib" ] || continue
      why=$(root_only_tree "$stdlib" 2) || { echo "$why"; return; }
    done
  done
  "$real" -I -S -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null || echo "$p is older than 3.10"
}
find_python() {
  # /usr/bin first (Ubuntu 22.04: 3.10), then the image's conda environments (20.04 images: 3.8 system).
  local c why
  for c in /usr/bin/python3 /usr/bin/python3.13 /usr/bin/python3.12 /usr/bin/python3.11 /usr/bin/python3.10 \
           /anaconda/envs/*/bin/python3 /anaconda/bin/python3; do
    [ -e "$c" ] || continue
    why=$(python_problem "$c")
    if [ -z "$why" ]; then echo "$c"; return 0; fi
    echo "skipping $c: $why" >&2
  done
  return 1
}
if [ -z "$venv" ]; then
  if [ -n "$python" ]; then
    why=$(python_problem "$python")
    [ -z "$why" ] || problem "--python $python cannot be trusted to run as root: $why"
  elif ! python=$(find_python); then
    problem "no Python >= 3.10 that only root can change (/usr/bin, then /anaconda/envs): install python3 (>= 3.10) and python3-venv with apt-get, or pass --python"
  fi
fi

# --- onboard: built where it will stay, then used to check the team file ----------------------
report() {  # every problem at once, then exit 2
  echo "setup-compute-instance: ${#problems[@]} problem(s); nothing was installed:" >&2
  printf '  - %s\n' "${problems[@]}" >&2
  exit 2
}
[ "${#problems[@]}" = 0 ] || [ "$dry_run" = 1 ] || report

make_venv() {  # $1 python, $2 directory
  timeout "$(left)" "$1" -I -S -m venv "$2" 2>/dev/null && return 0
  rm -rf "$2"
  # Debian/Ubuntu split ensurepip into python3.X-venv: install it (we are root, with network).
  if command -v apt-get >/dev/null 2>&1 && [ "$offline" = 0 ]; then
    local v; v=$("$1" -I -S -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
    echo "python $v: ensurepip is missing; installing python${v}-venv with apt-get"
    DEBIAN_FRONTEND=noninteractive timeout "$(left)" apt-get install -y -qq "python${v}-venv" >/dev/null \
      && timeout "$(left)" "$1" -I -S -m venv "$2" && return 0
    rm -rf "$2"
  fi
  echo "setup-compute-instance: cannot create a venv with $1 (no ensurepip: apt-get install python3-venv)" >&2
  return 1
}

# One directory per pinned source, and $prefix a symlink to it: a venv's scripts hard-code its
# path, so it is built where it stays, and the switch to it (after every check) is one rename.
build_onboard() {  # sets $built: the venv directory that holds the pinned onboard
  local want digest
  want="$source_spec [$extras] $python $( [ -z "${requirements:-}" ] || sha256sum "$requirements" | cut -d' ' -f1 )"
  digest=$(printf '%s' "$want" | sha256sum | cut -c1-16)
  built="$prefix-$digest"
  if [ -x "$built/bin/onboard" ] && [ -f "$built/.onboard-complete" ]; then
    echo "onboard is already installed from this source in $built"  # a startup script runs at every boot
    return 0
  fi
  [ "$dry_run" = 0 ] || built="$private/venv"
  echo "using $python ($("$python" -I -S -c 'import sys; print(sys.version.split()[0])')) for $built"
  rm -rf "$built"
  make_venv "$python" "$built" || return 1
  timeout "$(left)" "$built/bin/python" -m pip install --quiet --disable-pip-version-check --no-input "${pip_args[@]}" \
    || { rm -rf "$built"; return 1; }
  [ "$dry_run" = 1 ] || printf '%s\n' "$want" > "$built/.onboard-complete"
}

step "onboard"
dir=""
if [ -n "$venv" ]; then
  dir=$venv; echo "using the onboard installed in $venv"
elif [ "${#pip_args[@]}" -gt 0 ] && [ -n "$python" ] && [ -z "$(python_problem "$python")" ]; then
  if [ "$dry_run" = 1 ] && [ "$offline" = 1 ] && [[ "$source_spec" != wheelhouse:* ]]; then
    echo "would run: pip install ${pip_args[*]} (not tried: --offline)"
  elif build_onboard; then
    dir=$built
  else
    problem "pip could not install the pinned source (see pip's message above)"
  fi
fi
onboard=${dir:+$dir/bin/onboard}

config_args=()
if [ -n "$team_copy" ] && [ -z "$onboard" ]; then
  problem "the team file $team_file was not checked: there is no onboard to check it with until the problems above are fixed"
elif [ -n "$team_copy" ]; then
  step "team file"
  check_args=(config check "$team_copy")
  [ "$offline" = 0 ] || check_args+=(--offline)
  if ! out=$(timeout "$(left)" "$onboard" "${check_args[@]}" 2>&1); then
    problem "the team file $team_file is not valid: ${out//$'\n'/ }"
  fi
fi
if [ "$dry_run" = 1 ]; then
  if [ -n "$onboard" ] && [ "$offline" = 0 ] && [ "${#problems[@]}" = 0 ]; then
    step "network"
    probe=(hosts verify --known-hosts "$private/known_hosts" --timeout 10)
    [ -z "$team_copy" ] || probe+=(--config "$team_copy")
    # shellcheck disable=SC2206 # a comma-separated list of plain names, split on purpose
    [ -z "$providers" ] || { IFS=', ' read -r -a names <<< "$providers"; probe+=("${names[@]}"); }
    HOME=$private timeout "$(left)" "$onboard" "${probe[@]}" >/dev/null 2>&1 \
      || problem "the providers' SSH hosts could not be reached and verified from here (onboard hosts verify; pass --offline to skip)"
  fi
  step ""
  [ "${#problems[@]}" = 0 ] || report
  if [ -n "$venv" ]; then echo "would use $venv/bin/onboard"; elif [ "${#pip_args[@]}" -gt 0 ]; then echo "would run: pip install ${pip_args[*]}"; fi
  echo "dry run: every check passed; nothing was changed"
  exit 0
fi
[ "${#problems[@]}" = 0 ] || report
echo "onboard setup script: Git over SSH for ${user} on ${CI_NAME:-this machine}"

# --- every check passed: switch to the new install, then the team file --------------------------
step "install"
if [ -z "$venv" ]; then
  if [ -e "$prefix" ] && [ ! -L "$prefix" ]; then
    # the venv an older version of this script made in place; anything else is not ours to remove
    [ -f "$prefix/pyvenv.cfg" ] || die "$prefix exists and is not this script's symlink: move it away"
    rm -rf "$prefix"
  fi
  ln -sfn "$dir" "$prefix.link.$$" && mv -Tf "$prefix.link.$$" "$prefix"
  onboard="$prefix/bin/onboard"
  echo "installed $("$onboard" --version) into $dir ($prefix)"
  mkdir -p "$link_dir"; ln -sfn "$onboard" "$link_dir/onboard"
fi
team_dest=""
if [ -n "$team_copy" ]; then
  install -d -o root -g root -m 0755 "$system_dir"
  team_dest="$(cd "$system_dir" && pwd -P)/team.toml"
  install -o root -g root -m 0644 "$team_copy" "$team_dest.tmp.$$"
  mv -f "$team_dest.tmp.$$" "$team_dest"
  echo "installed the team file $team_dest (root:root 0644, sha256 $team_sha)"
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
    124) echo "onboard $1 was stopped at the run's deadline of $deadline s (--deadline)"; set -- "$1" 4 ;;
    *) echo "onboard $1 failed with exit code $2; run 'onboard doctor' as ${user} for the fixes" ;;
  esac
  status=$2
}

step "hosts verify"
hosts_args=(hosts verify --user "$user" "${config_args[@]+"${config_args[@]}"}")
# shellcheck disable=SC2206 # a comma-separated list of plain names, split on purpose
[ -z "$providers" ] || { IFS=', ' read -r -a names <<< "$providers"; hosts_args+=("${names[@]}"); }
[ "$offline" = 0 ] || hosts_args+=(--offline)
rc=0; timeout "$(left)" "$onboard" "${hosts_args[@]}" || rc=$?
outcome "hosts verify" "$rc"

if [ "$status" = 0 ] && [ "$run_setup" = 1 ]; then
  step "setup"
  setup=(setup --non-interactive --user "$user" "${config_args[@]+"${config_args[@]}"}")
  [ "$offline" = 0 ] || setup+=(--offline)
  rc=0; timeout "$(left)" "$onboard" "${setup[@]}" "${setup_args[@]}" || rc=$?
  outcome "setup" "$rc"
fi
step ""

team_note="${team_dest:+ (team file $team_dest)}"
if [ "$status" != 0 ]; then
  echo "still to do: fix the error above, then rerun this script; or ${user} runs 'onboard'${team_note}"
elif [ "$run_setup" = 1 ] && [ "$rc" = 0 ]; then
  echo "still to do: nothing: ${user} is ready for Git over SSH${team_note}"
else
  echo "still to do: ${user} opens a terminal on the instance and runs 'onboard'${team_note}: it asks for a passphrase, shows where to add the key (or uploads it), then clones"
fi
exit "$status"
