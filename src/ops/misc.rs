//! Miscellaneous ops: Select, Identity, RandomUniform, ReadValue and Assign.

use super::elementwise::{AutoBroadcast, broadcast_all, broadcast_static};
use super::registry::Registry;
use super::util::{broadcast_offsets, check_input_count, check_type, known_i64s};
use super::{Op, TensorDesc, TypeInfo};
use crate::error::{Error, Result};
use crate::ir::{AttributeVisitor, ElementType, PartialShape, Tensor};

/// Registers the ops of this family.
pub fn register(r: &mut Registry) {
    r.add("Select", 1, || {
        Box::new(Select {
            auto_broadcast: AutoBroadcast::Numpy,
        })
    });
    r.add("Identity", 16, || Box::new(Identity));
    r.add("RandomUniform", 8, || Box::new(RandomUniform::default()));
    r.add("ReadValue", 3, || Box::new(ReadValue::new(false)));
    r.add("ReadValue", 6, || Box::new(ReadValue::new(true)));
    r.add("Assign", 3, || Box::new(Assign::new(false, "")));
    r.add("Assign", 6, || Box::new(Assign::new(true, "")));
}

/// Picks elements from `then` where `cond` is true, else from `else`.
#[derive(Debug, Clone)]
pub struct Select {
    /// Broadcasting of the three inputs.
    pub auto_broadcast: AutoBroadcast,
}

impl Op for Select {
    fn type_info(&self) -> TypeInfo {
        TypeInfo::new("Select", "opset1")
    }
    fn visit_attributes(&mut self, v: &mut dyn AttributeVisitor) -> Result<()> {
        crate::visit_attrs!(self, v; "auto_broadcast" => auto_broadcast)
    }
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        check_input_count(inputs, 3, 3)?;
        check_type(
            inputs[0].element_type,
            |t| t == ElementType::Boolean,
            "boolean",
            "condition",
        )?;
        let et = super::util::merge_types(
            inputs[1].element_type,
            inputs[2].element_type,
            "then and else",
        )?;
        let shape = match self.auto_broadcast {
            AutoBroadcast::Pdpd => {
                let values =
                    broadcast_all(AutoBroadcast::Pdpd, &[&inputs[1].shape, &inputs[2].shape])?;
                broadcast_all(AutoBroadcast::Pdpd, &[&values, &inputs[0].shape])?
            }
            mode => broadcast_all(
                mode,
                &[&inputs[0].shape, &inputs[1].shape, &inputs[2].shape],
            )?,
        };
        Ok(vec![TensorDesc::new(et, shape)])
    }
    fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        check_input_count(inputs, 3, 3)?;
        let descs: Vec<TensorDesc> = inputs.iter().map(|t| TensorDesc::of_tensor(t)).collect();
        let et = self.infer(&descs)?.remove(0).element_type;
        let out = broadcast_static(
            AutoBroadcast::Numpy,
            &[inputs[0].shape(), inputs[1].shape(), inputs[2].shape()],
        )?;
        let [oc, ot, oe] = [0, 1, 2].map(|i| broadcast_offsets(inputs[i].shape(), &out));
        let cond = inputs[0].typed::<u8>()?;
        let mut result = Tensor::zeros(et, &out);
        crate::dispatch_scalar!(et, T => {
            let (t, e) = (inputs[1].typed::<T>()?, inputs[2].typed::<T>()?);
            for (i, r) in result.typed_mut::<T>()?.iter_mut().enumerate() {
                *r = if cond[oc[i]] != 0 { t[ot[i]] } else { e[oe[i]] };
            }
        }, _ => crate::bail!(Unsupported, "Select of {et} values"));
        Ok(vec![result])
    }
}

/// Returns its input unchanged.
#[derive(Debug, Clone)]
pub struct Identity;

/// The shared body of ops whose output is their single input: type and shape pass through.
fn pass_through(inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
    check_input_count(inputs, 1, 1)?;
    Ok(vec![TensorDesc::new(
        inputs[0].element_type,
        inputs[0].shape.clone(),
    )])
}

impl Op for Identity {
    fn type_info(&self) -> TypeInfo {
        TypeInfo::new("Identity", "opset16")
    }
    fn visit_attributes(&mut self, _v: &mut dyn AttributeVisitor) -> Result<()> {
        Ok(())
    }
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        let mut out = pass_through(inputs)?;
        out[0].value = inputs[0].value.clone();
        Ok(out)
    }
    fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        check_input_count(inputs, 1, 1)?;
        Ok(vec![inputs[0].clone()])
    }
}

