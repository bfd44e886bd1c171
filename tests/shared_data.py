"""Where the real test data lives: ../shared beside the project root (read-only, never copied in)."""
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
UTKFACE = SHARED / "data" / "utkface" / "UTKFace"

needs_utkface = pytest.mark.skipif(not UTKFACE.is_dir(), reason=f"UTKFace not found at {UTKFACE}")
