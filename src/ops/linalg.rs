//! Linear algebra: MatMul-1, Einsum-7 and ScaledDotProductAttention-13.

use super::registry::Registry;
use super::util::{
    broadcast_offsets, broadcast_partial, check_input_count, check_type, merge_types, scalar_f64,
};
use super::{Op, TensorDesc, TypeInfo};
use crate::error::{Error, Result};
use crate::ir::shape::{broadcast_shapes, fmt_shape, num_elements, strides};
use crate::ir::{AttributeVisitor, Dimension, ElementType, PartialShape, Tensor};
use std::collections::BTreeMap;

/// Registers the linear-algebra ops.
pub fn register(r: &mut Registry) {
    r.add("MatMul", 1, || Box::new(MatMul::default()));
    r.add("Einsum", 7, || {
        Box::new(Einsum {
            equation: String::new(),
        })
    });
    r.add("ScaledDotProductAttention", 13, || {
        Box::new(ScaledDotProductAttention { causal: false })
    });
}

/// Errors unless `t` is a numeric (non-boolean, byte-sized) type.
fn check_numeric(t: ElementType, what: &str) -> Result<()> {
    check_type(
        t,
        |t| t != ElementType::Boolean && !t.is_sub_byte(),
        "a numeric type",
        what,
    )
}

/// Batched matrix product with optional transposition of the last two axes of each operand.
/// A 1-D left operand is a row vector and a 1-D right operand a column vector; the added axis is removed from
/// the output and the transpose flag of a 1-D operand is ignored.
#[derive(Debug, Clone, Default)]
pub struct MatMul {
    /// Transpose the last two axes of the left operand.
    pub transpose_a: bool,
    /// Transpose the last two axes of the right operand.
    pub transpose_b: bool,
}

/// How a stored matrix is read as an operand: rows × cols with element strides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatrixView {
    /// Logical rows.
    pub rows: usize,
    /// Logical columns.
    pub cols: usize,
    /// Elements between consecutive rows.
    pub row_stride: usize,
    /// Elements between consecutive columns.
    pub col_stride: usize,
}

impl MatrixView {
    /// The view of a stored `[r, c]` matrix, transposed or not.
    pub fn of(r: usize, c: usize, transpose: bool) -> MatrixView {
        if transpose {
            MatrixView {
                rows: c,
                cols: r,
                row_stride: 1,
                col_stride: c,
            }
        } else {
            MatrixView {
                rows: r,
                cols: c,
                row_stride: c,
                col_stride: 1,
            }
        }
    }

    /// Elements in one stored matrix.
    pub fn size(&self) -> usize {
        self.rows * self.cols
    }
}

/// Everything a MatMul needs at run time: operand views, per-batch matrix offsets and the output shape.
#[derive(Debug, Clone)]
pub struct MatMulPlan {
    /// The left operand as an M × K matrix.
    pub a: MatrixView,
    /// The right operand as a K × N matrix.
    pub b: MatrixView,
    /// For every output batch, the index of the left matrix it reads.
    pub a_batches: Vec<usize>,
    /// For every output batch, the index of the right matrix it reads.
    pub b_batches: Vec<usize>,
    /// The output shape.
    pub out_shape: Vec<usize>,
}

impl MatMulPlan {
    /// Rows of the output matrix.
    pub fn m(&self) -> usize {
        self.a.rows
    }
    /// Reduction length.
    pub fn k(&self) -> usize {
        self.a.cols
    }
    /// Columns of the output matrix.
    pub fn n(&self) -> usize {
        self.b.cols
    }
}

/// The matrix dimensions of an operand after the 1-D rule: (batch dims, stored rows, stored cols, transpose).
fn matrix_dims<D: Copy>(
    shape: &[D],
    one: D,
    transpose: bool,
    left: bool,
) -> Option<(&[D], D, D, bool)> {
    match shape {
        [] => None,
        [k] if left => Some((&[], one, *k, false)),
        [k] => Some((&[], *k, one, false)),
        [batch @ .., r, c] => Some((batch, *r, *c, transpose)),
    }
}

impl MatMul {
    /// The plan for static operand shapes; errors name both shapes when they do not fit.
    pub fn plan(&self, a: &[usize], b: &[usize]) -> Result<MatMulPlan> {
        let mismatch = || {
            Error::Shape(format!(
                "MatMul operands {} and {} do not fit",
                fmt_shape(a),
                fmt_shape(b)
            ))
        };
        let (Some((ba, ar, ac, ta)), Some((bb, br, bc, tb))) = (
            matrix_dims(a, 1, self.transpose_a, true),
            matrix_dims(b, 1, self.transpose_b, false),
        ) else {
            return Err(Error::Shape(
                "MatMul operands must have rank 1 or more".into(),
            ));
        };
        let (va, vb) = (MatrixView::of(ar, ac, ta), MatrixView::of(br, bc, tb));
        if va.cols != vb.rows {
            return Err(mismatch());
        }
        let batch = broadcast_shapes(ba, bb).map_err(|_| mismatch())?;
        let mut out_shape = batch.clone();
        out_shape.extend((a.len() > 1).then_some(va.rows));
        out_shape.extend((b.len() > 1).then_some(vb.cols));
        Ok(MatMulPlan {
            a: va,
            b: vb,
            a_batches: broadcast_offsets(ba, &batch),
            b_batches: broadcast_offsets(bb, &batch),
            out_shape,
        })
    }

