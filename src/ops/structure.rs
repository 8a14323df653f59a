//! Structural ops: Parameter, Constant, Result, Convert, ConvertLike, ShapeOf.

use super::registry::Registry;
use super::util::check_input_count;
use super::{Op, TensorDesc, TypeInfo};
use crate::error::{Error, Result};
use crate::ir::{AttributeVisitor, ElementType, Node, PartialShape, Scalar, Tensor};

/// Registers the structural ops.
pub fn register(r: &mut Registry) {
    r.add("Parameter", 1, || Box::new(Parameter::default()));
    r.add("Constant", 1, || Box::new(Constant::default()));
    r.add("Result", 1, || Box::new(ResultOp));
    r.add("Convert", 1, || {
        Box::new(Convert {
            destination_type: ElementType::F32,
        })
    });
    r.add("ConvertLike", 1, || Box::new(ConvertLike));
    r.add("ShapeOf", 1, || {
        Box::new(ShapeOf {
            v3: false,
            output_type: ElementType::I64,
        })
    });
    r.add("ShapeOf", 3, || {
        Box::new(ShapeOf {
            v3: true,
            output_type: ElementType::I64,
        })
    });
}

/// A model input.
#[derive(Debug, Clone, Default)]
pub struct Parameter {
    /// Element type of the input.
    pub element_type: ElementType,
    /// Shape of the input.
    pub shape: PartialShape,
    /// The value an infer request uses until this input is set (an ONNX initializer that is also a graph input).
    /// Not an attribute: IR has no way to write it.
    pub default: Option<Tensor>,
}

impl Parameter {
    /// A Parameter of the given element type and shape, without a default value.
    pub fn new(element_type: ElementType, shape: PartialShape) -> Parameter {
        Parameter {
            element_type,
            shape,
            default: None,
        }
    }
}

impl Op for Parameter {
    fn type_info(&self) -> TypeInfo {
        TypeInfo::new("Parameter", "opset1")
    }
    fn visit_attributes(&mut self, v: &mut dyn AttributeVisitor) -> Result<()> {
        crate::visit_attrs!(self, v; "shape" => shape, "element_type" => element_type)
    }
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        check_input_count(inputs, 0, 0)?;
        Ok(vec![TensorDesc::new(self.element_type, self.shape.clone())])
    }
    fn evaluate(&self, _inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        Err(Error::Internal(
            "a Parameter has no value to evaluate".into(),
        ))
    }
    fn is_foldable(&self) -> bool {
        false
    }
}

/// The default value of a Parameter node, if it has one.
pub fn parameter_default(node: &Node) -> Option<Tensor> {
    node.op()
        .as_any()
        .downcast_ref::<Parameter>()
        .and_then(|p| p.default.clone())
}

/// Changes the shape of a Parameter node (used by `Model::reshape`).
pub fn set_parameter_shape(node: &Node, shape: PartialShape) -> Result<()> {
    {
        let mut op = node.op_mut();
        let current = op
            .as_any()
            .downcast_ref::<Parameter>()
            .cloned()
            .ok_or_else(|| {
                Error::InvalidArgument(format!("{} is not a Parameter", node.describe()))
            })?;
        *op = Box::new(Parameter { shape, ..current });
    }
    node.validate()
}

/// A constant tensor.
#[derive(Debug, Clone)]
pub struct Constant {
    /// The value.
    pub value: Tensor,
}

impl Default for Constant {
    fn default() -> Self {
        Constant {
            value: Tensor::zeros(ElementType::F32, &[]),
        }
    }
}

impl Constant {
    /// A Constant holding `value`.
    pub fn new(value: Tensor) -> Constant {
        Constant { value }
    }
}

/// The `element_type` and `shape` of a Constant, visited as attributes (the IR reader fills the bytes).
struct ConstantHeader {
    element_type: ElementType,
    shape: PartialShape,
}

impl Op for Constant {
    fn type_info(&self) -> TypeInfo {
        TypeInfo::new("Constant", "opset1")
    }
    fn visit_attributes(&mut self, v: &mut dyn AttributeVisitor) -> Result<()> {
        let mut h = ConstantHeader {
            element_type: self.value.element_type(),
            shape: PartialShape::from_static(self.value.shape()),
        };
        v.on("element_type", &mut h.element_type)?;
        v.on("shape", &mut h.shape)?;
        let shape = h.shape.expect_static("Constant shape")?;
        if h.element_type != self.value.element_type() || shape != self.value.shape() {
            self.value = Tensor::zeros(h.element_type, &shape);
        }
        Ok(())
    }
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        check_input_count(inputs, 0, 0)?;
        Ok(vec![TensorDesc::of_tensor(&self.value)])
    }
    fn evaluate(&self, _inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        Ok(vec![self.value.clone()])
    }
}

