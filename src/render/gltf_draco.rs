//! `KHR_draco_mesh_compression`: a primitive whose vertices and triangles are one Draco
//! bitstream in a buffer view, its attributes named by their Draco unique ids. Decoded with
//! draco-core (a pure-Rust port of Google's Draco, checked against the reference bitstreams);
//! the accessors of such a primitive hold no data of their own, only their type and whether
//! they are normalized.

use std::collections::HashMap;

use draco_core::{DecoderBuffer, Mesh, MeshDecoder};

/// The extension's name.
pub const EXTENSION: &str = "KHR_draco_mesh_compression";

/// A decoded Draco primitive.
pub struct DracoPrimitive {
    /// Triangle corners, three per face.
    pub indices: Vec<u32>,
    mesh: Mesh,
    /// glTF attribute name → Draco unique id.
    ids: HashMap<String, u32>,
}

impl DracoPrimitive {
    /// The primitive's Draco data, decoded; `None` when it is not compressed.
    pub fn decode(
        primitive: &gltf::Primitive<'_>,
        document: &gltf::Document,
        buffers: &[gltf::buffer::Data],
    ) -> Option<Result<Self, String>> {
        let ext = primitive.extension_value(EXTENSION)?;
        Some(Self::from_extension(ext, document, buffers))
    }

    fn from_extension(
        ext: &serde_json::Value,
        document: &gltf::Document,
        buffers: &[gltf::buffer::Data],
    ) -> Result<Self, String> {
        let bad = |what: &str| format!("{EXTENSION}: {what}; re-export the model");
        let view = ext
            .get("bufferView")
            .and_then(serde_json::Value::as_u64)
            .and_then(|i| document.views().nth(usize::try_from(i).ok()?))
            .ok_or_else(|| bad("the primitive names no valid bufferView"))?;
        let bytes = buffers
            .get(view.buffer().index())
            .and_then(|b| b.get(view.offset()..view.offset().saturating_add(view.length())))
            .ok_or_else(|| bad("the bufferView lies outside its buffer"))?;
        let ids = ext
            .get("attributes")
            .and_then(serde_json::Value::as_object)
            .ok_or_else(|| bad("the primitive has no attributes map"))?
            .iter()
            .map(|(name, id)| {
                let id = id.as_u64().and_then(|i| u32::try_from(i).ok());
                id.map(|id| (name.clone(), id))
                    .ok_or_else(|| bad(&format!("attribute {name} has no Draco id")))
            })
            .collect::<Result<HashMap<_, _>, _>>()?;
        let mut mesh = Mesh::new();
        MeshDecoder::new()
            .decode(&mut DecoderBuffer::new(bytes), &mut mesh)
            .map_err(|e| bad(&format!("the Draco data does not decode ({e})")))?;
        let indices: Vec<u32> = mesh
            .faces()
            .iter()
            .flat_map(|face| face.map(|p| p.0))
            .collect();
        if indices.is_empty() || mesh.num_points() == 0 {
            return Err(bad("the Draco data decodes to no triangles"));
        }
        if indices.iter().any(|&i| i as usize >= mesh.num_points()) {
            return Err(bad(
                "a decoded triangle refers to a point the data does not have",
            ));
        }
        Ok(Self { indices, mesh, ids })
    }

    /// Attribute `name` (`POSITION`, `TEXCOORD_0`...) as `N`-vectors, one per Draco point,
    /// normalized integers mapped to [0, 1] or [-1, 1] as `accessor` says; `None` when the
    /// primitive's Draco data does not carry it.
    pub fn attribute<const N: usize>(
        &self,
        name: &str,
        accessor: Option<gltf::Accessor<'_>>,
    ) -> Option<Result<Vec<[f32; N]>, String>> {
        let id = *self.ids.get(name)?;
        let Some(attribute) = self.mesh.attribute_by_unique_id(id) else {
            return Some(Err(format!(
                "{EXTENSION}: attribute {name} (Draco id {id}) is not in the Draco data"
            )));
        };
        let normalized = accessor
            .as_ref()
            .filter(|a| a.normalized())
            .map(|a| normalized_scale(a.data_type()));
        let points = self.mesh.num_points();
        // the glTF accessor states how many vertices the stream decodes to
        if let Some(count) = accessor.as_ref().map(gltf::Accessor::count) {
            if count != points {
                return Some(Err(format!(
                    "{EXTENSION}: attribute {name} decodes to {points} values but its accessor \
                     says {count}; re-export the model"
                )));
            }
        }
        let values = attribute.read_f32s(points, N);
        Some(Ok(values
            .chunks_exact(N)
            .map(|c| {
                let mut v = [0.0; N];
                for (out, &x) in v.iter_mut().zip(c) {
                    *out = normalized.map_or(x, |scale| (x * scale).max(-1.0));
                }
                v
            })
            .collect()))
    }
}

/// The factor that maps a normalized integer component to [0, 1] or [-1, 1].
fn normalized_scale(data_type: gltf::accessor::DataType) -> f32 {
    use gltf::accessor::DataType;
    match data_type {
        DataType::I8 => 1.0 / 127.0,
        DataType::U8 => 1.0 / 255.0,
        DataType::I16 => 1.0 / 32767.0,
        DataType::U16 => 1.0 / 65535.0,
        DataType::U32 | DataType::F32 => 1.0,
    }
}