    fn infer_shape(&self, a: &PartialShape, b: &PartialShape) -> Result<PartialShape> {
        let (Some(ad), Some(bd)) = (a.dims(), b.dims()) else {
            return Ok(PartialShape::dynamic_rank());
        };
        let one = Dimension::new(1);
        let (Some((ba, ar, ac, ta)), Some((bb, br, bc, tb))) = (
            matrix_dims(ad, one, self.transpose_a, true),
            matrix_dims(bd, one, self.transpose_b, false),
        ) else {
            return Err(Error::Shape(
                "MatMul operands must have rank 1 or more".into(),
            ));
        };
        let (m, ka) = if ta { (ac, ar) } else { (ar, ac) };
        let (kb, n) = if tb { (bc, br) } else { (br, bc) };
        crate::ensure!(
            ka.compatible(&kb),
            Shape,
            "MatMul operands {a} and {b} do not fit: K is {ka} and {kb}"
        );
        let batch = broadcast_partial(
            &PartialShape::new(ba.to_vec()),
            &PartialShape::new(bb.to_vec()),
        )?;
        let mut dims = batch.dims().map(<[Dimension]>::to_vec).unwrap_or_default();
        dims.extend((ad.len() > 1).then_some(m));
        dims.extend((bd.len() > 1).then_some(n));
        Ok(PartialShape::new(dims))
    }
}

/// The plain matrix product over a plan, accumulating each output in `acc`'s type.
fn matmul_ref<A: Copy + Default>(
    a: &[A],
    b: &[A],
    p: &MatMulPlan,
    mul_add: impl Fn(A, A, A) -> A,
) -> Vec<A> {
    let (m, k, n) = (p.m(), p.k(), p.n());
    let mut out = Vec::with_capacity(p.a_batches.len() * m * n);
    for (&ia, &ib) in p.a_batches.iter().zip(&p.b_batches) {
        let (oa, ob) = (ia * p.a.size(), ib * p.b.size());
        for i in 0..m {
            for j in 0..n {
                let acc = (0..k).fold(A::default(), |acc, t| {
                    let x = a[oa + i * p.a.row_stride + t * p.a.col_stride];
                    let y = b[ob + t * p.b.row_stride + j * p.b.col_stride];
                    mul_add(acc, x, y)
                });
                out.push(acc);
            }
        }
    }
    out
}

impl Op for MatMul {
    fn type_info(&self) -> TypeInfo {
        TypeInfo::new("MatMul", "opset1")
    }
    fn visit_attributes(&mut self, v: &mut dyn AttributeVisitor) -> Result<()> {
        crate::visit_attrs!(self, v; "transpose_a" => transpose_a, "transpose_b" => transpose_b)
    }
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        check_input_count(inputs, 2, 2)?;
        let et = merge_types(
            inputs[0].element_type,
            inputs[1].element_type,
            "MatMul operands",
        )?;
        check_numeric(et, "MatMul operands")?;
        Ok(vec![TensorDesc::new(
            et,
            self.infer_shape(&inputs[0].shape, &inputs[1].shape)?,
        )])
    }
    fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        check_input_count(inputs, 2, 2)?;
        let (a, b) = (inputs[0], inputs[1]);
        let et = merge_types(a.element_type(), b.element_type(), "MatMul operands")?;
        check_numeric(et, "MatMul operands")?;
        let p = self.plan(a.shape(), b.shape())?;
        let out = if et.is_real() {
            let v = matmul_ref(&a.to_f64_vec(), &b.to_f64_vec(), &p, |acc, x, y| {
                acc + x * y
            });
            Tensor::from_f64s(et, &p.out_shape, &v)?
        } else {
            let v = matmul_ref(&a.to_i64_vec(), &b.to_i64_vec(), &p, |acc, x, y| {
                acc.wrapping_add(x.wrapping_mul(y))
            });
            Tensor::from_i64s(et, &p.out_shape, &v)?
        };
        Ok(vec![out])
    }
}

