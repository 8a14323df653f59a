// Tiled MatMul, C = A·B per batch. A workgroup computes a 32x32 block of C; its 8x8 invocations each hold a 4x4
// block in registers; 32-deep slices of A and B are staged through workgroup memory (8 KiB).
// Operands are read through strides, so transposed operands need no copy.
// p: [M, N, K, a_row_stride, a_col_stride, a_matrix_size, b_row_stride, b_col_stride, b_matrix_size, batches,
//     a_matrix[batches], b_matrix[batches]] (the operand matrix each output batch reads, after broadcasting).

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;
@group(0) @binding(3) var<storage, read> p: array<u32>;

const TILE: u32 = 32u;
const THREADS: u32 = 64u;

var<workgroup> ta: array<vec4<f32>, 256>; // [k][m / 4]
var<workgroup> tb: array<vec4<f32>, 256>; // [k][n / 4]

// A[m..m+4, k] (zero outside the matrix).
fn load_a(base: u32, m: u32, k: u32, m_dim: u32, k_dim: u32) -> vec4<f32> {
    let s = p[3];
    let at = base + m * s + k * p[4];
    if (k >= k_dim) {
        return vec4<f32>(0.0);
    }
    if (m + 3u < m_dim) {
        return vec4<f32>(a[at], a[at + s], a[at + 2u * s], a[at + 3u * s]);
    }
    return vec4<f32>(
        select(0.0, a[min(at, arrayLength(&a) - 1u)], m < m_dim),
        select(0.0, a[min(at + s, arrayLength(&a) - 1u)], m + 1u < m_dim),
        select(0.0, a[min(at + 2u * s, arrayLength(&a) - 1u)], m + 2u < m_dim),
        0.0,
    );
}

// B[k, n..n+4] (zero outside the matrix).
fn load_b(base: u32, k: u32, n: u32, k_dim: u32, n_dim: u32) -> vec4<f32> {
    let s = p[7];
    let at = base + k * p[6] + n * s;
    if (k >= k_dim) {
        return vec4<f32>(0.0);
    }
    if (n + 3u < n_dim) {
        return vec4<f32>(b[at], b[at + s], b[at + 2u * s], b[at + 3u * s]);
    }
    return vec4<f32>(
        select(0.0, b[min(at, arrayLength(&b) - 1u)], n < n_dim),
        select(0.0, b[min(at + s, arrayLength(&b) - 1u)], n + 1u < n_dim),
        select(0.0, b[min(at + 2u * s, arrayLength(&b) - 1u)], n + 2u < n_dim),
        0.0,
    );
}

@compute @workgroup_size(8, 8, 1)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let m_dim = p[0];
    let n_dim = p[1];
    let k_dim = p[2];
    let batches = p[9];
    let batch = wid.z;
    let a_base = p[10u + batch] * p[5];
    let b_base = p[10u + batches + batch] * p[8];
    let row0 = wid.y * TILE;
    let col0 = wid.x * TILE;
    var acc: array<vec4<f32>, 4>;
    for (var k0 = 0u; k0 < k_dim; k0 = k0 + TILE) {
        // Each invocation stages 4 vec4s of A (4 rows at one k; neighbours take neighbouring k) and 4 of B
        // (4 neighbouring columns at one k; neighbours take the next 4 columns).
        for (var e = li; e < TILE * TILE / 4u; e = e + THREADS) {
            let ak = e % TILE;
            let aq = e / TILE;
            ta[ak * 8u + aq] = load_a(a_base, row0 + aq * 4u, k0 + ak, m_dim, k_dim);
            let bk = e / 8u;
            let bq = e % 8u;
            tb[e] = load_b(b_base, k0 + bk, col0 + bq * 4u, k_dim, n_dim);
        }
        workgroupBarrier();
        for (var k = 0u; k < TILE; k = k + 1u) {
            let av = ta[k * 8u + lid.y];
            let bv = tb[k * 8u + lid.x];
            acc[0] = fma(vec4<f32>(av.x), bv, acc[0]);
            acc[1] = fma(vec4<f32>(av.y), bv, acc[1]);
            acc[2] = fma(vec4<f32>(av.z), bv, acc[2]);
            acc[3] = fma(vec4<f32>(av.w), bv, acc[3]);
        }
        workgroupBarrier();
    }
    let c_base = batch * m_dim * n_dim;
    for (var i = 0u; i < 4u; i = i + 1u) {
        let gm = row0 + lid.y * 4u + i;
        for (var j = 0u; j < 4u; j = j + 1u) {
            let gn = col0 + lid.x * 4u + j;
            if (gm < m_dim && gn < n_dim) {
                c[c_base + gm * n_dim + gn] = acc[i][j];
            }
        }
    }
}
