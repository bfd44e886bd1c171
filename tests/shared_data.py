"""Where the real test data lives: ../shared beside the project root (read-only, never copied in), or the folder
that FACEKIT_SHARED names; point it at a missing folder to run the suite as a machine without the data would."""
import pytest

from facekit.core import paths

SHARED = paths.shared_dir()
UTKFACE = SHARED / "data" / "utkface" / "UTKFace"

needs_utkface = pytest.mark.skipif(not UTKFACE.is_dir(), reason=f"UTKFace not found at {UTKFACE}")
FAIRFACE_SAMPLE = SHARED / "data" / "fairface" / "sample"
needs_fairface_sample = pytest.mark.skipif(not FAIRFACE_SAMPLE.is_dir(),
                                           reason=f"FairFace sample not found at {FAIRFACE_SAMPLE}")
