"""Write the five report notebooks ``0N_*.ipynb`` from their jupytext sources ``0N_*.py`` (py:percent).

``python notebooks/build_notebooks.py`` regenerates them (``make notebooks``); ``--check`` lists the stale
ones and exits 1 (``make lint``, ``tests/test_notebooks.py``). The ``.ipynb`` files stay committed: papermill
executes them. They carry no outputs, fixed metadata and cell ids ``<stage>-<nn>``, so regenerating is stable.
"""

from __future__ import annotations

import sys
from pathlib import Path

import jupytext
import nbformat

HERE = Path(__file__).resolve().parent
METADATA = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"}}


def build(source: Path) -> str:
    """The ``.ipynb`` text generated from one ``.py`` source."""
    nb = jupytext.read(source, fmt="py:percent")
    nb.metadata = nbformat.from_dict(METADATA)
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"{source.stem}-{i:02d}"
    return jupytext.writes(nb, fmt="ipynb") + "\n"


def main(check: bool = False, folder: Path = HERE) -> int:
    """Write (or with ``check``, compare) every ``0N_*.ipynb`` of ``folder``; 1 if any was stale."""
    stale = []
    for source in sorted(folder.glob("[0-9][0-9]_*.py")):
        target, text = source.with_suffix(".ipynb"), build(source)
        if check:
            if not target.exists() or target.read_text() != text:
                stale.append(target.name)
        else:
            target.write_text(text)
    if stale:
        print(f"out of date (run python notebooks/build_notebooks.py): {stale}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(check="--check" in sys.argv))
