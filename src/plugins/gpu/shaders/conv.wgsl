// Direct convolution (Convolution and GroupConvolution over 1 to 3 spatial axes, lifted to 3): one invocation
// per output element sums its group's input channels under every filter tap; taps in the padding are skipped.
// p: [outputs, groups, in_per_group, out_per_group, out_channels,
//     then per axis (depth, height, width): input, output, kernel, stride, dilation, pad_begin]
// x: [N, groups * in_per_group, spatial...]; w: [out_channels, in_per_group, kernel...]; y: [N, out_channels, ...].

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read> p: array<u32>;

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
    y[i] = acc;
}