crate::attr_enum!(
    /// Which framework's order RandomUniform's Philox output follows.
    PhiloxAlignment {
        /// TensorFlow's order (the default).
        Tensorflow => "tensorflow",
        /// PyTorch's order.
        Pytorch => "pytorch",
    }
);

/// Uniform random numbers in [min, max) from OpenVINO's Philox generator.
#[derive(Debug, Clone)]
pub struct RandomUniform {
    /// Output element type.
    pub output_type: ElementType,
    /// Per-op seed.
    pub op_seed: i64,
    /// Graph-level seed.
    pub global_seed: i64,
    /// Output order convention.
    pub alignment: PhiloxAlignment,
}

impl Default for RandomUniform {
    fn default() -> Self {
        RandomUniform {
            output_type: ElementType::F32,
            op_seed: 0,
            global_seed: 0,
            alignment: PhiloxAlignment::Tensorflow,
        }
    }
}

fn is_random_type(t: ElementType) -> bool {
    use ElementType::*;
    matches!(t, F16 | BF16 | F32 | F64 | I32 | I64)
}

impl Op for RandomUniform {
    fn type_info(&self) -> TypeInfo {
        TypeInfo::new("RandomUniform", "opset8")
    }
    fn visit_attributes(&mut self, v: &mut dyn AttributeVisitor) -> Result<()> {
        crate::visit_attrs!(self, v; "output_type" => output_type, "op_seed" => op_seed,
            "global_seed" => global_seed, "alignment" => alignment)
    }
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        check_input_count(inputs, 3, 3)?;
        check_type(
            self.output_type,
            is_random_type,
            "f16, bf16, f32, f64, i32 or i64",
            "output_type",
        )?;
        let int = |t| matches!(t, ElementType::I32 | ElementType::I64);
        check_type(inputs[0].element_type, int, "i32 or i64", "shape")?;
        for (i, what) in [(1, "min"), (2, "max")] {
            let d = &inputs[i];
            crate::ensure!(
                d.element_type.compatible(self.output_type),
                Shape,
                "{what} has element type {}, expected output_type {}",
                d.element_type,
                self.output_type
            );
            let ok = d
                .shape
                .to_static()
                .is_none_or(|s| s.iter().product::<usize>() == 1 && s.len() <= 1);
            crate::ensure!(
                ok,
                Shape,
                "{what} must be a scalar or hold one value, has shape {}",
                d.shape
            );
        }
        let shape = match (known_i64s(&inputs[0]), inputs[0].shape.to_static()) {
            (Some(dims), _) => PartialShape::new(
                dims.into_iter()
                    .map(crate::ir::Dimension::from_i64)
                    .collect::<Result<Vec<_>>>()?,
            ),
            (None, Some(s)) if s.len() == 1 => PartialShape::dynamic_of_rank(s[0]),
            _ => PartialShape::dynamic_rank(),
        };
        Ok(vec![TensorDesc::new(self.output_type, shape)])
    }
    fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        let descs: Vec<TensorDesc> = inputs.iter().map(|t| TensorDesc::of_tensor(t)).collect();
        let shape = self
            .infer(&descs)?
            .remove(0)
            .shape
            .expect_static("RandomUniform output")?;
        let (lo, hi) = (inputs[1].get_f64(0), inputs[2].get_f64(0));
        if lo.partial_cmp(&hi) != Some(std::cmp::Ordering::Less) {
            crate::bail!(InvalidArgument, "min ({lo}) must be less than max ({hi})");
        }
        let seeds = (self.global_seed as u64, self.op_seed as u64);
        let pytorch = self.alignment == PhiloxAlignment::Pytorch;
        Ok(vec![philox::random_uniform(
            self.output_type,
            &shape,
            inputs[1],
            inputs[2],
            seeds,
            pytorch,
        )?])
    }
    fn is_foldable(&self) -> bool {
        false
    }
}

/// Reads a variable of the model's state. Evaluated as its initial value: the init input when given, else
/// zeros of `variable_shape` (state across inferences belongs to the runtime).
#[derive(Debug, Clone)]
pub struct ReadValue {
    v6: bool,
    /// The variable's name.
    pub variable_id: String,
    /// The variable's element type (v6).
    pub variable_type: ElementType,
    /// The variable's shape (v6).
    pub variable_shape: PartialShape,
}

