//! The demo scene: a floor (z = 0, world z up), a back wall (y = 3) and two spheres, ray traced
//! with a sun, soft sky light and hard shadows, 2x2 supersampling and sensor grain.

use glam::{DMat4, DVec2, DVec3};
use vanelia::core::noise::FrameRng;
use vanelia::core::{CameraPose, CameraTrack, FrameNr, FrameSize, Intrinsics, ScenePoint};

pub const FPS: f64 = 24.0;
const FRAMES: usize = 48;
const SIZE: FrameSize = FrameSize {
    width: 640,
    height: 360,
};
const WALL_Y: f64 = 3.0;
const SPHERES: [(DVec3, f64, [f64; 3]); 2] = [
    (DVec3::new(-0.9, 0.9, 0.3), 0.3, [0.15, 0.3, 0.7]),
    (DVec3::new(1.0, 1.3, 0.2), 0.2, [0.2, 0.6, 0.25]),
];

fn sun_dir() -> DVec3 {
    DVec3::new(-0.4, -0.5, 0.75).normalize()
}

/// The camera moves on an arc around the origin, looking slightly above the floor.
pub fn camera_track() -> CameraTrack {
    let intrinsics = Intrinsics {
        focal_px: [520.0, 520.0],
        principal_px: [319.5, 179.5],
        size: SIZE,
        lens: Default::default(),
    };
    let poses = (0..FRAMES)
        .map(|i| {
            let t = i as f64 / (FRAMES - 1) as f64;
            let angle = (-115.0 + 30.0 * t).to_radians();
            let centre = DVec3::new(3.2 * angle.cos(), 3.2 * angle.sin(), 1.25 + 0.1 * t);
            CameraPose {
                world_from_cam: look_at(centre, DVec3::new(0.0, 0.3, 0.25)),
                intrinsics,
            }
        })
        .collect();
    CameraTrack {
        size: SIZE,
        poses,
        points: Vec::new(),
        scene_depth: Default::default(),
    }
}

/// OpenCV camera at `eye` looking at `target` with world z up.
fn look_at(eye: DVec3, target: DVec3) -> DMat4 {
    let forward = (target - eye).normalize();
    let right = forward.cross(DVec3::Z).normalize();
    let down = forward.cross(right);
    DMat4::from_cols(
        right.extend(0.0),
        down.extend(0.0),
        forward.extend(0.0),
        eye.extend(1.0),
    )
}

struct Hit {
    t: f64,
    point: DVec3,
    normal: DVec3,
    albedo: [f64; 3],
}

fn trace(origin: DVec3, dir: DVec3) -> Option<Hit> {
    let mut best: Option<Hit> = None;
    let mut consider = |h: Option<Hit>| {
        if let Some(h) = h {
            if best.as_ref().is_none_or(|b| h.t < b.t) {
                best = Some(h);
            }
        }
    };
    consider(plane_hit(origin, dir, DVec3::Z, 0.0, floor_albedo));
    consider(plane_hit(origin, dir, -DVec3::Y, -WALL_Y, wall_albedo));
    for (c, r, albedo) in SPHERES {
        consider(sphere_hit(origin, dir, c, r, albedo));
    }
    best
}

fn plane_hit(
    o: DVec3,
    d: DVec3,
    n: DVec3,
    offset: f64,
    albedo: fn(DVec3) -> [f64; 3],
) -> Option<Hit> {
    let denom = n.dot(d);
    if denom.abs() < 1e-9 {
        return None;
    }
    let t = (offset - n.dot(o)) / denom;
    (t > 1e-6).then(|| {
        let p = o + d * t;
        Hit {
            t,
            point: p,
            normal: if denom < 0.0 { n } else { -n },
            albedo: albedo(p),
        }
    })
}

fn sphere_hit(o: DVec3, d: DVec3, c: DVec3, r: f64, albedo: [f64; 3]) -> Option<Hit> {
    let oc = o - c;
    let b = oc.dot(d);
    let disc = b * b - (oc.length_squared() - r * r);
    if disc < 0.0 {
        return None;
    }
    let t = -b - disc.sqrt();
    (t > 1e-6).then(|| {
        let p = o + d * t;
        Hit {
            t,
            point: p,
            normal: (p - c) / r,
            albedo,
        }
    })
}

fn hash2(x: i64, y: i64) -> f64 {
    let mut rng = FrameRng::new(x as u64, FrameNr(y as u64), 3);
    rng.uniform()
}

