"""Detect less in video, how to search the region (issue 29): how far the region search's ages are from the
whole-frame search's, by the resolution the region is searched at, on bench_video's clip.

    .venv/bin/python -m benchmarks.bench_region_scale [--frames 250] [--faces 64 75 85 96] [--grid 0.25 0.5 1.0]

--faces N: the region shrunk until its face is N pixels high (region_search.REGION_FACE); --grid B: the region
shrunk on the whole-frame search's bordered pass's own pixel grid (its blocks aligned) and searched by that pass
alone with YuNet's border B times its side. Prints the mean and largest age difference from --full-every 1 and the
milliseconds a frame against it (in-process, --full-every 10).
"""
import argparse
from dataclasses import replace

import cv2
import numpy as np

from benchmarks.bench_video import clip_frames, in_process
from facekit.vision import region_search
from facekit.vision.region_search import RegionSearch


def grid_region(border):
    """A RegionSearch._in_region that shrinks the region on the bordered pass's pixel grid (a probe, not shipped)."""
    def in_region(self, image_rgb, face):
        height, width = image_rgb.shape[:2]
        step = max(1, round(1 / self.detector.pass_scales(height, width)[1]))
        x, y, w, h = face.box
        pad = self.margin * max(w, h)
        x0, y0 = max(0, int(x - pad)) // step * step, max(0, int(y - pad)) // step * step
        x1 = min(width, -(-int(np.ceil(x + w + pad)) // step) * step)
        y1 = min(height, -(-int(np.ceil(y + h + pad)) // step) * step)
        size = (max(2, (x1 - x0) // step), max(2, (y1 - y0) // step))
        region = cv2.resize(image_rgb[y0:y1, x0:x1], size, interpolation=cv2.INTER_AREA)
        rows = self.detector._rows_at(np.ascontiguousarray(region), 1.0, border)
        if not len(rows):
            return None
        sx, sy = (x1 - x0) / size[0], (y1 - y0) / size[1]
        centre = ((x + w / 2 - x0) / sx, (y + h / 2 - y0) / sy)
        distances = np.hypot(rows[:, 0] + rows[:, 2] / 2 - centre[0], rows[:, 1] + rows[:, 3] / 2 - centre[1])
        best = rows[np.argmin(distances)]
        landmarks = (best[4:14].reshape(5, 2) * (sx, sy) + (x0, y0)).astype(np.float32)
        box = tuple(int(round(v)) for v in (best[0] * sx + x0, best[1] * sy + y0, best[2] * sx, best[3] * sy))
        return replace(face, box=box, landmarks=landmarks, score=float(best[14]))
    return in_region


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=250)
    parser.add_argument("--faces", type=float, nargs="*", default=[64, 75, 85, 96])
    parser.add_argument("--grid", type=float, nargs="*", default=[])
    args = parser.parse_args()
    frames = clip_frames(args.frames)

    def run(full_every):
        """(the largest face's age on each frame, ms a frame) with bench_video's in-process loop."""
        _, ages, _, milliseconds, _ = in_process(frames, [full_every])[full_every]
        return ages, milliseconds

    whole, whole_ms = run(1)
    print(f"whole frame: {whole_ms:.1f} ms a frame; its age moves {np.nanmean(np.abs(np.diff(whole))):.2f} years "
          "a frame on average")

    def report(label, ages, ms):
        off = np.abs(ages - whole)
        print(f"{label}: {ms:.1f} ms ({ms / whole_ms:.2f}x), age off mean {np.nanmean(off):.2f}, largest "
              f"{np.nanmax(off):.2f}", flush=True)

    shipped = region_search.REGION_FACE
    for face in args.faces:
        region_search.REGION_FACE = face
        report(f"face shrunk to {face:.0f} px", *run(10))
    region_search.REGION_FACE = shipped
    for border in args.grid:
        RegionSearch._in_region = grid_region(border)
        report(f"on the bordered pass's grid, border {border}", *run(10))


if __name__ == "__main__":
    main()