impl ReadValue {
    /// ReadValue-6 when `v6`, else ReadValue-3.
    pub fn new(v6: bool) -> ReadValue {
        ReadValue {
            v6,
            variable_id: String::new(),
            variable_type: ElementType::Dynamic,
            variable_shape: PartialShape::dynamic_rank(),
        }
    }
}

impl Op for ReadValue {
    fn type_info(&self) -> TypeInfo {
        TypeInfo::new("ReadValue", if self.v6 { "opset6" } else { "opset3" })
    }
    fn visit_attributes(&mut self, v: &mut dyn AttributeVisitor) -> Result<()> {
        v.on("variable_id", &mut self.variable_id)?;
        if self.v6 {
            v.on("variable_type", &mut self.variable_type)?;
            v.on("variable_shape", &mut self.variable_shape)?;
        }
        Ok(())
    }
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        if !self.v6 {
            return pass_through(inputs);
        }
        check_input_count(inputs, 0, 1)?;
        let Some(init) = inputs.first() else {
            return Ok(vec![TensorDesc::new(
                self.variable_type,
                self.variable_shape.clone(),
            )]);
        };
        let et = init.element_type.merge(self.variable_type).ok_or_else(|| {
            Error::Shape(format!(
                "variable '{}' has type {}, its initializer {}",
                self.variable_id, self.variable_type, init.element_type
            ))
        })?;
        crate::ensure!(
            init.shape.compatible(&self.variable_shape),
            Shape,
            "variable '{}' has shape {}, its initializer {}",
            self.variable_id,
            self.variable_shape,
            init.shape
        );
        let shape = if self.variable_shape.rank().is_some() {
            self.variable_shape.clone()
        } else {
            init.shape.clone()
        };
        Ok(vec![TensorDesc::new(et, shape)])
    }
    fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        check_input_count(inputs, if self.v6 { 0 } else { 1 }, 1)?;
        if let Some(init) = inputs.first() {
            return Ok(vec![(*init).clone()]);
        }
        crate::ensure!(
            self.variable_type.is_static(),
            InvalidArgument,
            "variable '{}' has no initializer and a dynamic type",
            self.variable_id
        );
        let shape = self.variable_shape.expect_static(&format!(
            "variable '{}' without initializer",
            self.variable_id
        ))?;
        Ok(vec![Tensor::zeros(self.variable_type, &shape)])
    }
    fn is_foldable(&self) -> bool {
        false
    }
}

/// Writes its input to a variable of the model's state; its one output is its input.
#[derive(Debug, Clone)]
pub struct Assign {
    v6: bool,
    /// The variable's name.
    pub variable_id: String,
}

impl Assign {
    /// Assign-6 when `v6`, else Assign-3, writing variable `variable_id`.
    pub fn new(v6: bool, variable_id: &str) -> Assign {
        Assign {
            v6,
            variable_id: variable_id.to_string(),
        }
    }
}

impl Op for Assign {
    fn type_info(&self) -> TypeInfo {
        TypeInfo::new("Assign", if self.v6 { "opset6" } else { "opset3" })
    }
    fn visit_attributes(&mut self, v: &mut dyn AttributeVisitor) -> Result<()> {
        crate::visit_attrs!(self, v; "variable_id" => variable_id)
    }
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        pass_through(inputs)
    }
    fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        check_input_count(inputs, 1, 1)?;
        Ok(vec![inputs[0].clone()])
    }
    fn is_foldable(&self) -> bool {
        false
    }
}

/// OpenVINO's RandomUniform generator with TensorFlow alignment: Philox-4x32-10 keyed by the global seed, with a
/// counter starting at (0, 0, op_seed), and the fraction-bits conversion of each 32-bit word.
mod philox {
    use crate::error::Result;
    use crate::ir::{ElementType, Scalar, Tensor};
    use half::{bf16, f16};

    const MUL_A: u32 = 0xD251_1F53;
    const MUL_B: u32 = 0xCD9E_8D57;
    const KEY_A: u32 = 0x9E37_79B9;
    const KEY_B: u32 = 0xBB67_AE85;

    /// A Philox-4x32 counter and key.
    struct Philox {
        key: [u32; 2],
        counter: [u32; 4],
    }

