//! Vertex attributes as floats, whatever their component type. `KHR_mesh_quantization` lets
//! positions, normals, tangents and texture coordinates be 8- or 16-bit integers, normalized
//! (to [0, 1] unsigned, [-1, 1] signed, as the glTF spec's decoding) or not (the integer's
//! value; a node's transform usually scales them back to metres). gltf 1.4.1's reader reads
//! only the component types core glTF allows for each attribute, so integers are read here;
//! floats still go through gltf (which also applies sparse accessors).

use gltf::accessor::{DataType, Dimensions};
use gltf::Semantic;

/// An attribute read as floats; `None` when the primitive does not have it.
pub type Attribute<const N: usize> = Option<Result<Vec<[f32; N]>, String>>;

/// `semantic` of `primitive` as `N`-vectors of floats when it is stored as 8- or 16-bit
/// integers; `None` when it is missing or stored as floats (read those with gltf's reader).
pub fn quantized<const N: usize>(
    primitive: &gltf::Primitive<'_>,
    semantic: &Semantic,
    buffers: &[gltf::buffer::Data],
) -> Attribute<N> {
    let accessor = primitive.get(semantic)?;
    if accessor.data_type() == DataType::F32 {
        return None;
    }
    Some(read(&accessor, buffers))
}

fn read<const N: usize>(
    accessor: &gltf::Accessor<'_>,
    buffers: &[gltf::buffer::Data],
) -> Result<Vec<[f32; N]>, String> {
    if dimensions(accessor.dimensions()) != Some(N) {
        return Err(format!(
            "accessor {} has {:?} elements, {N} components expected",
            accessor.index(),
            accessor.dimensions()
        ));
    }
    if accessor.sparse().is_some() {
        return Err(format!(
            "accessor {} is a sparse quantized accessor, which vanelia cannot read; re-export \
             without sparse accessors",
            accessor.index()
        ));
    }
    let view = accessor
        .view()
        .ok_or_else(|| format!("accessor {} has no buffer view", accessor.index()))?;
    let data = buffers
        .get(view.buffer().index())
        .ok_or("an accessor's buffer is missing")?;
    let size = accessor.data_type().size();
    let stride = view.stride().unwrap_or(size * N);
    let start = view.offset() + accessor.offset();
    let outside = || format!("accessor {} lies outside its buffer", accessor.index());
    let decode = component(accessor.data_type(), accessor.normalized());
    (0..accessor.count())
        .map(|i| {
            let mut v = [0.0; N];
            for (k, out) in v.iter_mut().enumerate() {
                let at = start + i * stride + k * size;
                *out = decode(data.get(at..at + size).ok_or_else(outside)?);
            }
            Ok(v)
        })
        .collect()
}

fn dimensions(d: Dimensions) -> Option<usize> {
    match d {
        Dimensions::Scalar => Some(1),
        Dimensions::Vec2 => Some(2),
        Dimensions::Vec3 => Some(3),
        Dimensions::Vec4 => Some(4),
        _ => None,
    }
}

/// The float of one little-endian component (glTF 2.0 §3.11, "normalized" decoding).
fn component(data_type: DataType, normalized: bool) -> fn(&[u8]) -> f32 {
    match (data_type, normalized) {
        (DataType::I8, true) => |b| (f32::from(b[0] as i8) / 127.0).max(-1.0),
        (DataType::I8, false) => |b| f32::from(b[0] as i8),
        (DataType::U8, true) => |b| f32::from(b[0]) / 255.0,
        (DataType::U8, false) => |b| f32::from(b[0]),
        (DataType::I16, true) => {
            |b| (f32::from(i16::from_le_bytes([b[0], b[1]])) / 32767.0).max(-1.0)
        }
        (DataType::I16, false) => |b| f32::from(i16::from_le_bytes([b[0], b[1]])),
        (DataType::U16, true) => |b| f32::from(u16::from_le_bytes([b[0], b[1]])) / 65535.0,
        (DataType::U16, false) => |b| f32::from(u16::from_le_bytes([b[0], b[1]])),
        (DataType::U32, _) => |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32,
        (DataType::F32, _) => |b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_decode_as_the_spec_says() {
        assert_eq!(component(DataType::I8, true)(&[127]), 1.0);
        assert_eq!(
            component(DataType::I8, true)(&[0x80]),
            -1.0,
            "-128 clamps to -1"
        );
        assert_eq!(component(DataType::U8, true)(&[255]), 1.0);
        assert_eq!(
            component(DataType::I16, true)(&(-32767_i16).to_le_bytes()),
            -1.0
        );
        assert_eq!(
            component(DataType::U16, true)(&65535_u16.to_le_bytes()),
            1.0
        );
        assert_eq!(
            component(DataType::I16, false)(&(-300_i16).to_le_bytes()),
            -300.0
        );
        assert_eq!(component(DataType::U8, false)(&[7]), 7.0);
    }
}
