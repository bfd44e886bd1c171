"""Makes the README's example photo: real Adience faces (from outside UTKFace) side by side, in a temp file.

    .venv/bin/python -m benchmarks.readme_example /tmp/example.jpg
    .venv/bin/python face_demo.py /tmp/example.jpg --output docs/example_annotated.jpg --json docs/example.json
"""
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from facekit.core.paths import shared_dir

SHARED = shared_dir()  # ../shared, or FACEKIT_SHARED

SAMPLE = SHARED / "data" / "adience" / "sample_aligned" / "30601258@N03"
# Adience's labels for these: face 1 is a woman, face 2 a man, both (25, 32).
FILES = ("coarse_tilt_aligned_face.1.10399404074_da554f9eb6_o.jpg",
         "coarse_tilt_aligned_face.2.9350168814_0c8c86073d_o.jpg",
         "coarse_tilt_aligned_face.1.11341908724_888bbe9495_o.jpg")


def main():
    output = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/example.jpg")
    tiles = [np.asarray(Image.open(SAMPLE / name).convert("RGB").resize((400, 400), Image.LANCZOS)) for name in FILES]
    Image.fromarray(np.concatenate(tiles, axis=1)).save(output, quality=92)
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
