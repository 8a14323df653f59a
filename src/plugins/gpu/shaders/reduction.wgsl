// Reductions (ReduceSum/Mean/Max/Min/Prod/L1/L2) and mean-variance normalisation (MVN) over any set of axes.
// The input's axes come as two lists of (size, stride) runs: the kept axes, which number the outputs (or the
// MVN groups), and the reduced axes, which number the `count` elements combined into each.
// p: [outputs, count, op, eps (f32 bits), kept, reduced,
//     kept sizes, kept strides, reduced sizes, reduced strides]
// op of a reduction: 0 sum, 1 mean, 2 max, 3 min, 4 prod, 5 L1, 6 L2;
// op of MVN: bit 0 normalize_variance, bit 1 eps inside the square root.

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<storage, read> p: array<u32>;

const HEAD: u32 = 6u;
const WIDTH: u32 = 64u;

var<workgroup> part: array<f32, 64>;

// Offset of element `i` of `n` runs whose sizes start at p[at] and strides at p[at + n].
fn run_offset(i: u32, at: u32, n: u32) -> u32 {
    var rest = i;
    var off = 0u;
    for (var d = n; d > 0u; d--) {
        let size = p[at + d - 1u];
        off += (rest % size) * p[at + n + d - 1u];
        rest /= size;
    }
    return off;
}

// Offset of the first element of output (or group) `o`.
fn base_of(o: u32) -> u32 {
    return run_offset(o, HEAD, p[4]);
}

// Offset of reduced element `r` from its output's first element.
fn reduced_offset(r: u32) -> u32 {
    return run_offset(r, HEAD + 2u * p[4], p[5]);
}

fn term(op: u32, v: f32) -> f32 {
    switch op {
        case 5u: { return abs(v); }
        case 6u: { return v * v; }
        default: { return v; }
    }
}

fn combine(op: u32, a: f32, b: f32) -> f32 {
    switch op {
        case 2u: { return max(a, b); }
        case 3u: { return min(a, b); }
        case 4u: { return a * b; }
        default: { return a + b; }
    }
}

fn finish(op: u32, acc: f32, count: u32) -> f32 {
    switch op {
        case 1u: { return acc / f32(count); }
        case 6u: { return sqrt(acc); }
        default: { return acc; }
    }
}

// Combines the workgroup's 64 values with `op` (every invocation gets the result).
fn workgroup_combine(t: u32, op: u32, v: f32) -> f32 {
    part[t] = v;
    workgroupBarrier();
    for (var s = WIDTH / 2u; s > 0u; s >>= 1u) {
        if (t < s) {
            part[t] = combine(op, part[t], part[t + s]);
        }
        workgroupBarrier();
    }
    let r = part[0];
    workgroupBarrier();
    return r;
}

// One invocation per output (short reductions).
@compute @workgroup_size(64)
fn reduce_each(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let o = gid.x + gid.y * nwg.x * WIDTH;
    if (o >= p[0]) {
        return;
    }
    let op = p[2];
    let count = p[1];
    let base = base_of(o);
    var acc = term(op, x[base]);
    for (var r = 1u; r < count; r++) {
        acc = combine(op, acc, term(op, x[base + reduced_offset(r)]));
    }
    y[o] = finish(op, acc, count);
}

// One workgroup per output (reductions of at least 64 elements): each invocation combines a strided share,
// then the workgroup combines the shares.
@compute @workgroup_size(64)
fn reduce_wide(
    @builtin(local_invocation_index) t: u32,
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let o = wg.x + wg.y * nwg.x;
    let live = o < p[0];
    let op = p[2];
    let count = p[1];
    var acc = 0.0;
    if (live) {
        let base = base_of(o);
        acc = term(op, x[base + reduced_offset(t)]);
        for (var r = t + WIDTH; r < count; r += WIDTH) {
            acc = combine(op, acc, term(op, x[base + reduced_offset(r)]));
        }
    }
    let total = workgroup_combine(t, op, acc);
    if (live && t == 0u) {
        y[o] = finish(op, total, count);
    }
}

// MVN: one workgroup per group; the mean, then the variance of the deviations (two passes, as exact as the
// reference's), then every output.
@compute @workgroup_size(64)
fn mvn(
    @builtin(local_invocation_index) t: u32,
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let o = wg.x + wg.y * nwg.x;
    let live = o < p[0];
    let count = p[1];
    var base = 0u;
    var s = 0.0;
    if (live) {
        base = base_of(o);
        for (var r = t; r < count; r += WIDTH) {
            s += x[base + reduced_offset(r)];
        }
    }
    let mean = workgroup_combine(t, 0u, s) / f32(count);
    var q = 0.0;
    if (live) {
        for (var r = t; r < count; r += WIDTH) {
            let d = x[base + reduced_offset(r)] - mean;
            q += d * d;
        }
    }
    let variance = workgroup_combine(t, 0u, q) / f32(count);
    let flags = p[2];
    let eps = bitcast<f32>(p[3]);
    var scale = 1.0;
    if ((flags & 1u) != 0u) {
        if ((flags & 2u) != 0u) {
            scale = 1.0 / sqrt(variance + eps);
        } else {
            scale = 1.0 / (sqrt(variance) + eps);
        }
    }
    if (live) {
        for (var r = t; r < count; r += WIDTH) {
            let i = base + reduced_offset(r);
            y[i] = (x[i] - mean) * scale;
        }
    }
}
