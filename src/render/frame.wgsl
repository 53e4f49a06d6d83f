// Per-frame uniforms and the key light's shadow map, bind group 0 of every pipeline; prepended
// to product.wgsl and catcher.wgsl so the layout is written once (it mirrors `FrameUniforms` in
// raster/mod.rs).

struct FrameUniforms {
    clip_from_world: mat4x4<f32>,
    light_clip_from_world: mat4x4<f32>,
    camera_in_world: vec4<f32>,
    // z in camera coordinates (metres) = dot(depth_row.xyz, p) + depth_row.w
    depth_row: vec4<f32>,
    // xyz: unit direction towards the key light; w: tangent of its angular radius.
    key_dir_in_world: vec4<f32>,
    key_color: vec4<f32>,
    // Ambient irradiance / pi = sh[0] + sh[1] * n.x + sh[2] * n.y + sh[3] * n.z (world n).
    sh: array<vec4<f32>, 4>,
    plane: vec4<f32>,
    footprint_centre: vec4<f32>,
    footprint_u: vec4<f32>,
    footprint_v: vec4<f32>,
    // x: key-light shadow strength, y: contact shadow strength, z: contact falloff (world
    // units), w: shadow-map texel size in world units.
    shadow_params: vec4<f32>,
};

@group(0) @binding(0) var<uniform> frame: FrameUniforms;
@group(0) @binding(1) var shadow_map: texture_depth_2d;
@group(0) @binding(2) var shadow_sampler: sampler_comparison;

