"""katsaus installed as a wheel, not from the checkout: its data files come with it, `katsaus demo` works anywhere."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Builds a wheel and runs the demo on a temporary Prefect server: a minute.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh virtual environment with katsaus's wheel installed; its dependencies are this environment's."""
    tmp = tmp_path_factory.mktemp("installed")
    # Built from a copy: a build writes its metadata beside the sources, never into the working tree.
    source = tmp / "source"
    ignored = shutil.ignore_patterns(".git", ".venv", "var", "out", "build", "*.egg-info", "__pycache__")
    shutil.copytree(ROOT, source, ignore=ignored)
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp / "dist"), str(source)]
    built = subprocess.run(pip_wheel, capture_output=True, text=True)
    assert built.returncode == 0, built.stdout + built.stderr
    wheel = next((tmp / "dist").glob("katsaus-*.whl"))
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
    subprocess.run(
        [venv / "bin" / "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True, capture_output=True
    )
    # The dependencies, not katsaus: a path in a .pth file is added as it is, its own .pth files
    # (this environment's editable install of the checkout) are not read.
    site = Path(
        subprocess.check_output(
            [venv / "bin" / "python", "-c", "import site; print(site.getsitepackages()[0])"], text=True
        ).strip()
    )
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    return venv


def clean_env(home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_") and k != "PYTHONPATH"}
    return {**env, "PREFECT_HOME": str(home / "prefect"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}


def test_the_packages_and_their_data_come_from_the_wheel(installed, tmp_path):
    code = (
        "import flows, tasks, reports, expectations, deployments\n"
        "from tasks.contracts.catalog import catalog\n"
        "from tasks.ingest.validate import suite_document\n"
        "from tasks.report.render import TEMPLATES\n"
        "print(tasks.__file__); print(len(catalog().indicators), len(suite_document('ledger')['expectations']))\n"
        "print((TEMPLATES / 'report.html.j2').is_file())"
    )
    out = subprocess.run(
        [installed / "bin" / "python", "-c", code],
        cwd=tmp_path,
        env=clean_env(tmp_path),
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    where, counts, template = out.stdout.splitlines()
    assert where.startswith(str(installed)) and not where.startswith(str(ROOT))
    assert counts.split()[0] == "15" and int(counts.split()[1]) > 10
    assert template == "True"


def test_katsaus_demo_runs_from_another_folder(installed, tmp_path):
    elsewhere = tmp_path / "somewhere"
    elsewhere.mkdir()
    out = subprocess.run(
        [installed / "bin" / "katsaus", "demo"],
        cwd=elsewhere,
        env=clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Prefectin väliaikainen palvelin käynnistyi" in out.stdout  # what a run without a server paid for one
    # Quiet success: the report's place and a paragraph of what it says, in Finnish; no library's log line,
    # warning or traceback on either stream.
    said = out.stdout + out.stderr
    assert "Traceback" not in said and "Warning" not in said
    assert not re.search(r"\| *(DEBUG|INFO|WARNING|ERROR|CRITICAL) *\|", said), said
    lines = out.stdout.splitlines()
    assert lines[-1] == "Toimitus: luonnos, ei toimitettu", lines
    summary = next(line for line in lines if line.startswith("Yhteenveto: "))
    assert "Toimintakate toteuma" in summary and "Sitovat toiminnan tavoitteet:" in summary
    report = elsewhere / "out" / "2024-08-forecast"
    assert (report / "report.pdf").read_bytes().startswith(b"%PDF")
    assert "3. toteutumisennuste 2024" in (report / "report.html").read_text(encoding="utf-8")
    assert (elsewhere / "var" / "extracts" / "talous_toteuma_202408.csv").is_file()
