// Data movement: every output element copies one input element's bits (u32 storage, so f32 and i32 share the
// shader) or a constant.
//
// `main` (strided views and Pad): the output index, read as coordinates over p's axes (outermost first), reads
//   x[base + sum over axes of src(coordinate - begin) * stride], where src maps a coordinate outside [0, in) by
//   MODE: 1 the constant p[3], 2 the nearest edge, 3 a mirror without the edge, 4 a mirror with it (views
//   never leave [0, in)).
//   p: [elements, axes, base (i32), constant bits, then per axis: size, in, begin (i32), stride (i32)]
// `gather` (Gather with batch axes): output (b, o, j, k) reads x at (b, o, idx[b, j], k); negative indices count
//   from the end, out-of-range ones give 0.
//   p: [elements, O (axes between the batch axes and the gathered one), J (indices per batch), K (inner
//       elements), A (length of the gathered axis)]
// `lookup` (separable gathers such as nearest-neighbour Interpolate): output coordinate c on axis d reads input
//   coordinate table_d[c].
//   p: [elements, rank, then per axis: output size, input stride, start of its table in p; then the tables]

override MODE: u32 = 0u;

@group(0) @binding(0) var<storage, read> x: array<u32>;
@group(0) @binding(1) var<storage, read_write> y: array<u32>;
@group(0) @binding(2) var<storage, read> p: array<u32>;
@group(0) @binding(3) var<storage, read> idx: array<i32>;

// The source coordinate of `c` on an axis of length `n`, or -1 for the constant.
fn source(c: i32, n: i32) -> i32 {
    if (c >= 0 && c < n) {
        return c;
    }
    switch MODE {
        case 2u: {
            return clamp(c, 0, n - 1);
        }
        case 3u: {
            if (c < 0) {
                return -c;
            }
            return 2 * (n - 1) - c;
        }
        case 4u: {
            if (c < 0) {
                return -c - 1;
            }
            return 2 * n - 1 - c;
        }
        default: {
            return -1;
        }
    }
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 64u;
    if (i >= p[0]) {
        return;
    }
    var rem = i;
    var src = bitcast<i32>(p[2]);
    for (var a = p[1]; a > 0u; a = a - 1u) {
        let q = 4u + (a - 1u) * 4u;
        let c = source(i32(rem % p[q]) - bitcast<i32>(p[q + 2u]), i32(p[q + 1u]));
        if (c < 0) {
            y[i] = p[3];
            return;
        }
        rem = rem / p[q];
        src = src + c * bitcast<i32>(p[q + 3u]);
    }
    y[i] = x[u32(src)];
}

@compute @workgroup_size(64)
fn gather(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 64u;
    if (i >= p[0]) {
        return;
    }
    let k = i % p[3];
    let t = i / p[3];
    let j = t % p[2];
    let row = t / p[2];
    var v = idx[(row / p[1]) * p[2] + j];
    let n = i32(p[4]);
    if (v < 0) {
        v = v + n;
    }
    if (v < 0 || v >= n) {
        y[i] = 0u;
        return;
    }
    y[i] = x[(row * p[4] + u32(v)) * p[3] + k];
}

@compute @workgroup_size(64)
fn lookup(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 64u;
    if (i >= p[0]) {
        return;
    }
    var rest = i;
    var at = 0u;
    for (var d = p[1]; d > 0u; d--) {
        let axis = 2u + 3u * (d - 1u);
        let size = p[axis];
        at += p[p[axis + 2u] + rest % size] * p[axis + 1u];
        rest /= size;
    }
    y[i] = x[at];
}
