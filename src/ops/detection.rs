//! Detection ops: NonMaxSuppression (versions 1, 3, 4, 5 and 9).

use super::registry::Registry;
use super::util::{check_input_count, scalar_f64};
use super::{Op, TensorDesc, TypeInfo};
use crate::attr_enum;
use crate::error::{Error, Result};
use crate::ir::shape::fmt_shape;
use crate::ir::{AttributeVisitor, Dimension, ElementType, PartialShape, Tensor};

/// Registers every NonMaxSuppression version.
pub fn register(r: &mut Registry) {
    for version in [1, 3, 4, 5, 9] {
        r.add("NonMaxSuppression", version, move || {
            Box::new(NonMaxSuppression::new(version))
        });
    }
}

attr_enum!(
    /// How a box is given: two corners `[y1, x1, y2, x2]` or a centre and size `[xc, yc, w, h]`.
    BoxEncoding {
        /// Diagonal corners.
        Corner => "corner",
        /// Centre, width and height.
        Center => "center",
    }
);

/// Greedy non-maximum suppression per batch and class.
///
/// Inputs: boxes `[B, N, 4]`, scores `[B, C, N]`, then optional scalars max_output_boxes_per_class (default 0),
/// iou_threshold (0), score_threshold (none) and, from v5, soft_nms_sigma (0). Outputs: selected_indices
/// `[M, 3]` (batch, class, box); from v5 also selected_scores `[M, 3]` and valid_outputs `[1]`. M is the number of
/// boxes actually selected.
#[derive(Debug, Clone)]
pub struct NonMaxSuppression {
    version: u32,
    /// Box format.
    pub box_encoding: BoxEncoding,
    /// Sort the selection by score across batches and classes (else batch, class, then score order).
    pub sort_result_descending: bool,
    /// i64 or i32 indices (v3 on).
    pub output_type: ElementType,
}

impl NonMaxSuppression {
    /// The op as opset `version` defines it, with default attributes.
    pub fn new(version: u32) -> NonMaxSuppression {
        NonMaxSuppression {
            version,
            box_encoding: BoxEncoding::Corner,
            sort_result_descending: true,
            output_type: ElementType::I64,
        }
    }

    fn max_inputs(&self) -> usize {
        if self.version >= 5 { 6 } else { 5 }
    }
}

/// One selected box.
#[derive(Debug, Clone, Copy)]
struct Selected {
    batch: usize,
    class: usize,
    box_index: usize,
    score: f64,
}

/// A box as `(y_min, x_min, y_max, x_max)`.
fn corners(b: &[f64], encoding: BoxEncoding) -> [f64; 4] {
    match encoding {
        BoxEncoding::Corner => [
            b[0].min(b[2]),
            b[1].min(b[3]),
            b[0].max(b[2]),
            b[1].max(b[3]),
        ],
        BoxEncoding::Center => {
            let (xc, yc, w, h) = (b[0], b[1], b[2], b[3]);
            [yc - h / 2.0, xc - w / 2.0, yc + h / 2.0, xc + w / 2.0]
        }
    }
}

/// Intersection over union of two boxes in corner form; 0 for empty boxes.
fn iou(a: &[f64; 4], b: &[f64; 4]) -> f64 {
    let area = |r: &[f64; 4]| (r[2] - r[0]) * (r[3] - r[1]);
    let (area_a, area_b) = (area(a), area(b));
    if area_a <= 0.0 || area_b <= 0.0 {
        return 0.0;
    }
    let h = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let w = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = h * w;
    inter / (area_a + area_b - inter)
}

/// The optional scalar input `i`, or `default` when absent or empty.
fn optional_scalar(inputs: &[&Tensor], i: usize, default: f64, what: &str) -> Result<f64> {
    match inputs.get(i) {
        Some(t) if !t.is_empty() => scalar_f64(t, what),
        _ => Ok(default),
    }
}

impl Op for NonMaxSuppression {
    fn type_info(&self) -> TypeInfo {
        let version = match self.version {
            1 => "opset1",
            3 => "opset3",
            4 => "opset4",
            5 => "opset5",
            _ => "opset9",
        };
        TypeInfo::new("NonMaxSuppression", version)
    }