    impl Philox {
        fn new(global_seed: u64, op_seed: u64) -> Philox {
            let (k, c) = (global_seed, op_seed);
            Philox {
                key: [k as u32, (k >> 32) as u32],
                counter: [0, 0, c as u32, (c >> 32) as u32],
            }
        }

        /// Ten rounds on a copy of the state, then the counter advances by one.
        fn next(&mut self) -> [u32; 4] {
            let (mut key, mut c) = (self.key, self.counter);
            for round in 0..10 {
                if round > 0 {
                    key = [key[0].wrapping_add(KEY_A), key[1].wrapping_add(KEY_B)];
                }
                let p0 = MUL_A as u64 * c[0] as u64;
                let p1 = MUL_B as u64 * c[2] as u64;
                c = [
                    (p1 >> 32) as u32 ^ c[1] ^ key[0],
                    p1 as u32,
                    (p0 >> 32) as u32 ^ c[3] ^ key[1],
                    p0 as u32,
                ];
            }
            for w in self.counter.iter_mut() {
                *w = w.wrapping_add(1);
                if *w != 0 {
                    break;
                }
            }
            c
        }
    }

    /// Values in [min, max) from the words, per element type (64-bit types use two words per value).
    fn convert(et: ElementType, w: &[u32], lo: &Tensor, hi: &Tensor) -> Result<Vec<f64>> {
        let (mn, mx) = (lo.get_f64(0), hi.get_f64(0));
        Ok(match et {
            ElementType::F32 => {
                let (mn, mx) = (mn as f32, mx as f32);
                w.iter()
                    .map(|&x| {
                        ((f32::from_bits(0x3F80_0000 | (x & 0x7F_FFFF)) - 1.0) * (mx - mn) + mn)
                            as f64
                    })
                    .collect()
            }
            ElementType::F16 => {
                let (mn, mx) = (f16::from_f64(mn), f16::from_f64(mx));
                let one = f16::from_f32(1.0);
                w.iter()
                    .map(|&x| {
                        ((f16::from_bits(0x3C00 | (x as u16 & 0x3FF)) - one) * (mx - mn) + mn)
                            .to_f64()
                    })
                    .collect()
            }
            ElementType::BF16 => {
                let (mn, mx) = (bf16::from_f64(mn), bf16::from_f64(mx));
                let one = bf16::from_f32(1.0);
                w.iter()
                    .map(|&x| {
                        ((bf16::from_bits(0x3F80 | (x as u16 & 0x7F)) - one) * (mx - mn) + mn)
                            .to_f64()
                    })
                    .collect()
            }
            ElementType::F64 => w
                .chunks_exact(2)
                .map(|p| {
                    let bits = (0x3FFu64 << 52) | ((p[0] as u64 & 0xF_FFFF) << 32) | p[1] as u64;
                    (f64::from_bits(bits) - 1.0) * (mx - mn) + mn
                })
                .collect(),
            ElementType::I32 => {
                let (mn, mx) = (i32::from_f64(mn), i32::from_f64(mx));
                let range = mx.wrapping_sub(mn) as u32;
                w.iter()
                    .map(|&x| (x % range.max(1)) as i32)
                    .map(|v| v.wrapping_add(mn) as f64)
                    .collect()
            }
            ElementType::I64 => {
                let (mn, mx) = (lo.to_i64_vec()[0], hi.to_i64_vec()[0]);
                let range = mx.wrapping_sub(mn) as u64;
                w.chunks_exact(2)
                    .map(|p| ((((p[1] as u64) << 32) | p[0] as u64) % range.max(1)) as i64)
                    .map(|v| v.wrapping_add(mn) as f64)
                    .collect()
            }
            other => crate::bail!(Unsupported, "RandomUniform of {other} values"),
        })
    }

