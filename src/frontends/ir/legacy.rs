//! IR v10 compatibility, as OpenVINO's reader applies it (`update_v10_model`): f16 inputs are presented as f32,
//! outputs become f32 (or i32 for 32/64-bit integers), and Parameter friendly names and Result producer names
//! become tensor names.

use crate::error::Result;
use crate::ir::{ElementType, Node, Output};
use crate::ops::Op;
use crate::ops::structure::{Convert, Parameter};

/// Turns an f16 Parameter op into an f32 one; returns whether it did.
pub(crate) fn widen_f16_parameter(op: &mut Box<dyn Op>) -> bool {
    let Some(p) = op.as_any().downcast_ref::<Parameter>() else {
        return false;
    };
    if p.element_type != ElementType::F16 {
        return false;
    }
    *op = Box::new(Parameter::new(ElementType::F32, p.shape.clone()));
    true
}

/// The Convert back to f16 that the consumers of a widened Parameter read from.
pub(crate) fn narrow_to_f16(param: &Node) -> Result<Output> {
    let convert = Node::new(
        Box::new(Convert {
            destination_type: ElementType::F16,
        }),
        vec![param.output(0)],
    )?;
    Ok(convert.output(0))
}

/// The type a v10 model output is presented as.
fn legacy_output_type(t: ElementType) -> ElementType {
    match t {
        ElementType::I64 | ElementType::U64 | ElementType::I32 | ElementType::U32 => {
            ElementType::I32
        }
        _ => ElementType::F32,
    }
}

/// Adds the legacy names and converts the outputs of a v10 model.
pub(crate) fn update_v10(parameters: &[Node], results: &[Node]) -> Result<()> {
    for p in parameters {
        p.output(0).add_names([p.friendly_name()])?;
    }
    for r in results {
        convert_output(r)?;
    }
    Ok(())
}

/// Names the tensor a Result reads after its producer (`name`, or `name.port` for multi-output producers) and,
/// when its type is not the legacy one, inserts a Convert that takes over the producer's name and tensor names.
fn convert_output(result: &Node) -> Result<()> {
    let src = result.input(0)?;
    let producer = &src.node;
    let mut legacy_name = producer.friendly_name();
    if producer.output_count() != 1 {
        legacy_name = format!("{legacy_name}.{}", src.index);
    }
    let from = src.element_type();
    let to = legacy_output_type(from);
    if from == to || !from.is_static() {
        return src.add_names([legacy_name]);
    }
    let name = producer.friendly_name();
    let convert = Node::with_name(
        Box::new(Convert {
            destination_type: to,
        }),
        vec![src.clone()],
        &name,
    )?;
    let mut names = producer.update_port(src.index, |p| std::mem::take(&mut p.names))?;
    names.insert(legacy_name);
    convert.output(0).set_names(names)?;
    producer.set_friendly_name(&format!("{}_{}", producer.type_name(), producer.id()));
    result.set_input(0, convert.output(0))?;
    result.validate()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_output_types() {
        assert_eq!(legacy_output_type(ElementType::I64), ElementType::I32);
        assert_eq!(legacy_output_type(ElementType::U32), ElementType::I32);
        assert_eq!(legacy_output_type(ElementType::U8), ElementType::F32);
        assert_eq!(legacy_output_type(ElementType::Boolean), ElementType::F32);
        assert_eq!(legacy_output_type(ElementType::F16), ElementType::F32);
    }
}
