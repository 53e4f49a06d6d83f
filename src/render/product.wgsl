// Product shading: glTF metallic-roughness (GGX / Smith / Schlick) lit by one key light with a
// shadow map and by a first-order spherical-harmonics ambient fitted to the background frame.
// Output is premultiplied linear RGBA into an sRGB target, so the layer is in the video's
// transfer curve with no tone mapping. A second target holds coverage (the product mask).

struct MaterialUniforms {
    base_color: vec4<f32>,
    emissive: vec4<f32>,
    // metallic, roughness, normal scale, occlusion strength
    params: vec4<f32>,
    // alpha mode (0 opaque, 1 mask, 2 blend), cutoff
    alpha: vec4<f32>,
    // Per texture slot two rows of the 2x3 UV transform; rows[2i].w is the UV set.
    uv_rows: array<vec4<f32>, 10>,
};

@group(1) @binding(0) var<uniform> material: MaterialUniforms;
@group(1) @binding(1) var base_color_texture: texture_2d<f32>;
@group(1) @binding(2) var metallic_roughness_texture: texture_2d<f32>;
@group(1) @binding(3) var normal_texture: texture_2d<f32>;
@group(1) @binding(4) var occlusion_texture: texture_2d<f32>;
@group(1) @binding(5) var emissive_texture: texture_2d<f32>;
@group(1) @binding(6) var material_sampler: sampler;

const PI: f32 = 3.14159265;

struct VertexInput {
    @location(0) position_in_world: vec3<f32>,
    @location(1) normal_in_world: vec3<f32>,
    @location(2) tangent_in_world: vec4<f32>,
    @location(3) uv0: vec2<f32>,
    @location(4) uv1: vec2<f32>,
    @location(5) color: vec4<f32>,
};

struct VertexOutput {
    @builtin(position) clip_position: vec4<f32>,
    @location(0) position_in_world: vec3<f32>,
    @location(1) normal_in_world: vec3<f32>,
    @location(2) tangent_in_world: vec4<f32>,
    @location(3) uv0: vec2<f32>,
    @location(4) uv1: vec2<f32>,
    @location(5) color: vec4<f32>,
};

struct ColorOutput {
    @location(0) color: vec4<f32>,
    @location(1) coverage: vec4<f32>,
};

@vertex
fn vs_main(in: VertexInput) -> VertexOutput {
    var out: VertexOutput;
    out.clip_position = frame.clip_from_world * vec4<f32>(in.position_in_world, 1.0);
    out.position_in_world = in.position_in_world;
    out.normal_in_world = in.normal_in_world;
    out.tangent_in_world = in.tangent_in_world;
    out.uv0 = in.uv0;
    out.uv1 = in.uv1;
    out.color = in.color;
    return out;
}

@vertex
fn vs_shadow(in: VertexInput) -> @builtin(position) vec4<f32> {
    return frame.light_clip_from_world * vec4<f32>(in.position_in_world, 1.0);
}

fn slot_uv(slot: u32, in: VertexOutput) -> vec2<f32> {
    let r0 = material.uv_rows[slot * 2u];
    let r1 = material.uv_rows[slot * 2u + 1u];
    let uv = select(in.uv0, in.uv1, r0.w > 0.5);
    return vec2<f32>(dot(r0.xy, uv) + r0.z, dot(r1.xy, uv) + r1.z);
}

// Base colour with alpha-mode handling; discards masked-out fragments.
fn base_color(in: VertexOutput) -> vec4<f32> {
    let base = material.base_color * in.color * textureSample(base_color_texture, material_sampler, slot_uv(0u, in));
    let mode = material.alpha.x;
    if (mode > 0.5 && mode < 1.5 && base.a < material.alpha.y) {
        discard;
    }
    if (mode < 1.5) {
        return vec4<f32>(base.rgb, 1.0);
    }
    return base;
}

fn shaded_normal(in: VertexOutput, front_facing: bool) -> vec3<f32> {
    var n = normalize(in.normal_in_world);
    if (!front_facing) {
        n = -n;
    }
    let t_raw = in.tangent_in_world.xyz - n * dot(n, in.tangent_in_world.xyz);
    if (dot(t_raw, t_raw) < 1e-12) {
        return n;
    }
    let t = normalize(t_raw);
    let b = cross(n, t) * select(1.0, -1.0, in.tangent_in_world.w < 0.0);
    var tn = textureSample(normal_texture, material_sampler, slot_uv(2u, in)).xyz * 2.0 - 1.0;
    tn = vec3<f32>(tn.xy * material.params.z, tn.z);
    return normalize(t * tn.x + b * tn.y + n * tn.z);
}

fn ambient_over_pi(n: vec3<f32>) -> vec3<f32> {
    let e = frame.sh[0].rgb + frame.sh[1].rgb * n.x + frame.sh[2].rgb * n.y + frame.sh[3].rgb * n.z;
    return max(e, vec3<f32>(0.0));
}

