"""What a user installs: the wheel holds one import package, ``scrapesched``, so packages from the index
named like our layers (``scheduler``, ``db``, ``config`` ...) install beside it without touching it, and
uninstalling either leaves the other working."""

from __future__ import annotations

import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from conftest import REPO_ROOT

pytestmark = pytest.mark.slow

LAYERS = ("cli", "config", "console", "db", "locks", "scheduler", "scrapers")


def _run(*args: str | Path, cwd: Path | None = None) -> str:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, cwd=cwd, timeout=300, check=False)
    assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
    return done.stdout


def _build_wheel(source: Path, out: Path) -> Path:
    _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", out, source)
    (wheel,) = out.glob("*.whl")
    return wheel


@pytest.fixture(scope="module")
def our_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Built from a copy: an in-tree build leaves build/lib behind, whose stale files a later build would ship.
    source = tmp_path_factory.mktemp("source") / "scrapesched"
    skip = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", "tests")
    shutil.copytree(REPO_ROOT, source, symlinks=True, ignore=skip)
    return _build_wheel(source, tmp_path_factory.mktemp("wheel"))


def _top_level(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as whl:
        return {name.split("/")[0] for name in whl.namelist() if ".dist-info/" not in name}


def test_the_wheel_installs_one_import_package_scrapesched(our_wheel: Path) -> None:
    assert _top_level(our_wheel) == {"scrapesched"}
    with zipfile.ZipFile(our_wheel) as whl:
        names = whl.namelist()
        (top_level_txt,) = [n for n in names if n.endswith(".dist-info/top_level.txt")]
        assert whl.read(top_level_txt).decode().split() == ["scrapesched"]
        # every layer, the migrations' template and the test doubles the demo needs are in it, as files
        for layer in LAYERS:
            assert f"scrapesched/{layer}/__init__.py" in names, layer
        assert "scrapesched/db/migrations/script.py.mako" in names
        for asset in ("templates/index.html", "static/htmx.min.js", "static/htmx.LICENSE", "static/console.css"):
            assert f"scrapesched/console/{asset}" in names, asset  # the console needs no internet at run time
        assert "scrapesched/testing/__init__.py" in names
        assert not any(n.startswith("scrapesched/tests/") or "/fixtures/" in n for n in names)


def _foreign_wheel(tmp: Path) -> Path:
    """A distribution shaped like the index's ``scheduler`` and ``db`` packages: generic top-level names."""
    src = tmp / "foreign"
    for name in ("scheduler", "db"):
        (src / name).mkdir(parents=True)
        (src / name / "__init__.py").write_text(f'WHO = "foreign {name}"\n')
    (src / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=68"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "foreign-scheduler"\nversion = "1.0"\n'
        '[tool.setuptools]\npackages = ["scheduler", "db"]\n'
    )
    return _build_wheel(src, tmp / "foreign-dist")


def test_packages_named_like_our_layers_install_beside_it_and_change_nothing(our_wheel: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    # Our dependencies come from the test environment (a path entry, not a site dir: its editable-install
    # hook of scrapesched does not run), so the test needs no package index.
    site = Path(next(p for p in sys.path if p.endswith("site-packages")))
    purelib = Path(_run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip())
    (purelib / "deps.pth").write_text(f"{site}\n")
    foreign = _foreign_wheel(tmp_path)
    pip = (python, "-m", "pip", "install", "-q", "--no-deps", "--no-index")
    _run(*pip, our_wheel, cwd=tmp_path)
    _run(*pip, foreign, cwd=tmp_path)

    where = _run(python, "-c", "import scrapesched.scheduler; print(scrapesched.scheduler.__file__)", cwd=tmp_path)
    assert str(env_dir) in where  # ours, from the installed wheel
    assert _run(python, "-m", "scrapesched", "--version", cwd=tmp_path).startswith("scrapesched")
    assert "github_prs" in _run(python, "-m", "scrapesched", "jobs", cwd=tmp_path)
    assert _run(python, "-c", "import scheduler, db; print(scheduler.WHO, '/', db.WHO)", cwd=tmp_path).strip() == (
        "foreign scheduler / foreign db"
    )

    _run(python, "-m", "pip", "uninstall", "-q", "-y", "scrapesched")
    assert _run(python, "-c", "import scheduler, db; print(scheduler.WHO, '/', db.WHO)", cwd=tmp_path).strip() == (
        "foreign scheduler / foreign db"
    )
