"""The built wheel works without the source tree: both packages find their data.

Issue 2 asks that an editable install and a built wheel both find ``schemas/`` and the
requirement registry at run time. The editable install is what every other test uses; this
module builds the wheel, installs it into a fresh virtualenv and runs it from a folder
outside the checkout.

The fresh virtualenv gets the project's dependencies by naming the project virtualenv's
``site-packages`` in a ``.pth`` file: that adds the folder to ``sys.path`` without running the
``.pth`` files inside it, so the editable install there stays inert and every import of
``conformance`` or ``reference_impl`` resolves to the wheel.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

__all__: list[str] = []

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=300,
    )
    (built,) = out.glob("responses_ws-*.whl")
    return built


@pytest.fixture(scope="module")
def fresh_python(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    env_dir = tmp_path_factory.mktemp("fresh-venv")
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(site, "project-dependencies.pth").write_text(
        sysconfig.get_path("purelib") + "\n", encoding="utf-8"
    )
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-deps", str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return python


def run_outside(python: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def test_wheel_carries_a_copy_of_the_data_for_each_package(wheel: Path) -> None:
    """Both packages ship the schemas; the suite also ships the spec and its registry."""
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "conformance/_data/spec/requirements.yaml" in names
    assert "conformance/_data/schemas/rules/errors.json" in names
    assert "reference_impl/_data/schemas/rules/errors.json" in names
    assert "conformance/_data/schemas/events/client/response.create.json" in names
    assert "reference_impl/_data/schemas/events/client/response.create.json" in names


def test_installed_wheel_loads_schemas_and_registry_from_site_packages(
    fresh_python: Path, tmp_path: Path
) -> None:
    """Imports resolve to the wheel, and its loaders read the data copied into it."""
    probe = (
        "import conformance, reference_impl\n"
        "from conformance import schemas\n"
        "from conformance._paths import data_root\n"
        "from conformance.requirements import load_requirements\n"
        "from reference_impl._paths import schemas_dir\n"
        "print(conformance.__file__)\n"
        "print(data_root())\n"
        "print(schemas_dir())\n"
        "print(len(load_requirements()))\n"
        "print(len(schemas.server_event_types()))\n"
    )
    result = run_outside(fresh_python, "-c", probe, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    module, root, server_schemas, requirements, events = result.stdout.split()
    for path in (module, root, server_schemas):
        assert "site-packages" in path
        assert not Path(path).is_relative_to(ROOT)
    assert int(requirements) > 100
    assert int(events) == 62


def test_installed_wheel_runs_the_spec_self_check(fresh_python: Path, tmp_path: Path) -> None:
    """``responses-ws spec check`` passes on the data inside the wheel."""
    result = run_outside(fresh_python, "-m", "conformance.cli", "spec", "check", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAIL" not in result.stdout


def test_installed_wheel_runs_the_reference_server_command(
    fresh_python: Path, tmp_path: Path
) -> None:
    """The reference server starts from the wheel (its fault list needs its schemas)."""
    result = run_outside(
        fresh_python, "-m", "conformance.cli", "serve", "--fault", "help", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "drop-terminal" in result.stdout
