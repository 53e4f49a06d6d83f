#!/usr/bin/env python3
"""Silhouette IoU between a ground-truth scene's mattes and another coverage mask sequence.

    check_iou.py SCENE_DIR                 # mattes vs. the GLB rasterised here (numpy) with
                                           # poses.json and scene.json's placement
    check_iou.py SCENE_DIR MASK_DIR        # mattes vs. vanelia's <nr>.mask.png (vanelia render)

SCENE_DIR is tests/fixtures/groundtruth/<scene> (matte/NNNNNN.png, product.glb, poses.json,
scene.json). Masks are thresholded at 50 %. Prints per-frame IoU and min/mean; exits 1 when the
minimum is below --min (default 0.97). Needs numpy and Pillow (Debian: python3-numpy,
python3-pil).
"""

import argparse
import glob
import json
import os
import re
import struct
import sys

import numpy as np
from PIL import Image


def read_glb_triangles(path):
    """World-independent model-space triangles (N, 3, 3) of a GLB, node transforms applied."""
    data = open(path, "rb").read()
    clen, _ = struct.unpack_from("<II", data, 12)
    doc = json.loads(data[20:20 + clen])
    off = 20 + clen
    blen, _ = struct.unpack_from("<II", data, off)
    binchunk = data[off + 8:off + 8 + blen]

    def accessor(i):
        a = doc["accessors"][i]
        v = doc["bufferViews"][a["bufferView"]]
        comps = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4}[a["type"]]
        dtype = {5126: np.float32, 5125: np.uint32, 5123: np.uint16, 5121: np.uint8}[
            a["componentType"]]
        start = v.get("byteOffset", 0) + a.get("byteOffset", 0)
        n = a["count"] * comps
        stride = v.get("byteStride")
        item = np.dtype(dtype).itemsize * comps
        if stride and stride != item:
            raw = np.frombuffer(binchunk, np.uint8, a["count"] * stride, start)
            raw = raw.reshape(a["count"], stride)[:, :item].copy()
            return raw.view(dtype).reshape(a["count"], comps)
        return np.frombuffer(binchunk, dtype, n, start).reshape(a["count"], comps)

    def node_matrix(n):
        if "matrix" in n:
            return np.array(n["matrix"], float).reshape(4, 4).T
        t = np.eye(4)
        t[:3, 3] = n.get("translation", [0, 0, 0])
        x, y, z, w = n.get("rotation", [0, 0, 0, 1])
        r = np.eye(4)
        r[:3, :3] = [[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]]
        s = np.diag(list(n.get("scale", [1, 1, 1])) + [1])
        return t @ r @ s

    tris = []

    def visit(i, parent):
        n = doc["nodes"][i]
        m = parent @ node_matrix(n)
        if "mesh" in n:
            for prim in doc["meshes"][n["mesh"]]["primitives"]:
                if prim.get("mode", 4) != 4:
                    continue
                p = accessor(prim["attributes"]["POSITION"]).astype(float)
                p = p @ m[:3, :3].T + m[:3, 3]
                idx = (accessor(prim["indices"]).reshape(-1) if "indices" in prim
                       else np.arange(len(p)))
                tris.append(p[idx.reshape(-1, 3)])
        for c in n.get("children", []):
            visit(c, m)

    for i in doc["scenes"][doc.get("scene", 0)]["nodes"]:
        visit(i, np.eye(4))
    return np.concatenate(tris)


