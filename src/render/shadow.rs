//! Contact shadow on the ground plane: the darkening right under and around the product's
//! footprint that anchors it to the floor. Computed per pixel by casting the pixel's ray onto
//! the plane and measuring its distance to the footprint rectangle.

use glam::{DMat4, DVec2, DVec3};

use crate::core::CameraPose;

/// The product's footprint on the ground plane.
#[derive(Debug, Clone, Copy)]
pub struct Footprint {
    /// Centre of the footprint (world).
    pub centre_in_world: DVec3,
    /// Unit axes of the footprint in the plane (world): object x and z.
    pub axes_in_world: [DVec3; 2],
    /// Half sizes along the axes in world units.
    pub half_extent: DVec2,
    /// Unit plane normal (world).
    pub normal_in_world: DVec3,
}

impl Footprint {
    /// Footprint of a model-space box placed by `world_from_object`.
    pub fn of_box(world_from_object: &DMat4, bbox: (DVec3, DVec3), normal_in_world: DVec3) -> Self {
        let base = DVec3::new(
            (bbox.0.x + bbox.1.x) / 2.0,
            bbox.0.y,
            (bbox.0.z + bbox.1.z) / 2.0,
        );
        let x = world_from_object.transform_vector3(DVec3::X);
        let z = world_from_object.transform_vector3(DVec3::Z);
        let e = bbox.1 - bbox.0;
        Self {
            centre_in_world: world_from_object.transform_point3(base),
            axes_in_world: [x.normalize(), z.normalize()],
            half_extent: DVec2::new(x.length() * e.x / 2.0, z.length() * e.z / 2.0),
            normal_in_world,
        }
    }
}

/// Shadow strength at the footprint's centre (fraction of light removed).
const CONTACT_STRENGTH: f64 = 0.55;
/// Falloff distance relative to the footprint's smaller half size.
const FALLOFF_REL: f64 = 1.5;

/// Multiplicative shadow layer (255 = unshadowed) for one frame.
pub fn contact_shadow(camera: &CameraPose, footprint: &Footprint) -> image::GrayImage {
    let size = camera.intrinsics.size;
    let world_from_cam = camera.world_from_cam;
    let origin = camera.centre_in_world();
    let falloff = FALLOFF_REL * footprint.half_extent.min_element().max(1e-9);
    image::GrayImage::from_fn(size.width, size.height, |x, y| {
        let ray_in_cam = camera
            .intrinsics
            .unproject(DVec2::new(f64::from(x), f64::from(y)));
        let dir = world_from_cam.transform_vector3(ray_in_cam);
        let occlusion =
            hit_plane(origin, dir, footprint).map_or(0.0, |p| occlusion_at(p, footprint, falloff));
        image::Luma([(255.0 * (1.0 - occlusion)).round() as u8])
    })
}

fn hit_plane(origin: DVec3, dir: DVec3, fp: &Footprint) -> Option<DVec3> {
    let denom = fp.normal_in_world.dot(dir);
    if denom.abs() < 1e-12 {
        return None;
    }
    let t = fp.normal_in_world.dot(fp.centre_in_world - origin) / denom;
    (t > 0.0).then(|| origin + dir * t)
}

/// Soft occlusion: full strength well inside the footprint, fading to zero `falloff` outside.
fn occlusion_at(p: DVec3, fp: &Footprint, falloff: f64) -> f64 {
    let d = p - fp.centre_in_world;
    let local = DVec2::new(
        d.dot(fp.axes_in_world[0]).abs(),
        d.dot(fp.axes_in_world[1]).abs(),
    );
    let outside = (local - fp.half_extent).max(DVec2::ZERO).length();
    let inside = (fp.half_extent - local).min_element().max(0.0);
    let t = ((outside - inside.min(falloff) * 0.5) / falloff + 0.5).clamp(0.0, 1.0);
    CONTACT_STRENGTH * (1.0 - t * t * (3.0 - 2.0 * t))
}
