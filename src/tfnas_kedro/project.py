"""Where the project is, for the paths parameters name (the resume checkpoint folders).

The catalog resolves its relative paths against the Kedro project's path, wherever Kedro was
started from; a relative ``checkpoint_dir`` means the same here: the project of the running session
(``session.ProjectSession.run`` sets it with ``running_in`` for the length of the run), else the
project that contains the working directory, else the working directory (a packaged project run
outside any project, as Kedro does).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import tomllib

_project_path: Path | None = None


@contextmanager
def running_in(path: str | Path) -> Iterator[None]:
    """Relative paths are taken from ``path`` inside this block (a session's run), and from
    wherever they were before once it ends, however it ends."""
    global _project_path
    before, _project_path = _project_path, Path(path)
    try:
        yield
    finally:
        _project_path = before


def project_root(start: Path) -> Path | None:
    """The nearest folder at or above ``start`` with a pyproject.toml that has a ``[tool.kedro]`` table."""
    for folder in (start.resolve(), *start.resolve().parents):
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file() and "kedro" in tomllib.loads(pyproject.read_text()).get("tool", {}):
            return folder
    return None


def project_path() -> Path:
    return _project_path or project_root(Path.cwd()) or Path.cwd()


def resolve(path: str | Path) -> str:
    """``path`` as an absolute path; a relative one is taken from the project's folder."""
    path = Path(path).expanduser()
    return str(path if path.is_absolute() else project_path() / path)
