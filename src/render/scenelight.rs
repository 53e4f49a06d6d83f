//! The light of the whole shot in the video's own units (linear pixel values): the key
//! light's colour and strength, the sky's, and what is left of the light in a cast shadow.
//!
//! The shot gives ratios and colours, not absolute levels: the floor's brightness is its
//! albedo times the light, and a dark floor in sun looks like a bright floor in shade. So:
//! - **split and colours** come from the floor ([`FloorLight`]): a cast shadow keeps the sky's
//!   light and loses the key's, so its transmission per channel is the sky's share of the
//!   floor's light; the lit floor's colour is the light's colour (the floor taken as neutral);
//! - **the level** is the camera's exposure: footage is exposed so that a white surface
//!   (albedo [`WHITE_ALBEDO`]) facing the light lands at full scale, and never less than the
//!   brightest lit surfaces in the shot show (which no surface brighter than white can make).
//!
//! With that level `E` (irradiance / π, luminance, on a surface facing the key), floor
//! transmission `t` and key elevation `e`: the floor receives `E_f = E / ((1 − t) / sin e + t)`,
//! the sky gives `t · E_f` and the key `(1 − t) · E_f / sin e`.

use serde::{Deserialize, Serialize};

use super::keylight::FloorLight;
use crate::core::color::luminance;

/// Albedo of the white surface that exposure puts at full scale.
pub const WHITE_ALBEDO: f64 = 0.9;
/// Fraction of the light left in a cast shadow when the shot does not show one.
const DEFAULT_TRANSMISSION: f64 = 0.4;
/// The key light's angular diameter, degrees: the sun's disc (0.53°) widened by the bright
/// aureole around it that any haze adds; its shadow's penumbra is this angle times the
/// distance to the occluder.
pub const KEY_ANGLE_DEG: f64 = 1.0;
/// Fraction of the light left in a cast shadow when the floor shows none clearly: halfway
/// between no shadow (overcast) and the default split's, the least wrong under either reading.
const SOFT_TRANSMISSION: f64 = (1.0 + DEFAULT_TRANSMISSION) / 2.0;
/// The key's angular diameter then, degrees: a large source, so its shadow is soft.
pub const SOFT_KEY_ANGLE_DEG: f64 = 10.0;
/// Lowest key elevation the split trusts, degrees (grazing light on the floor).
const MIN_ELEVATION_DEG: f64 = 5.0;

/// What the shot says of its light.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Evidence {
    /// Lit and shadowed floor under a key light at `elevation_deg` above the ground.
    Floor {
        /// The floor's light.
        floor: FloorLight,
        /// The key's elevation above the ground plane, degrees.
        elevation_deg: f64,
    },
    /// Floor without clear cast shadows: the light is soft (overcast, a large lamp), or its
    /// shadows are too faint or the floor too busy to read them. Both readings are hedged: a
    /// soft key at `elevation_deg` (the default direction) with half the shadow a clear key
    /// would cast (70 % of the light left in it, [`SOFT_KEY_ANGLE_DEG`]).
    Diffuse {
        /// The key's elevation above the ground plane, degrees.
        elevation_deg: f64,
        /// Colour of the lit floor (rgb over luminance).
        chroma_rgb: [f64; 3],
    },
    /// Nothing to read: a key at `elevation_deg` and today's default split.
    Unknown {
        /// The key's elevation above the ground plane, degrees.
        elevation_deg: f64,
        /// Colour of the shot (rgb over luminance), or neutral.
        chroma_rgb: [f64; 3],
    },
}

/// Where the light's level came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LevelFrom {
    /// The exposure convention (white at full scale).
    Exposure,
    /// The brightest lit surfaces of the shot, brighter than the convention allows.
    BrightSurfaces,
}

/// The light of a shot.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SceneLight {
    /// Key light: irradiance / π on a surface facing it, linear RGB.
    pub key_rgb: [f64; 3],
    /// Sky: irradiance / π on a surface facing up (the ground's normal), linear RGB.
    pub sky_rgb: [f64; 3],
    /// Fraction of the floor's light left in the product's cast shadow, linear RGB.
    pub shadow_transmission_rgb: [f64; 3],
    /// The key's elevation above the ground plane the split was made for, degrees.
    pub key_elevation_deg: f64,
    /// The key's angular diameter, degrees (how fast its shadow softens with distance);
    /// [`KEY_ANGLE_DEG`], not read from the shot.
    pub key_angle_deg: f64,
    /// Irradiance / π (luminance) on a surface facing the key: the level the rest scales with.
    pub level: f64,
    /// Where the level came from.
    pub level_from: LevelFrom,
}