/// Einsum-7: a sum of products described by an equation such as `bij,bjk->bik` (letters a-z and A-Z, an
/// optional `...` per term, implicit output = ellipsis then the letters used once, in alphabetical order).
#[derive(Debug, Clone)]
pub struct Einsum {
    /// The equation.
    pub equation: String,
}

/// One subscript of an Einsum term.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Subscript {
    Letter(char),
    Ellipsis,
}

/// Label ids: letters use their code point; ellipsis axis `j` (of the broadcast ellipsis, left to right) uses
/// `ELLIPSIS_BASE + j`.
const ELLIPSIS_BASE: usize = 1 << 20;

/// A parsed equation: the subscripts of every input and of the output.
#[derive(Debug, Clone)]
struct Equation {
    inputs: Vec<Vec<Subscript>>,
    output: Vec<Subscript>,
}

fn parse_term(term: &str, equation: &str) -> Result<Vec<Subscript>> {
    let mut out = Vec::new();
    let mut rest = term;
    while let Some(c) = rest.chars().next() {
        if let Some(r) = rest.strip_prefix("...") {
            crate::ensure!(
                !out.contains(&Subscript::Ellipsis),
                Shape,
                "Einsum equation '{equation}': '{term}' has two ellipses"
            );
            out.push(Subscript::Ellipsis);
            rest = r;
        } else if c.is_ascii_alphabetic() {
            out.push(Subscript::Letter(c));
            rest = &rest[1..];
        } else {
            crate::bail!(
                Shape,
                "Einsum equation '{equation}': unexpected '{c}' in '{term}'"
            );
        }
    }
    Ok(out)
}

impl Equation {
    fn parse(equation: &str) -> Result<Equation> {
        let eq: String = equation.chars().filter(|c| !c.is_whitespace()).collect();
        let (lhs, rhs) = match eq.split_once("->") {
            Some((l, r)) => (l, Some(r)),
            None => (eq.as_str(), None),
        };
        let inputs = lhs
            .split(',')
            .map(|t| parse_term(t, equation))
            .collect::<Result<Vec<_>>>()?;
        let output = match rhs {
            Some(r) => parse_term(r, equation)?,
            None => Self::implicit_output(&inputs),
        };
        let letters: Vec<char> = output
            .iter()
            .filter_map(|s| {
                if let Subscript::Letter(c) = s {
                    Some(*c)
                } else {
                    None
                }
            })
            .collect();
        for (i, c) in letters.iter().enumerate() {
            crate::ensure!(
                !letters[..i].contains(c),
                Shape,
                "Einsum equation '{equation}': output label '{c}' repeats"
            );
            let used = inputs.iter().flatten().any(|s| *s == Subscript::Letter(*c));
            crate::ensure!(
                used,
                Shape,
                "Einsum equation '{equation}': output label '{c}' is in no input"
            );
        }
        Ok(Equation { inputs, output })
    }

    fn implicit_output(inputs: &[Vec<Subscript>]) -> Vec<Subscript> {
        let mut counts: BTreeMap<char, usize> = BTreeMap::new();
        for s in inputs.iter().flatten() {
            if let Subscript::Letter(c) = s {
                *counts.entry(*c).or_default() += 1;
            }
        }
        let ellipsis = inputs.iter().flatten().any(|s| *s == Subscript::Ellipsis);
        let once = counts
            .into_iter()
            .filter(|(_, n)| *n == 1)
            .map(|(c, _)| Subscript::Letter(c));
        ellipsis
            .then_some(Subscript::Ellipsis)
            .into_iter()
            .chain(once)
            .collect()
    }

    /// The label id of every axis of each input, given the ranks; also the rank of the broadcast ellipsis.
    fn input_labels(&self, ranks: &[usize]) -> Result<(Vec<Vec<usize>>, usize)> {
        crate::ensure!(
            ranks.len() == self.inputs.len(),
            Shape,
            "Einsum equation has {} inputs, {} were given",
            self.inputs.len(),
            ranks.len()
        );
        let mut ell_ranks = Vec::with_capacity(ranks.len());
        for (term, &rank) in self.inputs.iter().zip(ranks) {
            let letters = term.iter().filter(|s| **s != Subscript::Ellipsis).count();
            let has_ellipsis = term.contains(&Subscript::Ellipsis);
            let ok = if has_ellipsis {
                rank >= letters
            } else {
                rank == letters
            };
            crate::ensure!(
                ok,
                Shape,
                "Einsum input of rank {rank} does not match its subscripts ({} labels)",
                letters
            );
            ell_ranks.push(rank - letters);
        }
        let ell = ell_ranks.iter().copied().max().unwrap_or(0);
        let labels = self
            .inputs
            .iter()
            .zip(&ell_ranks)
            .map(|(t, &e)| expand(t, e, ell))
            .collect();
        Ok((labels, ell))
    }
}