    fn visit_attributes(&mut self, v: &mut dyn AttributeVisitor) -> Result<()> {
        v.on("box_encoding", &mut self.box_encoding)?;
        v.on("sort_result_descending", &mut self.sort_result_descending)?;
        if self.version >= 3 {
            v.on("output_type", &mut self.output_type)?;
        }
        Ok(())
    }

    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        check_input_count(inputs, 2, self.max_inputs())?;
        if !matches!(self.output_type, ElementType::I32 | ElementType::I64) {
            return Err(Error::Shape(format!(
                "output_type must be i32 or i64, got {}",
                self.output_type
            )));
        }
        for (d, rank, what) in [(&inputs[0], 3, "boxes"), (&inputs[1], 3, "scores")] {
            if d.shape.rank().is_some_and(|r| r != rank) {
                return Err(Error::Shape(format!(
                    "{what} must have rank {rank}, got {}",
                    d.shape
                )));
            }
        }
        let dims = |d: &TensorDesc, i: usize| d.shape.dims().and_then(|s| s.get(i).copied());
        // Upper bound of the selection: every box of every batch and class.
        let bound = match (
            dims(&inputs[0], 0),
            dims(&inputs[1], 1),
            dims(&inputs[0], 1),
        ) {
            (Some(b), Some(c), Some(n)) => b.mul(&c).mul(&n).max(),
            _ => None,
        };
        let rows = Dimension::interval(0, bound)?;
        let selected = PartialShape::new(vec![rows, Dimension::new(3)]);
        let mut outs = vec![TensorDesc::new(self.output_type, selected.clone())];
        if self.version >= 5 {
            outs.push(TensorDesc::new(inputs[1].element_type, selected));
            outs.push(TensorDesc::new(
                self.output_type,
                PartialShape::from_static(&[1]),
            ));
        }
        Ok(outs)
    }

    fn evaluate(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        check_input_count(inputs, 2, self.max_inputs())?;
        let (boxes, scores) = (inputs[0], inputs[1]);
        let (bs, ss) = (boxes.shape(), scores.shape());
        if bs.len() != 3 || bs[2] != 4 || ss.len() != 3 || ss[0] != bs[0] || ss[2] != bs[1] {
            return Err(Error::Shape(format!(
                "boxes {} and scores {} must be [B, N, 4] and [B, C, N]",
                fmt_shape(bs),
                fmt_shape(ss)
            )));
        }
        let max_per_class =
            optional_scalar(inputs, 2, 0.0, "max_output_boxes_per_class")?.max(0.0) as usize;
        let iou_threshold = optional_scalar(inputs, 3, 0.0, "iou_threshold")?;
        let score_threshold = optional_scalar(inputs, 4, f64::NEG_INFINITY, "score_threshold")?;
        if optional_scalar(inputs, 5, 0.0, "soft_nms_sigma")? != 0.0 {
            return Err(Error::Unsupported(
                "soft NMS (soft_nms_sigma != 0) is not supported yet".into(),
            ));
        }
        let (batches, classes, n) = (ss[0], ss[1], ss[2]);
        let (bv, sv) = (boxes.to_f64_vec(), scores.to_f64_vec());
        let mut selected = Vec::new();
        for batch in 0..batches {
            let rects: Vec<[f64; 4]> = (0..n)
                .map(|i| {
                    corners(
                        &bv[(batch * n + i) * 4..(batch * n + i) * 4 + 4],
                        self.box_encoding,
                    )
                })
                .collect();
            for class in 0..classes {
                let class_scores =
                    &sv[(batch * classes + class) * n..(batch * classes + class + 1) * n];
                let mut candidates: Vec<usize> = (0..n)
                    .filter(|&i| class_scores[i] > score_threshold)
                    .collect();
                // Highest score first; ties keep the lower box index first.
                candidates
                    .sort_by(|&a, &b| class_scores[b].total_cmp(&class_scores[a]).then(a.cmp(&b)));
                let mut kept: Vec<usize> = Vec::new();
                for i in candidates {
                    if kept.len() >= max_per_class {
                        break;
                    }
                    if kept
                        .iter()
                        .all(|&k| iou(&rects[i], &rects[k]) <= iou_threshold)
                    {
                        kept.push(i);
                        selected.push(Selected {
                            batch,
                            class,
                            box_index: i,
                            score: class_scores[i],
                        });
                    }
                }
            }
        }
        if self.sort_result_descending {
            // A stable sort: equal scores keep batch, class and box order.
            selected.sort_by(|a, b| b.score.total_cmp(&a.score));
        }
        let m = selected.len();
        let indices: Vec<i64> = selected
            .iter()
            .flat_map(|s| [s.batch as i64, s.class as i64, s.box_index as i64])
            .collect();
        let mut outs = vec![Tensor::from_i64s(self.output_type, &[m, 3], &indices)?];
        if self.version >= 5 {
            let sc: Vec<f64> = selected
                .iter()
                .flat_map(|s| [s.batch as f64, s.class as f64, s.score])
                .collect();
            outs.push(Tensor::from_f64s(scores.element_type(), &[m, 3], &sc)?);
            outs.push(Tensor::from_i64s(self.output_type, &[1], &[m as i64])?);
        }
        Ok(outs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(
        op: &NonMaxSuppression,
        boxes: Vec<f32>,
        scores: Vec<f32>,
        classes: usize,
        thresholds: [f32; 3],
    ) -> Vec<Tensor> {
        let n = boxes.len() / 4;
        let b = Tensor::from_vec(&[1, n, 4], boxes).unwrap();
        let s = Tensor::from_vec(&[1, classes, n], scores).unwrap();
        let max = Tensor::scalar(thresholds[0] as i64);
        let (iou, score) = (Tensor::scalar(thresholds[1]), Tensor::scalar(thresholds[2]));
        op.evaluate(&[&b, &s, &max, &iou, &score]).unwrap()
    }

    #[test]
    fn matches_openvino_on_overlap_threshold_and_order() {
        // Expected values computed by OpenVINO 2026.4.1's CPU plugin (NMS-9).
        let boxes = vec![
            10.0, 10.0, 11.0, 11.0, 0.0, 0.0, 1.0, 1.1, 5.0, 5.0, 6.0, 6.0,
        ];
        let out = run(
            &NonMaxSuppression::new(9),
            boxes.clone(),
            vec![0.5, 0.7, 0.9],
            1,
            [10.0, 0.5, 0.5],
        );
        assert_eq!(out[0].to_i64_vec(), vec![0, 0, 2, 0, 0, 1]);
        assert_eq!(out[2].to_i64_vec(), vec![2]);
        let scores = vec![0.5, 0.7, 0.9, 0.95, 0.1, 0.2];
        let out = run(
            &NonMaxSuppression::new(9),
            boxes,
            scores,
            2,
            [10.0, 0.5, 0.0],
        );
        assert_eq!(
            out[0].to_i64_vec(),
            vec![0, 1, 0, 0, 0, 2, 0, 0, 1, 0, 0, 0, 0, 1, 2, 0, 1, 1]
        );
        let s: Vec<f64> = out[1].to_f64_vec().chunks(3).map(|r| r[2]).collect();
        assert!((s[0] - 0.95).abs() < 1e-6 && (s[5] - 0.1).abs() < 1e-6);
    }

    #[test]
    fn overlapping_boxes_are_suppressed_and_center_encoding_works() {
        let mut op = NonMaxSuppression::new(5);
        op.sort_result_descending = false;
        let boxes = vec![0.0, 0.0, 1.0, 1.0, 0.0, 0.1, 1.0, 1.1, 0.0, 2.0, 1.0, 3.0];
        let out = run(&op, boxes, vec![0.9, 0.8, 0.7], 1, [3.0, 0.5, 0.0]);
        assert_eq!(out[0].to_i64_vec(), vec![0, 0, 0, 0, 0, 2]);
        op.box_encoding = BoxEncoding::Center;
        let centered = vec![0.5, 0.5, 1.0, 1.0, 0.6, 0.5, 1.0, 1.0];
        let out = run(&op, centered, vec![0.9, 0.8], 1, [3.0, 0.5, 0.0]);
        assert_eq!(out[0].to_i64_vec(), vec![0, 0, 0]);
    }
}
