// MaxPool (values and flat indices) and AvgPool over 1 to 3 spatial axes (lifted to 3): one invocation per output
// element walks its window; taps in the padding are skipped.
// p: [outputs, index_modulus (MaxPool: the size of the sub-tensor indices address), exclude_pad (AvgPool),
//     then per axis (depth, height, width): input, output, kernel, stride, dilation, pad_begin, pad_end]

// Bindings: max_pool_indices uses 0-3, max_pool and avg_pool 0-2 (pipelines lay out only what their entry point uses).
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<storage, read> p: array<u32>;
@group(0) @binding(3) var<storage, read_write> indices: array<i32>;

fn ax(axis: u32, field: u32) -> u32 {
    return p[3u + axis * 7u + field];
}

// Output `i` as (plane, od, oh, ow), with the plane's first input element.
struct Window {
    plane_start: u32,
    o: vec3<u32>,
}

fn window(i: u32) -> Window {
    var r = i;
    let ow = r % ax(2u, 1u);
    r = r / ax(2u, 1u);
    let oh = r % ax(1u, 1u);
    r = r / ax(1u, 1u);
    let od = r % ax(0u, 1u);
    r = r / ax(0u, 1u);
    return Window(r * ax(0u, 0u) * ax(1u, 0u) * ax(2u, 0u), vec3<u32>(od, oh, ow));
}

// Position of output `o` at tap `k` along `axis` in the padded input (0 = first padding element).
fn padded(axis: u32, o: u32, k: u32) -> u32 {
    return o * ax(axis, 3u) + k * ax(axis, 4u);
}

// The input position of a padded position, or -1 in the padding.
fn source(axis: u32, at: u32) -> i32 {
    let s = i32(at) - i32(ax(axis, 5u));
    return select(-1, s, s >= 0 && s < i32(ax(axis, 0u)));
}

fn offset(d: i32, h: i32, c: i32) -> u32 {
    return (u32(d) * ax(1u, 0u) + u32(h)) * ax(2u, 0u) + u32(c);
}

// The max of window `win` (the first value, then only strictly greater ones, as the reference takes them) and
// its offset in the plane; the lowest f32 and offset 0 for a window wholly in the padding.
struct Best {
    value: f32,
    at: u32,
}

fn window_max(win: Window) -> Best {
    var best = -3.4028234663852886e38;
    var best_at = 0u;
    var seen = false;
    for (var kd = 0u; kd < ax(0u, 2u); kd++) {
        let d = source(0u, padded(0u, win.o.x, kd));
        for (var kh = 0u; kh < ax(1u, 2u); kh++) {
            let h = source(1u, padded(1u, win.o.y, kh));
            for (var kw = 0u; kw < ax(2u, 2u); kw++) {
                let c = source(2u, padded(2u, win.o.z, kw));
                if (d < 0 || h < 0 || c < 0) {
                    continue;
                }
                let at = offset(d, h, c);
                let v = x[win.plane_start + at];
                if (!seen || v > best) {
                    best = v;
                    best_at = at;
                    seen = true;
                }
            }
        }
    }
    return Best(best, best_at);
}

@compute @workgroup_size(64)
fn max_pool(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 64u;
    if (i >= p[0]) {
        return;
    }
    y[i] = window_max(window(i)).value;
}

@compute @workgroup_size(64)
fn max_pool_indices(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 64u;
    if (i >= p[0]) {
        return;
    }
    let win = window(i);
    let best = window_max(win);
    y[i] = best.value;
    indices[i] = i32((win.plane_start + best.at) % p[1]);
}

@compute @workgroup_size(64)
fn avg_pool(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 64u;
    if (i >= p[0]) {
        return;
    }
    let win = window(i);
    var sum = 0.0;
    var count = 0u;
    for (var kd = 0u; kd < ax(0u, 2u); kd++) {
        let pd = padded(0u, win.o.x, kd);
        for (var kh = 0u; kh < ax(1u, 2u); kh++) {
            let ph = padded(1u, win.o.y, kh);
            for (var kw = 0u; kw < ax(2u, 2u); kw++) {
                let pw = padded(2u, win.o.z, kw);
                let d = source(0u, pd);
                let h = source(1u, ph);
                let c = source(2u, pw);
                if (d >= 0 && h >= 0 && c >= 0) {
                    sum += x[win.plane_start + offset(d, h, c)];
                    count++;
                } else if (p[2] == 0u && in_padded(0u, pd) && in_padded(1u, ph) && in_padded(2u, pw)) {
                    count++;
                }
            }
        }
    }
    y[i] = sum / f32(count);
}

// Whether a padded position lies inside `[0, pad_begin + input + pad_end)`.
fn in_padded(axis: u32, at: u32) -> bool {
    return at < ax(axis, 5u) + ax(axis, 0u) + ax(axis, 6u);
}
