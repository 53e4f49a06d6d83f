//! The product's footprint on the ground plane, from which the shadow catcher computes the
//! contact shadow: the darkening right under and around the product that anchors it to the
//! floor (evaluated per pixel in `catcher.wgsl`).

use glam::{DMat4, DVec2, DVec3};

/// The product's footprint on the ground plane.
#[derive(Debug, Clone, Copy, PartialEq)]
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
