"""The built wheel carries its migrations and works installed, away from any checkout.

The wheel is installed with --no-deps into a fresh virtualenv whose only link to the outside
is a .pth line naming the test environment's site-packages, so the dependencies resolve
without a network while stocksbot itself comes from the wheel alone.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from stocksbot.storage.migrations import HEAD_REVISION

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (built,) = dist.glob("stocksbot-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", str(wheel)],
        check=True,
        capture_output=True,
    )
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    (Path(site) / "test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv


def test_wheel_contains_the_migrations(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "stocksbot/_alembic/env.py" in names
    assert "stocksbot/_alembic/script.py.mako" in names
    shipped = {n for n in names if n.startswith("stocksbot/_alembic/versions/") and n.endswith(".py")}
    in_checkout = {f"stocksbot/_alembic/versions/{p.name}" for p in (ROOT / "alembic" / "versions").glob("*.py")}
    assert shipped == in_checkout and shipped


@pytest.mark.parametrize("use_postgres", [False, True], ids=["sqlite", "postgres"])
def test_installed_stocksbot_upgrades_and_configures(
    installed: Path, tmp_path: Path, use_postgres: bool, request: pytest.FixtureRequest
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PYTHONPATH")}
    env["STOCKSBOT_HOME"] = str(tmp_path / "home")
    if use_postgres:
        env["DATABASE_URL"] = request.getfixturevalue("postgres_url")
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()

    def run(*args: str) -> str:
        result = subprocess.run(
            [str(installed / "bin" / "stocksbot"), *args], cwd=workdir, env=env, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    run("db", "upgrade")
    assert run("db", "current") == f"{HEAD_REVISION} (head)\n"
    run("config", "set", "bot.max_orders", "12", "--type", "int")
    assert run("config", "get", "bot.max_orders") == "12\n"

    where = subprocess.run(
        [str(installed / "bin" / "python"), "-c", "import stocksbot, sys; print(stocksbot.__file__)"],
        cwd=workdir, env=env, capture_output=True, text=True, check=True,
    ).stdout
    assert where.startswith(str(installed)), "stocksbot must come from the installed wheel, not the checkout"
    version = subprocess.run(
        [str(installed / "bin" / "python"), "-m", "stocksbot", "--version"],
        cwd=workdir, env=env, capture_output=True, text=True, check=True,
    ).stdout
    assert version.startswith("stocksbot, version ")
