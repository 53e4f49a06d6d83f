//! Loading the product from glTF/GLB: every triangle primitive of the default scene with node
//! transforms applied, flattened into model-space meshes with their base-colour materials.

use std::path::Path;

use glam::{Mat3, Mat4, Vec3};

use crate::core::{Error, Result};

/// Extensions we cannot decode, with the conversion that removes them.
const COMPRESSION_EXTENSIONS: &[&str] = &[
    "KHR_draco_mesh_compression",
    "EXT_meshopt_compression",
    "KHR_mesh_quantization",
    "KHR_texture_basisu",
    "EXT_texture_webp",
];

/// One vertex as uploaded to the GPU.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Vertex {
    /// Position in model space (metres by glTF convention, +Y up).
    pub position: [f32; 3],
    /// Unit normal in model space.
    pub normal: [f32; 3],
    /// Texture coordinate set 0.
    pub uv: [f32; 2],
}

/// A triangle list with one material.
#[derive(Debug, Clone)]
pub struct Mesh {
    /// Vertices.
    pub vertices: Vec<Vertex>,
    /// Triangle indices into `vertices`.
    pub indices: Vec<u32>,
    /// Index into [`ProductModel::materials`].
    pub material: usize,
}

/// A base-colour material.
#[derive(Debug, Clone)]
pub struct Material {
    /// Linear RGBA factor.
    pub base_color: [f32; 4],
    /// Index into [`ProductModel::textures`] (sRGB-encoded RGBA8).
    pub base_color_texture: Option<usize>,
}

/// The product, ready to upload.
#[derive(Debug, Clone)]
pub struct ProductModel {
    /// Meshes in model space.
    pub meshes: Vec<Mesh>,
    /// Materials; index 0 is the glTF default material.
    pub materials: Vec<Material>,
    /// Decoded textures.
    pub textures: Vec<image::RgbaImage>,
    /// Axis-aligned bounds in model space (metres).
    pub bbox_min: Vec3,
    /// Axis-aligned bounds in model space (metres).
    pub bbox_max: Vec3,
}

impl ProductModel {
    /// Loads a `.glb` or `.gltf` file.
    pub fn load(path: &Path) -> Result<Self> {
        let bad = |detail: String| Error::Model {
            detail,
            path: path.into(),
        };
        let bytes = std::fs::read(path).map_err(|e| {
            Error::bad_input(
                format!("cannot read the product model ({e})"),
                "check the --model path",
                path,
            )
        })?;
        check_required_extensions(&bytes).map_err(bad)?;
        let (doc, buffers, images) = gltf::import(path).map_err(|e| {
            bad(format!(
                "not a valid glTF/GLB file ({e}); re-export it as GLB"
            ))
        })?;
        let textures = images
            .iter()
            .map(to_rgba)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(bad)?;
        let mut materials = vec![Material {
            base_color: [0.8, 0.8, 0.8, 1.0],
            base_color_texture: None,
        }];
        materials.extend(doc.materials().map(|m| material_of(&m, &doc)));
        let scene = doc
            .default_scene()
            .or_else(|| doc.scenes().next())
            .ok_or_else(|| bad("the file has no scene".into()))?;
        let mut meshes = Vec::new();
        for node in scene.nodes() {
            collect_node(&node, Mat4::IDENTITY, &buffers, &mut meshes).map_err(bad)?;
        }
        if meshes.is_empty() {
            return Err(bad("the scene has no triangle meshes".into()));
        }
        let (bbox_min, bbox_max) = bounds(&meshes);
        Ok(Self {
            meshes,
            materials,
            textures,
            bbox_min,
            bbox_max,
        })
    }

    /// Size of the bounding box in metres.
    pub fn extent_m(&self) -> Vec3 {
        self.bbox_max - self.bbox_min
    }

    /// Total number of triangles.
    pub fn triangle_count(&self) -> usize {
        self.meshes.iter().map(|m| m.indices.len() / 3).sum()
    }
}

/// Reads `extensionsRequired` from the JSON (GLB chunk 0 or a .gltf file) before importing,
/// so that compressed files get a message saying how to convert them.
fn check_required_extensions(bytes: &[u8]) -> std::result::Result<(), String> {
    let json = if bytes.starts_with(b"glTF") && bytes.len() >= 20 {
        let len = u32::from_le_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]) as usize;
        bytes
            .get(20..20 + len)
            .ok_or("truncated GLB header; re-export the file")?
    } else {
        bytes
    };
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(json) else {
        return Ok(()); // malformed JSON is reported by the importer with details
    };
    let required = value
        .get("extensionsRequired")
        .and_then(|v| v.as_array())
        .cloned()
        .unwrap_or_default();
    match required
        .iter()
        .filter_map(|v| v.as_str())
        .find(|n| COMPRESSION_EXTENSIONS.contains(n))
    {
        Some(name) => Err(format!(
            "the file requires {name}, which vanelia cannot decode; convert it first, e.g. \
             `gltf-transform copy in.glb out.glb` after `gltf-transform dedup`/`draco --decode`, \
             or re-export without compression"
        )),
        None => Ok(()),
    }
}

