//! glTF metallic-roughness materials as the renderer uses them: factors, the five texture
//! slots with their UV set and `KHR_texture_transform`, alpha mode and sidedness.

use serde_json::Value;

use super::gltf_images::texture_image;

/// How a material's alpha is used (glTF `alphaMode`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AlphaMode {
    /// Alpha ignored.
    Opaque,
    /// Fragments with alpha below the cutoff are discarded, others are opaque.
    Mask {
        /// `alphaCutoff`.
        cutoff: f32,
    },
    /// Alpha-blended over what is behind.
    Blend,
}

/// One texture slot of a material.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TextureRef {
    /// Index into the model's images.
    pub image: usize,
    /// UV set (0 or 1).
    pub tex_coord: u32,
    /// UV transform `[a, b, tx; c, d, ty]` (row-major 2x3) from `KHR_texture_transform`.
    pub uv_transform: [[f32; 3]; 2],
}

/// Identity UV transform.
pub const UV_IDENTITY: [[f32; 3]; 2] = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]];

/// A metallic-roughness material.
#[derive(Debug, Clone, PartialEq)]
pub struct Material {
    /// Linear RGBA base colour factor.
    pub base_color: [f32; 4],
    /// Metallic factor.
    pub metallic: f32,
    /// Roughness factor.
    pub roughness: f32,
    /// Linear emissive colour times `KHR_materials_emissive_strength`.
    pub emissive: [f32; 3],
    /// Normal map scale.
    pub normal_scale: f32,
    /// Occlusion strength.
    pub occlusion_strength: f32,
    /// Alpha handling.
    pub alpha_mode: AlphaMode,
    /// Whether back faces are drawn.
    pub double_sided: bool,
    /// Base colour texture (sRGB).
    pub base_color_texture: Option<TextureRef>,
    /// Metallic (B) and roughness (G) texture (linear).
    pub metallic_roughness_texture: Option<TextureRef>,
    /// Tangent-space normal map (linear).
    pub normal_texture: Option<TextureRef>,
    /// Ambient occlusion (R, linear).
    pub occlusion_texture: Option<TextureRef>,
    /// Emissive texture (sRGB).
    pub emissive_texture: Option<TextureRef>,
}

impl Default for Material {
    /// The glTF default material.
    fn default() -> Self {
        Self {
            base_color: [1.0; 4],
            metallic: 1.0,
            roughness: 1.0,
            emissive: [0.0; 3],
            normal_scale: 1.0,
            occlusion_strength: 1.0,
            alpha_mode: AlphaMode::Opaque,
            double_sided: false,
            base_color_texture: None,
            metallic_roughness_texture: None,
            normal_texture: None,
            occlusion_texture: None,
            emissive_texture: None,
        }
    }
}

impl Material {
    /// Reads a glTF material.
    pub fn from_gltf(m: &gltf::Material<'_>) -> Self {
        let pbr = m.pbr_metallic_roughness();
        let strength = m.emissive_strength().unwrap_or(1.0);
        Self {
            base_color: pbr.base_color_factor(),
            metallic: pbr.metallic_factor(),
            roughness: pbr.roughness_factor(),
            emissive: m.emissive_factor().map(|c| c * strength),
            normal_scale: m.normal_texture().map_or(1.0, |t| t.scale()),
            occlusion_strength: m.occlusion_texture().map_or(1.0, |t| t.strength()),
            alpha_mode: match m.alpha_mode() {
                gltf::material::AlphaMode::Opaque => AlphaMode::Opaque,
                gltf::material::AlphaMode::Mask => AlphaMode::Mask {
                    cutoff: m.alpha_cutoff().unwrap_or(0.5),
                },
                gltf::material::AlphaMode::Blend => AlphaMode::Blend,
            },
            double_sided: m.double_sided(),
            base_color_texture: pbr.base_color_texture().and_then(|t| info_ref(&t)),
            metallic_roughness_texture: pbr.metallic_roughness_texture().and_then(|t| info_ref(&t)),
            normal_texture: m.normal_texture().and_then(|t| {
                Some(json_ref(
                    texture_image(&t.texture())?,
                    t.tex_coord(),
                    t.extension_value("KHR_texture_transform"),
                ))
            }),
            occlusion_texture: m.occlusion_texture().and_then(|t| {
                Some(json_ref(
                    texture_image(&t.texture())?,
                    t.tex_coord(),
                    t.extension_value("KHR_texture_transform"),
                ))
            }),
            emissive_texture: m.emissive_texture().and_then(|t| info_ref(&t)),
        }
    }

