// Product shading: base colour (factor x sRGB texture) lit by an ambient term estimated from the
// background frame plus one key light. Output is premultiplied linear RGBA; the sRGB render
// target encodes it, so the layer matches the video's transfer curve with no tone mapping.

struct FrameUniforms {
    clip_from_world: mat4x4<f32>,
    light_dir_in_world: vec4<f32>,
    light_color: vec4<f32>,
    ambient_color: vec4<f32>,
};

struct MaterialUniforms {
    base_color: vec4<f32>,
};

@group(0) @binding(0) var<uniform> frame: FrameUniforms;
@group(1) @binding(0) var<uniform> material: MaterialUniforms;
@group(1) @binding(1) var base_color_texture: texture_2d<f32>;
@group(1) @binding(2) var base_color_sampler: sampler;

struct VertexOutput {
    @builtin(position) clip_position: vec4<f32>,
    @location(0) normal_in_world: vec3<f32>,
    @location(1) uv: vec2<f32>,
};

@vertex
fn vs_main(
    @location(0) position_in_world: vec3<f32>,
    @location(1) normal_in_world: vec3<f32>,
    @location(2) uv: vec2<f32>,
) -> VertexOutput {
    var out: VertexOutput;
    out.clip_position = frame.clip_from_world * vec4<f32>(position_in_world, 1.0);
    out.normal_in_world = normal_in_world;
    out.uv = uv;
    return out;
}

@fragment
fn fs_main(in: VertexOutput, @builtin(front_facing) front_facing: bool) -> @location(0) vec4<f32> {
    let base = material.base_color * textureSample(base_color_texture, base_color_sampler, in.uv);
    var n = normalize(in.normal_in_world);
    if (!front_facing) {
        n = -n;
    }
    let diffuse = max(dot(n, frame.light_dir_in_world.xyz), 0.0);
    let rgb = base.rgb * (frame.ambient_color.rgb + frame.light_color.rgb * diffuse);
    return vec4<f32>(rgb * base.a, base.a);
}
