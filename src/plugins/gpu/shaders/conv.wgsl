// Direct convolution (Convolution and GroupConvolution over 1 to 3 spatial axes, lifted to 3): one invocation
// per output element sums its group's input channels under every filter tap; taps in the padding are skipped.
// p: [outputs, groups, in_per_group, out_per_group, out_channels,
//     then per axis (depth, height, width): input, output, kernel, stride, dilation, pad_begin]
// x: [N, groups * in_per_group, spatial...]; w: [out_channels, in_per_group, kernel...]; y: [N, out_channels, ...].

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read> p: array<u32>;
// Per output channel, added to every output (a fused bias Add; zeros when there is none).
@group(0) @binding(4) var<storage, read> bias: array<f32>;

fn ax(axis: u32, field: u32) -> u32 {
    return p[5u + axis * 6u + field];
}

// The input position of output `o` at tap `k` along `axis`, or -1 in the padding.
fn source(axis: u32, o: u32, k: u32) -> i32 {
    let at = i32(o * ax(axis, 3u) + k * ax(axis, 4u)) - i32(ax(axis, 5u));
    return select(-1, at, at >= 0 && at < i32(ax(axis, 0u)));
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 64u;
    if (i >= p[0]) {
        return;
    }
    var r = i;
    let ow = r % ax(2u, 1u);
    r = r / ax(2u, 1u);
    let oh = r % ax(1u, 1u);
    r = r / ax(1u, 1u);
    let od = r % ax(0u, 1u);
    r = r / ax(0u, 1u);
    let co = r % p[4];
    let n = r / p[4];
    let group = co / p[3];
    let ih = ax(1u, 0u);
    let iw = ax(2u, 0u);
    let plane = ax(0u, 0u) * ih * iw;
    let kd_n = ax(0u, 2u);
    let kh_n = ax(1u, 2u);
    let kw_n = ax(2u, 2u);
    var acc = 0.0;
    for (var ci = 0u; ci < p[2]; ci++) {
        let x_base = ((n * p[1] + group) * p[2] + ci) * plane;
        let w_base = (co * p[2] + ci) * kd_n * kh_n * kw_n;
        for (var kd = 0u; kd < kd_n; kd++) {
            let d = source(0u, od, kd);
            if (d < 0) {
                continue;
            }
            for (var kh = 0u; kh < kh_n; kh++) {
                let h = source(1u, oh, kh);
                if (h < 0) {
                    continue;
                }
                let row = x_base + (u32(d) * ih + u32(h)) * iw;
                let taps = w_base + (kd * kh_n + kh) * kw_n;
                for (var kw = 0u; kw < kw_n; kw++) {
                    let c = source(2u, ow, kw);
                    if (c >= 0) {
                        acc += x[row + u32(c)] * w[taps + kw];
                    }
                }
            }
        }
    }
    y[i] = acc + bias[co];
}

// Implicit GEMM: per (batch, group), Y[co, pos] = W[co, k] · X[k, pos] with k = (input channel, tap) and X the
// input unfolded on the fly (zero in the padding). As the tiled MatMul: a workgroup computes a 32x32 block of Y,
// its 8x8 invocations each a 4x4 block in registers, 32-deep slices of W and X staged in workgroup memory.
// Workgroups: x over output positions, y over output channels of the group, z over (batch, group).

const TILE: u32 = 32u;
const THREADS: u32 = 64u;

var<workgroup> tw: array<vec4<f32>, 256>; // [k][co / 4]
var<workgroup> tx: array<vec4<f32>, 256>; // [k][pos / 4]

// The unfolded input at row k (input channel and tap) and output position `pos` of the plane at `x_base`.
fn unfolded(x_base: u32, k: u32, pos: u32) -> f32 {
    let kw_n = ax(2u, 2u);
    let kh_n = ax(1u, 2u);
    let taps = ax(0u, 2u) * kh_n * kw_n;
    let ci = k / taps;
    let t = k % taps;
    let ow_n = ax(2u, 1u);
    let oh_n = ax(1u, 1u);
    let c = source(2u, pos % ow_n, t % kw_n);
    let h = source(1u, (pos / ow_n) % oh_n, (t / kw_n) % kh_n);
    let d = source(0u, pos / (ow_n * oh_n), t / (kw_n * kh_n));
    if (c < 0 || h < 0 || d < 0) {
        return 0.0;
    }
    let ih = ax(1u, 0u);
    let iw = ax(2u, 0u);
    return x[x_base + ((ci * ax(0u, 0u) + u32(d)) * ih + u32(h)) * iw + u32(c)];
}

@compute @workgroup_size(8, 8, 1)
fn gemm(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let groups = p[1];
    let m_dim = p[3];
    let spatial = ax(0u, 1u) * ax(1u, 1u) * ax(2u, 1u);
    let k_dim = p[2] * ax(0u, 2u) * ax(1u, 2u) * ax(2u, 2u);
    let group = wid.z % groups;
    let plane = ax(0u, 0u) * ax(1u, 0u) * ax(2u, 0u);
    let x_base = wid.z * p[2] * plane;
    let w_base = group * m_dim * k_dim;
    let row0 = wid.y * TILE;
    let col0 = wid.x * TILE;
    var acc: array<vec4<f32>, 4>;
    for (var k0 = 0u; k0 < k_dim; k0 += TILE) {
        for (var e = li; e < TILE * TILE / 4u; e += THREADS) {
            // W: 4 output channels at one k (neighbours take neighbouring k).
            let wk = k0 + e % TILE;
            let co = row0 + (e / TILE) * 4u;
            var wv = vec4<f32>(0.0);
            if (wk < k_dim) {
                for (var i = 0u; i < 4u; i++) {
                    if (co + i < m_dim) {
                        wv[i] = w[w_base + (co + i) * k_dim + wk];
                    }
                }
            }
            tw[(e % TILE) * 8u + e / TILE] = wv;
            // X: 4 neighbouring positions at one k (neighbours take the next 4 positions).
            let xk = k0 + e / 8u;
            let pos = col0 + (e % 8u) * 4u;
            var xv = vec4<f32>(0.0);
            if (xk < k_dim) {
                for (var j = 0u; j < 4u; j++) {
                    if (pos + j < spatial) {
                        xv[j] = unfolded(x_base, xk, pos + j);
                    }
                }
            }
            tx[e] = xv;
        }
        workgroupBarrier();
        for (var k = 0u; k < TILE; k++) {
            let wv = tw[k * 8u + lid.y];
            let xv = tx[k * 8u + lid.x];
            acc[0] = fma(vec4<f32>(wv.x), xv, acc[0]);
            acc[1] = fma(vec4<f32>(wv.y), xv, acc[1]);
            acc[2] = fma(vec4<f32>(wv.z), xv, acc[2]);
            acc[3] = fma(vec4<f32>(wv.w), xv, acc[3]);
        }
        workgroupBarrier();
    }
    let y_base = wid.z * m_dim * spatial;
    for (var i = 0u; i < 4u; i++) {
        let co = row0 + lid.y * 4u + i;
        for (var j = 0u; j < 4u; j++) {
            let pos = col0 + lid.x * 4u + j;
            if (co < m_dim && pos < spatial) {
                y[y_base + co * spatial + pos] = acc[i][j] + bias[group * m_dim + co];
            }
        }
    }
}
