"""Make the package importable when its tests run from a source checkout without
installing it first (`pip install -e .` works too)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
