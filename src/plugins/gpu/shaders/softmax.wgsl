// Softmax and LogSoftmax along one axis of an (outer, len, inner) split: one invocation per (outer, inner) row
// takes the row's max, the sum of exponentials of the shifted values, then writes every output.
// p: [rows (outer * inner), len, inner, log (0 or 1)]

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<storage, read> p: array<u32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let row = gid.x + gid.y * nwg.x * 64u;
    if (row >= p[0]) {
        return;
    }
    let len = p[1];
    let inner = p[2];
    let start = (row / inner) * len * inner + row % inner;
    var top = x[start];
    for (var k = 1u; k < len; k++) {
        top = max(top, x[start + k * inner]);
    }
    var sum = 0.0;
    for (var k = 0u; k < len; k++) {
        sum += exp(x[start + k * inner] - top);
    }
    if (p[3] == 1u) {
        let shift = top + log(sum);
        for (var k = 0u; k < len; k++) {
            y[start + k * inner] = x[start + k * inner] - shift;
        }
    } else {
        for (var k = 0u; k < len; k++) {
            y[start + k * inner] = exp(x[start + k * inner] - top) / sum;
        }
    }
}
