"""``service install`` / ``service uninstall``: the systemd user unit on
Linux, the launchd agent on macOS (the platform is passed in: the plist is
written and read back with plistlib here), a one-line error elsewhere."""

from __future__ import annotations

import os
import plistlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dispatch_indexer import paths
from dispatch_indexer.daemon import launchd, service, systemd
from dispatch_indexer.errors import IndexerError

UNIT = "covalent-indexer.service"


@pytest.fixture
def unit_dir(tmp_path: Path) -> Path:
    # conftest points XDG_CONFIG_HOME here.
    return tmp_path / "user-home" / "xdg_config_home" / "systemd" / "user"


def test_unit_dir_follows_xdg_config_home(unit_dir: Path, tmp_path: Path, monkeypatch) -> None:
    assert paths.systemd_user_unit_dir() == unit_dir
    monkeypatch.delenv("XDG_CONFIG_HOME")
    expected = tmp_path / "user-home" / ".config" / "systemd" / "user"
    assert paths.systemd_user_unit_dir() == expected


def test_unit_text() -> None:
    text = systemd.unit_text(
        ["/opt/ci/bin/covalent-indexer"], {"COVALENT_INDEXER_HOME": "/srv/index"}
    )
    lines = text.splitlines()
    assert "[Unit]" in lines and "[Service]" in lines and "[Install]" in lines
    assert "Type=simple" in lines
    assert "ExecStart=/opt/ci/bin/covalent-indexer start --foreground" in lines
    assert 'Environment="COVALENT_INDEXER_HOME=/srv/index"' in lines
    assert "Restart=on-failure" in lines
    assert "RestartSec=5" in lines
    assert "WantedBy=default.target" in lines
    assert lines.index("[Service]") < lines.index("Type=simple") < lines.index("[Install]")


def test_unit_text_quotes_awkward_words() -> None:
    text = systemd.unit_text(
        ["/opt/my tools/python", "-m", "dispatch_indexer"],
        {"COVALENT_INDEXER_DB": 'sqlite:////x/50%"off"'},
    )
    assert 'ExecStart="/opt/my tools/python" -m dispatch_indexer start --foreground' in text
    assert 'Environment="COVALENT_INDEXER_DB=sqlite:////x/50%%\\"off\\""' in text
    assert systemd.unit_text(["/bin/a$b%c"]).count("ExecStart=/bin/a$$b%%c start") == 1


def test_install_writes_the_unit(cli, unit_dir: Path, home: Path, tmp_path: Path) -> None:
    out = cli("service", "install").output
    unit = unit_dir / UNIT
    assert unit.is_file()
    assert tmp_path in unit.parents
    assert f"wrote {unit}" in out
    assert "systemctl --user daemon-reload && systemctl --user enable --now " + UNIT in out
    text = unit.read_text()
    exe = Path(sys.executable).parent / "covalent-indexer"
    assert f"ExecStart={exe} start --foreground" in text
    # conftest sets COVALENT_INDEXER_HOME: the service must use that index.
    assert f'Environment="COVALENT_INDEXER_HOME={home}"' in text
    assert oct(unit.stat().st_mode & 0o777) == oct(0o600)


def test_install_is_idempotent(cli, unit_dir: Path) -> None:
    cli("service", "install")
    first = (unit_dir / UNIT).read_text()
    cli("service", "install")
    assert (unit_dir / UNIT).read_text() == first
    assert sorted(p.name for p in unit_dir.iterdir()) == [UNIT]