/// A model output.
#[derive(Debug, Clone)]
pub struct ResultOp;

impl Op for ResultOp {
    fn type_info(&self) -> TypeInfo {
        TypeInfo::new("Result", "opset1")
    }
    fn visit_attributes(&mut self, _v: &mut dyn AttributeVisitor) -> Result<()> {
        Ok(())
    }
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        check_input_count(inputs, 1, 1)?;
        Ok(vec![TensorDesc::new(
            inputs[0].element_type,
            inputs[0].shape.clone(),
        )])
    }
    fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        check_input_count(inputs, 1, 1)?;
        Ok(vec![inputs[0].clone()])
    }
    fn is_foldable(&self) -> bool {
        false
    }
}

/// Element-type conversion.
#[derive(Debug, Clone)]
pub struct Convert {
    /// Target type.
    pub destination_type: ElementType,
}

/// Converts a tensor to `to`: floats to integers truncate toward zero and wrap, anything to boolean is `!= 0`.
pub fn convert_tensor(x: &Tensor, to: ElementType) -> Result<Tensor> {
    let from = x.element_type();
    if from == to {
        return Ok(x.clone());
    }
    if !to.is_static() {
        return Err(Error::InvalidArgument(
            "cannot convert to a dynamic element type".into(),
        ));
    }
    if to.is_real() || to == ElementType::Boolean || to.is_sub_byte() {
        return Tensor::from_f64s(to, x.shape(), &x.to_f64_vec());
    }
    // Integer destination: through i64 (floats truncate toward zero), so narrowing wraps as OpenVINO's CPU plugin does.
    Tensor::from_i64s(to, x.shape(), &x.to_i64_vec())
}

impl Op for Convert {
    fn type_info(&self) -> TypeInfo {
        TypeInfo::new("Convert", "opset1")
    }
    fn visit_attributes(&mut self, v: &mut dyn AttributeVisitor) -> Result<()> {
        crate::visit_attrs!(self, v; "destination_type" => destination_type)
    }
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        check_input_count(inputs, 1, 1)?;
        Ok(vec![TensorDesc::new(
            self.destination_type,
            inputs[0].shape.clone(),
        )])
    }
    fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        check_input_count(inputs, 1, 1)?;
        Ok(vec![convert_tensor(inputs[0], self.destination_type)?])
    }
}

/// Converts the first input to the element type of the second.
#[derive(Debug, Clone)]
pub struct ConvertLike;

impl Op for ConvertLike {
    fn type_info(&self) -> TypeInfo {
        TypeInfo::new("ConvertLike", "opset1")
    }
    fn visit_attributes(&mut self, _v: &mut dyn AttributeVisitor) -> Result<()> {
        Ok(())
    }
    /// The result is known whenever the data is: only the element type of the second input matters, so a
    /// constant converted like a run-time value folds.
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        check_input_count(inputs, 2, 2)?;
        let to = inputs[1].element_type;
        let mut d = TensorDesc::new(to, inputs[0].shape.clone());
        if let (Some(v), true) = (&inputs[0].value, to.is_static()) {
            d.value = Some(convert_tensor(v, to)?);
        }
        Ok(vec![d])
    }
    fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        check_input_count(inputs, 2, 2)?;
        Ok(vec![convert_tensor(inputs[0], inputs[1].element_type())?])
    }
}

/// The shape of its input as a 1-D integer tensor.
#[derive(Debug, Clone)]
pub struct ShapeOf {
    v3: bool,
    /// i64 or i32 (v3 only).
    pub output_type: ElementType,
}

