//! Loading the product from glTF/GLB: every triangle primitive of the default scene with node
//! transforms applied, flattened into model-space meshes with metallic-roughness materials.
//! Tangents are generated (per-triangle UV derivatives, Lengyel's method) when the file has none.
//! Buffers and images are read by `gltf_images` (PNG, JPEG and WebP textures), quantized
//! attributes (`KHR_mesh_quantization`) by `gltf_attributes`, Draco-compressed primitives
//! (`KHR_draco_mesh_compression`) by `gltf_draco`.

use std::path::Path;

use glam::{Mat3, Mat4, Vec3};

use gltf::Semantic;

use super::gltf_attributes::quantized;
use super::gltf_draco::DracoPrimitive;
use super::gltf_images::Imported;
use crate::core::{Error, Result};

pub use super::material::{AlphaMode, Material};

/// One vertex as uploaded to the GPU.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Vertex {
    /// Position in model space (metres by glTF convention, +Y up).
    pub position: [f32; 3],
    /// Unit normal in model space.
    pub normal: [f32; 3],
    /// Unit tangent in model space; w is the bitangent sign.
    pub tangent: [f32; 4],
    /// Texture coordinate set 0.
    pub uv0: [f32; 2],
    /// Texture coordinate set 1 (set 0 when absent).
    pub uv1: [f32; 2],
    /// Linear vertex colour (COLOR_0), white when absent.
    pub color: [f32; 4],
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

/// The product, ready to upload.
#[derive(Debug, Clone)]
pub struct ProductModel {
    /// Meshes in model space.
    pub meshes: Vec<Mesh>,
    /// Materials; index 0 is the glTF default material.
    pub materials: Vec<Material>,
    /// Decoded images (RGBA8, as stored: the material slot says sRGB or linear).
    pub textures: Vec<image::RgbaImage>,
    /// Axis-aligned bounds in model space (metres).
    pub bbox_min: Vec3,
    /// Axis-aligned bounds in model space (metres).
    pub bbox_max: Vec3,
}

impl ProductModel {
    /// The eight corners of the model's bounding box (model space).
    pub fn box_corners(&self) -> [Vec3; 8] {
        let pick = |i: usize, bit: usize, lo: f32, hi: f32| if i & bit == 0 { lo } else { hi };
        std::array::from_fn(|i| {
            Vec3::new(
                pick(i, 1, self.bbox_min.x, self.bbox_max.x),
                pick(i, 2, self.bbox_min.y, self.bbox_max.y),
                pick(i, 4, self.bbox_min.z, self.bbox_max.z),
            )
        })
    }

    /// Loads a `.glb` or `.gltf` file.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| {
            Error::bad_input(
                format!("cannot read the product model ({e})"),
                "check the --model path",
                path,
            )
        })?;
        super::gltf_check::precheck(&bytes).map_err(|detail| Error::Model {
            detail,
            path: path.into(),
        })?;
        let imported = super::gltf_images::import(&bytes, path.parent());
        imported
            .and_then(Self::from_import)
            .map_err(|detail| Error::Model {
                detail,
                path: path.into(),
            })
    }

    /// Loads a self-contained GLB or .gltf (embedded or data-URI buffers) from memory; the
    /// entry point of the GLB fuzz target.
    pub fn from_slice(bytes: &[u8]) -> std::result::Result<Self, String> {
        super::gltf_check::precheck(bytes)?;
        Self::from_import(super::gltf_images::import(bytes, None)?)
    }

    fn from_import(imported: Imported) -> std::result::Result<Self, String> {
        let Imported {
            document: doc,
            buffers,
            images: textures,
        } = imported;
        let file = (&doc, buffers.as_slice());
        let mut materials = vec![Material::default()];
        materials.extend(doc.materials().map(|m| Material::from_gltf(&m)));
        check_texture_indices(&materials, textures.len())?;
        let scene = doc
            .default_scene()
            .or_else(|| doc.scenes().next())
            .ok_or("the file has no scene")?;
        let mut meshes = Vec::new();
        for node in scene.nodes() {
            collect_node(&node, Mat4::IDENTITY, file, &mut meshes, 0)?;
        }
        if meshes.is_empty() {
            return Err("the scene has no triangle meshes".into());
        }
        let (bbox_min, bbox_max) = bounds(&meshes);
        check_extent(bbox_max - bbox_min)?;
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

    /// A summary for the run report: bounds in metres, triangles, materials.
    pub fn summary(&self) -> ModelSummary {
        ModelSummary {
            bbox_min_m: self.bbox_min.to_array(),
            bbox_max_m: self.bbox_max.to_array(),
            extent_m: self.extent_m().to_array(),
            triangles: self.triangle_count(),
            materials: self.materials.len() - 1,
            textures: self.textures.len(),
        }
    }

    /// Total number of triangles.
    pub fn triangle_count(&self) -> usize {
        self.meshes.iter().map(|m| m.indices.len() / 3).sum()
    }
}

