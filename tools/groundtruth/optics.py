"""Camera optics of the ground-truth scenes that Blender does not render itself, and the COLMAP
export. Pure Python (numpy only where arrays are remapped), imported by gen.py inside Blender
and by distort.py outside it.

Lens distortion is OpenCV's radial-tangential model on normalised image coordinates
(`cv::projectPoints`; vanelia's `src/core/lens.rs`): a scene with `lens_distortion` is rendered
undistorted on a larger canvas with the same focal length in pixels (overscan, so that the
distorted frame's corners have a source), then every output pixel looks up where its ray
lands in the undistorted render. That is the exact forward model, with no Blender convention
in between (Blender's Movie Distortion node uses its own normalisation of the principal point
and coefficients).
"""

import math

# Undistortion: fixed-point iterations and the residual at which they stop (normalised units).
ITERATIONS = 40
TOLERANCE = 1e-12
# Extra pixels of overscan around the farthest source coordinate (bilinear needs one).
OVERSCAN_MARGIN_PX = 4


def distort(x, y, k):
    """OpenCV's forward model: undistorted (x, y) -> distorted, k = dict(k1, k2, p1, p2, k3)."""
    r2 = x * x + y * y
    radial = 1.0 + k["k1"] * r2 + k["k2"] * r2 * r2 + k["k3"] * r2 * r2 * r2
    xd = x * radial + 2.0 * k["p1"] * x * y + k["p2"] * (r2 + 2.0 * x * x)
    yd = y * radial + k["p1"] * (r2 + 2.0 * y * y) + 2.0 * k["p2"] * x * y
    return xd, yd


def undistort(xd, yd, k):
    """The inverse of `distort` by fixed-point iteration (as cv::undistortPoints); works on
    floats and on numpy arrays alike."""
    x, y = xd, yd
    for _ in range(ITERATIONS):
        r2 = x * x + y * y
        radial = 1.0 + k["k1"] * r2 + k["k2"] * r2 * r2 + k["k3"] * r2 * r2 * r2
        dx = 2.0 * k["p1"] * x * y + k["p2"] * (r2 + 2.0 * x * x)
        dy = k["p1"] * (r2 + 2.0 * y * y) + 2.0 * k["p2"] * x * y
        x = (xd - dx) / radial
        y = (yd - dy) / radial
    return x, y


