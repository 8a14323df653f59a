// Concat: one dispatch per input copies its rows into their place in the output's rows.
// Elements move as raw 32-bit words (f32 and i32 alike; as f32, small integers would be subnormals that a GPU
// may flush to zero).
// p: [elements of this input, its row length (from the axis on), the output's row length, this input's offset
//     in an output row]

@group(0) @binding(0) var<storage, read> x: array<u32>;
@group(0) @binding(1) var<storage, read_write> y: array<u32>;
@group(0) @binding(2) var<storage, read> p: array<u32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 64u;
    if (i >= p[0]) {
        return;
    }
    y[(i / p[1]) * p[2] + p[3] + i % p[1]] = x[i];
}
