"""Ground-truth scene generator for vanelia (Blender 3.4, Cycles on the CPU).

Run headless:

    blender -b --factory-startup --python tools/groundtruth/gen.py -- SCENE|all OUTDIR \
        [--frames N] [--size WxH] [--samples N] [--scratch DIR] [--passes plate,truth,matte] \
        [--no-render]

Per scene it writes OUTDIR/<scene>/{product.glb,poses.json,scene.json} and renders the same
camera move three times as PNG sequences under SCRATCH/<scene>/{plate,truth,matte}/NNNN.png:
the scene without the product, with it, and the product's visible coverage as alpha (every
other object a holdout). tools/groundtruth/render.sh packs them into plate.mp4, truth.mp4 and
matte/NNNNNN.png. See tools/groundtruth/README.md for the conventions.

World frame: Blender's (Z up, metres); vanelia's world is the same frame (`--up 0,0,1`).
"""

import json
import math
import os
import struct
import sys
import time

import bmesh
import bpy
from mathutils import Matrix, Vector

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import optics  # noqa: E402  (lens distortion and the COLMAP export, shared with distort.py)

# --------------------------------------------------------------------------------------------
# Scene definitions
# --------------------------------------------------------------------------------------------

# Camera azimuths and prop positions are given in a frame local to the product: `fwd` points
# from the (frame 0) camera towards the product along the floor, `right` is to the camera's
# right. Angles in degrees. Sun azimuth is relative to the direction towards the camera:
# 0 = the sun is behind the camera (front light), 90 = from the camera's right side,
# 180 = the sun is in front of the camera (back light).

SCENES = {
    "sun_high": dict(
        desc="High sun (65 deg) from behind-left of the camera, blue-ish sky, medium grey floor.",
        product="perfume", material="red_plastic", scale=1.0, yaw=25.0,
        anchor=(0.0, 0.0, 0.0), cam_azimuth=-90.0,
        light=dict(type="SUN", elevation=65.0, azimuth=-35.0, strength=3.2,
                   color=(1.0, 0.97, 0.92), angle=1.0),
        world=dict(color=(0.45, 0.6, 0.9), strength=0.5),
        floor=dict(albedo=0.35, tint=(1.0, 1.0, 1.0), texture=0.25),
        camera=dict(lens=30.0, distance=1.25, pitch=28.0, sweep=18.0, dolly=0.10, rise=0.0),
        props="A",
    ),
    "sun_low": dict(
        desc="Low warm sun (22 deg) from the camera's right side: long shadows across the image.",
        product="bottle", material="green_glossy", scale=1.0, yaw=0.0,
        anchor=(0.10, -0.05, 0.0), cam_azimuth=-110.0,
        light=dict(type="SUN", elevation=22.0, azimuth=95.0, strength=5.0,
                   color=(1.0, 0.72, 0.45), angle=0.8),
        world=dict(color=(0.5, 0.6, 0.8), strength=0.35),
        floor=dict(albedo=0.40, tint=(1.0, 0.97, 0.92), texture=0.3),
        camera=dict(lens=30.0, distance=1.35, pitch=26.0, sweep=-20.0, dolly=0.0, rise=0.06),
        props="B",
    ),
    "overcast": dict(
        desc="Overcast: no sun, a bright uniform sky; only soft contact shadows.",
        product="pitcher", material="white_ceramic", scale=1.0, yaw=-40.0,
        anchor=(-0.05, 0.08, 0.0), cam_azimuth=-75.0,
        light=None,
        world=dict(color=(0.92, 0.94, 0.97), strength=1.1),
        floor=dict(albedo=0.30, tint=(1.0, 1.0, 1.0), texture=0.25),
        camera=dict(lens=30.0, distance=1.2, pitch=32.0, sweep=22.0, dolly=0.08, rise=0.0),
        props="C",
        samples_factor=1.5,
    ),
    "indoor_area": dict(
        desc="Indoor: a 0.5 m square area lamp 1.6 m above the floor, to the right, dim world, two walls.",
        product="speaker", material="speaker", scale=1.0, yaw=30.0,
        anchor=(0.0, 0.0, 0.0), cam_azimuth=-90.0,
        light=dict(type="AREA", shape="SQUARE", size=0.5, power=40.0,
                   offset=(0.7, -0.2, 1.6), color=(1.0, 0.93, 0.85)),
        world=dict(color=(0.85, 0.9, 1.0), strength=0.04),
        floor=dict(albedo=0.45, tint=(1.0, 0.9, 0.78), texture=0.3),
        walls=dict(albedo=0.6, back=0.9, side=-0.75),
        camera=dict(lens=28.0, distance=1.25, pitch=24.0, sweep=-16.0, dolly=0.12, rise=0.0),
        props="D",
    ),
    "coloured_light": dict(
        desc="Strongly orange sun (40 deg) from in front of the camera (back light), blue sky fill.",
        product="perfume", material="gold_metal", scale=1.2, yaw=-20.0,
        anchor=(0.0, 0.1, 0.0), cam_azimuth=-60.0,
        light=dict(type="SUN", elevation=40.0, azimuth=155.0, strength=4.5,
                   color=(1.0, 0.45, 0.12), angle=1.5),
        world=dict(color=(0.3, 0.45, 1.0), strength=0.55),
        floor=dict(albedo=0.45, tint=(1.0, 1.0, 1.0), texture=0.2),
        camera=dict(lens=30.0, distance=1.45, pitch=27.0, sweep=16.0, dolly=-0.10, rise=0.0),
        props="A",
    ),
    "dark_floor": dict(
        desc="Sun (45 deg) from the camera's left on a dark floor (albedo 0.05); matte blue product.",
        product="bottle", material="blue_matte", scale=1.0, yaw=60.0,
        anchor=(0.05, 0.05, 0.0), cam_azimuth=-95.0,
        light=dict(type="SUN", elevation=45.0, azimuth=-75.0, strength=4.5,
                   color=(1.0, 0.96, 0.9), angle=0.6),
        world=dict(color=(0.5, 0.62, 0.85), strength=0.5),
        floor=dict(albedo=0.05, tint=(1.0, 1.0, 1.0), texture=0.3),
        camera=dict(lens=30.0, distance=1.3, pitch=30.0, sweep=-18.0, dolly=0.0, rise=0.05),
        props="B",
    ),
    "bright_floor": dict(
        desc="Sun (50 deg) from behind-right of the camera on a bright floor (albedo 0.8); glossy black product.",
        product="pitcher", material="black_glossy", scale=0.9, yaw=150.0,
        anchor=(0.0, -0.05, 0.0), cam_azimuth=-100.0,
        light=dict(type="SUN", elevation=50.0, azimuth=50.0, strength=2.4,
                   color=(1.0, 0.98, 0.95), angle=2.5),
        world=dict(color=(0.55, 0.65, 0.85), strength=0.3),
        floor=dict(albedo=0.80, tint=(1.0, 1.0, 1.0), texture=0.15),
        camera=dict(lens=30.0, distance=1.15, pitch=30.0, sweep=15.0, dolly=0.08, rise=0.0),
        props="C",
    ),
    "motion_blur": dict(
        desc="Fast orbit that also pans past the product, Cycles motion blur (shutter 0.5 = 180 deg).",
        product="speaker", material="orange_plastic", scale=1.0, yaw=-70.0,
        anchor=(0.0, 0.0, 0.0), cam_azimuth=-80.0,
        light=dict(type="SUN", elevation=55.0, azimuth=-120.0, strength=4.0,
                   color=(1.0, 0.96, 0.9), angle=1.0),
        world=dict(color=(0.45, 0.6, 0.9), strength=0.55),
        floor=dict(albedo=0.30, tint=(1.0, 1.0, 1.0), texture=0.3),
        camera=dict(lens=30.0, distance=1.3, pitch=27.0, sweep=60.0, dolly=0.0, rise=0.0,
                    pan=0.40),
        props="D",
        motion_blur=0.5,
    ),
    "long_shutter": dict(
        desc="Faster orbit and pan with a long shutter (1 frame = 360 deg): long smears.",
        product="bottle", material="red_plastic", scale=1.0, yaw=20.0,
        anchor=(0.0, 0.0, 0.0), cam_azimuth=-100.0,
        light=dict(type="SUN", elevation=50.0, azimuth=60.0, strength=4.2,
                   color=(1.0, 0.96, 0.9), angle=1.0),
        world=dict(color=(0.45, 0.6, 0.9), strength=0.5),
        floor=dict(albedo=0.35, tint=(1.0, 1.0, 1.0), texture=0.3),
        camera=dict(lens=30.0, distance=1.3, pitch=28.0, sweep=-75.0, dolly=0.0, rise=0.0,
                    pan=0.45),
        props="A",
        motion_blur=1.0,
    ),
    "shallow_dof": dict(
        desc="50 mm at f/2 focused 1.15 m away, in front of the product (1.7 m): the product "
             "and the floor around it are soft.",
        product="pitcher", material="orange_plastic", scale=1.0, yaw=30.0,
        anchor=(0.0, 0.0, 0.0), cam_azimuth=-85.0,
        light=dict(type="SUN", elevation=45.0, azimuth=-40.0, strength=4.0,
                   color=(1.0, 0.96, 0.9), angle=1.0),
        world=dict(color=(0.45, 0.6, 0.9), strength=0.5),
        floor=dict(albedo=0.35, tint=(1.0, 1.0, 1.0), texture=0.3),
        camera=dict(lens=50.0, distance=1.7, pitch=24.0, sweep=12.0, dolly=0.0, rise=0.0),
        props="B",
        dof=dict(focus_distance=1.15, fstop=2.0),
        matte_samples=96,
    ),
    "distorted_lens": dict(
        desc="Wide 20 mm lens with barrel distortion (OpenCV k1 -0.22, k2 0.06, slight "
             "tangential), the product crossing the frame.",
        product="speaker", material="speaker", scale=1.0, yaw=-20.0,
        anchor=(0.0, 0.0, 0.0), cam_azimuth=-95.0,
        light=dict(type="SUN", elevation=52.0, azimuth=-60.0, strength=4.0,
                   color=(1.0, 0.96, 0.9), angle=1.0),
        world=dict(color=(0.45, 0.6, 0.9), strength=0.5),
        floor=dict(albedo=0.4, tint=(1.0, 0.97, 0.93), texture=0.3),
        camera=dict(lens=20.0, distance=0.78, pitch=30.0, sweep=20.0, dolly=0.08, rise=0.0,
                    pan=0.55),
        props="C",
        lens_distortion=dict(k1=-0.22, k2=0.06, p1=0.001, p2=-0.0008, k3=0.0),
    ),
}

