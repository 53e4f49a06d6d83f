// Shadow catcher: a quad on the fitted ground plane, seen by the frame's camera. It outputs the
// fraction of light that reaches the ground (1 = unshadowed): key-light shadow from the shadow
// map, soft as the light is wide, times a contact term that darkens the ground around the
// product's footprint.

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

// A hash of the pixel in [0, 1) (interleaved gradient noise): rotates the sample pattern per
// pixel so a wide penumbra is smooth noise rather than bands.
fn pixel_noise(px: vec2<f32>) -> f32 {
    return fract(52.9829189 * fract(dot(px, vec2<f32>(0.06711056, 0.00583715))));
}

// Key-light visibility with a penumbra that grows with the distance to the occluder, for a
// light of angular radius atan(key_dir_in_world.w) (percentage-closer soft shadows: the
// shadow map is filtered over the light's footprint at that distance). The occluder of a
// ground point at distance d from the product's footprint is the product at height
// d tan(e) (e the light's elevation), d / cos(e) away along the ray, up to the product's
// height (at most the shadow map's width, 2 * texel * size).
fn key_visibility(p: vec3<f32>, px: vec2<f32>) -> f32 {
    let texel_world = frame.shadow_params.w;
    let lp = frame.light_clip_from_world * vec4<f32>(p + frame.key_dir_in_world.xyz * texel_world * 1.5, 1.0);
    let uv = vec2<f32>(lp.x * 0.5 + 0.5, 0.5 - lp.y * 0.5);
    if (any(uv < vec2<f32>(0.0)) || any(uv > vec2<f32>(1.0)) || lp.z > 1.0) {
        return 1.0;
    }
    let size = vec2<f32>(textureDimensions(shadow_map));
    let sin_e = clamp(dot(frame.key_dir_in_world.xyz, frame.plane.xyz), 0.05, 1.0);
    let cos_e = max(sqrt(1.0 - sin_e * sin_e), 1e-3);
    let height = texel_world * size.x;
    let gap = min(footprint_distance(p) / cos_e, height / sin_e);
    let radius = clamp(frame.key_dir_in_world.w * gap / texel_world, 1.0, 96.0);
    let angle = 6.2831853 * pixel_noise(px);
    let rot = mat2x2<f32>(cos(angle), sin(angle), -sin(angle), cos(angle));
    var sum = 0.0;
    for (var j = 0; j < 6; j++) {
        for (var i = 0; i < 6; i++) {
            let o = rot * ((vec2<f32>(f32(i), f32(j)) + 0.5) / 3.0 - 1.0) * radius;
            sum += textureSampleCompareLevel(shadow_map, shadow_sampler, uv + o / size, lp.z);
        }
    }
    return sum / 36.0;
}

// Distance from a ground point to the product's footprint rectangle (0 inside).
fn footprint_distance(p: vec3<f32>) -> f32 {
    let d = p - frame.footprint_centre.xyz;
    let local = abs(vec2<f32>(dot(d, frame.footprint_u.xyz), dot(d, frame.footprint_v.xyz)));
    let half_extent = vec2<f32>(frame.footprint_u.w, frame.footprint_v.w);
    return length(max(local - half_extent, vec2<f32>(0.0)));
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
    let shadow = frame.shadow_params.x * (1.0 - key_visibility(in.position_in_world, in.clip_position.xy));
    let light = (1.0 - shadow) * (1.0 - contact(in.position_in_world));
    return vec4<f32>(light, 0.0, 0.0, 1.0);
}
