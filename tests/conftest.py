"""Make the shared test helpers (``hf_oracle``, ``hf_minimal``) importable whatever pytest's
import mode, and silence transformers' per-build log lines."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

_TESTS = str(Path(__file__).resolve().parent)
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)

logging.getLogger("transformers").setLevel(logging.ERROR)
