"""Distorts a scene's rendered PNGs to its lens (see optics.py): the undistorted overscan
renders in SCRATCH/<scene>/<pass>/ move to <pass>.undistorted/ and the distorted frames of the
output size take their place. render.sh runs it for scenes whose scene.json has
`optics.lens_distortion`; a no-op otherwise.

    python3 tools/groundtruth/distort.py OUT/<scene>/scene.json SCRATCH/<scene>

Needs numpy and Pillow (python3-numpy, python3-pil).
"""

import json
import os
import shutil
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import optics  # noqa: E402


def main():
    scene_json, scratch = sys.argv[1:3]
    doc = json.load(open(scene_json))
    lens = doc.get("optics", {}).get("lens_distortion")
    if not lens:
        return
    cam = doc["camera"]
    width, height = doc["width"], doc["height"]
    for pass_name in ("plate", "truth", "matte"):
        src = os.path.join(scratch, pass_name)
        if not os.path.isdir(src):
            continue
        keep = src + ".undistorted"
        if os.path.isdir(keep):
            shutil.rmtree(src)  # an earlier run's distorted frames
        else:
            os.rename(src, keep)
        os.makedirs(src)
        for name in sorted(os.listdir(keep)):
            image = Image.open(os.path.join(keep, name))
            mode = image.mode
            pixels = np.asarray(image, dtype=np.float64)
            if pixels.ndim == 2:
                pixels = pixels[..., None]
            out = optics.remap(pixels, width, height, cam["fx"], cam["fy"], lens)
            out = np.clip(np.rint(out), 0, 255).astype(np.uint8)
            if out.shape[2] == 1:
                out = out[..., 0]
            Image.fromarray(out, mode).save(os.path.join(src, name))
        print(f"[distort] {pass_name}: {len(os.listdir(src))} frames", flush=True)


if __name__ == "__main__":
    main()
