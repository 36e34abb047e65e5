"""What the app tests drive: the entry file, its pages and the Estimate page's tabs."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
PAGES = ["compare", "explore", "validate", "methods"]
TABS = ["Parameters", "Inference memory", "Training memory", "Compute, time & cost",
        "Serving speed", "Export & share"]