# Product materials: Principled BSDF base colour (linear), metallic, roughness.
MATERIALS = {
    "red_plastic": dict(base=(0.55, 0.04, 0.035), metallic=0.0, roughness=0.45),
    "green_glossy": dict(base=(0.03, 0.25, 0.08), metallic=0.0, roughness=0.12),
    "white_ceramic": dict(base=(0.8, 0.8, 0.78), metallic=0.0, roughness=0.2),
    "gold_metal": dict(base=(0.9, 0.65, 0.3), metallic=1.0, roughness=0.3),
    "blue_matte": dict(base=(0.05, 0.12, 0.45), metallic=0.0, roughness=0.7),
    "black_glossy": dict(base=(0.02, 0.02, 0.022), metallic=0.0, roughness=0.1),
    "orange_plastic": dict(base=(0.8, 0.22, 0.02), metallic=0.0, roughness=0.4),
    "aluminium": dict(base=(0.91, 0.92, 0.92), metallic=1.0, roughness=0.25),
    "dark_fabric": dict(base=(0.05, 0.05, 0.055), metallic=0.0, roughness=0.85),
    "chrome": dict(base=(0.95, 0.95, 0.95), metallic=1.0, roughness=0.08),
    "cap_black": dict(base=(0.03, 0.03, 0.03), metallic=0.0, roughness=0.35),
}

# A product's material slots: (the scene's main material, the secondary part's material).
SECONDARY = {
    "perfume": "chrome",      # the cap
    "bottle": "cap_black",    # the screw cap
    "pitcher": None,          # one material
    "speaker": "aluminium",   # the top plate and front badge
}

# Prop layouts in the product-local (right, fwd) frame, metres. Every prop stands on the floor.
PROPS = {
    "A": [
        dict(kind="box", size=(0.22, 0.16, 0.16), at=(-0.42, 0.30), rot=20, color=(0.6, 0.55, 0.45)),
        dict(kind="cylinder", radius=0.06, height=0.30, at=(0.40, 0.42), color=(0.2, 0.35, 0.6)),
        dict(kind="sphere", radius=0.08, at=(0.36, -0.10), color=(0.75, 0.75, 0.72)),
        dict(kind="box", size=(0.12, 0.12, 0.08), at=(-0.30, -0.28), rot=-15, color=(0.25, 0.5, 0.3)),
    ],
    "B": [
        dict(kind="box", size=(0.18, 0.18, 0.24), at=(0.45, 0.35), rot=-25, color=(0.55, 0.3, 0.25)),
        dict(kind="cylinder", radius=0.075, height=0.18, at=(-0.40, 0.40), color=(0.7, 0.68, 0.6)),
        dict(kind="sphere", radius=0.07, at=(-0.36, -0.05), color=(0.6, 0.2, 0.2)),
        dict(kind="box", size=(0.30, 0.10, 0.06), at=(0.05, 0.62), rot=5, color=(0.3, 0.3, 0.35)),
    ],
    "C": [
        dict(kind="cylinder", radius=0.05, height=0.26, at=(-0.38, 0.22), color=(0.6, 0.5, 0.3)),
        dict(kind="box", size=(0.20, 0.14, 0.12), at=(0.38, 0.25), rot=35, color=(0.35, 0.45, 0.6)),
        dict(kind="sphere", radius=0.09, at=(0.12, 0.55), color=(0.8, 0.6, 0.2)),
        dict(kind="box", size=(0.10, 0.10, 0.10), at=(-0.35, -0.25), rot=10, color=(0.7, 0.7, 0.7)),
    ],
    "D": [
        dict(kind="box", size=(0.24, 0.20, 0.20), at=(-0.40, 0.38), rot=-10, color=(0.5, 0.42, 0.35)),
        dict(kind="cylinder", radius=0.065, height=0.24, at=(0.42, 0.20), color=(0.3, 0.55, 0.5)),
        dict(kind="sphere", radius=0.075, at=(0.30, -0.22), color=(0.7, 0.7, 0.75)),
        dict(kind="box", size=(0.14, 0.09, 0.20), at=(0.05, 0.60), rot=30, color=(0.6, 0.25, 0.3)),
    ],
}

