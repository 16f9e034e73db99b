"""`onboard clone` on the real binary: the cloudfiles folder, cleanup, reruns."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.run import onboard
from helpers.sshd import Sshd


def _share(home: Path, *people: str) -> Path:
    root = home / "cloudfiles" / "code"
    for name in people:
        (root / "Users" / name).mkdir(parents=True)
    root.mkdir(parents=True, exist_ok=True)
    return root


@pytest.mark.parametrize("people", [("alice.smith", "bob.jones"), ()])
def test_cloudfiles_folder_is_never_guessed(home: Path, people: tuple[str, ...]) -> None:
    root = _share(home, *people)
    done = onboard("clone", "git@github.com:org/app.git", "-y", "--target", "cloudfiles", "--offline")
    assert done.returncode == 2, done.output
    assert "--cloudfiles-user" in done.stderr
    assert all(p in done.stderr for p in people)  # the folders are listed
    assert sorted(p.name for p in (root / "Users").iterdir()) == sorted(people) if people else True
    assert not (root / "Users" / home.name).exists()


@pytest.mark.sshd
def test_failed_clone_leaves_no_empty_folder(sshd: Sshd, bare_repo: str, home: Path, tmp_path: Path) -> None:
    pins = tmp_path / "pins.toml"
    pins.write_text(sshd.providers_toml())
    assert onboard("keygen", "-y", "--key-type", "ed25519", "--no-passphrase").returncode == 0
    root = _share(home, "alice.smith", "bob.jones")
    done = onboard("clone", sshd.url(bare_repo), "-y", "--key-type", "ed25519", "--providers-file", str(pins),
                   "--target", "cloudfiles", "--cloudfiles-user", "carol")  # the key is not authorized
    assert done.returncode == 6, done.output
    assert sorted(p.name for p in (root / "Users").iterdir()) == ["alice.smith", "bob.jones"]


@pytest.mark.sshd
def test_rerun_keeps_an_existing_clone_of_the_same_repository(sshd: Sshd, bare_repo: str, home: Path,
                                                              tmp_path: Path) -> None:
    pins = tmp_path / "pins.toml"
    pins.write_text(sshd.providers_toml())
    assert onboard("keygen", "-y", "--key-type", "ed25519", "--no-passphrase").returncode == 0
    sshd.authorize(home / ".ssh" / "id_ed25519.pub")
    args = ("-y", "--key-type", "ed25519", "--providers-file", str(pins), "--dest", str(tmp_path / "c"))
    first = onboard("clone", sshd.url(bare_repo), *args)
    assert first.returncode == 0, first.output
    (tmp_path / "c" / "mine.txt").write_text("work in progress\n")
    again = onboard("clone", sshd.url(bare_repo), *args)
    assert again.returncode == 0, again.output
    assert "already a clone" in again.stderr
    assert (tmp_path / "c" / "mine.txt").read_text() == "work in progress\n"
    other = onboard("clone", sshd.url(bare_repo).replace(".git", "-other.git"), *args)
    assert other.returncode == 5  # something else there: refused


@pytest.mark.sshd
def test_a_url_without_user_gets_the_providers_user(sshd: Sshd, bare_repo: str, home: Path, tmp_path: Path) -> None:
    pins = tmp_path / "pins.toml"
    pins.write_text(sshd.providers_toml())
    assert onboard("keygen", "-y", "--key-type", "ed25519", "--no-passphrase").returncode == 0
    sshd.authorize(home / ".ssh" / "id_ed25519.pub")
    no_user = sshd.url(bare_repo).replace(f"{sshd.user}@", "")
    done = onboard("clone", no_user, "-y", "--key-type", "ed25519", "--providers-file", str(pins),
                   "--dest", str(tmp_path / "c"), env={"USER": "nobody-here", "LOGNAME": "nobody-here"})
    assert done.returncode == 0, done.output
    assert f"names no user: cloning as {sshd.url(bare_repo)}" in done.stderr
    assert (tmp_path / "c" / "README.md").exists()


def test_a_url_without_user_for_an_unpinned_host_is_warned(home: Path) -> None:
    done = onboard("clone", "unpinned.example:org/app.git", "-y", "--offline")
    assert "names no user" in done.stderr and "git@" in done.stderr


@pytest.mark.parametrize("url", ["https://user:ghp_cloneSecret9@github.com/org/app.git",
                                 "ftp://me:ghp_cloneSecret9@host.invalid/org/app",
                                 "ssh://me:ghp_cloneSecret9@bad_host!.invalid/org/app"])
def test_a_refused_url_never_shows_its_credentials(url: str) -> None:
    r = onboard("clone", url, "--offline")
    assert r.returncode == 2, r.output
    assert "ghp_cloneSecret9" not in r.output and "***@" in r.output, r.output