/// What the run report says of the model.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ModelSummary {
    /// Lower corner of the bounding box, metres (model space).
    pub bbox_min_m: [f32; 3],
    /// Upper corner of the bounding box, metres.
    pub bbox_max_m: [f32; 3],
    /// Size along each axis, metres.
    pub extent_m: [f32; 3],
    /// Triangles.
    pub triangles: usize,
    /// Materials (besides the default).
    pub materials: usize,
    /// Textures.
    pub textures: usize,
}

/// Largest plausible product size; bigger usually means wrong units or a scene, not a product.
const MAX_EXTENT_M: f32 = 1.0e4;
/// Smallest plausible product size.
const MIN_EXTENT_M: f32 = 1.0e-6;

fn check_extent(extent: Vec3) -> std::result::Result<(), String> {
    let size = extent.max_element();
    if !size.is_finite() || size < MIN_EXTENT_M {
        return Err("the model is degenerate (all vertices at one point)".into());
    }
    if size > MAX_EXTENT_M {
        return Err(format!(
            "the model is {size:.0} m across, an absurd size for a product; check the export units (glTF is in metres)"
        ));
    }
    Ok(())
}

fn check_texture_indices(materials: &[Material], images: usize) -> std::result::Result<(), String> {
    let bad = materials
        .iter()
        .flat_map(|m| m.slots())
        .filter_map(|(t, _)| t)
        .find(|t| t.image >= images || t.tex_coord > 1);
    match bad {
        Some(t) if t.tex_coord > 1 => Err(format!(
            "a material uses TEXCOORD_{}, only sets 0 and 1 are supported",
            t.tex_coord
        )),
        Some(t) => Err(format!(
            "a material refers to image {} but the file has {images}",
            t.image
        )),
        None => Ok(()),
    }
}

/// Deepest node hierarchy accepted (guards against stack exhaustion on hostile files).
const MAX_NODE_DEPTH: usize = 64;

/// A parsed file: its document and buffer contents.
type File<'a> = (&'a gltf::Document, &'a [gltf::buffer::Data]);

fn collect_node(
    node: &gltf::Node<'_>,
    parent: Mat4,
    file: File<'_>,
    out: &mut Vec<Mesh>,
    depth: usize,
) -> std::result::Result<(), String> {
    if depth > MAX_NODE_DEPTH {
        return Err(format!(
            "the node hierarchy is deeper than {MAX_NODE_DEPTH} levels"
        ));
    }
    let world = parent * Mat4::from_cols_array_2d(&node.transform().matrix());
    if let Some(mesh) = node.mesh() {
        for prim in mesh
            .primitives()
            .filter(|p| p.mode() == gltf::mesh::Mode::Triangles)
        {
            out.push(primitive_mesh(&prim, world, file)?);
        }
    }
    for child in node.children() {
        collect_node(&child, world, file, out, depth + 1)?;
    }
    Ok(())
}

/// Attribute `semantic` of `prim` as `N`-vectors of floats, from its Draco data, its quantized
/// integers or (`float`) gltf's reader, whichever holds it.
fn attribute<const N: usize>(
    prim: &gltf::Primitive<'_>,
    semantic: &Semantic,
    (draco, buffers): (Option<&DracoPrimitive>, &[gltf::buffer::Data]),
    float: impl FnOnce() -> Option<Vec<[f32; N]>>,
) -> std::result::Result<Option<Vec<[f32; N]>>, String> {
    draco
        .and_then(|d| d.attribute::<N>(&semantic.to_string(), prim.get(semantic)))
        .or_else(|| quantized::<N>(prim, semantic, buffers))
        .or_else(|| float().map(Ok))
        .transpose()
}