DEFAULTS = dict(frames=24, fps=24, width=640, height=360, samples=64, seed=7)

# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def log(*args):
    print("[gen]", *args, flush=True)


def parse_args(argv):
    args = dict(DEFAULTS)
    args.update(scenes=None, out=None, scratch="/tmp/groundtruth_render",
                passes=["plate", "truth", "matte"], render=True, only_frames=None)
    rest = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--frames":
            args["frames"] = int(argv[i + 1]); i += 2
        elif a == "--size":
            w, h = argv[i + 1].lower().split("x")
            args["width"], args["height"] = int(w), int(h); i += 2
        elif a == "--samples":
            args["samples"] = int(argv[i + 1]); i += 2
        elif a == "--seed":
            args["seed"] = int(argv[i + 1]); i += 2
        elif a == "--scratch":
            args["scratch"] = argv[i + 1]; i += 2
        elif a == "--passes":
            args["passes"] = [p for p in argv[i + 1].split(",") if p]; i += 2
        elif a == "--only-frames":
            args["only_frames"] = [int(x) for x in argv[i + 1].split(",")]; i += 2
        elif a == "--no-render":
            args["render"] = False; i += 1
        elif a.startswith("--"):
            raise SystemExit(f"unknown option {a}")
        else:
            rest.append(a); i += 1
    if len(rest) != 2:
        raise SystemExit("usage: gen.py -- SCENE|all|a,b OUTDIR [--frames N] [--size WxH] "
                         "[--samples N] [--seed N] [--scratch DIR] [--passes plate,truth,matte] "
                         "[--only-frames 0,23] [--no-render]")
    names = list(SCENES) if rest[0] == "all" else rest[0].split(",")
    for n in names:
        if n not in SCENES:
            raise SystemExit(f"unknown scene {n}; known: {', '.join(SCENES)}")
    args["scenes"], args["out"] = names, rest[1]
    return args


def reset_scene():
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    return scene


def make_material(name, base, metallic=0.0, roughness=0.5, specular=0.5):
    mat = bpy.data.materials.new(name)
    mat.use_nodes = True
    bsdf = mat.node_tree.nodes["Principled BSDF"]
    bsdf.inputs["Base Color"].default_value = (*base, 1.0)
    bsdf.inputs["Metallic"].default_value = metallic
    bsdf.inputs["Roughness"].default_value = roughness
    bsdf.inputs["Specular"].default_value = specular
    mat.diffuse_color = (*base, 1.0)
    return mat


def mesh_object(name, bm, materials=(), smooth_angle=None):
    me = bpy.data.meshes.new(name)
    bm.normal_update()
    bm.to_mesh(me)
    bm.free()
    for m in materials:
        me.materials.append(m)
    if smooth_angle is not None:
        for p in me.polygons:
            p.use_smooth = True
        me.use_auto_smooth = True
        me.auto_smooth_angle = math.radians(smooth_angle)
    obj = bpy.data.objects.new(name, me)
    bpy.context.scene.collection.objects.link(obj)
    return obj


def new_faces(bm, before):
    return [f for f in bm.faces if f not in before]


def lathe(bm, profile, segments=48, mat_index=0):
    """Revolves a (radius, z) polyline about Z. Returns the faces created."""
    before = set(bm.faces)
    verts = [bm.verts.new((r, 0.0, z)) for r, z in profile]
    edges = [bm.edges.new((verts[i], verts[i + 1])) for i in range(len(verts) - 1)]
    bmesh.ops.spin(bm, geom=verts + edges, cent=(0, 0, 0), axis=(0, 0, 1),
                   angle=math.tau, steps=segments, use_merge=True)
    bmesh.ops.remove_doubles(bm, verts=bm.verts[:], dist=1e-6)
    faces = new_faces(bm, before)
    for f in faces:
        f.material_index = mat_index
    return faces


def beveled_box(bm, size, centre, bevel, mat_index=0):
    before = set(bm.faces)
    res = bmesh.ops.create_cube(bm, size=1.0)
    sx, sy, sz = size
    bmesh.ops.scale(bm, vec=(sx, sy, sz), verts=res["verts"])
    bmesh.ops.translate(bm, vec=centre, verts=res["verts"])
    edges = list({e for v in res["verts"] for e in v.link_edges})
    bmesh.ops.bevel(bm, geom=res["verts"] + edges, offset=bevel, segments=3,
                    affect="EDGES", profile=0.5)
    faces = new_faces(bm, before)
    for f in faces:
        f.material_index = mat_index
    return faces


def cylinder(bm, radius, height, centre, segments=48, mat_index=0):
    before = set(bm.faces)
    res = bmesh.ops.create_cone(bm, cap_ends=True, cap_tris=False, segments=segments,
                                radius1=radius, radius2=radius, depth=height)
    bmesh.ops.translate(bm, vec=centre, verts=res["verts"])
    faces = new_faces(bm, before)
    for f in faces:
        f.material_index = mat_index
    return faces


def build_product(kind, main, second):
    """The product mesh in Blender object space: Z up, base centred on the origin at z = 0,
    front towards -Y (the glTF exporter turns this into +Y up, +Z front)."""
    bm = bmesh.new()
    mats = [main] + ([second] if second else [])
    if kind == "perfume":
        # Bevelled box 9 x 5 x 17 cm and a chrome cap off-centre (so yaw is readable).
        beveled_box(bm, (0.09, 0.05, 0.17), (0.0, 0.0, 0.085), 0.008, 0)
        cylinder(bm, 0.016, 0.012, (0.015, 0.0, 0.176), 40, 1)
        cylinder(bm, 0.021, 0.045, (0.015, 0.0, 0.2045), 40, 1)
    elif kind == "bottle":
        # Lathe bottle 26 cm tall with a black screw cap.
        prof = [(0.0, 0.0), (0.040, 0.0), (0.045, 0.004), (0.046, 0.012), (0.046, 0.150),
                (0.043, 0.172), (0.034, 0.188), (0.022, 0.200), (0.016, 0.210), (0.016, 0.222)]
        lathe(bm, prof, 48, 0)
        capp = [(0.0, 0.222), (0.018, 0.222), (0.019, 0.224), (0.019, 0.258), (0.017, 0.260),
                (0.0, 0.260)]
        lathe(bm, capp, 40, 1)
    elif kind == "pitcher":
        # An open ceramic pitcher (21 cm) with a handle on its +X side.
        prof = [(0.0, 0.006), (0.052, 0.006), (0.055, 0.0), (0.060, 0.004), (0.064, 0.03),
                (0.066, 0.12), (0.064, 0.19), (0.066, 0.208), (0.064, 0.21), (0.058, 0.206),
                (0.058, 0.19), (0.060, 0.12), (0.058, 0.03), (0.050, 0.016), (0.0, 0.016)]
        lathe(bm, prof, 56, 0)
        # Handle: a half torus in the XZ plane.
        before = set(bm.faces)
        ring, tube = 0.06, 0.011
        rs, ts = 20, 12
        grid = []
        for i in range(rs + 1):
            a = -math.pi / 2 + math.pi * i / rs
            cx, cz = 0.062 + 0.035 * math.cos(a), 0.115 + ring * math.sin(a)
            row = []
            for j in range(ts):
                b = math.tau * j / ts
                nx, nz = math.cos(a), math.sin(a)
                row.append(bm.verts.new((cx + tube * math.cos(b) * nx,
                                         tube * math.sin(b),
                                         cz + tube * math.cos(b) * nz)))
            grid.append(row)
        for i in range(rs):
            for j in range(ts):
                bm.faces.new((grid[i][j], grid[i + 1][j], grid[i + 1][(j + 1) % ts],
                              grid[i][(j + 1) % ts]))
        for f in new_faces(bm, before):
            f.material_index = 0
    elif kind == "speaker":
        # A smart-speaker: bevelled cylinder 24 cm, aluminium top plate and a front badge.
        prof = [(0.0, 0.0), (0.062, 0.0), (0.068, 0.004), (0.070, 0.012), (0.070, 0.226),
                (0.068, 0.232), (0.064, 0.236), (0.0, 0.236)]
        lathe(bm, prof, 56, 0)
        cylinder(bm, 0.058, 0.006, (0.0, 0.0, 0.239), 56, 1)
        beveled_box(bm, (0.05, 0.012, 0.024), (0.0, -0.072, 0.05), 0.003, 1)
    else:
        raise ValueError(kind)
    bmesh.ops.recalc_face_normals(bm, faces=bm.faces[:])
    return mesh_object("product", bm, mats, smooth_angle=40.0)


