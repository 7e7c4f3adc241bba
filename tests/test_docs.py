"""The manual (docs/, built by MkDocs) and the README that points into it."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}


def _build(project: Path, site: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)]
    return subprocess.run(command, cwd=project, env=ENV, capture_output=True, text=True, timeout=120)


def test_the_manual_builds_in_strict_mode(tmp_path):
    result = _build(ROOT, tmp_path / "site")
    assert result.returncode == 0, result.stdout + result.stderr
    pages = {p.parent.name for p in (tmp_path / "site").glob("*/index.html")}
    assert {"method", "search", "studies", "measurements", "device-tables"} <= pages


def test_a_broken_link_or_a_page_left_out_of_the_navigation_fails_the_build(tmp_path):
    for case in ("link", "page"):
        project = tmp_path / case
        shutil.copytree(ROOT / "docs", project / "docs")
        shutil.copy(ROOT / "mkdocs.yml", project / "mkdocs.yml")
        if case == "link":
            search = project / "docs" / "search.md"
            search.write_text(search.read_text() + "\nSee [the old page](no-such-page.md).\n")
        else:
            (project / "docs" / "orphan.md").write_text("# Orphan\n")
        result = _build(project, project / "site")
        assert result.returncode != 0
        assert ("no-such-page.md" if case == "link" else "orphan.md") in result.stdout + result.stderr


def test_the_readme_fits_on_a_screen_and_its_links_resolve():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 250
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme)
    assert targets and all((ROOT / t).exists() for t in targets if "://" not in t), targets
