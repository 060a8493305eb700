"""The project's shipped cases: the params files git tracks in ``params/``, the one list the tests parametrize over.

A user's own file in ``params/`` (untracked, perhaps half-written) is not one of them: it must not fail the
project's test suite (``mmm-report validate`` is there for it). Outside a git checkout (a source archive) every
``params/*.yaml`` (and ``params/workshop/*.yaml``) is shipped.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def shipped_params(root: Path = ROOT) -> list[Path]:
    """``params/*.yaml`` and ``params/workshop/*.yaml`` as git tracks them (staged files included), sorted; present
    in the work tree."""
    folder = root / "params"
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "--", "params"], cwd=root, capture_output=True, text=True,
                                check=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):  # no git, or not a checkout
        return sorted([*folder.glob("*.yaml"), *folder.glob("workshop/*.yaml")])
    paths = [root / name for name in listed.split("\0") if name]
    return sorted(p for p in paths if p.parent in (folder, folder / "workshop") and p.suffix == ".yaml" and p.is_file())
