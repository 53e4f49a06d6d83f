use glam::{DMat4, DVec3};
use image::{GrayImage, ImageBuffer, Luma, Rgb, RgbImage, Rgba, RgbaImage};

use super::estimate::{estimate, Setup};
use super::*;
use crate::core::{FrameSize, Intrinsics};
use crate::render::edgeblur::{floor_depth, View};

fn intrinsics(width: u32, height: u32, focal_px: f64) -> Intrinsics {
    Intrinsics {
        focal_px: [focal_px, focal_px],
        principal_px: [
            (f64::from(width) - 1.0) / 2.0,
            (f64::from(height) - 1.0) / 2.0,
        ],
        size: FrameSize { width, height },
        lens: Default::default(),
    }
}

#[test]
fn thin_lens_disk_matches_the_formula_and_vanishes_in_focus() {
    // 50 mm on a 36 mm sensor 640 px wide: f = 888.9 px; f/2 focused at 1.15 m.
    let i = intrinsics(640, 360, 50.0 / 36.0 * 640.0);
    let d = Defocus::from_lens(1.15, 2.0, 36.0, &i).expect("a real lens");
    // A f |d - s| / (d (s - f)) on the sensor, in pixels of 36/640 mm.
    let (a, f, s) = (0.025, 0.05, 1.15);
    let sensor = |depth: f64| a * f * (depth - s).abs() / (depth * (s - f));
    for depth in [0.6, 1.7, 2.5, 10.0] {
        let want = sensor(depth) / 36e-3 * 640.0;
        assert!(
            (d.coc_px(depth) - want).abs() < 1e-9 * want.max(1.0),
            "{depth}"
        );
    }
    assert_eq!(d.coc_px(1.15), 0.0);
    assert!(
        Defocus::from_lens(1.15, 0.0, 36.0, &i).is_none(),
        "f/0 is a pinhole"
    );
    assert!(
        Defocus::from_lens(0.01, 2.0, 36.0, &i).is_none(),
        "inside the focal length"
    );
}

/// A frame with a plain image, camera at (0, -dist, h) looking at the origin.
fn camera_looking_down(width: u32, height: u32, focal_px: f64) -> CameraPose {
    // OpenCV camera: x right, y down, z forward; looking along +y, tilted 30° down.
    let pitch = 30_f64.to_radians();
    let forward = DVec3::new(0.0, pitch.cos(), -pitch.sin());
    let right = DVec3::X;
    let down = forward.cross(right);
    let centre = DVec3::new(0.0, -1.5 * pitch.cos(), 1.5 * pitch.sin());
    let world_from_cam = DMat4::from_cols(
        right.extend(0.0),
        down.extend(0.0),
        forward.extend(0.0),
        centre.extend(1.0),
    );
    CameraPose {
        world_from_cam,
        intrinsics: intrinsics(width, height, focal_px),
    }
}

fn ground() -> Ground {
    Ground {
        point_in_world: DVec3::ZERO,
        normal_in_world: DVec3::Z,
    }
}

/// A floor checkerboard (40 cm squares: edges farther apart than the measurement's reach)
/// seen by `camera`, each pixel blurred by the disk of its depth (a gather, which is exact for
/// a floor of slowly varying depth).
fn defocused_floor(camera: &CameraPose, defocus: Option<&Defocus>) -> RgbImage {
    let size = camera.intrinsics.size;
    let sharp = |x: f64, y: f64| -> f32 {
        let ray = camera.intrinsics.unproject(glam::DVec2::new(x, y));
        let dir = camera.world_from_cam.transform_vector3(ray);
        let t = ground().depth_of_ray(camera.centre_in_world(), dir);
        if !t.is_finite() {
            return 0.8;
        }
        let p = camera.centre_in_world() + dir * f64::from(t);
        let cell = ((p.x / 0.4).floor() + (p.y / 0.4).floor()) as i64;
        if cell.rem_euclid(2) == 0 {
            0.25
        } else {
            0.65
        }
    };
    RgbImage::from_fn(size.width, size.height, |x, y| {
        let depth = floor_depth(
            camera,
            &ground(),
            glam::DVec2::new(f64::from(x), f64::from(y)),
        );
        let coc = defocus.map_or(0.0, |d| d.coc_px(depth));
        let mut acc = 0.0;
        // 2x2 supersampling for anti-aliasing, then the disk
        for &(dx, dy, w) in &disk(if coc < MIN_COC_PX { 0.0 } else { coc / 2.0 }) {
            for (sx, sy) in [(-0.25, -0.25), (0.25, -0.25), (-0.25, 0.25), (0.25, 0.25)] {
                acc += w
                    * 0.25
                    * sharp(
                        f64::from(x) + f64::from(dx) + sx,
                        f64::from(y) + f64::from(dy) + sy,
                    );
            }
        }
        let v = (acc * 255.0).round() as u8;
        Rgb([v, v, v])
    })
}