    /// Generates a tensor of `shape` uniformly in [lo, hi).
    pub fn random_uniform(
        et: ElementType,
        shape: &[usize],
        lo: &Tensor,
        hi: &Tensor,
        (global_seed, op_seed): (u64, u64),
        pytorch: bool,
    ) -> Result<Tensor> {
        crate::ensure!(
            !pytorch,
            Unsupported,
            "RandomUniform with alignment 'pytorch' is not supported yet"
        );
        let n: usize = shape.iter().product();
        let mut philox = Philox::new(global_seed, op_seed);
        let mut values = Vec::with_capacity(n + 4);
        while values.len() < n {
            values.extend(convert(et, &philox.next(), lo, hi)?);
        }
        values.truncate(n);
        if et == ElementType::I64 {
            let ints: Vec<i64> = values.iter().map(|&v| v as i64).collect();
            return Tensor::from_i64s(et, shape, &ints);
        }
        Tensor::from_f64s(et, shape, &values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random(et: ElementType, lo: f64, hi: f64) -> Vec<f64> {
        let op = RandomUniform {
            output_type: et,
            global_seed: 150,
            op_seed: 10,
            ..RandomUniform::default()
        };
        let shape = Tensor::from_vec(&[2], vec![2i64, 3]).unwrap();
        let lo = Tensor::from_f64s(et, &[], &[lo]).unwrap();
        let hi = Tensor::from_f64s(et, &[1], &[hi]).unwrap();
        let out = op.evaluate(&[&shape, &lo, &hi]).unwrap().remove(0);
        assert_eq!((out.shape(), out.element_type()), (&[2usize, 3][..], et));
        out.to_f64_vec()
    }

    /// Expected numbers: OpenVINO 2026.4's reference evaluation with global_seed 150, op_seed 10.
    #[test]
    fn random_uniform_matches_openvino() {
        let close = |got: Vec<f64>, want: &[f64], tol: f64| {
            for (g, w) in got.iter().zip(want) {
                assert!((g - w).abs() <= tol, "got {got:?}, OpenVINO gives {want:?}");
            }
        };
        let f32_want = [
            0.7011235952377319,
            0.30539631843566895,
            0.9393105506896973,
            0.9456034898757935,
            0.11694777011871338,
            0.5077005624771118,
        ];
        close(random(ElementType::F32, 0.0, 1.0), &f32_want, 1e-7);
        let f16_want = [
            0.6044921875,
            0.806640625,
            0.83203125,
            0.3837890625,
            0.0361328125,
            0.0830078125,
        ];
        close(random(ElementType::F16, 0.0, 1.0), &f16_want, 0.0);
        let f64_want = [
            0.608989218818762,
            0.5144852007657355,
            0.9355828939149167,
            0.15775793460621435,
            0.9309922128081143,
            0.6153855781977038,
        ];
        close(random(ElementType::F64, 0.0, 1.0), &f64_want, 1e-15);
        close(
            random(ElementType::I32, -5.0, 10.0),
            &[5., 5., -4., -5., 2., 0.],
            0.0,
        );
        close(
            random(ElementType::I64, 0.0, 100.0),
            &[95., 96., 17., 65., 76., 98.],
            0.0,
        );
    }

    #[test]
    fn random_uniform_shape_and_errors() {
        let op = RandomUniform::default();
        let shape = TensorDesc::new(ElementType::I64, PartialShape::from_static(&[3]));
        let scalar = TensorDesc::new(ElementType::F32, PartialShape::from_static(&[]));
        let out = op
            .infer(&[shape.clone(), scalar.clone(), scalar.clone()])
            .unwrap()
            .remove(0);
        assert_eq!(out.shape.to_string(), "[?,?,?]");
        let known = TensorDesc::of_tensor(&Tensor::from_vec(&[2], vec![4i64, 5]).unwrap());
        assert_eq!(
            op.infer(&[known, scalar.clone(), scalar.clone()]).unwrap()[0]
                .shape
                .to_string(),
            "[4,5]"
        );
        let wrong = TensorDesc::new(ElementType::I32, PartialShape::from_static(&[]));
        assert!(op.infer(&[shape.clone(), wrong, scalar.clone()]).is_err());
        let two = TensorDesc::new(ElementType::F32, PartialShape::from_static(&[2]));
        assert!(op.infer(&[shape, two, scalar]).is_err());
        assert!(!op.is_foldable());
    }

    #[test]
    fn select_broadcasts_and_picks() {
        let op = Select {
            auto_broadcast: AutoBroadcast::Numpy,
        };
        let cond = Tensor::from_f64s(ElementType::Boolean, &[2, 1], &[1.0, 0.0]).unwrap();
        let then = Tensor::from_vec(&[3], vec![1i64, 2, 3]).unwrap();
        let other = Tensor::from_vec(&[2, 3], vec![10i64, 20, 30, 40, 50, 60]).unwrap();
        let out = op.evaluate(&[&cond, &then, &other]).unwrap().remove(0);
        assert_eq!(out.shape(), &[2, 3]);
        assert_eq!(out.to_i64_vec(), vec![1, 2, 3, 40, 50, 60]);
        // Boolean values stay boolean.
        let b = Tensor::from_f64s(ElementType::Boolean, &[2], &[1.0, 0.0]).unwrap();
        let c = Tensor::from_f64s(ElementType::Boolean, &[2], &[1.0, 1.0]).unwrap();
        let out = op.evaluate(&[&b, &b, &c]).unwrap().remove(0);
        assert_eq!(
            (out.element_type(), out.to_f64_vec()),
            (ElementType::Boolean, vec![1.0, 1.0])
        );
    }

    #[test]
    fn select_shape_inference() {
        let d = |t: ElementType, s: &str| TensorDesc::new(t, PartialShape::parse_ir(s).unwrap());
        let (b, f) = (ElementType::Boolean, ElementType::F32);
        let numpy = Select {
            auto_broadcast: AutoBroadcast::Numpy,
        };
        let out = numpy
            .infer(&[d(b, "?,1"), d(f, "4"), d(f, "3,1")])
            .unwrap()
            .remove(0);
        assert_eq!(out.shape.to_string(), "[3,4]");
        assert!(
            numpy.infer(&[d(f, "1"), d(f, "1"), d(f, "1")]).is_err(),
            "condition must be boolean"
        );
        assert!(
            numpy
                .infer(&[d(b, "1"), d(f, "1"), d(ElementType::I32, "1")])
                .is_err(),
            "types must agree"
        );
        let none = Select {
            auto_broadcast: AutoBroadcast::NoBroadcast,
        };
        assert!(none.infer(&[d(b, "2"), d(f, "3"), d(f, "3")]).is_err());
        assert_eq!(
            none.infer(&[d(b, "?"), d(f, "3"), d(f, "3")]).unwrap()[0]
                .shape
                .to_string(),
            "[3]"
        );
        let pdpd = Select {
            auto_broadcast: AutoBroadcast::Pdpd,
        };
        assert_eq!(
            pdpd.infer(&[d(b, "3"), d(f, "2,3"), d(f, "1,3")]).unwrap()[0]
                .shape
                .to_string(),
            "[2,3]"
        );
        assert!(pdpd.infer(&[d(b, "3"), d(f, "1,3"), d(f, "2,3")]).is_err());
        assert_eq!(
            numpy.infer(&[d(b, "..."), d(f, "2"), d(f, "2")]).unwrap()[0]
                .shape
                .to_string(),
            "[...]"
        );
    }

    #[test]
    fn identity_read_value_assign() {
        let x = Tensor::from_vec(&[2], vec![1.5f32, -2.0]).unwrap();
        assert_eq!(
            Identity.evaluate(&[&x]).unwrap()[0].to_f64_vec(),
            vec![1.5, -2.0]
        );
        let known = TensorDesc::of_tensor(&x);
        assert!(
            Identity.infer(std::slice::from_ref(&known)).unwrap()[0]
                .value
                .is_some()
        );
        let assign = Assign {
            v6: true,
            variable_id: "v".into(),
        };
        assert_eq!(
            assign.evaluate(&[&x]).unwrap()[0].to_f64_vec(),
            vec![1.5, -2.0]
        );
        assert!(!assign.is_foldable());
        let mut rv = ReadValue::new(true);
        rv.variable_id = "v".into();
        rv.variable_type = ElementType::F32;
        rv.variable_shape = PartialShape::parse_ir("?,3").unwrap();
        let out = rv.infer(&[]).unwrap().remove(0);
        assert_eq!(
            (out.element_type, out.shape.to_string()),
            (ElementType::F32, "[?,3]".to_string())
        );
        assert!(
            rv.evaluate(&[]).is_err(),
            "no initializer and a dynamic shape"
        );
        let init = TensorDesc::new(ElementType::F32, PartialShape::from_static(&[2, 4]));
        assert!(
            rv.infer(&[init]).is_err(),
            "initializer shape must fit the variable"
        );
        rv.variable_shape = PartialShape::from_static(&[1, 3]);
        assert_eq!(rv.evaluate(&[]).unwrap()[0].to_f64_vec(), vec![0.0; 3]);
        assert_eq!(rv.evaluate(&[&x]).unwrap()[0].to_f64_vec(), vec![1.5, -2.0]);
        assert!(!rv.is_foldable());
        let rv3 = ReadValue::new(false);
        assert!(rv3.evaluate(&[]).is_err(), "ReadValue-3 needs its input");
        assert_eq!(rv3.type_info().version, "opset3");
    }
}