    /// The texture slots in shader binding order, with whether each is sRGB-encoded.
    pub fn slots(&self) -> [(Option<TextureRef>, bool); 5] {
        [
            (self.base_color_texture, true),
            (self.metallic_roughness_texture, false),
            (self.normal_texture, false),
            (self.occlusion_texture, false),
            (self.emissive_texture, true),
        ]
    }
}

/// The texture slot of `t`; `None` when its texture shows no image.
fn info_ref(t: &gltf::texture::Info<'_>) -> Option<TextureRef> {
    let transform = t.texture_transform();
    let tex_coord = transform
        .as_ref()
        .and_then(|x| x.tex_coord())
        .unwrap_or(t.tex_coord());
    let uv_transform = transform.map_or(UV_IDENTITY, |x| {
        uv_matrix(x.offset(), x.rotation(), x.scale())
    });
    Some(TextureRef {
        image: texture_image(&t.texture())?,
        tex_coord,
        uv_transform,
    })
}

fn json_ref(image: usize, tex_coord: u32, transform: Option<&Value>) -> TextureRef {
    let Some(t) = transform else {
        return TextureRef {
            image,
            tex_coord,
            uv_transform: UV_IDENTITY,
        };
    };
    let pair = |key: &str, default: [f32; 2]| {
        t.get(key).and_then(Value::as_array).map_or(default, |a| {
            [0, 1].map(|i| {
                a.get(i)
                    .and_then(Value::as_f64)
                    .map_or(default[i], |v| v as f32)
            })
        })
    };
    let rotation = t.get("rotation").and_then(Value::as_f64).unwrap_or(0.0) as f32;
    let tex_coord = t
        .get("texCoord")
        .and_then(Value::as_u64)
        .map_or(tex_coord, |v| v as u32);
    TextureRef {
        image,
        tex_coord,
        uv_transform: uv_matrix(pair("offset", [0.0; 2]), rotation, pair("scale", [1.0; 2])),
    }
}

/// `T * R * S` of KHR_texture_transform as a row-major 2x3 matrix (rotation is
/// counter-clockwise in UV space, as the extension specifies).
pub fn uv_matrix(offset: [f32; 2], rotation: f32, scale: [f32; 2]) -> [[f32; 3]; 2] {
    let (s, c) = rotation.sin_cos();
    [
        [c * scale[0], s * scale[1], offset[0]],
        [-s * scale[0], c * scale[1], offset[1]],
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uv_matrix_matches_the_extension_example() {
        // KHR_texture_transform README: offset then rotate then scale, applied as T * R * S.
        let m = uv_matrix([0.5, 0.25], std::f32::consts::FRAC_PI_2, [2.0, 3.0]);
        let apply = |u: f32, v: f32| {
            [
                m[0][0] * u + m[0][1] * v + m[0][2],
                m[1][0] * u + m[1][1] * v + m[1][2],
            ]
        };
        let p = apply(1.0, 0.0);
        // Scale u by 2, rotate by 90 deg (u axis maps to -v), then offset.
        assert!(
            (p[0] - 0.5).abs() < 1e-6 && (p[1] - (0.25 - 2.0)).abs() < 1e-6,
            "{p:?}"
        );
    }
}