/// Label ids of the axes of a term whose ellipsis covers `e` axes (right-aligned in an ellipsis of rank `ell`).
fn expand(term: &[Subscript], e: usize, ell: usize) -> Vec<usize> {
    term.iter()
        .flat_map(|s| match s {
            Subscript::Letter(c) => vec![*c as usize],
            Subscript::Ellipsis => (ell - e..ell).map(|j| ELLIPSIS_BASE + j).collect(),
        })
        .collect()
}

/// Merges the length of every label over the inputs; lengths broadcast (1 stretches), as OpenVINO allows.
fn label_dims(
    labels: &[Vec<usize>],
    shapes: &[&[Dimension]],
) -> Result<BTreeMap<usize, Dimension>> {
    let mut dims: BTreeMap<usize, Dimension> = BTreeMap::new();
    for (ls, shape) in labels.iter().zip(shapes) {
        for (&l, &d) in ls.iter().zip(shape.iter()) {
            let merged = match dims.get(&l) {
                None => d,
                Some(prev) => prev.broadcast(&d).ok_or_else(|| {
                    Error::Shape(format!(
                        "Einsum: axes with one label have lengths {prev} and {d}"
                    ))
                })?,
            };
            dims.insert(l, merged);
        }
    }
    Ok(dims)
}

impl Einsum {
    fn output_labels(&self, eq: &Equation, ell: usize) -> Vec<usize> {
        expand(&eq.output, ell, ell)
    }
}

impl Op for Einsum {
    fn type_info(&self) -> TypeInfo {
        TypeInfo::new("Einsum", "opset7")
    }
    fn visit_attributes(&mut self, v: &mut dyn AttributeVisitor) -> Result<()> {
        crate::visit_attrs!(self, v; "equation" => equation)
    }
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        check_input_count(inputs, 1, usize::MAX)?;
        let et = inputs.iter().try_fold(ElementType::Dynamic, |t, d| {
            merge_types(t, d.element_type, "Einsum inputs")
        })?;
        check_numeric(et, "Einsum inputs")?;
        let eq = Equation::parse(&self.equation)?;
        let Some(shapes) = inputs
            .iter()
            .map(|d| d.shape.dims())
            .collect::<Option<Vec<_>>>()
        else {
            return Ok(vec![TensorDesc::new(et, PartialShape::dynamic_rank())]);
        };
        let (labels, ell) = eq.input_labels(&shapes.iter().map(|s| s.len()).collect::<Vec<_>>())?;
        let dims = label_dims(&labels, &shapes)?;
        let out = self
            .output_labels(&eq, ell)
            .iter()
            .map(|l| dims.get(l).copied().unwrap_or(Dimension::DYNAMIC))
            .collect();
        Ok(vec![TensorDesc::new(et, PartialShape::new(out))])
    }
    fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        check_input_count(inputs, 1, usize::MAX)?;
        let et = inputs.iter().try_fold(ElementType::Dynamic, |t, x| {
            merge_types(t, x.element_type(), "Einsum inputs")
        })?;
        check_numeric(et, "Einsum inputs")?;
        let eq = Equation::parse(&self.equation)?;
        let (labels, ell) =
            eq.input_labels(&inputs.iter().map(|t| t.rank()).collect::<Vec<_>>())?;
        let pshapes: Vec<Vec<Dimension>> = inputs
            .iter()
            .map(|t| t.shape().iter().map(|&d| Dimension::from(d)).collect())
            .collect();
        let dims = label_dims(
            &labels,
            &pshapes.iter().map(Vec::as_slice).collect::<Vec<_>>(),
        )?;
        let out_labels = self.output_labels(&eq, ell);
        // Enumerate every combination of output labels followed by summed labels.
        let summed: Vec<usize> = dims
            .keys()
            .copied()
            .filter(|l| !out_labels.contains(l))
            .collect();
        let all: Vec<usize> = out_labels.iter().chain(&summed).copied().collect();
        let extent: Vec<usize> = all
            .iter()
            .map(|l| dims.get(l).and_then(Dimension::get).unwrap_or(0) as usize)
            .collect();
        // For every input, the stride it advances by per step of each enumerated label (0 when broadcast).
        let input_strides: Vec<Vec<usize>> = inputs
            .iter()
            .zip(&labels)
            .map(|(t, ls)| {
                let st = strides(t.shape());
                all.iter()
                    .map(|l| {
                        ls.iter()
                            .zip(&st)
                            .zip(t.shape())
                            .filter(|((x, _), d)| *x == l && **d > 1)
                            .map(|((_, s), _)| s)
                            .sum()
                    })
                    .collect()
            })
            .collect();
        let values: Vec<Vec<f64>> = inputs.iter().map(|t| t.to_f64_vec()).collect();
        let out_len = num_elements(&extent[..out_labels.len()]);
        let inner = num_elements(&extent[out_labels.len()..]);
        let mut out = vec![0.0; out_len];
        for (flat, slot) in (0..out_len * inner).map(|f| (f, f / inner.max(1))) {
            let idx = super::util::unravel(flat, &extent);
            let term: f64 = values
                .iter()
                .zip(&input_strides)
                .map(|(v, st)| v[idx.iter().zip(st).map(|(i, s)| i * s).sum::<usize>()])
                .product();
            out[slot] += term;
        }
        let out_shape = &extent[..out_labels.len()];
        let t = if et.is_real() {
            Tensor::from_f64s(et, out_shape, &out)?
        } else {
            Tensor::from_i64s(
                et,
                out_shape,
                &out.iter().map(|v| *v as i64).collect::<Vec<_>>(),
            )?
        };
        Ok(vec![t])
    }
}