// Radiance arriving from direction d (world), for a reflection of roughness r: the sky above
// the ground plane and the floor below it (the two hemispheres the ambient field is made of,
// recovered from it: sh . up = (sky - floor) / 2), meeting at a horizon as sharp as the
// surface is smooth, plus the field's sideways variation (3/2: irradiance back to radiance).
fn environment(d: vec3<f32>, r: f32) -> vec3<f32> {
    let up = frame.plane.xyz;
    let half_diff = frame.sh[1].rgb * up.x + frame.sh[2].rgb * up.y + frame.sh[3].rgb * up.z;
    let sky = frame.sh[0].rgb + half_diff;
    let floor = frame.sh[0].rgb - half_diff;
    let along = dot(d, up);
    let sideways = frame.sh[1].rgb * d.x + frame.sh[2].rgb * d.y + frame.sh[3].rgb * d.z - half_diff * along;
    let width = r * r + 0.03;
    let l = mix(floor, sky, smoothstep(-width, width, along)) + 1.5 * sideways;
    return max(l, vec3<f32>(0.0));
}

// Key-light visibility from the shadow map, 3x3 PCF.
fn key_visibility(p: vec3<f32>, bias_world: f32) -> f32 {
    let lp = frame.light_clip_from_world * vec4<f32>(p + frame.key_dir_in_world.xyz * bias_world, 1.0);
    let uv = vec2<f32>(lp.x * 0.5 + 0.5, 0.5 - lp.y * 0.5);
    if (any(uv < vec2<f32>(0.0)) || any(uv > vec2<f32>(1.0)) || lp.z > 1.0) {
        return 1.0;
    }
    let texel = 1.0 / vec2<f32>(textureDimensions(shadow_map));
    var sum = 0.0;
    for (var dy = -1; dy <= 1; dy++) {
        for (var dx = -1; dx <= 1; dx++) {
            sum += textureSampleCompareLevel(shadow_map, shadow_sampler, uv + vec2<f32>(f32(dx), f32(dy)) * texel, lp.z);
        }
    }
    return sum / 9.0;
}

fn ggx(n_dot_h: f32, alpha: f32) -> f32 {
    let a2 = alpha * alpha;
    let d = n_dot_h * n_dot_h * (a2 - 1.0) + 1.0;
    return a2 / (PI * d * d);
}

fn smith_schlick(n_dot_v: f32, n_dot_l: f32, roughness: f32) -> f32 {
    let k = (roughness + 1.0) * (roughness + 1.0) / 8.0;
    return n_dot_v / (n_dot_v * (1.0 - k) + k) * n_dot_l / (n_dot_l * (1.0 - k) + k);
}

@fragment
fn fs_main(in: VertexOutput, @builtin(front_facing) front_facing: bool) -> ColorOutput {
    let base = base_color(in);
    let mr = textureSample(metallic_roughness_texture, material_sampler, slot_uv(1u, in));
    let metallic = clamp(material.params.x * mr.b, 0.0, 1.0);
    let roughness = clamp(material.params.y * mr.g, 0.04, 1.0);
    let occlusion = 1.0 + material.params.w * (textureSample(occlusion_texture, material_sampler, slot_uv(3u, in)).r - 1.0);
    let emissive = material.emissive.rgb * textureSample(emissive_texture, material_sampler, slot_uv(4u, in)).rgb;

    let n = shaded_normal(in, front_facing);
    let v = normalize(frame.camera_in_world.xyz - in.position_in_world);
    let l = frame.key_dir_in_world.xyz;
    let h = normalize(l + v);
    let n_dot_l = max(dot(n, l), 0.0);
    let n_dot_v = max(dot(n, v), 1e-4);
    let f0 = mix(vec3<f32>(0.04), base.rgb, metallic);
    let fresnel = f0 + (1.0 - f0) * pow(1.0 - max(dot(h, v), 0.0), 5.0);
    let diffuse_color = base.rgb * (1.0 - metallic);
    let specular = ggx(max(dot(n, h), 0.0), roughness * roughness) * smith_schlick(n_dot_v, n_dot_l, roughness)
        * fresnel / max(4.0 * n_dot_l * n_dot_v, 1e-4);
    let visibility = mix(1.0, key_visibility(in.position_in_world, frame.shadow_params.w * 1.5), frame.shadow_params.x);
    let direct = (diffuse_color * (1.0 - fresnel) + PI * specular) * frame.key_color.rgb * n_dot_l * visibility;
    let ambient_fresnel = f0 + (1.0 - f0) * pow(1.0 - n_dot_v, 5.0) * (1.0 - roughness);
    let ambient = (diffuse_color * ambient_over_pi(n) + ambient_fresnel * environment(reflect(-v, n), roughness)) * occlusion;
    let rgb = direct + ambient + emissive;

    var out: ColorOutput;
    out.color = vec4<f32>(rgb * base.a, base.a);
    out.coverage = vec4<f32>(base.a, 0.0, 0.0, 1.0);
    return out;
}

// Depth in metres along the camera's z axis, for occlusion and `vanelia render`.
@fragment
fn fs_depth(in: VertexOutput) -> @location(0) vec4<f32> {
    let base = base_color(in);
    if (base.a < 0.5) {
        discard;
    }
    let z = dot(frame.depth_row.xyz, in.position_in_world) + frame.depth_row.w;
    return vec4<f32>(z, 0.0, 0.0, 1.0);
}