fn material_of(m: &gltf::Material<'_>, _doc: &gltf::Document) -> Material {
    let pbr = m.pbr_metallic_roughness();
    Material {
        base_color: pbr.base_color_factor(),
        base_color_texture: pbr
            .base_color_texture()
            .map(|t| t.texture().source().index()),
    }
}

fn collect_node(
    node: &gltf::Node<'_>,
    parent: Mat4,
    buffers: &[gltf::buffer::Data],
    out: &mut Vec<Mesh>,
) -> std::result::Result<(), String> {
    let world = parent * Mat4::from_cols_array_2d(&node.transform().matrix());
    if let Some(mesh) = node.mesh() {
        for prim in mesh
            .primitives()
            .filter(|p| p.mode() == gltf::mesh::Mode::Triangles)
        {
            out.push(primitive_mesh(&prim, world, buffers)?);
        }
    }
    for child in node.children() {
        collect_node(&child, world, buffers, out)?;
    }
    Ok(())
}

fn primitive_mesh(
    prim: &gltf::Primitive<'_>,
    world: Mat4,
    buffers: &[gltf::buffer::Data],
) -> std::result::Result<Mesh, String> {
    let reader = prim.reader(|b| buffers.get(b.index()).map(|d| d.0.as_slice()));
    let positions: Vec<Vec3> = reader
        .read_positions()
        .ok_or("a primitive has no POSITION attribute")?
        .map(|p| world.transform_point3(Vec3::from(p)))
        .collect();
    if positions.iter().any(|p| !p.is_finite()) {
        return Err("a POSITION accessor holds NaN or infinite values".into());
    }
    let indices: Vec<u32> = match reader.read_indices() {
        Some(i) => i.into_u32().collect(),
        None => (0..positions.len() as u32).collect(),
    };
    if indices.iter().any(|&i| i as usize >= positions.len()) {
        return Err("an index points past the end of its vertex data".into());
    }
    let normal_matrix = Mat3::from_mat4(world).inverse().transpose();
    let normals: Vec<Vec3> = match reader.read_normals() {
        Some(n) => n
            .map(|n| (normal_matrix * Vec3::from(n)).normalize_or_zero())
            .collect(),
        None => smooth_normals(&positions, &indices),
    };
    let uvs: Vec<[f32; 2]> = match reader.read_tex_coords(0) {
        Some(t) => t.into_f32().collect(),
        None => vec![[0.0, 0.0]; positions.len()],
    };
    if normals.len() != positions.len() || uvs.len() != positions.len() {
        return Err("vertex attributes have different lengths".into());
    }
    let vertices = (0..positions.len())
        .map(|i| Vertex {
            position: positions[i].into(),
            normal: normals[i].into(),
            uv: uvs[i],
        })
        .collect();
    Ok(Mesh {
        vertices,
        indices,
        material: prim.material().index().map_or(0, |i| i + 1),
    })
}

/// Area-weighted vertex normals for meshes that ship none.
fn smooth_normals(positions: &[Vec3], indices: &[u32]) -> Vec<Vec3> {
    let mut normals = vec![Vec3::ZERO; positions.len()];
    for tri in indices.chunks_exact(3) {
        let [a, b, c] = [tri[0], tri[1], tri[2]].map(|i| i as usize);
        let n = (positions[b] - positions[a]).cross(positions[c] - positions[a]);
        for i in [a, b, c] {
            normals[i] += n;
        }
    }
    normals.into_iter().map(Vec3::normalize_or_zero).collect()
}

fn bounds(meshes: &[Mesh]) -> (Vec3, Vec3) {
    meshes.iter().flat_map(|m| &m.vertices).fold(
        (Vec3::INFINITY, Vec3::NEG_INFINITY),
        |(lo, hi), v| {
            let p = Vec3::from(v.position);
            (lo.min(p), hi.max(p))
        },
    )
}

fn to_rgba(img: &gltf::image::Data) -> std::result::Result<image::RgbaImage, String> {
    use gltf::image::Format;
    let (w, h) = (img.width, img.height);
    let px = &img.pixels;
    let rgba: Vec<u8> = match img.format {
        Format::R8G8B8A8 => px.clone(),
        Format::R8G8B8 => px
            .chunks_exact(3)
            .flat_map(|c| [c[0], c[1], c[2], 255])
            .collect(),
        Format::R8G8 => px
            .chunks_exact(2)
            .flat_map(|c| [c[0], c[0], c[0], c[1]])
            .collect(),
        Format::R8 => px.iter().flat_map(|&c| [c, c, c, 255]).collect(),
        other => {
            return Err(format!(
                "texture format {other:?} is not supported; re-export textures as 8-bit PNG"
            ))
        }
    };
    image::RgbaImage::from_raw(w, h, rgba)
        .ok_or_else(|| "a texture's pixel data does not match its size".into())
}