/// ScaledDotProductAttention-13: `softmax(Q·Kᵀ·scale + mask)·V` with inputs query `[..., L, E]`,
/// key `[..., S, E]`, value `[..., S, Ev]`, optional attention_mask (boolean: false masks out; real: added;
/// broadcast to `[..., L, S]`) and optional scalar scale (default `1/sqrt(E)`). With `causal` the mask input is
/// ignored and position `i` attends to positions `j <= i`.
#[derive(Debug, Clone)]
pub struct ScaledDotProductAttention {
    /// Use a causal (lower-triangular) mask.
    pub causal: bool,
}

/// Shapes of an attention computation.
struct AttentionDims {
    batch: Vec<usize>,
    l: usize,
    s: usize,
    e: usize,
    ev: usize,
}

impl ScaledDotProductAttention {
    fn dims(q: &[usize], k: &[usize], v: &[usize]) -> Result<AttentionDims> {
        let bad = || {
            Error::Shape(format!(
                "query {}, key {} and value {} do not fit [N, ..., L, E], [N, ..., S, E], [N, ..., S, Ev]",
                fmt_shape(q),
                fmt_shape(k),
                fmt_shape(v)
            ))
        };
        let ([qb @ .., l, e], [kb @ .., s, ek], [vb @ .., sv, ev]) = (q, k, v) else {
            return Err(bad());
        };
        let ranks_ok = q.len() >= 3 && k.len() >= 3 && v.len() >= 3;
        crate::ensure!(ranks_ok && e == ek && s == sv, Shape, "{}", bad());
        let batch = broadcast_shapes(&broadcast_shapes(qb, kb).map_err(|_| bad())?, vb)
            .map_err(|_| bad())?;
        Ok(AttentionDims {
            batch,
            l: *l,
            s: *s,
            e: *e,
            ev: *ev,
        })
    }

    fn check_types(&self, types: &[ElementType]) -> Result<()> {
        let et = types[..3].iter().try_fold(ElementType::Dynamic, |t, &x| {
            merge_types(t, x, "query, key and value")
        })?;
        check_type(et, ElementType::is_real, "a floating-point type", "query")?;
        if let Some(&m) = types.get(3) {
            let ok = !m.is_static() || m == ElementType::Boolean || et.compatible(m);
            crate::ensure!(
                ok,
                Shape,
                "attention_mask has element type {m}, expected boolean or {et}"
            );
        }
        if let Some(&s) = types.get(4) {
            crate::ensure!(
                et.compatible(s),
                Shape,
                "scale has element type {s}, expected {et}"
            );
        }
        Ok(())
    }

    /// The additive mask (`[batch, L, S]` flattened) or `None` when nothing is masked.
    fn additive_mask(&self, mask: Option<&Tensor>, d: &AttentionDims) -> Result<Option<Vec<f64>>> {
        let full: Vec<usize> = d.batch.iter().chain(&[d.l, d.s]).copied().collect();
        if self.causal {
            let tri = (0..num_elements(&full)).map(|f| {
                if f % d.s > (f / d.s) % d.l.max(1) {
                    f64::NEG_INFINITY
                } else {
                    0.0
                }
            });
            return Ok(Some(tri.collect()));
        }
        let Some(m) = mask else { return Ok(None) };
        crate::ensure!(
            broadcast_shapes(m.shape(), &full).ok().as_deref() == Some(&full[..]),
            Shape,
            "attention_mask of shape {} does not broadcast to {}",
            fmt_shape(m.shape()),
            fmt_shape(&full)
        );
        let vals = m.to_f64_vec();
        let boolean = m.element_type() == ElementType::Boolean;
        let at = |o: usize| {
            if boolean {
                if vals[o] != 0.0 {
                    0.0
                } else {
                    f64::NEG_INFINITY
                }
            } else {
                vals[o]
            }
        };
        Ok(Some(
            broadcast_offsets(m.shape(), &full)
                .into_iter()
                .map(at)
                .collect(),
        ))
    }
}