impl SceneLight {
    /// The light the `evidence` gives at the exposure of a shot whose brightest lit surfaces
    /// reach `bright_surfaces` (linear luminance, a high percentile).
    pub fn from_shot(evidence: &Evidence, bright_surfaces: Option<f64>) -> Self {
        let convention = 1.0 / WHITE_ALBEDO;
        let seen = bright_surfaces.unwrap_or(0.0).max(0.0) / WHITE_ALBEDO;
        let (level, level_from) = if seen > convention {
            (seen, LevelFrom::BrightSurfaces)
        } else {
            (convention, LevelFrom::Exposure)
        };
        let (transmission, chroma, elevation_deg) = match *evidence {
            Evidence::Floor {
                floor,
                elevation_deg,
            } => (
                floor.shadow_transmission_rgb,
                floor.lit_chroma_rgb,
                elevation_deg,
            ),
            Evidence::Diffuse {
                elevation_deg,
                chroma_rgb,
            } => ([SOFT_TRANSMISSION; 3], chroma_rgb, elevation_deg),
            Evidence::Unknown {
                elevation_deg,
                chroma_rgb,
            } => ([DEFAULT_TRANSMISSION; 3], chroma_rgb, elevation_deg),
        };
        let key_elevation_deg = elevation_deg.clamp(MIN_ELEVATION_DEG, 90.0);
        let sin_e = key_elevation_deg.to_radians().sin();
        let t_y = luminance([0, 1, 2].map(|c| transmission[c] * chroma[c])).clamp(0.0, 1.0);
        let floor_y = level / ((1.0 - t_y) / sin_e + t_y);
        let floor_rgb = chroma.map(|c| c.max(0.0) * floor_y);
        Self {
            key_rgb: [0, 1, 2].map(|c| (1.0 - transmission[c]) * floor_rgb[c] / sin_e),
            sky_rgb: [0, 1, 2].map(|c| transmission[c] * floor_rgb[c]),
            shadow_transmission_rgb: transmission,
            key_elevation_deg,
            key_angle_deg: if matches!(evidence, Evidence::Diffuse { .. }) {
                SOFT_KEY_ANGLE_DEG
            } else {
                KEY_ANGLE_DEG
            },
            level,
            level_from,
        }
    }

    /// The light when the shot says nothing: a neutral key at `elevation_deg`, today's
    /// default split, the exposure convention's level.
    pub fn unknown(elevation_deg: f64) -> Self {
        Self::from_shot(
            &Evidence::Unknown {
                elevation_deg,
                chroma_rgb: [1.0; 3],
            },
            None,
        )
    }

    /// Fraction of the floor's luminance left in the cast shadow.
    pub fn shadow_transmission(&self) -> f64 {
        let sin_e = self.key_elevation_deg.to_radians().sin();
        let floor = [0, 1, 2].map(|c| self.key_rgb[c] * sin_e + self.sky_rgb[c]);
        let total = luminance(floor);
        if total <= 1e-12 {
            return 1.0;
        }
        (luminance(self.sky_rgb) / total).clamp(0.0, 1.0)
    }

    /// How much more than the luminance each channel darkens in the cast shadow (1 where
    /// the shadow is neutral or absent).
    pub fn shadow_tint_rgb(&self) -> [f32; 3] {
        let darkening = 1.0 - self.shadow_transmission();
        if darkening < 1e-3 {
            return [1.0; 3];
        }
        self.shadow_transmission_rgb
            .map(|t| ((1.0 - t) / darkening).clamp(0.0, 4.0) as f32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn floor(t: f64) -> Evidence {
        Evidence::Floor {
            floor: FloorLight {
                shadow_transmission_rgb: [t; 3],
                lit_chroma_rgb: [1.0; 3],
                samples: 100,
            },
            elevation_deg: 30.0,
        }
    }

    #[test]
    fn the_split_reproduces_the_floor_it_was_read_from() {
        let light = SceneLight::from_shot(&floor(0.25), None);
        // floor: key · sin 30° + sky; shadow: sky alone
        let lit = light.key_rgb[0] * 0.5 + light.sky_rgb[0];
        assert!((light.sky_rgb[0] / lit - 0.25).abs() < 1e-9);
        assert!((light.key_rgb[0] + light.sky_rgb[0] - light.level).abs() < 1e-9);
        assert!((light.shadow_transmission() - 0.25).abs() < 1e-9);
        assert_eq!(light.level_from, LevelFrom::Exposure);
    }

    #[test]
    fn bright_surfaces_raise_the_level_and_soft_light_casts_a_fainter_softer_shadow() {
        let bright = SceneLight::from_shot(&floor(0.25), Some(1.8));
        assert_eq!(bright.level_from, LevelFrom::BrightSurfaces);
        assert!((bright.level - 2.0).abs() < 1e-9);
        let soft = SceneLight::from_shot(
            &Evidence::Diffuse {
                elevation_deg: 60.0,
                chroma_rgb: [1.0; 3],
            },
            None,
        );
        assert!((soft.shadow_transmission() - SOFT_TRANSMISSION).abs() < 1e-9);
        assert_eq!(soft.key_angle_deg, SOFT_KEY_ANGLE_DEG);
        assert!(soft.shadow_transmission() > SceneLight::unknown(60.0).shadow_transmission());
    }

    #[test]
    fn a_cached_light_reads_back_bit_for_bit() {
        // render cache keys hash the light: one ulp off would recompute every frame
        for t in [0.234_567_890_123_456_7, 0.1 + 0.2, 1.0 / 3.0] {
            let light = SceneLight::from_shot(&floor(t), Some(1.234_567_890_123_456_7));
            let text = serde_json::to_string(&light).unwrap();
            let back: SceneLight = serde_json::from_str(&text).unwrap();
            assert_eq!(back, light, "{text}");
        }
    }

    #[test]
    fn a_blue_shadow_darkens_red_more() {
        let light = SceneLight::from_shot(
            &Evidence::Floor {
                floor: FloorLight {
                    shadow_transmission_rgb: [0.2, 0.3, 0.5],
                    lit_chroma_rgb: [1.0; 3],
                    samples: 100,
                },
                elevation_deg: 45.0,
            },
            None,
        );
        let tint = light.shadow_tint_rgb();
        assert!(tint[0] > 1.0 && tint[2] < 1.0, "{tint:?}");
    }
}
