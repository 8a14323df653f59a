// LRN: y = x / (bias + scale * (sum of squares over the window around x))^beta, one invocation per element; the
// window spans `half` elements each side along the masked axes (clipped at the edges) and one position along
// the others. Up to 8 axes.
// p: [elements, rank, half, scale (f32 bits), bias (f32 bits), beta (f32 bits), shape[rank], mask[rank]]

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<storage, read> p: array<u32>;

const HEAD: u32 = 6u;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 64u;
    if (i >= p[0]) {
        return;
    }
    let rank = p[1];
    let half = p[2];
    var lo: array<u32, 8>;
    var hi: array<u32, 8>;
    var stride: array<u32, 8>;
    var rest = i;
    var step = 1u;
    for (var d = rank; d > 0u; d--) {
        let size = p[HEAD + d - 1u];
        let at = rest % size;
        rest /= size;
        stride[d - 1u] = step;
        step *= size;
        if (p[HEAD + rank + d - 1u] != 0u) {
            lo[d - 1u] = at - min(at, half);
            hi[d - 1u] = min(at + half, size - 1u);
        } else {
            lo[d - 1u] = at;
            hi[d - 1u] = at;
        }
    }
    var pos = lo;
    var sum = 0.0;
    loop {
        var off = 0u;
        for (var d = 0u; d < rank; d++) {
            off += pos[d] * stride[d];
        }
        let v = x[off];
        sum += v * v;
        // Next window position (the last axis fastest); done when every axis wrapped.
        var d = rank;
        var more = false;
        while (d > 0u) {
            d--;
            if (pos[d] < hi[d]) {
                pos[d]++;
                more = true;
                break;
            }
            pos[d] = lo[d];
        }
        if (!more) {
            break;
        }
    }
    let scale = bitcast<f32>(p[3]);
    let bias = bitcast<f32>(p[4]);
    let beta = bitcast<f32>(p[5]);
    y[i] = x[i] / pow(bias + scale * sum, beta);
}