impl Op for ScaledDotProductAttention {
    fn type_info(&self) -> TypeInfo {
        TypeInfo::new("ScaledDotProductAttention", "opset13")
    }
    fn visit_attributes(&mut self, v: &mut dyn AttributeVisitor) -> Result<()> {
        crate::visit_attrs!(self, v; "causal" => causal)
    }
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        check_input_count(inputs, 3, 5)?;
        self.check_types(&inputs.iter().map(|d| d.element_type).collect::<Vec<_>>())?;
        let (q, k, v) = (&inputs[0].shape, &inputs[1].shape, &inputs[2].shape);
        for (s, name) in [(q, "query"), (k, "key"), (v, "value")] {
            crate::ensure!(
                s.rank().is_none_or(|r| r >= 3),
                Shape,
                "{name} must have rank 3 or more, got {s}"
            );
        }
        if let Some(s) = inputs.get(4).and_then(|d| d.shape.to_static()) {
            crate::ensure!(
                num_elements(&s) == 1,
                Shape,
                "scale must hold one value, has shape {}",
                fmt_shape(&s)
            );
        }
        let (Some(qd), Some(kd), Some(vd)) = (q.dims(), k.dims(), v.dims()) else {
            return Ok(vec![TensorDesc::new(
                inputs[0].element_type,
                PartialShape::dynamic_rank(),
            )]);
        };
        let split = |d: &[Dimension]| PartialShape::new(d[..d.len() - 2].to_vec());
        crate::ensure!(
            qd[qd.len() - 1].compatible(&kd[kd.len() - 1]),
            Shape,
            "query {q} and key {k} differ in E"
        );
        crate::ensure!(
            kd[kd.len() - 2].compatible(&vd[vd.len() - 2]),
            Shape,
            "key {k} and value {v} differ in S"
        );
        let batch = broadcast_partial(&broadcast_partial(&split(qd), &split(kd))?, &split(vd))?;
        let out = match batch.dims() {
            Some(b) => PartialShape::new(
                b.iter()
                    .chain([&qd[qd.len() - 2], &vd[vd.len() - 1]])
                    .copied()
                    .collect(),
            ),
            None => PartialShape::dynamic_rank(),
        };
        Ok(vec![TensorDesc::new(inputs[0].element_type, out)])
    }
    fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        check_input_count(inputs, 3, 5)?;
        self.check_types(&inputs.iter().map(|t| t.element_type()).collect::<Vec<_>>())?;
        let (q, k, v) = (inputs[0], inputs[1], inputs[2]);
        let d = Self::dims(q.shape(), k.shape(), v.shape())?;
        let scale = match inputs.get(4) {
            Some(s) => scalar_f64(s, "scale")?,
            None => 1.0 / (d.e as f64).sqrt(),
        };
        let mask = self.additive_mask(inputs.get(3).copied(), &d)?;
        let offsets = |t: &Tensor| broadcast_offsets(&t.shape()[..t.rank() - 2], &d.batch);
        let (qo, ko, vo) = (offsets(q), offsets(k), offsets(v));
        let (qv, kv, vv) = (q.to_f64_vec(), k.to_f64_vec(), v.to_f64_vec());
        let mut out = Vec::with_capacity(qo.len() * d.l * d.ev);
        for b in 0..qo.len() {
            let (qb, kb, vb) = (qo[b] * d.l * d.e, ko[b] * d.s * d.e, vo[b] * d.s * d.ev);
            for i in 0..d.l {
                let mut scores: Vec<f64> = (0..d.s)
                    .map(|j| {
                        let dot: f64 = (0..d.e)
                            .map(|t| qv[qb + i * d.e + t] * kv[kb + j * d.e + t])
                            .sum();
                        dot * scale + mask.as_ref().map_or(0.0, |m| m[(b * d.l + i) * d.s + j])
                    })
                    .collect();
                let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                scores.iter_mut().for_each(|x| *x = (*x - max).exp());
                let sum: f64 = scores.iter().sum();
                out.extend((0..d.ev).map(|c| {
                    (0..d.s)
                        .map(|j| scores[j] / sum * vv[vb + j * d.ev + c])
                        .sum::<f64>()
                }));
            }
        }
        let shape: Vec<usize> = d.batch.iter().chain(&[d.l, d.ev]).copied().collect();
        Ok(vec![Tensor::from_f64s(q.element_type(), &shape, &out)?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(shape: &[usize], v: &[f32]) -> Tensor {
        Tensor::from_vec(shape, v.to_vec()).unwrap()
    }

    fn seq(shape: &[usize]) -> Tensor {
        let n = num_elements(shape);
        Tensor::from_vec(shape, (0..n).map(|i| i as f32 * 0.1 - 0.3).collect()).unwrap()
    }

    fn desc(shape: &str) -> TensorDesc {
        TensorDesc::new(ElementType::F32, PartialShape::parse_ir(shape).unwrap())
    }

    fn mm(ta: bool, tb: bool) -> MatMul {
        MatMul {
            transpose_a: ta,
            transpose_b: tb,
        }
    }

    #[test]
    fn matmul_shapes() {
        let cases = [
            ("2,3", "3,4", false, false, "[2,4]"),
            ("3", "3,4", false, false, "[4]"),
            ("2,3", "3", false, false, "[2]"),
            ("3", "3", true, true, "[]"),
            ("5,1,3,2", "4,3,6", true, false, "[5,4,2,6]"),
            ("?,2,3", "4,3", false, true, "[?,2,4]"),
            ("...", "3,4", false, false, "[...]"),
        ];
        for (a, b, ta, tb, want) in cases {
            let out = mm(ta, tb).infer(&[desc(a), desc(b)]).unwrap();
            assert_eq!(out[0].shape.to_string(), want, "{a} x {b}");
        }
        assert!(mm(false, false).infer(&[desc("2,3"), desc("4,5")]).is_err());
        assert!(
            mm(false, false)
                .infer(&[desc("2,2,3"), desc("3,3,4")])
                .is_err()
        );
        assert!(
            mm(false, false)
                .evaluate(&[&seq(&[2, 3]), &seq(&[2, 3])])
                .is_err()
        );
    }

    #[test]
    fn matmul_values() {
        let a = t(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let b = t(&[3, 2], &[1.0, 0.0, 0.0, 1.0, 1.0, 1.0]);
        assert_eq!(
            mm(false, false).evaluate(&[&a, &b]).unwrap()[0].to_f64_vec(),
            vec![4.0, 5.0, 10.0, 11.0]
        );
        // aᵀ·aᵀᵀ = aᵀ·a
        let ata = mm(true, false).evaluate(&[&a, &a]).unwrap().remove(0);
        assert_eq!(ata.shape(), &[3, 3]);
        assert_eq!(ata.to_f64_vec()[..3], [17.0, 22.0, 27.0]);
        let v = t(&[3], &[1.0, 1.0, 1.0]);
        assert_eq!(
            mm(false, true).evaluate(&[&a, &v]).unwrap()[0].to_f64_vec(),
            vec![6.0, 15.0]
        );
        let ints = Tensor::from_vec(&[1, 2], vec![2i32, 3]).unwrap();
        let intb = Tensor::from_vec(&[2, 1], vec![4i32, 5]).unwrap();
        let r = mm(false, false)
            .evaluate(&[&ints, &intb])
            .unwrap()
            .remove(0);
        assert_eq!(
            (r.element_type(), r.to_i64_vec()),
            (ElementType::I32, vec![23])
        );
    }

    fn einsum(eq: &str, inputs: &[&Tensor]) -> Tensor {
        Einsum {
            equation: eq.into(),
        }
        .evaluate(inputs)
        .unwrap()
        .remove(0)
    }

    #[test]
    fn einsum_matches_matmul_and_numpy() {
        let (a, b) = (seq(&[2, 3, 4]), seq(&[2, 4, 5]));
        let want = mm(false, false).evaluate(&[&a, &b]).unwrap().remove(0);
        let got = einsum("bij,bjk->bik", &[&a, &b]);
        assert_eq!(got.shape(), want.shape());
        for (x, y) in got.to_f64_vec().iter().zip(want.to_f64_vec()) {
            assert!((x - y).abs() < 1e-5);
        }
        // Trace, diagonal, transposition, implicit output and ellipsis broadcasting (numpy.einsum values).
        let m = t(&[2, 2], &[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(einsum("ii", &[&m]).to_f64_vec(), vec![5.0]);
        assert_eq!(einsum("ii->i", &[&m]).to_f64_vec(), vec![1.0, 4.0]);
        assert_eq!(
            einsum("ij->ji", &[&m]).to_f64_vec(),
            vec![1.0, 3.0, 2.0, 4.0]
        );
        assert_eq!(einsum("ba", &[&m]).to_f64_vec(), vec![1.0, 3.0, 2.0, 4.0]);
        let x = seq(&[2, 1, 3]);
        let y = seq(&[4, 3]);
        let e = einsum(
            "...ij,...j->...i",
            &[&seq(&[2, 3, 3]), &t(&[3], &[1.0, 0.0, 0.0])],
        );
        assert_eq!(e.shape(), &[2, 3]);
        let got = einsum("...j,kj->...k", &[&x, &y]);
        assert_eq!(got.shape(), &[2, 1, 4]);
        // OpenVINO CPU, same inputs.
        let ov = [0.14, -0.04, -0.22, -0.4, -0.04, 0.05, 0.14, 0.23];
        assert!(
            got.to_f64_vec()
                .iter()
                .zip(ov)
                .all(|(a, b)| (a - b).abs() < 1e-6)
        );
        assert_eq!(
            einsum("a...,a...", &[&seq(&[2, 3]), &seq(&[2, 1])]).shape(),
            &[3]
        );
    }

    #[test]
    fn einsum_inference_and_errors() {
        let op = Einsum {
            equation: "ab,bc->ac".into(),
        };
        assert_eq!(
            op.infer(&[desc("?,3"), desc("3,5")]).unwrap()[0]
                .shape
                .to_string(),
            "[?,5]"
        );
        assert!(op.infer(&[desc("2,3"), desc("4,5")]).is_err());
        // OpenVINO broadcasts labelled lengths of 1: ij,jk with [2,1] and [3,4] gives [2,4].
        let out = op.infer(&[desc("2,1"), desc("3,4")]).unwrap();
        assert_eq!(out[0].shape.to_string(), "[2,4]");
        let b = einsum("ij,jk->ik", &[&t(&[2, 1], &[1.0, 2.0]), &seq(&[3, 4])]);
        let ov = [0.3, 0.6, 0.9, 1.2, 0.6, 1.2, 1.8, 2.4]; // OpenVINO CPU
        assert!(
            b.to_f64_vec()
                .iter()
                .zip(ov)
                .all(|(x, y)| (x - y).abs() < 1e-6)
        );
        assert!(op.infer(&[desc("2,3")]).is_err());
        let ell = Einsum {
            equation: "...a,a->...".into(),
        };
        assert_eq!(
            ell.infer(&[desc("2,?,3"), desc("3")]).unwrap()[0]
                .shape
                .to_string(),
            "[2,?]"
        );
        assert!(
            Einsum {
                equation: "a1->a".into()
            }
            .infer(&[desc("2")])
            .is_err()
        );
        assert!(
            Einsum {
                equation: "a->b".into()
            }
            .infer(&[desc("2")])
            .is_err()
        );
    }

    #[test]
    fn sdpa_matches_openvino_semantics() {
        let (q, k, v) = (seq(&[1, 2, 3]), seq(&[1, 4, 3]), seq(&[1, 4, 2]));
        let op = ScaledDotProductAttention { causal: false };
        assert_eq!(
            op.infer(&[desc("2,?,3"), desc("1,4,3"), desc("1,4,5")])
                .unwrap()[0]
                .shape
                .to_string(),
            "[2,?,5]"
        );
        assert!(
            op.infer(&[desc("2,2,3"), desc("1,4,4"), desc("1,4,5")])
                .is_err()
        );
        assert!(op.infer(&[desc("2,3"), desc("4,3"), desc("4,5")]).is_err());
        assert!(
            op.evaluate(&[&seq(&[2, 3]), &seq(&[4, 3]), &seq(&[4, 5])])
                .is_err()
        );
        let plain = op.evaluate(&[&q, &k, &v]).unwrap().remove(0);
        assert_eq!(plain.shape(), &[1, 2, 2]);
        // OpenVINO CPU, same inputs.
        let ov = [-0.025901591, 0.074098423, 0.012980453, 0.112980463];
        assert!(
            plain
                .to_f64_vec()
                .iter()
                .zip(ov)
                .all(|(a, b)| (a - b).abs() < 1e-6)
        );
        // A zero float mask and a scale of 1/sqrt(E) change nothing.
        let zero = Tensor::zeros(ElementType::F32, &[]);
        let s = Tensor::scalar(1.0f32 / 3f32.sqrt());
        let same = op.evaluate(&[&q, &k, &v, &zero, &s]).unwrap().remove(0);
        for (a, b) in plain.to_f64_vec().iter().zip(same.to_f64_vec()) {
            assert!((a - b).abs() < 1e-6);
        }
        // Causal equals a boolean lower-triangular mask aligned top-left.
        let causal = ScaledDotProductAttention { causal: true }
            .evaluate(&[&q, &k, &v, &zero])
            .unwrap()
            .remove(0);
        let tri =
            Tensor::from_i64s(ElementType::Boolean, &[2, 4], &[1, 0, 0, 0, 1, 1, 0, 0]).unwrap();
        let masked = op.evaluate(&[&q, &k, &v, &tri]).unwrap().remove(0);
        assert_eq!(causal.to_f64_vec(), masked.to_f64_vec());
        // Row 0 attends only to key 0, so it returns value row 0.
        assert_eq!(causal.to_f64_vec()[..2], v.to_f64_vec()[..2]);
        assert!(
            op.evaluate(&[&q, &k, &v, &Tensor::zeros(ElementType::F32, &[3, 4])])
                .is_err()
        );
    }
}