def test_install_keeps_home_and_db_options(cli, unit_dir: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    db = tmp_path / "db" / "index.sqlite3"
    cli("--home", str(elsewhere), "--db", f"sqlite:///{db}", "service", "install")
    text = (unit_dir / UNIT).read_text()
    assert f'Environment="COVALENT_INDEXER_HOME={elsewhere}"' in text
    assert f'Environment="COVALENT_INDEXER_DB=sqlite:///{db}"' in text


def test_relative_locations_are_made_absolute(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    env = service.service_environment(home="here", db="sqlite://rel/index.sqlite3")
    assert env["COVALENT_INDEXER_HOME"] == str(tmp_path / "here")
    assert env["COVALENT_INDEXER_DB"] == f"sqlite:///{tmp_path / 'rel' / 'index.sqlite3'}"
    pg = "postgresql://me:secret@db/index"
    assert service.service_environment(db=pg)["COVALENT_INDEXER_DB"] == pg


@pytest.mark.sqlite_only
def test_without_a_home_the_xdg_folders_are_kept(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("COVALENT_INDEXER_HOME")
    env = service.service_environment()
    assert "COVALENT_INDEXER_HOME" not in env and "COVALENT_INDEXER_DB" not in env
    assert env["XDG_DATA_HOME"] == str(tmp_path / "user-home" / "xdg_data_home")
    assert env["XDG_CONFIG_HOME"] == str(tmp_path / "user-home" / "xdg_config_home")


def test_exec_command_falls_back_to_the_module(tmp_path: Path, monkeypatch) -> None:
    python = tmp_path / "bin" / "python3"
    monkeypatch.setattr(sys, "executable", str(python))
    monkeypatch.setattr(sys, "argv", ["pytest"])
    assert service.exec_command() == [str(python), "-m", "dispatch_indexer"]
    script = tmp_path / "bin" / "covalent-indexer"
    script.parent.mkdir()
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    assert service.exec_command() == [str(script)]


def test_uninstall(cli, unit_dir: Path) -> None:
    cli("service", "install")
    out = cli("service", "uninstall").output
    assert not (unit_dir / UNIT).exists()
    assert f"removed {unit_dir / UNIT}" in out
    assert f"systemctl --user disable --now {UNIT}" in out


def test_uninstall_when_not_installed(cli, unit_dir: Path) -> None:
    result = cli("service", "uninstall", code=1)
    assert result.output.strip() == (
        f"covalent-indexer: error: the service is not installed: no {unit_dir / UNIT}"
    )


def test_systemd_accepts_the_unit(cli, unit_dir: Path, tmp_path: Path, monkeypatch) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed; the unit was not checked by systemd")
    # An awkward home (space, %) exercises the quoting.
    cli("--home", str(tmp_path / "my index 100%"), "service", "install")
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    out = subprocess.run(
        [analyze, "verify", "--user", str(unit_dir / UNIT)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if "Failed to initialize manager" in out.stderr:
        pytest.skip(f"systemd-analyze cannot run here: {out.stderr.strip()}")
    problems = [
        line
        for line in out.stderr.splitlines()
        if UNIT in line and ("ignoring" in line or "Failed" in line or "not executable" in line)
    ]
    assert out.returncode == 0 and not problems, out.stderr


# ---- the platform -------------------------------------------------------------


@pytest.mark.parametrize(("platform", "manager"), [("linux", "systemd"), ("darwin", "launchd")])
def test_the_manager_follows_the_platform(platform: str, manager: str) -> None:
    assert service.manager_for(platform) == manager


@pytest.mark.parametrize("platform", ["win32", "freebsd14", "cygwin"])
def test_elsewhere_a_one_line_error(platform: str) -> None:
    with pytest.raises(IndexerError) as caught:
        service.install(platform=platform)
    message = str(caught.value)
    assert "\n" not in message and platform in message and "start" in message
    with pytest.raises(IndexerError):
        service.uninstall(platform=platform)


# ---- launchd (macOS) -----------------------------------------------------------


@pytest.fixture
def agents_dir(tmp_path: Path) -> Path:
    # conftest points HOME here.
    return tmp_path / "user-home" / "Library" / "LaunchAgents"


def test_the_agents_dir_is_in_the_home(agents_dir: Path) -> None:
    assert paths.launchd_agents_dir() == agents_dir


def test_install_writes_the_launchd_agent(agents_dir: Path, home: Path) -> None:
    written = service.install(platform="darwin")
    plist = agents_dir / f"{launchd.LABEL}.plist"
    assert written.path == plist
    assert written.command == f"launchctl bootstrap gui/{os.getuid()} {plist}"
    assert oct(plist.stat().st_mode & 0o777) == oct(0o600)
    agent = plistlib.loads(plist.read_bytes())
    assert agent["Label"] == launchd.LABEL
    exe = str(Path(sys.executable).parent / "covalent-indexer")
    assert agent["ProgramArguments"] == [exe, "start", "--foreground", "--quiet"]
    # The index in use (conftest's COVALENT_INDEXER_HOME) is the agent's.
    assert agent["EnvironmentVariables"]["COVALENT_INDEXER_HOME"] == str(home)
    assert agent["RunAtLoad"] is True
    assert agent["KeepAlive"] == {"SuccessfulExit": False}
    log = home / "logs" / "service-output.log"
    assert agent["StandardOutPath"] == agent["StandardErrorPath"] == str(log)
    assert log.parent.is_dir()  # launchd makes no folder for it
    assert service.install(platform="darwin").path == plist  # twice is harmless
    assert sorted(p.name for p in agents_dir.iterdir()) == [plist.name]


def test_launchd_agent_keeps_home_and_db(agents_dir: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    db = "postgresql://me:secret@db/index"
    command = ["/opt/my tools/python", "-m", "dispatch_indexer"]
    service.install(home=elsewhere, db=db, command=command, platform="darwin")
    agent = plistlib.loads((agents_dir / f"{launchd.LABEL}.plist").read_bytes())
    assert agent["ProgramArguments"][:3] == command  # a list: no quoting to get wrong
    assert agent["EnvironmentVariables"]["COVALENT_INDEXER_HOME"] == str(elsewhere)
    assert agent["EnvironmentVariables"]["COVALENT_INDEXER_DB"] == db
    assert agent["StandardErrorPath"] == str(elsewhere / "logs" / "service-output.log")


def test_launchd_uninstall(agents_dir: Path) -> None:
    service.install(platform="darwin")
    removed = service.uninstall(platform="darwin")
    assert not removed.path.exists()
    assert removed.command == f"launchctl bootout gui/{os.getuid()}/{launchd.LABEL}"
    with pytest.raises(IndexerError, match="not installed"):
        service.uninstall(platform="darwin")
