//! Occlusion by the scene: where the track gives a depth map, product pixels behind nearer
//! scene geometry are hidden with a soft edge, and so is the product's shadow where the ground
//! itself is hidden.

use glam::{DVec2, DVec3};

use crate::core::filter::Plane;
use crate::core::{CameraPose, DepthImage, RenderLayers};

/// Depth difference, relative to the distance, over which visibility fades.
const TOLERANCE_REL: f32 = 0.02;

/// The ground plane: a point and unit normal in world coordinates.
#[derive(Debug, Clone, Copy)]
pub struct Ground {
    /// A point on the plane.
    pub point_in_world: DVec3,
    /// Unit normal.
    pub normal_in_world: DVec3,
}

impl Ground {
    /// Depth along the camera axis where a ray from `origin` along `dir` (a pixel's ray with
    /// camera z = 1, turned into world) meets the ground; `inf` when it does not.
    pub fn depth_of_ray(&self, origin: DVec3, dir: DVec3) -> f32 {
        let denom = self.normal_in_world.dot(dir);
        if denom.abs() < 1e-12 {
            return f32::INFINITY;
        }
        let t = self.normal_in_world.dot(self.point_in_world - origin) / denom;
        // `dir` comes from a ray with camera z = 1, so the parameter is the camera depth.
        if t > 0.0 {
            t as f32
        } else {
            f32::INFINITY
        }
    }
}

/// Applies scene occlusion to `layers` in place. `scene_depth_m` covers the whole frame.
pub fn apply(
    layers: &mut RenderLayers,
    scene_depth_m: &DepthImage,
    camera: &CameraPose,
    ground: &Ground,
) {
    if layers.is_empty() {
        return;
    }
    let (w, h) = layers.rgba.dimensions();
    let [ox, oy] = layers.origin_px;
    let scene = |x: u32, y: u32| scene_depth_m.get_pixel(ox + x, oy + y)[0];
    let product = nearest_depth(&layers.depth_m);
    let raw = Plane::from_fn(w as usize, h as usize, |x, y| {
        visibility(product.at(x, y), scene(x as u32, y as u32))
    });
    // Pixels without product take the lowest visibility of their product neighbours, so the
    // softening blur does not leak "visible" from empty surroundings into occluded edges.
    let visible = min_over_product_neighbours(&raw, &product).box_blur(1, 1);
    for (i, (px, m)) in layers
        .rgba
        .pixels_mut()
        .zip(layers.mask.pixels_mut())
        .enumerate()
    {
        let v = visible.data[i];
        px.0 = px.0.map(|c| (f32::from(c) * v).round() as u8);
        m.0[0] = (f32::from(m.0[0]) * v).round() as u8;
    }
    let origin = camera.centre_in_world();
    for (x, y, s) in layers.shadow.enumerate_pixels_mut() {
        let ray = camera
            .intrinsics
            .unproject(DVec2::new(f64::from(ox + x), f64::from(oy + y)));
        let z_ground = ground.depth_of_ray(origin, camera.world_from_cam.transform_vector3(ray));
        let v = visibility(z_ground, scene(x, y));
        s.0[0] = 255 - (f32::from(255 - s.0[0]) * v).round() as u8;
    }
}

/// 1 where the scene is farther than `z` (or unknown), 0 where it is nearer, smooth between.
fn visibility(z: f32, scene_z: f32) -> f32 {
    if !z.is_finite() || !scene_z.is_finite() {
        return 1.0;
    }
    let tol = (TOLERANCE_REL * z).max(1e-4);
    let t = ((scene_z - z) / tol * 0.5 + 0.5).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// `values` where `depth` is finite; elsewhere the minimum over finite-depth neighbours (3x3),
/// or 1 when there are none.
fn min_over_product_neighbours(values: &Plane, depth: &Plane) -> Plane {
    let (w, h) = (values.width, values.height);
    Plane::from_fn(w, h, |x, y| {
        if depth.at(x, y).is_finite() {
            return values.at(x, y);
        }
        let mut v = 1.0_f32;
        for ny in y.saturating_sub(1)..(y + 2).min(h) {
            for nx in x.saturating_sub(1)..(x + 2).min(w) {
                if depth.at(nx, ny).is_finite() {
                    v = v.min(values.at(nx, ny));
                }
            }
        }
        v
    })
}

/// The product's depth with edge pixels (covered by MSAA but missed by the single-sample depth
/// pass) filled from their nearest neighbour in a 3x3 window.
fn nearest_depth(depth: &DepthImage) -> Plane {
    let (w, h) = depth.dimensions();
    Plane::from_fn(w as usize, h as usize, |x, y| {
        let mut best = f32::INFINITY;
        for dy in -1_i64..=1 {
            for dx in -1_i64..=1 {
                let (nx, ny) = (x as i64 + dx, y as i64 + dy);
                if nx >= 0 && ny >= 0 && (nx as u32) < w && (ny as u32) < h {
                    best = best.min(depth.get_pixel(nx as u32, ny as u32)[0]);
                }
            }
        }
        best
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visibility_is_smooth_and_one_sided() {
        assert_eq!(visibility(2.0, f32::INFINITY), 1.0);
        assert_eq!(visibility(2.0, 1.0), 0.0);
        assert_eq!(visibility(2.0, 3.0), 1.0);
        assert!((visibility(2.0, 2.0) - 0.5).abs() < 1e-6);
    }
}