def rasterise(tris_world, frame, width, height):
    """Binary coverage at pixel centres (integer coordinates, OpenCV convention)."""
    wfc = np.array(frame["world_from_cam"], float)
    cfw = np.linalg.inv(wfc)
    p = tris_world @ cfw[:3, :3].T + cfw[:3, 3]
    z = p[..., 2]
    u = frame["fx"] * p[..., 0] / z + frame["cx"]
    v = frame["fy"] * p[..., 1] / z + frame["cy"]
    mask = np.zeros((height, width), bool)
    for (u0, u1, u2), (v0, v1, v2), zz in zip(u, v, z):
        if (zz <= 0).any():
            continue
        x0, x1 = int(np.floor(min(u0, u1, u2))), int(np.ceil(max(u0, u1, u2)))
        y0, y1 = int(np.floor(min(v0, v1, v2))), int(np.ceil(max(v0, v1, v2)))
        x0, y0 = max(x0, 0), max(y0, 0)
        x1, y1 = min(x1, width - 1), min(y1, height - 1)
        if x1 < x0 or y1 < y0:
            continue
        xs, ys = np.meshgrid(np.arange(x0, x1 + 1), np.arange(y0, y1 + 1))
        d = (u1 - u0) * (v2 - v0) - (u2 - u0) * (v1 - v0)
        if abs(d) < 1e-12:
            continue
        a = ((u1 - xs) * (v2 - ys) - (u2 - xs) * (v1 - ys)) / d
        b = ((u2 - xs) * (v0 - ys) - (u0 - xs) * (v2 - ys)) / d
        c = 1 - a - b
        inside = (a >= 0) & (b >= 0) & (c >= 0)
        mask[y0:y1 + 1, x0:x1 + 1] |= inside
    return mask


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("scene_dir")
    ap.add_argument("mask_dir", nargs="?")
    ap.add_argument("--matte-dir", help="mattes (default SCENE_DIR/matte)")
    ap.add_argument("--min", type=float, default=0.97)
    args = ap.parse_args()
    sd = args.scene_dir
    matte_dir = args.matte_dir or os.path.join(sd, "matte")
    mattes = sorted(glob.glob(os.path.join(matte_dir, "*.png")))
    poses = json.load(open(os.path.join(sd, "poses.json")))
    W, H = poses["width"], poses["height"]
    if args.mask_dir is None:
        scene = json.load(open(os.path.join(sd, "scene.json")))
        m = np.array(scene["placement"]["world_from_object_gltf"], float)
        tris = read_glb_triangles(os.path.join(sd, "product.glb"))
        tris_world = tris @ m[:3, :3].T + m[:3, 3]
        others = None
    else:
        others = {}
        for p in glob.glob(os.path.join(args.mask_dir, "*.mask.png")):
            nr = int(re.match(r"(\d+)", os.path.basename(p)).group(1))
            others[nr] = p
    ious = []
    for i, mp in enumerate(mattes):
        nr = int(re.match(r"(\d+)", os.path.basename(mp)).group(1))
        a = np.array(Image.open(mp))
        if a.ndim == 3:
            a = a[..., -1]
        a = a >= 128
        if others is None:
            b = rasterise(tris_world, poses["frames"][nr], W, H)
        else:
            if nr not in others:
                print(f"frame {nr}: no mask", file=sys.stderr)
                ious.append(0.0)
                continue
            b = np.array(Image.open(others[nr]).convert("L")) >= 128
        inter = (a & b).sum()
        union = (a | b).sum()
        iou = inter / union if union else 1.0
        ious.append(iou)
        ca = np.argwhere(a).mean(0) if a.any() else (np.nan, np.nan)
        cb = np.argwhere(b).mean(0) if b.any() else (np.nan, np.nan)
        print(f"frame {nr:3d} IoU {iou:.4f}  matte {a.sum():6d} px  other {b.sum():6d} px  "
              f"centroid shift (x, y) = ({cb[1] - ca[1]:+.2f}, {cb[0] - ca[0]:+.2f}) px")
    if not ious:
        print("no mattes found", file=sys.stderr)
        return 2
    print(f"IoU min {min(ious):.4f} mean {sum(ious) / len(ious):.4f} over {len(ious)} frames")
    return 0 if min(ious) >= args.min else 1


if __name__ == "__main__":
    sys.exit(main())