fn read(camera: &CameraPose, frame: &RgbImage, focus: Option<f64>) -> estimate::DefocusEstimate {
    let view = View {
        rgb: frame,
        camera,
        neighbours: [None, None],
    };
    estimate(
        &[view],
        &Setup {
            ground: ground(),
            shutter_open: 0.5,
            focus_distance_m: focus,
            product_depth_m: 1.5,
        },
    )
}

#[test]
fn a_sharp_floor_reads_as_sharp_and_a_defocused_one_as_its_lens() {
    let camera = camera_looking_down(320, 200, 300.0);
    let sharp = read(&camera, &defocused_floor(&camera, None), None);
    assert!(sharp.edges > 300, "{} edges", sharp.edges);
    assert!(sharp.defocus.is_none(), "{sharp:?}");
    // focused at 1.0 m: the product's depth (1.5 m) has a disk of K / 3
    let lens = Defocus {
        focus_distance_m: 1.0,
        infinity_coc_px: 12.0,
    };
    let soft = read(&camera, &defocused_floor(&camera, Some(&lens)), None);
    // A checkerboard is a hard case (every corner a junction, edges closer together in the
    // far field): it reads low, by a third at most.
    let got = soft.product_coc_px;
    let want = lens.coc_px(1.5);
    assert!(
        (got - want).abs() < 0.35 * want,
        "disk {got:.2} px, want {want:.2}: {soft:?}"
    );
    // the focus given: the same disk from a one-parameter fit
    let fixed = read(&camera, &defocused_floor(&camera, Some(&lens)), Some(1.0));
    assert!(
        (fixed.product_coc_px - want).abs() < 0.35 * want,
        "{fixed:?}"
    );
}

#[test]
fn defocus_spreads_the_product_by_its_depth_and_keeps_its_energy() {
    let camera = camera_looking_down(64, 48, 60.0);
    let (w, h) = (64, 48);
    // a 6x6 opaque square at 1.5 m (near) and one at 3 m (far)
    let mut rgba = RgbaImage::new(w, h);
    let mut depth: ImageBuffer<Luma<f32>, Vec<f32>> =
        ImageBuffer::from_pixel(w, h, Luma([f32::INFINITY]));
    let mut mask = GrayImage::new(w, h);
    for (x0, d) in [(12, 1.5_f32), (44, 3.0)] {
        for y in 20..26 {
            for x in x0..x0 + 6 {
                rgba.put_pixel(x, y, Rgba([200, 100, 50, 255]));
                depth.put_pixel(x, y, Luma([d]));
                mask.put_pixel(x, y, Luma([255]));
            }
        }
    }
    let images = FrameImages {
        rgba,
        mask,
        depth_m: depth,
        shadow: GrayImage::from_pixel(w, h, Luma([255])),
    };
    let lens = Defocus {
        focus_distance_m: 1.5,
        infinity_coc_px: 10.0,
    };
    let out = apply(&images, &lens, &camera, &ground());
    let coverage = |img: &GrayImage, xs: std::ops::Range<u32>| -> (u32, f32) {
        let mut n = 0;
        let mut sum = 0.0;
        for y in 0..h {
            for x in xs.clone() {
                let v = img.get_pixel(x, y)[0];
                n += u32::from(v > 0);
                sum += f32::from(v);
            }
        }
        (n, sum)
    };
    // in focus: unchanged; out of focus (5 px disk): spread, same total coverage
    assert_eq!(coverage(&out.mask, 0..32), coverage(&images.mask, 0..32));
    let (before_n, before_sum) = coverage(&images.mask, 32..64);
    let (after_n, after_sum) = coverage(&out.mask, 32..64);
    assert!(after_n > before_n + 20, "{before_n} -> {after_n}");
    assert!((after_sum - before_sum).abs() < 0.02 * before_sum);
    // the spread pixels carry the product's depth and colour
    assert_eq!(out.depth_m.get_pixel(43, 22)[0], 3.0);
    let p = out.rgba.get_pixel(46, 22);
    assert_eq!((p[0], p[3]), (200, 255), "the square's centre stays opaque");
}