def glb_bounds(path):
    """Model-space bounds of a GLB (POSITION accessor min/max through node transforms)."""
    with open(path, "rb") as f:
        data = f.read()
    magic, _version, _length = struct.unpack_from("<III", data, 0)
    assert magic == 0x46546C67, "not a GLB"
    clen, ctype = struct.unpack_from("<II", data, 12)
    doc = json.loads(data[20:20 + clen])
    lo = [math.inf] * 3
    hi = [-math.inf] * 3

    def node_matrix(n):
        if "matrix" in n:
            m = n["matrix"]
            return Matrix([[m[c * 4 + r] for c in range(4)] for r in range(4)])
        t = Matrix.Translation(Vector(n.get("translation", [0, 0, 0])))
        q = n.get("rotation", [0, 0, 0, 1])
        from mathutils import Quaternion
        r = Quaternion((q[3], q[0], q[1], q[2])).to_matrix().to_4x4()
        s = n.get("scale", [1, 1, 1])
        sm = Matrix.Diagonal((s[0], s[1], s[2], 1.0))
        return t @ r @ sm

    def visit(idx, parent):
        n = doc["nodes"][idx]
        m = parent @ node_matrix(n)
        if "mesh" in n:
            for prim in doc["meshes"][n["mesh"]]["primitives"]:
                acc = doc["accessors"][prim["attributes"]["POSITION"]]
                amin, amax = acc["min"], acc["max"]
                for cx in (amin[0], amax[0]):
                    for cy in (amin[1], amax[1]):
                        for cz in (amin[2], amax[2]):
                            p = m @ Vector((cx, cy, cz))
                            for k in range(3):
                                lo[k] = min(lo[k], p[k])
                                hi[k] = max(hi[k], p[k])
        for c in n.get("children", []):
            visit(c, m)

    scene = doc["scenes"][doc.get("scene", 0)]
    for idx in scene["nodes"]:
        visit(idx, Matrix.Identity(4))
    return Vector(lo), Vector(hi), doc


# glTF (Y up, Z front) from Blender object space (Z up, -Y front), as the exporter converts.
GLTF_FROM_BLENDER = Matrix(((1, 0, 0, 0), (0, 0, 1, 0), (0, -1, 0, 0), (0, 0, 0, 1)))


def vanelia_world_from_object(anchor, up, cam0_centre, yaw_deg, scale, bbox):
    """Exactly vanelia's render/placement.rs with --place/--up/--scale/--yaw given:
    T(anchor) * R * S(scale) * T(-base_centre), R = [up x front, up, front] * Ry(yaw), front =
    the direction to frame 0's camera projected on the plane, base_centre = (centre x, min y,
    centre z) of the glTF bounds."""
    up = Vector(up).normalized()
    anchor = Vector(anchor)
    towards = Vector(cam0_centre) - anchor
    flat = towards - up * up.dot(towards)
    front = flat.normalized()
    right = up.cross(front)
    base = Matrix((
        (right.x, up.x, front.x),
        (right.y, up.y, front.y),
        (right.z, up.z, front.z),
    ))
    y = math.radians(yaw_deg)
    ry = Matrix(((math.cos(y), 0, math.sin(y)), (0, 1, 0), (-math.sin(y), 0, math.cos(y))))
    rot = (base @ ry).to_4x4()
    lo, hi = bbox
    base_centre = Vector(((lo.x + hi.x) / 2, lo.y, (lo.z + hi.z) / 2))
    return (Matrix.Translation(anchor) @ rot @ Matrix.Diagonal((scale, scale, scale, 1.0))
            @ Matrix.Translation(-base_centre))


def look_at(eye, target):
    """Blender camera matrix (looks down -Z, +Y up) at `eye` looking at `target`, Z-up world."""
    fwd = (Vector(target) - Vector(eye)).normalized()
    right = fwd.cross(Vector((0, 0, 1))).normalized()
    up = right.cross(fwd)
    m = Matrix((
        (right.x, up.x, -fwd.x, eye[0]),
        (right.y, up.y, -fwd.y, eye[1]),
        (right.z, up.z, -fwd.z, eye[2]),
        (0, 0, 0, 1),
    ))
    return m


# --------------------------------------------------------------------------------------------
# Scene construction
# --------------------------------------------------------------------------------------------


def setup_render(scene, args, spec):
    scene.render.engine = "CYCLES"
    cy = scene.cycles
    cy.device = "CPU"
    cy.samples = scene_samples(args, spec)
    cy.use_adaptive_sampling = True
    cy.adaptive_threshold = 0.02
    cy.adaptive_min_samples = 0
    cy.use_denoising = False
    cy.seed = args["seed"]
    cy.use_animated_seed = True
    cy.max_bounces = 4
    cy.diffuse_bounces = 2
    cy.glossy_bounces = 2
    cy.transmission_bounces = 2
    cy.volume_bounces = 0
    cy.transparent_max_bounces = 4
    cy.caustics_reflective = False
    cy.caustics_refractive = False
    cy.blur_glossy = 1.0
    cy.sample_clamp_direct = 0.0
    cy.sample_clamp_indirect = 5.0
    cy.pixel_filter_type = "BLACKMAN_HARRIS"
    cy.filter_width = 1.5
    scene.render.resolution_x = args["width"]
    scene.render.resolution_y = args["height"]
    scene.render.resolution_percentage = 100
    scene.render.pixel_aspect_x = 1.0
    scene.render.pixel_aspect_y = 1.0
    scene.render.fps = args["fps"]
    scene.render.fps_base = 1.0
    scene.frame_start = 0
    scene.frame_end = args["frames"] - 1
    scene.render.dither_intensity = 0.0
    scene.render.use_persistent_data = True
    scene.view_settings.view_transform = "Standard"
    scene.view_settings.look = "None"
    scene.view_settings.exposure = 0.0
    scene.view_settings.gamma = 1.0
    scene.display_settings.display_device = "sRGB"
    scene.sequencer_colorspace_settings.name = "sRGB"
    scene.render.image_settings.file_format = "PNG"
    scene.render.image_settings.color_depth = "8"
    scene.render.image_settings.compression = 90
    mb = spec.get("motion_blur")
    scene.render.use_motion_blur = bool(mb)
    if mb:
        scene.render.motion_blur_shutter = mb
        cy.motion_blur_position = "CENTER"


