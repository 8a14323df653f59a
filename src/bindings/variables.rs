//! The variables of stateful models as `ferrovino.op.util.Variable` objects: those a model declares, else those
//! its ReadValue and Assign nodes name, and the check that declared variables cover the used ones.

use super::element_type::{PyType, extract_element_type};
use super::partial_shape::{PyPartialShape, extract_partial_shape};
use crate::error::{Error, Result};
use crate::ir::{ElementType, Model, Node, VariableInfo};
use crate::ops::misc::{Assign, ReadValue};
use pyo3::prelude::*;

/// The Python module defining `Variable` and `VariableInfo`.
const UTIL_MODULE: &str = "ferrovino.op.util";

/// The variable a ReadValue or Assign node names (ReadValue-3 and Assign take type and shape from their input).
fn variable_of(node: &Node) -> Result<Option<VariableInfo>> {
    let op = node.op();
    let from_input = |id: &str| -> Result<VariableInfo> {
        let desc = node.input(0)?.desc()?;
        Ok(VariableInfo {
            id: id.to_string(),
            element_type: desc.element_type,
            shape: desc.shape,
        })
    };
    if let Some(r) = op.as_any().downcast_ref::<ReadValue>() {
        let undeclared =
            r.variable_type == ElementType::Dynamic && r.variable_shape.rank().is_none();
        if undeclared && node.input_count() > 0 {
            return from_input(&r.variable_id).map(Some);
        }
        return Ok(Some(VariableInfo {
            id: r.variable_id.clone(),
            element_type: r.variable_type,
            shape: r.variable_shape.clone(),
        }));
    }
    match op.as_any().downcast_ref::<Assign>() {
        Some(a) => from_input(&a.variable_id).map(Some),
        None => Ok(None),
    }
}

/// The variables the model's ReadValue and Assign nodes name, each once, in graph order.
pub fn used_variables(model: &Model) -> Result<Vec<VariableInfo>> {
    let mut found: Vec<VariableInfo> = Vec::new();
    for node in model.ordered_ops()? {
        if let Some(v) = variable_of(&node)?
            && !found.iter().any(|f| f.id == v.id)
        {
            found.push(v);
        }
    }
    Ok(found)
}

/// The model's variables: the declared ones when declared, else the used ones.
pub fn model_variables(model: &Model) -> Result<Vec<VariableInfo>> {
    match &model.variables {
        Some(declared) => Ok(declared.clone()),
        None => used_variables(model),
    }
}

/// Checks that `declared` names every variable the model uses (OpenVINO's rule for `Model(..., variables)`).
pub fn check_declared(model: &Model, declared: &[VariableInfo]) -> Result<()> {
    let missing: Vec<String> = used_variables(model)?
        .into_iter()
        .filter(|u| !declared.iter().any(|d| d.id == u.id))
        .map(|u| u.id)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(Error::InvalidArgument(format!(
        "Model references undeclared variables: {}",
        missing.join(", ")
    )))
}

/// A new `ferrovino.op.util.Variable`.
pub fn to_py<'py>(py: Python<'py>, v: &VariableInfo) -> PyResult<Bound<'py, PyAny>> {
    py.import(UTIL_MODULE)?.getattr("_variable")?.call1((
        v.id.as_str(),
        PyType(v.element_type),
        PyPartialShape(v.shape.clone()),
    ))
}

/// The id, type and shape of a `ferrovino.op.util.Variable`.
pub fn from_py(obj: &Bound<'_, PyAny>) -> PyResult<VariableInfo> {
    let info = obj.call_method0("get_info")?;
    Ok(VariableInfo {
        id: info.getattr("variable_id")?.extract()?,
        element_type: extract_element_type(&info.getattr("data_type")?)?,
        shape: extract_partial_shape(&info.getattr("data_shape")?)?,
    })
}

/// True when `obj` is a non-empty list or tuple of `Variable`s.
pub fn is_variable_list(obj: &Bound<'_, PyAny>) -> PyResult<bool> {
    let class = obj.py().import(UTIL_MODULE)?.getattr("Variable")?;
    let Ok(items) = obj.try_iter() else {
        return Ok(false);
    };
    let items: Vec<Bound<'_, PyAny>> = items.collect::<PyResult<_>>()?;
    Ok(!items.is_empty() && items.iter().all(|i| i.is_instance(&class).unwrap_or(false)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::PartialShape;
    use crate::ops::structure::{Parameter, ResultOp};

    /// x → ReadValue-3("v3") → Result, x → Assign-6("v6") as a sink.
    fn stateful() -> Model {
        let x = Node::new(
            Box::new(Parameter::new(
                ElementType::F32,
                PartialShape::from_static(&[2]),
            )),
            vec![],
        )
        .unwrap();
        let mut read = ReadValue::new(false);
        read.variable_id = "v3".into();
        let read = Node::new(Box::new(read), vec![x.output(0)]).unwrap();
        let result = Node::new(Box::new(ResultOp), vec![read.output(0)]).unwrap();
        let assign = Node::new(Box::new(Assign::new(true, "v6")), vec![x.output(0)]).unwrap();
        Model::new(vec![result], vec![assign], vec![x], "m").unwrap()
    }

    #[test]
    fn used_variables_take_undeclared_types_from_the_inputs() {
        let m = stateful();
        let used = used_variables(&m).unwrap();
        let ids: Vec<&str> = used.iter().map(|v| v.id.as_str()).collect();
        assert_eq!(ids.len(), 2);
        assert!(ids.contains(&"v3") && ids.contains(&"v6"));
        assert!(
            used.iter().all(|v| v.element_type == ElementType::F32
                && v.shape == PartialShape::from_static(&[2]))
        );
        assert_eq!(model_variables(&m).unwrap(), used);
    }

    #[test]
    fn declared_variables_must_cover_the_used_ones() {
        let mut m = stateful();
        let used = used_variables(&m).unwrap();
        assert!(check_declared(&m, &used).is_ok());
        let err = check_declared(&m, &used[..1]).unwrap_err().to_string();
        assert!(err.contains("undeclared variables"), "{err}");
        m.variables = Some(Vec::new());
        assert!(model_variables(&m).unwrap().is_empty());
    }
}
