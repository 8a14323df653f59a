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

var<workgroup> ta: array<f32, 1024>; // [k][m]
var<workgroup> tb: array<f32, 1024>; // [k][n]

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
        for (var e = li; e < TILE * TILE; e = e + THREADS) {
            // Consecutive invocations read consecutive k of A and consecutive n of B.
            let am = e / TILE;
            let ak = e % TILE;
            var av = 0.0;
            if (row0 + am < m_dim && k0 + ak < k_dim) {
                av = a[a_base + (row0 + am) * p[3] + (k0 + ak) * p[4]];
            }
            ta[ak * TILE + am] = av;
            let bk = e / TILE;
            let bn = e % TILE;
            var bv = 0.0;
            if (k0 + bk < k_dim && col0 + bn < n_dim) {
                bv = b[b_base + (k0 + bk) * p[6] + (col0 + bn) * p[7]];
            }
            tb[bk * TILE + bn] = bv;
        }
        workgroupBarrier();
        for (var k = 0u; k < TILE; k = k + 1u) {
            let ai = k * TILE + lid.y * 4u;
            let bi = k * TILE + lid.x * 4u;
            let bv = vec4<f32>(tb[bi], tb[bi + 1u], tb[bi + 2u], tb[bi + 3u]);
            acc[0] = fma(vec4<f32>(ta[ai]), bv, acc[0]);
            acc[1] = fma(vec4<f32>(ta[ai + 1u]), bv, acc[1]);
            acc[2] = fma(vec4<f32>(ta[ai + 2u]), bv, acc[2]);
            acc[3] = fma(vec4<f32>(ta[ai + 3u]), bv, acc[3]);
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