def setup_world(scene, spec):
    world = bpy.data.worlds.new("world")
    scene.world = world
    world.use_nodes = True
    bg = world.node_tree.nodes["Background"]
    bg.inputs["Color"].default_value = (*spec["world"]["color"], 1.0)
    bg.inputs["Strength"].default_value = spec["world"]["strength"]
    return world


def floor_material(spec):
    f = spec["floor"]
    mat = bpy.data.materials.new("floor")
    mat.use_nodes = True
    nt = mat.node_tree
    bsdf = nt.nodes["Principled BSDF"]
    bsdf.inputs["Roughness"].default_value = 0.85
    bsdf.inputs["Specular"].default_value = 0.3
    albedo = [f["albedo"] * t for t in f["tint"]]
    # Albedo * (1 + texture * (noise - 0.5)): a mottled floor whose mean albedo is `albedo`.
    tex = nt.nodes.new("ShaderNodeTexNoise")
    tex.inputs["Scale"].default_value = 6.0
    tex.inputs["Detail"].default_value = 6.0
    tex.inputs["Roughness"].default_value = 0.55
    coord = nt.nodes.new("ShaderNodeTexCoord")
    nt.links.new(coord.outputs["Object"], tex.inputs["Vector"])
    sub = nt.nodes.new("ShaderNodeMath")
    sub.operation = "MULTIPLY_ADD"
    nt.links.new(tex.outputs["Fac"], sub.inputs[0])
    sub.inputs[1].default_value = 2.0 * f["texture"]
    sub.inputs[2].default_value = 1.0 - f["texture"]
    mix = nt.nodes.new("ShaderNodeMixRGB")
    mix.blend_type = "MULTIPLY"
    mix.inputs["Fac"].default_value = 1.0
    mix.inputs["Color1"].default_value = (*albedo, 1.0)
    nt.links.new(sub.outputs[0], mix.inputs["Color2"])
    nt.links.new(mix.outputs["Color"], bsdf.inputs["Base Color"])
    return mat, albedo


def add_floor(spec):
    bm = bmesh.new()
    bmesh.ops.create_grid(bm, x_segments=1, y_segments=1, size=20.0)
    mat, albedo = floor_material(spec)
    obj = mesh_object("floor", bm, [mat])
    return obj, albedo


def local_frame(anchor, cam_azimuth_deg):
    """(right, fwd) unit vectors on the floor for a camera at `cam_azimuth_deg` around the
    anchor (fwd points from the camera towards the product)."""
    a = math.radians(cam_azimuth_deg)
    to_cam = Vector((math.cos(a), math.sin(a), 0.0))
    fwd = -to_cam
    right = fwd.cross(Vector((0, 0, 1)))
    return right, fwd


def add_props(spec, right, fwd):
    objs = []
    anchor = Vector(spec["anchor"])
    yaw0 = math.atan2(fwd.y, fwd.x)
    for i, p in enumerate(PROPS[spec["props"]]):
        pos = anchor + right * p["at"][0] + fwd * p["at"][1]
        bm = bmesh.new()
        if p["kind"] == "box":
            sx, sy, sz = p["size"]
            beveled_box(bm, (sx, sy, sz), (0, 0, sz / 2), 0.004)
        elif p["kind"] == "cylinder":
            cylinder(bm, p["radius"], p["height"], (0, 0, p["height"] / 2), 40)
        elif p["kind"] == "sphere":
            bmesh.ops.create_uvsphere(bm, u_segments=40, v_segments=20, radius=p["radius"])
            bmesh.ops.translate(bm, vec=(0, 0, p["radius"]), verts=bm.verts[:])
        mat = make_material(f"prop{i}", p["color"], 0.0, 0.6, 0.4)
        obj = mesh_object(f"prop{i}_{p['kind']}", bm, [mat],
                          smooth_angle=35.0 if p["kind"] != "box" else 30.0)
        obj.matrix_world = (Matrix.Translation((pos.x, pos.y, 0.0))
                            @ Matrix.Rotation(yaw0 + math.radians(p.get("rot", 0)), 4, "Z"))
        objs.append(obj)
    return objs


def add_walls(spec, right, fwd):
    w = spec["walls"]
    mat = make_material("wall", (w["albedo"], w["albedo"] * 0.97, w["albedo"] * 0.92), 0.0, 0.9, 0.3)
    anchor = Vector(spec["anchor"])
    objs = []
    # Back wall: facing the camera, `back` metres behind the product, 6 m wide, 2.6 m tall.
    bm = bmesh.new()
    bmesh.ops.create_grid(bm, x_segments=1, y_segments=1, size=0.5)
    bmesh.ops.scale(bm, vec=(6.0, 2.6, 1.0), verts=bm.verts[:])
    obj = mesh_object("wall_back", bm, [mat])
    c = anchor + fwd * w["back"]
    # Plane normal +Z -> -fwd; plane X -> right, plane Y -> up.
    obj.matrix_world = Matrix((
        (right.x, 0, -fwd.x, c.x),
        (right.y, 0, -fwd.y, c.y),
        (right.z, 1, -fwd.z, 1.3),
        (0, 0, 0, 1),
    ))
    objs.append(obj)
    # Side wall: on the camera's left (`side` < 0) or right, running along fwd.
    bm = bmesh.new()
    bmesh.ops.create_grid(bm, x_segments=1, y_segments=1, size=0.5)
    bmesh.ops.scale(bm, vec=(6.0, 2.6, 1.0), verts=bm.verts[:])
    obj = mesh_object("wall_side", bm, [mat])
    c = anchor + right * w["side"] + fwd * (w["back"] - 3.0)
    n = right if w["side"] < 0 else -right
    obj.matrix_world = Matrix((
        (fwd.x, 0, n.x, c.x),
        (fwd.y, 0, n.y, c.y),
        (fwd.z, 1, n.z, 1.3),
        (0, 0, 0, 1),
    ))
    objs.append(obj)
    return objs


