// Shadow catcher: a quad on the fitted ground plane, seen by the frame's camera. It outputs the
// fraction of light that reaches the ground (1 = unshadowed): key-light shadow from the shadow
// map times a contact term that darkens the ground around the product's footprint.

struct VertexOutput {
    @builtin(position) clip_position: vec4<f32>,
    @location(0) position_in_world: vec3<f32>,
};

@vertex
fn vs_catcher(@location(0) position_in_world: vec3<f32>) -> VertexOutput {
    var out: VertexOutput;
    out.clip_position = frame.clip_from_world * vec4<f32>(position_in_world, 1.0);
    out.position_in_world = position_in_world;
    return out;
}

fn key_visibility(p: vec3<f32>) -> f32 {
    let lp = frame.light_clip_from_world * vec4<f32>(p + frame.key_dir_in_world.xyz * frame.shadow_params.w * 1.5, 1.0);
    let uv = vec2<f32>(lp.x * 0.5 + 0.5, 0.5 - lp.y * 0.5);
    if (any(uv < vec2<f32>(0.0)) || any(uv > vec2<f32>(1.0)) || lp.z > 1.0) {
        return 1.0;
    }
    let texel = 1.0 / vec2<f32>(textureDimensions(shadow_map));
    var sum = 0.0;
    for (var dy = -2; dy <= 2; dy++) {
        for (var dx = -2; dx <= 2; dx++) {
            sum += textureSampleCompareLevel(shadow_map, shadow_sampler, uv + vec2<f32>(f32(dx), f32(dy)) * texel, lp.z);
        }
    }
    return sum / 25.0;
}

// Smooth occlusion around the footprint rectangle: full strength well inside, none beyond the
// falloff distance outside.
fn contact(p: vec3<f32>) -> f32 {
    let d = p - frame.footprint_centre.xyz;
    let local = abs(vec2<f32>(dot(d, frame.footprint_u.xyz), dot(d, frame.footprint_v.xyz)));
    let half_extent = vec2<f32>(frame.footprint_u.w, frame.footprint_v.w);
    let falloff = frame.shadow_params.z;
    let outside = length(max(local - half_extent, vec2<f32>(0.0)));
    let inside = max(min(half_extent.x - local.x, half_extent.y - local.y), 0.0);
    let t = clamp((outside - min(inside, falloff) * 0.5) / falloff + 0.5, 0.0, 1.0);
    return frame.shadow_params.y * (1.0 - smoothstep(0.0, 1.0, t));
}

@fragment
fn fs_catcher(in: VertexOutput) -> @location(0) vec4<f32> {
    let shadow = frame.shadow_params.x * (1.0 - key_visibility(in.position_in_world));
    let light = (1.0 - shadow) * (1.0 - contact(in.position_in_world));
    return vec4<f32>(light, 0.0, 0.0, 1.0);
}