def overscan_size(width, height, fx, fy, k):
    """(width, height) of the undistorted render that covers every source pixel of the
    distorted `width` x `height` frame, principal point at the centre of both."""
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    far_x = far_y = 0.0
    steps = 64
    border = [(i / steps * (width - 1), 0.0) for i in range(steps + 1)]
    border += [(i / steps * (width - 1), height - 1.0) for i in range(steps + 1)]
    border += [(0.0, i / steps * (height - 1)) for i in range(steps + 1)]
    border += [(width - 1.0, i / steps * (height - 1)) for i in range(steps + 1)]
    for u, v in border:
        x, y = undistort((u - cx) / fx, (v - cy) / fy, k)
        # Check the inverse (the model must be monotonic over the frame).
        xd, yd = distort(x, y, k)
        if abs(xd * fx + cx - u) > 1e-6 or abs(yd * fy + cy - v) > 1e-6:
            raise SystemExit(f"lens {k}: no inverse at pixel ({u}, {v})")
        far_x, far_y = max(far_x, abs(x * fx)), max(far_y, abs(y * fy))
    half_w = max(math.ceil(far_x) + OVERSCAN_MARGIN_PX, (width + 1) // 2)
    half_h = max(math.ceil(far_y) + OVERSCAN_MARGIN_PX, (height + 1) // 2)
    # Same parity as the output so both principal points are at the same sub-pixel phase.
    return 2 * half_w + width % 2, 2 * half_h + height % 2


def remap(image, width, height, fx, fy, k):
    """The distorted `width` x `height` view of an undistorted overscan `image` (numpy
    H x W x C float array, principal point at its centre), bilinear."""
    import numpy as np

    src_h, src_w = image.shape[:2]
    v, u = np.mgrid[0:height, 0:width].astype(np.float64)
    x, y = undistort((u - (width - 1) / 2.0) / fx, (v - (height - 1) / 2.0) / fy, k)
    sx = x * fx + (src_w - 1) / 2.0
    sy = y * fy + (src_h - 1) / 2.0
    x0 = np.clip(np.floor(sx).astype(np.int64), 0, src_w - 2)
    y0 = np.clip(np.floor(sy).astype(np.int64), 0, src_h - 2)
    tx = np.clip(sx - x0, 0.0, 1.0)[..., None]
    ty = np.clip(sy - y0, 0.0, 1.0)[..., None]
    top = image[y0, x0] * (1 - tx) + image[y0, x0 + 1] * tx
    bottom = image[y0 + 1, x0] * (1 - tx) + image[y0 + 1, x0 + 1] * tx
    return top * (1 - ty) + bottom * ty


def quaternion_from_matrix(m):
    """(w, x, y, z) of a 3x3 rotation given as rows."""
    trace = m[0][0] + m[1][1] + m[2][2]
    if trace > 0:
        s = 0.5 / math.sqrt(trace + 1.0)
        q = (0.25 / s, (m[2][1] - m[1][2]) * s, (m[0][2] - m[2][0]) * s, (m[1][0] - m[0][1]) * s)
    elif m[0][0] > m[1][1] and m[0][0] > m[2][2]:
        s = 2.0 * math.sqrt(1.0 + m[0][0] - m[1][1] - m[2][2])
        q = ((m[2][1] - m[1][2]) / s, 0.25 * s, (m[0][1] + m[1][0]) / s, (m[0][2] + m[2][0]) / s)
    elif m[1][1] > m[2][2]:
        s = 2.0 * math.sqrt(1.0 + m[1][1] - m[0][0] - m[2][2])
        q = ((m[0][2] - m[2][0]) / s, (m[0][1] + m[1][0]) / s, 0.25 * s, (m[1][2] + m[2][1]) / s)
    else:
        s = 2.0 * math.sqrt(1.0 + m[2][2] - m[0][0] - m[1][1])
        q = ((m[1][0] - m[0][1]) / s, (m[0][2] + m[2][0]) / s, (m[1][2] + m[2][1]) / s, 0.25 * s)
    return q if q[0] >= 0 else tuple(-c for c in q)


def write_colmap(folder, width, height, frames, points, lens):
    """A COLMAP text model (COLMAP's doc/format.rst) of the track: one camera (PINHOLE, or
    OPENCV with the distortion), one image per frame named frame_NNNNNN.png (numbered from 0,
    so image N is frame N), the scene points with error 1 and no 2D tracks. COLMAP puts pixel
    centres at +0.5, so its principal point is ours plus half a pixel."""
    import os

    os.makedirs(folder, exist_ok=True)
    f0 = frames[0]
    intr = [f0["fx"], f0["fy"], f0["cx"] + 0.5, f0["cy"] + 0.5]
    if lens:
        model, params = "OPENCV", intr + [lens["k1"], lens["k2"], lens["p1"], lens["p2"]]
    else:
        model, params = "PINHOLE", intr
    with open(os.path.join(folder, "cameras.txt"), "w") as fh:
        fh.write("# Camera list with one line of data per camera:\n")
        fh.write("#   CAMERA_ID, MODEL, WIDTH, HEIGHT, PARAMS[]\n")
        fh.write(f"1 {model} {width} {height} " + " ".join(repr(float(p)) for p in params) + "\n")
    with open(os.path.join(folder, "images.txt"), "w") as fh:
        fh.write("# IMAGE_ID, QW, QX, QY, QZ, TX, TY, TZ, CAMERA_ID, NAME\n")
        fh.write("# POINTS2D[] as (X, Y, POINT3D_ID)\n")
        for i, f in enumerate(frames):
            w = f["world_from_cam"]
            r = [[w[a][b] for a in range(3)] for b in range(3)]  # cam_from_world = R^T
            c = [w[0][3], w[1][3], w[2][3]]
            t = [-sum(r[a][b] * c[b] for b in range(3)) for a in range(3)]
            q = quaternion_from_matrix(r)
            fh.write(f"{i + 1} " + " ".join(repr(float(v)) for v in (*q, *t))
                     + f" 1 frame_{f['frame']:06d}.png\n\n")
    with open(os.path.join(folder, "points3D.txt"), "w") as fh:
        fh.write("# POINT3D_ID, X, Y, Z, R, G, B, ERROR, TRACK[] as (IMAGE_ID, POINT2D_IDX)\n")
        for i, p in enumerate(points):
            fh.write(f"{i + 1} {p[0]!r} {p[1]!r} {p[2]!r} 128 128 128 1.0\n")