def add_light(spec, cam_azimuth_deg):
    """Returns (light object, summary dict) or (None, summary)."""
    L = spec["light"]
    if L is None:
        return None, dict(type="NONE", note="no key light; lit only by the uniform world (sky)")
    if L["type"] == "SUN":
        az = math.radians(cam_azimuth_deg + L["azimuth"])
        el = math.radians(L["elevation"])
        d = Vector((math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)))
        ld = bpy.data.lights.new("sun", "SUN")
        ld.energy = L["strength"]
        ld.color = L["color"]
        ld.angle = math.radians(L["angle"])
        obj = bpy.data.objects.new("sun", ld)
        bpy.context.scene.collection.objects.link(obj)
        obj.rotation_mode = "QUATERNION"
        obj.rotation_quaternion = d.to_track_quat("Z", "Y")
        obj.location = Vector(spec["anchor"]) + d * 5.0
        summary = dict(
            type="SUN",
            direction_to_light=[round(v, 6) for v in d],
            elevation_deg=L["elevation"],
            azimuth_world_deg=round(math.degrees(az) % 360.0, 3),
            azimuth_from_camera_deg=L["azimuth"],
            azimuth_note="azimuth_from_camera_deg: counter-clockwise seen from above, from "
                         "the product-to-frame-0-camera direction: 0 = sun behind the camera "
                         "(front light), +90 = from the camera's right, 180 = facing the "
                         "camera (back light), -90 = from its left",
            strength_w_m2=L["strength"],
            color_linear=list(L["color"]),
            angle_deg=L["angle"],
        )
        return obj, summary
    if L["type"] == "AREA":
        ld = bpy.data.lights.new("area", "AREA")
        ld.shape = L["shape"]
        ld.size = L["size"]
        ld.energy = L["power"]
        ld.color = L["color"]
        obj = bpy.data.objects.new("area", ld)
        bpy.context.scene.collection.objects.link(obj)
        right, fwd = local_frame(spec["anchor"], cam_azimuth_deg)
        ox, oy, oz = L["offset"]
        pos = Vector(spec["anchor"]) + right * ox + fwd * oy + Vector((0, 0, oz))
        obj.location = pos
        # Facing straight down (area lights emit along their local -Z).
        obj.rotation_mode = "QUATERNION"
        obj.rotation_quaternion = Vector((0, 0, 1)).to_track_quat("Z", "Y")
        to_light = (pos - Vector(spec["anchor"])).normalized()
        summary = dict(
            type="AREA",
            shape=L["shape"],
            size_m=L["size"],
            power_w=L["power"],
            color_linear=list(L["color"]),
            position=[round(v, 6) for v in pos],
            emits_towards=[0.0, 0.0, -1.0],
            direction_to_light=[round(v, 6) for v in to_light],
            elevation_deg=round(math.degrees(math.asin(to_light.z)), 3),
            note="direction_to_light/elevation are from the product anchor to the lamp centre",
        )
        return obj, summary
    raise ValueError(L["type"])


def camera_path(spec, args, anchor, centre_height):
    """Per-frame Blender camera matrices (analytic)."""
    c = spec["camera"]
    n = args["frames"]
    mats = []
    for f in range(n):
        t = f / max(n - 1, 1) - 0.5  # -0.5 .. 0.5
        s = 0.5 - 0.5 * math.cos(math.pi * (t + 0.5))  # eased 0..1
        u = s - 0.5
        az = math.radians(spec["cam_azimuth"] + c["sweep"] * u)
        dist = c["distance"] * (1.0 - c["dolly"] * (u + 0.5))
        pitch = math.radians(c["pitch"])
        target = Vector(anchor) + Vector((0, 0, centre_height))
        eye = target + dist * Vector((math.cos(pitch) * math.cos(az),
                                      math.cos(pitch) * math.sin(az), math.sin(pitch)))
        eye.z += c["rise"] * (u + 0.5)
        if c.get("pan"):
            # Look past the product: the aim point slides along the camera's right axis so the
            # product crosses the frame (from right of centre to left of centre).
            fwd = (target - eye).normalized()
            right = fwd.cross(Vector((0, 0, 1))).normalized()
            target = target + right * (c["pan"] * u)
        mats.append(look_at(eye, target))
    return mats


def keyframe_camera(cam, mats):
    prev = None
    for f, m in enumerate(mats):
        loc, rot, _ = m.decompose()
        if prev is not None and prev.dot(rot) < 0:
            rot = -rot
        prev = rot
        cam.location = loc
        cam.rotation_mode = "QUATERNION"
        cam.rotation_quaternion = rot
        cam.keyframe_insert("location", frame=f)
        cam.keyframe_insert("rotation_quaternion", frame=f)


def project(world_from_cam_cv, k, p):
    cam_from_world = world_from_cam_cv.inverted()
    q = cam_from_world @ Vector(p)
    if q.z <= 1e-9:
        return None
    return (k["fx"] * q.x / q.z + k["cx"], k["fy"] * q.y / q.z + k["cy"])


CV_FROM_BLENDER_CAM = Matrix.Diagonal((1.0, -1.0, -1.0, 1.0))


# --------------------------------------------------------------------------------------------
# Main per scene
# --------------------------------------------------------------------------------------------


