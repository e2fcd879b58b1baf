"""Command line: ``python -m edigate.edifact.dirgen --source ../shared/unedifact --out DIR``.

Also runs as a plain script before the package is installed:
``python gateway/edifact/dirgen/__main__.py --source ../shared/unedifact --out DIR``.
"""

from __future__ import annotations

import sys
from pathlib import Path

try:
    from edigate.edifact.dirgen.compiler import main
except ImportError:  # run as a plain script: import the sibling modules from this folder
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from compiler import main  # type: ignore[no-redef]

if __name__ == "__main__":
    sys.exit(main())
