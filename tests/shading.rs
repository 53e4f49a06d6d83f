//! Shading checks on the rasteriser: reflections show the sky above the horizon and the floor
//! below it, and a wider key light casts a wider penumbra.

use glam::{DMat4, DVec3};
use vanelia::core::{CameraPose, FrameSize, Intrinsics};
use vanelia::render::raster::{FrameImages, GroundSetup, Lighting, Rasterizer};
use vanelia::render::scene::ProductModel;
use vanelia::render::shadow::Footprint;

/// World "up" of these scenes (OpenCV-like world, y down).
const UP: DVec3 = DVec3::NEG_Y;

fn size() -> FrameSize {
    FrameSize {
        width: 240,
        height: 180,
    }
}

/// An OpenCV camera at `eye` looking at `target` (x right, y down in the picture).
fn look_at(eye: DVec3, target: DVec3) -> CameraPose {
    let z = (target - eye).normalize();
    let x = (-UP).cross(z).normalize();
    let y = z.cross(x);
    CameraPose {
        world_from_cam: DMat4::from_cols(
            x.extend(0.0),
            y.extend(0.0),
            z.extend(0.0),
            eye.extend(1.0),
        ),
        intrinsics: Intrinsics {
            focal_px: [220.0, 220.0],
            principal_px: [119.5, 89.5],
            size: size(),
            lens: Default::default(),
        },
    }
}

/// A box of half sizes `half` (glTF y up) standing on the ground `y = 0`, `tilt_deg` about x.
fn standing_box(
    dir: &std::path::Path,
    half: [f32; 3],
    material: serde_json::Value,
) -> ProductModel {
    let path = crate::util::write_gltf(
        dir,
        "box.gltf",
        &crate::util::box_mesh(half),
        material,
        |_| {},
    );
    ProductModel::load(&path).unwrap()
}

fn ground(
    key: DVec3,
    key_angle_deg: f64,
    half: [f32; 3],
    world_from_object: &DMat4,
) -> GroundSetup {
    let h = half.map(f64::from);
    GroundSetup {
        key_dir_in_world: key.normalize(),
        key_angle_deg,
        plane_point_in_world: DVec3::ZERO,
        plane_normal_in_world: UP,
        footprint: Footprint::of_box(
            world_from_object,
            (DVec3::from_array(h) * -1.0, DVec3::from_array(h)),
            UP,
        ),
        shadow_strength: 1.0,
        contact_strength: 0.0,
    }
}

fn render(
    model: &ProductModel,
    world_from_object: DMat4,
    ground: &GroundSetup,
    light: &Lighting,
    camera: &CameraPose,
) -> FrameImages {
    std::env::set_var("XDG_RUNTIME_DIR", std::env::temp_dir());
    let mut raster = Rasterizer::new(model, world_from_object, ground, size()).unwrap();
    raster.render(camera, [0.05, 100.0], light).unwrap()
}

#[test]
fn a_mirror_shows_the_sky_above_the_horizon_and_the_floor_below() {
    let dir = tempfile::tempdir().unwrap();
    let half = [0.3_f32, 0.3, 0.05];
    let chrome = serde_json::json!({"pbrMetallicRoughness": {
        "baseColorFactor": [1.0, 1.0, 1.0, 1.0], "metallicFactor": 1.0, "roughnessFactor": 0.05}});
    let model = standing_box(dir.path(), half, chrome);
    // sky blue above, brown floor below: irradiance / pi = (S + F)/2 + up (S - F)/2 . n
    let (sky, floor) = (DVec3::new(0.1, 0.2, 0.8), DVec3::new(0.6, 0.3, 0.1));
    let along_up = (sky - floor) * 0.5;
    let light = Lighting {
        key_color: [0.0; 3],
        sh: [
            ((sky + floor) * 0.5).as_vec3().to_array(),
            (along_up * UP.x).as_vec3().to_array(),
            (along_up * UP.y).as_vec3().to_array(),
            (along_up * UP.z).as_vec3().to_array(),
        ],
    };
    let camera = look_at(DVec3::new(0.0, -0.3, -2.0), DVec3::new(0.0, -0.3, 0.0));
    // the pane faces the camera tilted 30° up (reflects the sky) or down (the floor)
    let centre_of = |tilt_deg: f64| {
        let world_from_object = DMat4::from_translation(DVec3::new(0.0, -0.3, 0.0))
            * DMat4::from_rotation_x(tilt_deg.to_radians())
            * DMat4::from_rotation_x(std::f64::consts::PI);
        let g = ground(DVec3::new(0.0, -1.0, -0.3), 1.0, half, &world_from_object);
        let images = render(&model, world_from_object, &g, &light, &camera);
        let p = images.rgba.get_pixel(120, 90);
        assert_eq!(p[3], 255, "the pane covers the centre");
        [p[0], p[1], p[2]]
    };
    let (a, b) = (centre_of(30.0), centre_of(-30.0));
    let (up_facing, down_facing) = if a[2] > b[2] { (a, b) } else { (b, a) };
    // a mirror shows the sky and the floor themselves, not their blend across the sphere
    let srgb = |c: DVec3| {
        c.to_array()
            .map(|v| vanelia::core::color::to_srgb(v as f32))
    };
    let near = |got: [u8; 3], want: [u8; 3]| got.iter().zip(want).all(|(&g, w)| g.abs_diff(w) <= 6);
    assert!(
        near(up_facing, srgb(sky)),
        "sky {:?}: {up_facing:?}",
        srgb(sky)
    );
    assert!(
        near(down_facing, srgb(floor)),
        "floor {:?}: {down_facing:?}",
        srgb(floor)
    );
}

#[test]
fn a_wider_light_casts_a_wider_penumbra() {
    let dir = tempfile::tempdir().unwrap();
    let half = [0.05_f32, 0.25, 0.05];
    let matte = serde_json::json!({"pbrMetallicRoughness": {
        "baseColorFactor": [0.8, 0.8, 0.8, 1.0], "metallicFactor": 0.0}});
    let model = standing_box(dir.path(), half, matte);
    // glTF y up onto world -y, standing on y = 0
    let world_from_object = DMat4::from_translation(DVec3::new(0.0, -0.25, 0.0))
        * DMat4::from_rotation_x(std::f64::consts::PI);
    let camera = look_at(DVec3::new(0.0, -1.6, -1.4), DVec3::new(-0.2, 0.0, 0.2));
    let light = Lighting {
        key_color: [1.0; 3],
        sh: [[0.3; 3], [0.0; 3], [0.0; 3], [0.0; 3]],
    };
    let key = DVec3::new(0.6, -0.5, -0.3);
    let penumbra = |angle_deg: f64| {
        let g = ground(key, angle_deg, half, &world_from_object);
        let images = render(&model, world_from_object, &g, &light, &camera);
        let umbra = images.shadow.pixels().filter(|p| p[0] < 30).count();
        let partial = images
            .shadow
            .pixels()
            .filter(|p| (40..215).contains(&p[0]))
            .count();
        (umbra, partial)
    };
    let (sharp_umbra, sharp) = penumbra(0.5);
    let (soft_umbra, soft) = penumbra(8.0);
    assert!(sharp_umbra > 200, "a shadow is cast: {sharp_umbra} px");
    assert!(
        soft > 2 * sharp,
        "penumbra {sharp} px at 0.5°, {soft} px at 8°"
    );
    assert!(
        soft_umbra < sharp_umbra,
        "umbra {sharp_umbra} px, {soft_umbra} px"
    );
}
