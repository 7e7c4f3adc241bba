"""Size of the newest version of every versioned artifact under ``data/`` (after a run).

    python benchmarks/artifact_sizes.py [--data data] [--limit-mb 5]

A versioned artifact is ``data/<layer>/<name>/<version>/<name>``; the resume checkpoints
(``*_checkpoints/``) and the tracking store are listed apart, as they are not versions.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

VERSION = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}\.\d{2}\.\d{2}\.\d{3}Z")


def folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else path.stat().st_size


def versioned_artifacts(data: Path) -> dict[str, tuple[int, int]]:
    """``layer/.../name`` -> (bytes of the newest version, number of versions)."""
    found = {}
    for artifact in sorted({p.parent.parent for p in data.rglob("*") if VERSION.fullmatch(p.parent.name)}):
        versions = sorted(v for v in artifact.iterdir() if VERSION.fullmatch(v.name))
        found[str(artifact.relative_to(data))] = (folder_size(versions[-1]), len(versions))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("data"))
    parser.add_argument("--limit-mb", type=float, default=5.0, help="flag versions larger than this")
    args = parser.parse_args()
    rows = versioned_artifacts(args.data)
    print(f"{'artifact':60s} {'newest version':>15s} {'versions':>9s}")
    for name, (size, count) in sorted(rows.items(), key=lambda item: -item[1][0]):
        flag = "  > limit" if size > args.limit_mb * 2**20 else ""
        print(f"{name:60s} {size / 2**20:12.3f} MB {count:9d}{flag}")
    total = sum(size for size, _ in rows.values())
    print(f"{len(rows)} versioned artifacts, newest versions together {total / 2**20:.1f} MB")
    for folder in sorted(args.data.glob("06_models/*_checkpoints")) + [args.data / "09_tracking"]:
        if folder.exists():
            print(f"not versioned: {folder} {folder_size(folder) / 2**20:.1f} MB")


if __name__ == "__main__":
    main()