fn primitive_mesh(
    prim: &gltf::Primitive<'_>,
    world: Mat4,
    (document, buffers): File<'_>,
) -> std::result::Result<Mesh, String> {
    let reader = prim.reader(|b| buffers.get(b.index()).map(|d| d.0.as_slice()));
    let draco = DracoPrimitive::decode(prim, document, buffers).transpose()?;
    let source = (draco.as_ref(), buffers);
    let positions: Vec<Vec3> = attribute::<3>(prim, &Semantic::Positions, source, || {
        reader.read_positions().map(Iterator::collect)
    })?
    .ok_or("a primitive has no POSITION attribute")?
    .into_iter()
    .map(|p| world.transform_point3(Vec3::from(p)))
    .collect();
    if positions.iter().any(|p| !p.is_finite()) {
        return Err("a POSITION accessor holds NaN or infinite values".into());
    }
    let indices: Vec<u32> = match (&draco, reader.read_indices()) {
        (Some(d), _) => d.indices.clone(),
        (None, Some(i)) => i.into_u32().collect(),
        (None, None) => (0..positions.len() as u32).collect(),
    };
    if indices.iter().any(|&i| i as usize >= positions.len()) {
        return Err("an index points past the end of its vertex data".into());
    }
    let normal_matrix = Mat3::from_mat4(world).inverse().transpose();
    let normals: Vec<Vec3> = match attribute::<3>(prim, &Semantic::Normals, source, || {
        reader.read_normals().map(Iterator::collect)
    })? {
        Some(n) => n
            .into_iter()
            .map(|n| (normal_matrix * Vec3::from(n)).normalize_or_zero())
            .collect(),
        None => smooth_normals(&positions, &indices),
    };
    let tex_coords = |set: u32| {
        attribute::<2>(prim, &Semantic::TexCoords(set), source, || {
            reader.read_tex_coords(set).map(|t| t.into_f32().collect())
        })
    };
    let uv0: Vec<[f32; 2]> = tex_coords(0)?.unwrap_or_else(|| vec![[0.0, 0.0]; positions.len()]);
    let uv1: Vec<[f32; 2]> = tex_coords(1)?.unwrap_or_else(|| uv0.clone());
    let colors: Vec<[f32; 4]> = reader.read_colors(0).map_or_else(
        || vec![[1.0; 4]; positions.len()],
        |c| c.into_rgba_f32().collect(),
    );
    // Tangent generation indexes normals and UVs per vertex: their counts must match first.
    if normals.len() != positions.len() || uv0.len() != positions.len() {
        return Err("vertex attributes have different lengths".into());
    }
    let tangents: Vec<[f32; 4]> = match attribute::<4>(prim, &Semantic::Tangents, source, || {
        reader.read_tangents().map(Iterator::collect)
    })? {
        Some(t) => t
            .into_iter()
            .map(|t| {
                let v = Mat3::from_mat4(world) * Vec3::new(t[0], t[1], t[2]);
                let v = v.normalize_or_zero();
                [v.x, v.y, v.z, t[3]]
            })
            .collect(),
        None => generate_tangents(&positions, &normals, &uv0, &indices),
    };
    let n = positions.len();
    if [
        normals.len(),
        uv0.len(),
        uv1.len(),
        colors.len(),
        tangents.len(),
    ]
    .iter()
    .any(|&l| l != n)
    {
        return Err("vertex attributes have different lengths".into());
    }
    let finite = |v: &[f32]| v.iter().all(|x| x.is_finite());
    if !(uv0.iter().all(|v| finite(v))
        && colors.iter().all(|v| finite(v))
        && tangents.iter().all(|v| finite(v)))
    {
        return Err("a vertex attribute accessor holds NaN or infinite values".into());
    }
    let vertices = (0..n)
        .map(|i| Vertex {
            position: positions[i].into(),
            normal: normals[i].into(),
            tangent: tangents[i],
            uv0: uv0[i],
            uv1: uv1[i],
            color: colors[i],
        })
        .collect();
    Ok(Mesh {
        vertices,
        indices,
        material: prim.material().index().map_or(0, |i| i + 1),
    })
}

/// Per-vertex tangents from UV derivatives, orthogonalised against the normal (Lengyel 2001).
/// Deviation: glTF recommends MikkTSpace; for the UV layouts of product models the two agree
/// to within the normal map's precision, and this needs no extra dependency.
fn generate_tangents(
    positions: &[Vec3],
    normals: &[Vec3],
    uvs: &[[f32; 2]],
    indices: &[u32],
) -> Vec<[f32; 4]> {
    let mut tan = vec![Vec3::ZERO; positions.len()];
    let mut bitan = vec![Vec3::ZERO; positions.len()];
    for tri in indices.chunks_exact(3) {
        let [a, b, c] = [tri[0], tri[1], tri[2]].map(|i| i as usize);
        let (e1, e2) = (positions[b] - positions[a], positions[c] - positions[a]);
        let (d1, d2) = (
            glam::Vec2::from(uvs[b]) - glam::Vec2::from(uvs[a]),
            glam::Vec2::from(uvs[c]) - glam::Vec2::from(uvs[a]),
        );
        let det = d1.x * d2.y - d2.x * d1.y;
        if det.abs() < 1e-12 {
            continue;
        }
        let t = (e1 * d2.y - e2 * d1.y) / det;
        let bt = (e2 * d1.x - e1 * d2.x) / det;
        for i in [a, b, c] {
            tan[i] += t;
            bitan[i] += bt;
        }
    }
    (0..positions.len())
        .map(|i| {
            let n = normals[i];
            let t = (tan[i] - n * n.dot(tan[i]))
                .try_normalize()
                .unwrap_or_else(|| n.any_orthonormal_vector());
            let w = if n.cross(t).dot(bitan[i]) < 0.0 {
                -1.0
            } else {
                1.0
            };
            [t.x, t.y, t.z, w]
        })
        .collect()
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