impl Op for ShapeOf {
    fn type_info(&self) -> TypeInfo {
        TypeInfo::new("ShapeOf", if self.v3 { "opset3" } else { "opset1" })
    }
    fn visit_attributes(&mut self, v: &mut dyn AttributeVisitor) -> Result<()> {
        if self.v3 {
            v.on("output_type", &mut self.output_type)?;
        }
        Ok(())
    }
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        check_input_count(inputs, 1, 1)?;
        if !matches!(self.output_type, ElementType::I32 | ElementType::I64) {
            return Err(Error::Shape(format!(
                "output_type must be i32 or i64, got {}",
                self.output_type
            )));
        }
        let rank = inputs[0].shape.rank();
        let shape = match rank {
            Some(r) => PartialShape::from_static(&[r]),
            None => PartialShape::dynamic_of_rank(1),
        };
        let mut d = TensorDesc::new(self.output_type, shape);
        if let Some(s) = inputs[0].shape.to_static() {
            d.value = Some(shape_tensor(&s, self.output_type)?);
        }
        Ok(vec![d])
    }
    fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        check_input_count(inputs, 1, 1)?;
        Ok(vec![shape_tensor(inputs[0].shape(), self.output_type)?])
    }
}

fn shape_tensor(shape: &[usize], t: ElementType) -> Result<Tensor> {
    let v: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
    if t == ElementType::I32 {
        Tensor::from_vec(&[v.len()], v.iter().map(|&x| i32::from_i64(x)).collect())
    } else {
        Tensor::from_vec(&[v.len()], v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn convert_like_of_a_known_value_is_known() {
        let data = TensorDesc::of_tensor(&Tensor::from_vec(&[2], vec![1i64, -2]).unwrap());
        let like = TensorDesc::new(ElementType::F32, PartialShape::from_static(&[3, 4]));
        let out = ConvertLike.infer(&[data, like.clone()]).unwrap().remove(0);
        assert_eq!(out.element_type, ElementType::F32);
        assert_eq!(out.value.unwrap().to_f64_vec(), vec![1.0, -2.0]);
        let unknown = TensorDesc::new(ElementType::I64, PartialShape::from_static(&[2]));
        assert!(
            ConvertLike.infer(&[unknown, like]).unwrap()[0]
                .value
                .is_none()
        );
    }

    #[test]
    fn convert_to_and_from_narrow_types_like_openvino() {
        // OpenVINO 2026.4.1 converts these f32 values to f8e4m3 codes 0x7F, 0x2A, 0xFF, 0x7E and to f4e2m1 7, 1,
        // F, 7 (f8e4m3 overflows to NaN; f4e2m1 saturates).
        let x = Tensor::from_vec(&[4], vec![1000.0f32, 0.3, -500.0, 460.0]).unwrap();
        let f8 = convert_tensor(&x, ElementType::F8E4M3).unwrap();
        assert_eq!(f8.bytes(), &[0x7F, 0x2A, 0xFF, 0x7E]);
        let back = convert_tensor(&f8, ElementType::F32).unwrap().to_f64_vec();
        assert!(back[0].is_nan() && back[2].is_nan());
        assert_eq!((back[1], back[3]), (0.3125, 448.0));
        let f4 = convert_tensor(&x, ElementType::F4E2M1).unwrap();
        assert_eq!(f4.bytes(), &[0x17, 0x7F]);
        assert_eq!(
            convert_tensor(&f4, ElementType::I8).unwrap().to_i64_vec(),
            vec![6, 0, -6, 6]
        );
        let u2 = convert_tensor(&x, ElementType::U2).unwrap();
        assert_eq!(u2.to_i64_vec(), vec![0, 0, 0, 0]);
    }

    #[test]
    fn convert_truncates_and_wraps_like_openvino() {
        // Expected values computed by OpenVINO 2026.4.1's CPU plugin.
        let x = Tensor::from_vec(&[5], vec![-3.7f32, -0.5, 0.5, 2.5, 300.6]).unwrap();
        assert_eq!(
            convert_tensor(&x, ElementType::U8).unwrap().to_i64_vec(),
            vec![253, 0, 0, 2, 44]
        );
        assert_eq!(
            convert_tensor(&x, ElementType::I8).unwrap().to_i64_vec(),
            vec![-3, 0, 0, 2, 44]
        );
        assert_eq!(
            convert_tensor(&x, ElementType::Boolean)
                .unwrap()
                .to_i64_vec(),
            vec![1; 5]
        );
        let big = Tensor::from_vec(&[1], vec![u64::MAX]).unwrap();
        assert_eq!(
            convert_tensor(&big, ElementType::I32).unwrap().to_i64_vec(),
            vec![-1]
        );
        let packed = Tensor::from_f64s(ElementType::I4, &[2], &[-8.0, 7.0]).unwrap();
        assert_eq!(
            convert_tensor(&packed, ElementType::F32)
                .unwrap()
                .to_f64_vec(),
            vec![-8.0, 7.0]
        );
    }
}