/// Warm tiles of 0.5 m with per-tile variation and dark grout lines.
fn floor_albedo(p: DVec3) -> [f64; 3] {
    let cell = (p.truncate() / 0.5).floor();
    let f = (p.truncate() / 0.5).fract_gl();
    let grout = f.x < 0.03 || f.y < 0.03;
    let v = 0.75 + 0.25 * hash2(cell.x as i64, cell.y as i64);
    let checker = if (cell.x + cell.y).rem_euclid(2.0) < 1.0 {
        1.0
    } else {
        0.82
    };
    if grout {
        [0.12, 0.1, 0.09]
    } else {
        [0.55 * v * checker, 0.42 * v * checker, 0.3 * v * checker]
    }
}

/// A pale wall with vertical panels.
fn wall_albedo(p: DVec3) -> [f64; 3] {
    let panel = (p.x / 0.8).floor();
    let seam = {
        let u = p.x / 0.8;
        u - u.floor()
    } < 0.02
        || (p.z - 1.0).abs() < 0.02;
    let v = 0.85 + 0.15 * hash2(panel as i64, 99);
    if seam {
        [0.3, 0.3, 0.32]
    } else {
        [0.7 * v, 0.68 * v, 0.62 * v]
    }
}

fn shade(origin: DVec3, dir: DVec3) -> [f64; 3] {
    let Some(hit) = trace(origin, dir) else {
        let k = dir.z.max(0.0);
        return [0.55 + 0.2 * k, 0.7 + 0.15 * k, 0.9];
    };
    let sun = sun_dir();
    let lit = trace(hit.point + hit.normal * 1e-5, sun).is_none();
    let diffuse = if lit {
        hit.normal.dot(sun).max(0.0)
    } else {
        0.0
    };
    let sky = 0.35 + 0.15 * hit.normal.z;
    hit.albedo.map(|a| a * (sky + 0.9 * diffuse))
}

fn to_srgb(linear: f64) -> f64 {
    let c = linear.clamp(0.0, 1.0);
    if c <= 0.003_130_8 {
        c * 12.92
    } else {
        1.055 * c.powf(1.0 / 2.4) - 0.055
    }
}

/// Renders one frame with 2x2 supersampling and Gaussian grain (sigma 2 of 255).
pub fn render(pose: &CameraPose, grain: &mut FrameRng) -> image::RgbImage {
    let origin = pose.centre_in_world();
    image::RgbImage::from_fn(SIZE.width, SIZE.height, |x, y| {
        let mut acc = [0.0; 3];
        for (dx, dy) in [(-0.25, -0.25), (0.25, -0.25), (-0.25, 0.25), (0.25, 0.25)] {
            let ray = pose
                .intrinsics
                .unproject(DVec2::new(f64::from(x) + dx, f64::from(y) + dy));
            let dir = pose.world_from_cam.transform_vector3(ray).normalize();
            let c = shade(origin, dir);
            for k in 0..3 {
                acc[k] += c[k] / 4.0;
            }
        }
        image::Rgb(acc.map(|c| {
            (to_srgb(c) * 255.0 + 2.0 * grain.normal())
                .round()
                .clamp(0.0, 255.0) as u8
        }))
    })
}

/// Points on visible surfaces: a grid of floor points and points on the spheres and wall,
/// kept if frame 0 or the last frame sees them.
pub fn scene_points(track: &CameraTrack) -> Vec<ScenePoint> {
    let mut rng = FrameRng::new(11, FrameNr(0), 5);
    let mut candidates: Vec<DVec3> = (0..1500)
        .map(|_| DVec3::new(rng.uniform() * 7.0 - 3.5, rng.uniform() * 5.5 - 2.5, 0.0))
        .collect();
    for (c, r, _) in SPHERES {
        candidates.extend((0..150).map(|_| {
            let v = DVec3::new(rng.normal(), rng.normal(), rng.normal()).normalize();
            c + v * r
        }));
    }
    candidates.extend(
        (0..300).map(|_| DVec3::new(rng.uniform() * 8.0 - 4.0, WALL_Y, rng.uniform() * 2.5)),
    );
    let ends = [&track.poses[0], &track.poses[track.poses.len() - 1]];
    candidates
        .into_iter()
        .filter(|p| ends.iter().any(|pose| visible(pose, *p)))
        .map(|p| ScenePoint {
            point_in_world: p,
            confidence: 1.0,
        })
        .collect()
}

fn visible(pose: &CameraPose, p: DVec3) -> bool {
    let Some(px) = pose.project_world(p) else {
        return false;
    };
    let inside =
        px.x >= 0.0 && px.y >= 0.0 && px.x < f64::from(SIZE.width) && px.y < f64::from(SIZE.height);
    let origin = pose.centre_in_world();
    let to_p = p - origin;
    inside && trace(origin, to_p.normalize()).is_some_and(|h| h.t > to_p.length() - 1e-4)
}