def generate(name, args):
    spec = SCENES[name]
    t_start = time.time()
    out = os.path.join(args["out"], name)
    os.makedirs(out, exist_ok=True)
    scene = reset_scene()
    setup_render(scene, args, spec)
    setup_world(scene, spec)
    W, H = args["width"], args["height"]

    # Product: built at the origin, exported alone, then placed as vanelia would place it.
    sec_name = SECONDARY[spec["product"]]
    if spec["material"] == "speaker":
        main = make_material("dark_fabric", **_mat("dark_fabric"))
    else:
        main = make_material(spec["material"], **_mat(spec["material"]))
    second = make_material(sec_name, **_mat(sec_name)) if sec_name else None
    product = build_product(spec["product"], main, second)
    glb = os.path.join(out, "product.glb")
    for o in bpy.context.scene.objects:
        o.select_set(o is product)
    bpy.context.view_layer.objects.active = product
    bpy.ops.export_scene.gltf(filepath=glb, export_format="GLB", use_selection=True,
                              export_yup=True, export_apply=True, export_animations=False,
                              export_cameras=False, export_lights=False, export_extras=False)
    lo, hi, gdoc = glb_bounds(glb)
    log(name, "glb bounds", tuple(round(v, 5) for v in lo), tuple(round(v, 5) for v in hi))

    right, fwd = local_frame(spec["anchor"], spec["cam_azimuth"])
    floor, floor_albedo = add_floor(spec)
    props = add_props(spec, right, fwd)
    walls = add_walls(spec, right, fwd) if spec.get("walls") else []
    light, light_summary = add_light(spec, spec["cam_azimuth"])

    # Camera.
    c = spec["camera"]
    cam_data = bpy.data.cameras.new("camera")
    cam_data.type = "PERSP"
    cam_data.lens_unit = "MILLIMETERS"
    cam_data.lens = c["lens"]
    cam_data.sensor_fit = "HORIZONTAL"
    cam_data.sensor_width = 36.0
    cam_data.shift_x = 0.0
    cam_data.shift_y = 0.0
    cam_data.clip_start = 0.05
    cam_data.clip_end = 100.0
    fx = c["lens"] / cam_data.sensor_width * W
    lens = spec.get("lens_distortion")
    if lens:
        # Render undistorted on a larger canvas with the same focal length in pixels; distort.py
        # then maps it to the W x H frame.
        render_w, render_h = optics.overscan_size(W, H, fx, fx, lens)
        scene.render.resolution_x, scene.render.resolution_y = render_w, render_h
        cam_data.sensor_width = 36.0 * render_w / W
    dof = spec.get("dof")
    if dof:
        cam_data.dof.use_dof = True
        cam_data.dof.focus_distance = dof["focus_distance"]
        cam_data.dof.aperture_fstop = dof["fstop"]
        cam_data.dof.aperture_blades = 0  # a round aperture
    cam = bpy.data.objects.new("camera", cam_data)
    scene.collection.objects.link(cam)
    scene.camera = cam
    height_world = (hi.y - lo.y) * spec["scale"]
    mats = camera_path(spec, args, spec["anchor"], height_world * 0.5)
    keyframe_camera(cam, mats)

    # Placement (needs frame 0's camera centre, as vanelia does).
    scene.frame_set(0)
    cam0 = cam.matrix_world.copy()
    up = (0.0, 0.0, 1.0)
    wfo = vanelia_world_from_object(spec["anchor"], up, cam0.translation, spec["yaw"],
                                    spec["scale"], (lo, hi))
    product.matrix_world = wfo @ GLTF_FROM_BLENDER

    k = dict(fx=fx, fy=fx, cx=(W - 1) / 2.0, cy=(H - 1) / 2.0)
    lens_json = {"lens": dict(model="opencv", **lens)} if lens else {}

    # Poses (read back from Blender, i.e. what it renders) and checks per frame.
    depsgraph = bpy.context.evaluated_depsgraph_get()
    frames = []
    product_pts = [product.matrix_world @ v.co for v in product.data.vertices]
    fractions, centres, occluded = [], [], []
    for f in range(args["frames"]):
        scene.frame_set(f)
        depsgraph = bpy.context.evaluated_depsgraph_get()
        m = cam.matrix_world.copy()
        wfc = m @ CV_FROM_BLENDER_CAM
        # Orthonormalise the float32 rotation (it is exact to ~1e-7 anyway).
        rot = wfc.to_3x3().normalized().to_quaternion().to_matrix()
        wfc = Matrix.Translation(wfc.translation) @ rot.to_4x4()
        frames.append(dict(frame=f, world_from_cam=[[float(wfc[r][cc]) for cc in range(4)]
                                                    for r in range(4)], **k, **lens_json))
        px = [project(wfc, k, p) for p in product_pts]
        xs = [q[0] for q in px]
        ys = [q[1] for q in px]
        fractions.append((max(ys) - min(ys)) / H)
        centres.append(((min(xs) + max(xs)) / 2 / W, (min(ys) + max(ys)) / 2 / H))
        # Occlusion: rays from the camera to a subset of product vertices that hit another
        # object first.
        n_occ = 0
        origin = wfc.translation
        for p in product_pts[::7]:
            d = p - origin
            dist = d.length
            hit, loc, _n, _i, obj, _m = scene.ray_cast(depsgraph, origin, d.normalized(),
                                                       distance=dist - 1e-3)
            if hit and obj.name != product.name:
                n_occ += 1
        occluded.append(n_occ)
    if any(occluded):
        log(name, "WARNING product vertices occluded per frame:", occluded)

    # Sun shadowing the product? Rays from product vertices towards the sun.
    shadowed = 0
    if light_summary["type"] == "SUN":
        scene.frame_set(0)
        depsgraph = bpy.context.evaluated_depsgraph_get()
        d = Vector(light_summary["direction_to_light"])
        for p in product_pts[::5]:
            hit, _l, _n, _i, obj, _m = scene.ray_cast(depsgraph, p + d * 2e-3, d)
            if hit and obj.name != product.name:
                shadowed += 1
        if shadowed:
            log(name, "WARNING product vertices shadowed by props:", shadowed)

    # Scene points: rays through a pixel grid of a few frames onto visible non-product
    # surfaces (what an SfM reconstruction of the plate would give).
    points = []
    sample_frames = sorted({0, args["frames"] // 4, args["frames"] // 2,
                            (3 * args["frames"]) // 4, args["frames"] - 1})
    gx, gy = 22, 13
    for f in sample_frames:
        scene.frame_set(f)
        depsgraph = bpy.context.evaluated_depsgraph_get()
        wfc = Matrix(frames[f]["world_from_cam"])
        origin = wfc.translation
        for j in range(gy):
            for i in range(gx):
                # Jittered grid so frames do not sample the same pattern.
                u = (i + 0.5 + 0.3 * math.sin(17.0 * f + 3.1 * j)) / gx * W - 0.5
                v = (j + 0.5 + 0.3 * math.cos(11.0 * f + 2.3 * i)) / gy * H - 0.5
                dcam = Vector(((u - k["cx"]) / k["fx"], (v - k["cy"]) / k["fy"], 1.0))
                dw = (wfc.to_3x3() @ dcam).normalized()
                hit, loc, _n, _i, obj, _m = scene.ray_cast(depsgraph, origin, dw, distance=12.0)
                if hit and obj.name != product.name:
                    points.append([round(float(x), 6) for x in loc])
    log(name, f"{len(points)} scene points")

    poses = dict(format="vanelia-poses", version=1, convention="opencv", width=W, height=H,
                 frames=frames, points=points, point_confidences=[1.0] * len(points))
    with open(os.path.join(out, "poses.json"), "w") as fh:
        fh.write(compact_json(poses))
    if spec.get("motion_blur", 0.0) > 0.5 or dof or lens:
        # The optics scenes also carry the track as a COLMAP model (vanelia's --poses DIR).
        optics.write_colmap(os.path.join(out, "colmap"), W, H, frames, points, lens)

    # Summary of the product as exported.
    gl_mats = []
    for m in gdoc.get("materials", []):
        pbr = m.get("pbrMetallicRoughness", {})
        gl_mats.append(dict(name=m.get("name"),
                            base_color=[round(v, 4) for v in pbr.get("baseColorFactor", [1, 1, 1, 1])],
                            metallic=round(pbr.get("metallicFactor", 1.0), 4),
                            roughness=round(pbr.get("roughnessFactor", 1.0), 4)))

    place = spec["anchor"]
    # `--opt=value` so that negative numbers are not taken for options.
    args_list = ["--place=" + ",".join(_fmt(v) for v in place), "--scale=" + _fmt(spec["scale"]),
                 "--yaw=" + _fmt(spec["yaw"]), "--up=0,0,1"]
    light_dir = light_summary.get("direction_to_light", [0.0, 0.0, 1.0])
    regen_args = [name, args["out"], "--frames", str(args["frames"]), "--size", f"{W}x{H}",
                  "--samples", str(args["samples"]), "--seed", str(args["seed"])]
    summary = dict(
        scene=name,
        description=spec["desc"],
        vanelia_args=args_list,
        vanelia_args_string=" ".join(args_list),
        vanelia_light_dir_arg="--light-dir=" + ",".join(_fmt(v) for v in light_dir),
        placement=dict(
            anchor_in_world=list(place), scale=spec["scale"], yaw_deg=spec["yaw"],
            up_in_world=list(up), floor_height=0.0,
            world_from_object_gltf=[[round(wfo[r][cc], 9) for cc in range(4)] for r in range(4)],
            glb_bbox_min=[round(v, 6) for v in lo], glb_bbox_max=[round(v, 6) for v in hi],
            product_height_world_m=round(height_world, 6),
            product_height_fraction_of_frame=dict(min=round(min(fractions), 4),
                                                  max=round(max(fractions), 4)),
            product_bbox_centre_in_frame=dict(
                first=[round(v, 3) for v in centres[0]], last=[round(v, 3) for v in centres[-1]]),
            product_occluded_vertices_per_frame=occluded,
            product_vertices_shadowed_by_props=shadowed,
        ),
        product=dict(kind=spec["product"], material=spec["material"], gltf_materials=gl_mats,
                     triangles=sum(len(p.vertices) - 2 for p in product.data.polygons)),
        # Empty for a sky alone (`overcast`).
        lights=[light_summary] if light_summary["type"] != "NONE" else [],
        world=dict(color_linear=list(spec["world"]["color"]), strength=spec["world"]["strength"],
                   note="uniform background (sky) radiance = color * strength"
                        + ("; the only light of the scene" if light_summary["type"] == "NONE"
                           else "")),
        floor=dict(albedo_mean_linear=[round(v, 4) for v in floor_albedo],
                   texture="procedural noise, albedo * (1 + %.2f * (2 * noise - 1))"
                           % spec["floor"]["texture"],
                   roughness=0.85, specular=0.3, plane="z = 0, 40 x 40 m"),
        walls=spec.get("walls"),
        props=[dict(name=o.name, location=[round(v, 4) for v in o.matrix_world.translation],
                    dimensions=[round(v, 4) for v in o.dimensions]) for o in props],
        camera=dict(lens_mm=c["lens"], sensor_width_mm=36.0, sensor_fit="HORIZONTAL",
                    fx=k["fx"], fy=k["fy"], cx=k["cx"], cy=k["cy"], path=c,
                    cam_azimuth_deg=spec["cam_azimuth"]),
        frames=args["frames"], fps=args["fps"], width=W, height=H,
        optics=optics_summary(spec, scene),
        vanelia_optics_args=optics_args(spec),
        motion_blur=dict(enabled=bool(spec.get("motion_blur")),
                         shutter_frames=spec.get("motion_blur") or 0.0,
                         position="CENTER" if spec.get("motion_blur") else None,
                         note="poses are at the integer frame time (shutter centre)"),
        render=dict(engine="CYCLES", device="CPU", samples=scene_samples(args, spec),
                    adaptive_sampling=True, adaptive_threshold=0.02, seed=args["seed"],
                    animated_seed=True, denoising=False,
                    denoise_note="Debian's Blender 3.4 is built without OpenImageDenoise",
                    max_bounces=4, diffuse_bounces=2, glossy_bounces=2, clamp_indirect=5.0,
                    filter="Blackman-Harris 1.5 px", view_transform="Standard", look="None",
                    display="sRGB", exposure=0.0, dither=0.0,
                    plate_truth_noise="same seed: identical noise where the product does not "
                                      "change the light paths"),
        matte=dict(method="product visible, every other object a holdout, transparent film; "
                          "alpha = coverage (with motion blur when the scene has it)"),
        blender_version=bpy.app.version_string,
        regenerate=dict(
            all="tools/groundtruth/render.sh",
            this_scene=f"tools/groundtruth/render.sh {name}",
            blender="blender -b --factory-startup --python tools/groundtruth/gen.py -- "
                    + " ".join(regen_args),
        ),
    )
    setup_s = time.time() - t_start

    timings = {}
    if args["render"]:
        scratch = os.path.join(args["scratch"], name)
        for pass_name in args["passes"]:
            timings[pass_name] = render_pass(scene, pass_name, scratch, product,
                                             [floor] + props + walls, args)
    summary["render_stats"] = dict(
        note="seconds per frame on the machine that generated these files "
             "(2 CPU cores, nice 10, other load present)",
        setup_s=round(setup_s, 2),
        **{p: dict(mean_s=round(sum(v) / len(v), 2), max_s=round(max(v), 2),
                   per_frame_s=[round(x, 2) for x in v]) for p, v in timings.items() if v})
    path = os.path.join(out, "scene.json")
    if not args["render"] and os.path.exists(path):
        with open(path) as fh:
            old = json.load(fh)
        for key in ("render_stats", "video"):
            if key in old:
                summary[key] = old[key]
    with open(path, "w") as fh:
        json.dump(summary, fh, indent=1)
    log(name, "done", json.dumps(summary["placement"]["product_height_fraction_of_frame"]))


def optics_summary(spec, scene):
    """What the camera did besides projecting: shutter, depth of field, lens distortion."""
    mb = spec.get("motion_blur") or 0.0
    dof = spec.get("dof")
    return dict(
        shutter_deg=360.0 * mb,
        dof=dict(focus_distance_m=dof["focus_distance"], fstop=dof["fstop"],
                 sensor_width_mm=36.0, aperture="round (no blades)",
                 note="thin lens: aperture diameter = lens / fstop; focus distance along "
                      "the optical axis") if dof else None,
        lens_distortion=spec.get("lens_distortion"),
        render_size=[scene.render.resolution_x, scene.render.resolution_y],
        lens_note="OpenCV radial-tangential; rendered undistorted at render_size (same "
                  "focal length in pixels, principal point centred) and distorted by "
                  "distort.py" if spec.get("lens_distortion") else None)


def optics_args(spec):
    """vanelia options that state the true optics (for runs scored against given optics)."""
    out = []
    if spec.get("motion_blur"):
        out.append("--shutter=" + _fmt(360.0 * spec["motion_blur"]))
    if spec.get("dof"):
        out += ["--focus-distance=" + _fmt(spec["dof"]["focus_distance"]),
                "--aperture=" + _fmt(spec["dof"]["fstop"]), "--sensor-width=36"]
    return out


def scene_samples(args, spec):
    """--samples times the scene's factor (noisier scenes, e.g. sky-lit ones, get more)."""
    return int(round(args["samples"] * spec.get("samples_factor", 1.0)))


def compact_json(doc):
    """JSON with one frame / point per line (small, still diffable)."""
    head = {k: v for k, v in doc.items() if k not in ("frames", "points", "point_confidences")}
    lines = ["{"]
    for k, v in head.items():
        lines.append(f" {json.dumps(k)}: {json.dumps(v)},")
    lines.append(' "frames": [')
    lines.append(",\n".join("  " + json.dumps(f, separators=(",", ":")) for f in doc["frames"]))
    lines.append(" ],")
    lines.append(' "points": [')
    lines.append(",\n".join("  " + json.dumps(p, separators=(",", ":")) for p in doc["points"]))
    lines.append(" ],")
    lines.append(' "point_confidences": ' + json.dumps(doc["point_confidences"],
                                                         separators=(",", ":")))
    lines.append("}")
    return "\n".join(lines) + "\n"


def _mat(name):
    m = MATERIALS[name]
    return dict(base=m["base"], metallic=m["metallic"], roughness=m["roughness"])


def _fmt(v):
    s = ("%.6f" % float(v)).rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def render_pass(scene, pass_name, scratch, product, others, args):
    d = os.path.join(scratch, pass_name)
    os.makedirs(d, exist_ok=True)
    cy = scene.cycles
    if pass_name in ("plate", "truth"):
        product.hide_render = pass_name == "plate"
        for o in others:
            o.is_holdout = False
        scene.render.film_transparent = False
        scene.render.image_settings.color_mode = "RGB"
        cy.samples = scene_samples(args, SCENES[os.path.basename(scratch)])
        cy.use_adaptive_sampling = True
        cy.max_bounces = 4
    else:
        product.hide_render = False
        for o in others:
            o.is_holdout = True
        scene.render.film_transparent = True
        scene.render.image_settings.color_mode = "RGBA"
        cy.samples = SCENES[os.path.basename(scratch)].get("matte_samples", 32)
        cy.use_adaptive_sampling = False
        cy.max_bounces = 0
    times = []
    for f in args["only_frames"] or range(args["frames"]):
        scene.frame_set(f)
        scene.render.filepath = os.path.join(d, "%04d.png" % f)
        t0 = time.time()
        bpy.ops.render.render(write_still=True)
        dt = time.time() - t0
        times.append(dt)
        log(f"{os.path.basename(scratch)}:{pass_name} frame {f} {dt:.2f}s")
    return times


def main():
    argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else []
    args = parse_args(argv)
    for name in args["scenes"]:
        log("scene", name)
        generate(name, args)


if __name__ == "__main__":
    main()
