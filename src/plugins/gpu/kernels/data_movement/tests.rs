//! Data movement kernels against the ops' references on the adapter (skipped without one).

use super::*;
use crate::ops::data_movement::{
    Broadcast, BroadcastMode, DepthSpace, Reverse, ReverseMode, Roll, ShuffleChannels, Slice,
    SpaceMode, Split, StridedSlice, Tile, Transpose, VariadicSplit,
};
use crate::plugins::cpu::kernels::testing::Lcg;
use crate::plugins::gpu::kernels::testing::check_against_reference;

/// Slice-8 start, stop, step and optional axes.
type SliceCase = (
    &'static [i64],
    &'static [i64],
    &'static [i64],
    Option<&'static [i64]>,
);

fn ints(shape: &[usize], v: &[i64]) -> Tensor {
    Tensor::from_i64s(ElementType::I64, shape, v).unwrap()
}

fn i32s(rng: &mut Lcg, shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    let v: Vec<i32> = (0..n)
        .map(|_| (rng.next_f64() * 2000.0) as i32 - 1000)
        .collect();
    Tensor::from_vec(shape, v).unwrap()
}

fn desc(t: &Tensor, constant: bool) -> TensorDesc {
    let mut d = TensorDesc::new(
        t.element_type(),
        crate::ir::PartialShape::from_static(t.shape()),
    );
    if constant {
        d.value = Some(t.clone());
    }
    d
}

#[test]
fn fit_finds_split_axes_and_rejects_wraps() {
    // A 2x3 transpose, a tile of 3 twice, a reversed slice.
    let m = fit(&[0, 3, 1, 4, 2, 5]).unwrap();
    assert_eq!(m.base, 0);
    assert_eq!(
        m.axes
            .iter()
            .map(|a| (a.size, a.stride))
            .collect::<Vec<_>>(),
        [(3, 1), (2, 3)]
    );
    let m = fit(&[0, 1, 2, 0, 1, 2]).unwrap();
    assert_eq!(
        m.axes
            .iter()
            .map(|a| (a.size, a.stride))
            .collect::<Vec<_>>(),
        [(2, 0), (3, 1)]
    );
    let m = fit(&[7, 5, 3]).unwrap();
    assert_eq!((m.base, m.axes[0].stride), (7, -2));
    assert_eq!(fit(&[4]).unwrap().axes, []);
    // A roll is not affine.
    assert!(fit(&[1, 2, 0]).is_none());
    assert!(fit(&[0, 1, 2, 3, 4, 0]).is_none());
}

#[test]
fn roll_runtime_bounds_and_booleans_are_declined() {
    let x = Tensor::zeros(ElementType::F32, &[4]);
    let (shift, axes) = (ints(&[1], &[1]), ints(&[1], &[0]));
    let d = [desc(&x, false), desc(&shift, true), desc(&axes, true)];
    assert!(select(&Roll, &d, &Roll.infer(&d).unwrap()).is_none());
    let (start, stop, step) = (ints(&[1], &[0]), ints(&[1], &[2]), ints(&[1], &[1]));
    let d = [
        desc(&x, false),
        desc(&start, false),
        desc(&stop, true),
        desc(&step, true),
    ];
    assert!(select(&Slice, &d, &Slice.infer(&d).unwrap()).is_none());
    let b = Tensor::zeros(ElementType::Boolean, &[4]);
    let d = [desc(&b, false), desc(&ints(&[1], &[0]), true)];
    assert!(select(&Transpose, &d, &Transpose.infer(&d).unwrap()).is_none());
}

#[test]
fn transposes_depth_space_and_reverse() {
    let mut rng = Lcg(3);
    let x = rng.tensor(&[2, 3, 4, 5]);
    for perm in [[0i64, 1, 2, 3], [3, 2, 1, 0], [0, 2, 3, 1], [1, 0, 3, 2]] {
        let p = ints(&[4], &perm);
        check_against_reference(|| Box::new(Transpose), &[x.clone(), p], &[false, true]);
    }
    let xi = i32s(&mut rng, &[3, 1, 5]);
    let p = ints(&[3], &[2, 0, 1]);
    check_against_reference(|| Box::new(Transpose), &[xi, p], &[false, true]);
    let x = rng.tensor(&[1, 8, 3, 2]);
    for to_space in [true, false] {
        for mode in [SpaceMode::BlocksFirst, SpaceMode::DepthFirst] {
            let make = || -> Box<dyn Op> {
                let mut op = if to_space {
                    DepthSpace::depth_to_space()
                } else {
                    DepthSpace::space_to_depth()
                };
                op.mode = mode;
                op.block_size = 2;
                Box::new(op)
            };
            let input = if to_space {
                x.clone()
            } else {
                rng.tensor(&[2, 3, 4, 6])
            };
            check_against_reference(make, &[input], &[false]);
        }
    }
    for (axis, group) in [(1i64, 3i64), (-1, 2)] {
        check_against_reference(
            || Box::new(ShuffleChannels { axis, group }),
            &[rng.tensor(&[2, 6, 3, 4])],
            &[false],
        );
    }
    let axes = ints(&[2], &[0, -1]);
    check_against_reference(
        || {
            Box::new(Reverse {
                mode: ReverseMode::Index,
            })
        },
        &[rng.tensor(&[3, 2, 5]), axes],
        &[false, true],
    );
}

#[test]
fn slices_strided_and_reversed() {
    let mut rng = Lcg(5);
    let x = rng.tensor(&[5, 6, 7]);
    let cases: [SliceCase; 4] = [
        (&[1, 0], &[4, 6], &[2, 1], None),
        (&[-1, 5], &[-6, 0], &[-2, -3], Some(&[2, 1])),
        (&[0], &[100], &[3], Some(&[-2])),
        (&[2], &[2], &[1], Some(&[0])),
    ];
    for (start, stop, step, axes) in cases {
        let n = start.len();
        let mut inputs = vec![
            x.clone(),
            ints(&[n], start),
            ints(&[n], stop),
            ints(&[n], step),
        ];
        inputs.extend(axes.map(|a| ints(&[n], a)));
        check_against_reference(
            || Box::new(Slice),
            &inputs,
            &[false, true, true, true, true],
        );
    }
    // StridedSlice: begin/end masks, a new axis, a shrunk axis, an ellipsis and a reversed stride.
    let x = i32s(&mut rng, &[4, 5, 6]);
    let ss = |b: &[i64], e: &[i64], n: &[i64], s: &[i64], el: &[i64]| StridedSlice {
        begin_mask: b.to_vec(),
        end_mask: e.to_vec(),
        new_axis_mask: n.to_vec(),
        shrink_axis_mask: s.to_vec(),
        ellipsis_mask: el.to_vec(),
    };
    let cases = [
        (
            ss(&[0, 1, 0], &[0, 0, 1], &[], &[], &[]),
            [1i64, 0, 1],
            [3i64, 4, 0],
            [1i64, 2, -1],
        ),
        (
            ss(&[], &[], &[0, 1, 0], &[1, 0, 0], &[]),
            [-1, 0, 0],
            [0, 0, 5],
            [1, 1, 2],
        ),
        (
            ss(&[], &[], &[], &[0, 0, 1], &[1, 0, 0]),
            [0, 0, 2],
            [0, 0, 3],
            [1, 1, 1],
        ),
        (
            ss(&[1, 1, 1], &[1, 1, 1], &[], &[], &[]),
            [0, 0, 0],
            [0, 0, 0],
            [-1, -2, -3],
        ),
    ];
    for (op, b, e, s) in cases {
        let inputs = [x.clone(), ints(&[3], &b), ints(&[3], &e), ints(&[3], &s)];
        check_against_reference(|| Box::new(op.clone()), &inputs, &[false, true, true, true]);
    }
}

#[test]
fn broadcasts_and_tiles() {
    let mut rng = Lcg(7);
    let modes = [
        (
            1,
            BroadcastMode::Numpy,
            vec![3, 1, 4],
            vec![2i64, 3, 5, 4],
            None,
        ),
        (
            3,
            BroadcastMode::Bidirectional,
            vec![3, 1, 4],
            vec![5, 1],
            None,
        ),
        (
            3,
            BroadcastMode::Explicit,
            vec![3, 4],
            vec![3, 2, 4],
            Some(vec![0i64, 2]),
        ),
        (
            1,
            BroadcastMode::Explicit,
            vec![1, 4],
            vec![4, 5, 4],
            Some(vec![0i64, 2]),
        ),
        (1, BroadcastMode::Numpy, vec![1], vec![0, 3], None),
    ];
    for (version, mode, shape, target, axes) in modes {
        let mut inputs = vec![rng.tensor(&shape), ints(&[target.len()], &target)];
        inputs.extend(axes.map(|a| ints(&[a.len()], &a)));
        let make = || -> Box<dyn Op> { Box::new(Broadcast { version, mode }) };
        check_against_reference(make, &inputs, &[false, true, true]);
    }
    for (shape, reps) in [
        (vec![2, 3], vec![2i64, 3]),
        (vec![3, 1], vec![4]),
        (vec![2], vec![3, 1, 2]),
        (vec![2, 2], vec![0, 2]),
    ] {
        let inputs = [i32s(&mut rng, &shape), ints(&[reps.len()], &reps)];
        check_against_reference(|| Box::new(Tile), &inputs, &[false, true]);
    }
}

#[test]
fn splits_with_empty_pieces() {
    let mut rng = Lcg(9);
    let x = rng.tensor(&[4, 6, 3]);
    for axis in [1i64, -3] {
        let inputs = [x.clone(), ints(&[], &[axis])];
        check_against_reference(
            || Box::new(Split { num_splits: 2 }),
            &inputs,
            &[false, true],
        );
    }
    let inputs = [x.clone(), ints(&[], &[-2]), ints(&[3], &[2, 0, -1])];
    check_against_reference(|| Box::new(VariadicSplit), &inputs, &[false, true, true]);
}

#[test]
fn pads_every_mode() {
    let mut rng = Lcg(11);
    let x = rng.tensor(&[3, 4, 5]);
    for mode in [
        PadMode::Constant,
        PadMode::Edge,
        PadMode::Reflect,
        PadMode::Symmetric,
    ] {
        for (b, e) in [([1i64, 2, 0], [0i64, 3, 2]), ([2, -1, 1], [-2, 0, 4])] {
            let make = || -> Box<dyn Op> {
                Box::new(Pad {
                    version: 12,
                    pad_mode: mode,
                })
            };
            let mut inputs = vec![x.clone(), ints(&[3], &b), ints(&[3], &e)];
            if mode == PadMode::Constant {
                inputs.push(Tensor::from_vec(&[], vec![2.5f32]).unwrap());
            }
            check_against_reference(make, &inputs, &[false, true, true, true]);
        }
    }
    // Integers with the default constant, and a constant pad around an empty axis.
    let pad1 = || -> Box<dyn Op> {
        Box::new(Pad {
            version: 1,
            pad_mode: PadMode::Constant,
        })
    };
    let inputs = [
        i32s(&mut rng, &[2, 3]),
        ints(&[2], &[1, 1]),
        ints(&[2], &[0, 2]),
        Tensor::from_vec(&[], vec![-7i32]).unwrap(),
    ];
    check_against_reference(pad1, &inputs, &[false, true, true, true]);
    let inputs = [
        rng.tensor(&[2, 0]),
        ints(&[2], &[0, 1]),
        ints(&[2], &[1, 1]),
    ];
    check_against_reference(pad1, &inputs, &[false, true, true]);
}

#[test]
fn gathers_with_batch_axes_and_negative_indices() {
    let mut rng = Lcg(13);
    let x = rng.tensor(&[3, 5, 4]);
    for version in [1, 7, 8] {
        for (axis, constant) in [(1i64, false), (-1, true), (0, false)] {
            let idx = ints(&[2, 2], &[0, -1, 2, -3]);
            let make = || -> Box<dyn Op> {
                Box::new(Gather {
                    version,
                    batch_dims: 0,
                })
            };
            let inputs = [x.clone(), idx, ints(&[], &[axis])];
            check_against_reference(make, &inputs, &[false, constant, true]);
        }
    }
    // batch_dims 1 (and -1) with i32 indices and i32 data; Gather-8 zeroes out-of-range indices.
    let xi = i32s(&mut rng, &[3, 4, 2]);
    let idx = Tensor::from_vec(&[3, 2], vec![0i32, 3, -1, 2, 1, 1]).unwrap();
    for batch_dims in [1, -1] {
        let make = || -> Box<dyn Op> {
            Box::new(Gather {
                version: 8,
                batch_dims,
            })
        };
        let inputs = [xi.clone(), idx.clone(), ints(&[], &[1])];
        check_against_reference(make, &inputs, &[false, false, true]);
    }
    let idx = ints(&[3], &[0, 9, -9]);
    let make = || -> Box<dyn Op> {
        Box::new(Gather {
            version: 8,
            batch_dims: 0,
        })
    };
    check_against_reference(
        make,
        &[x.clone(), idx.clone(), ints(&[], &[1])],
        &[false, false, true],
    );
    // Gather-7 rejects out-of-range constant indices, so the GPU declines them.
    let d = [
        desc(&x, false),
        desc(&idx, true),
        desc(&ints(&[], &[1]), true),
    ];
    let g7 = Gather {
        version: 7,
        batch_dims: 0,
    };
    let g8 = Gather { version: 8, ..g7 };
    assert!(select(&g7, &d, &g8.infer(&d).unwrap()).is_none());
    assert!(select(&g8, &d, &g8.infer(&d).unwrap()).is_some());
}

#[test]
fn nearest_interpolate_by_sizes_and_scales_every_rounding() {
    use crate::ir::{AttrValue, AttributeSetter};
    let mut rng = Lcg(17);
    let x = rng.tensor(&[1, 3, 5, 7]);
    let make = |version: u32, calc: &str, coord: &str, nearest: &str| {
        let mut op = crate::ops::registry::create("Interpolate", version).unwrap();
        let attrs = [
            ("mode".to_string(), AttrValue::Str("nearest".into())),
            (
                "shape_calculation_mode".to_string(),
                AttrValue::Str(calc.into()),
            ),
            (
                "coordinate_transformation_mode".to_string(),
                AttrValue::Str(coord.into()),
            ),
            ("nearest_mode".to_string(), AttrValue::Str(nearest.into())),
        ];
        op.visit_attributes(&mut AttributeSetter::new(&attrs))
            .unwrap();
        op
    };
    let axes = ints(&[2], &[2, 3]);
    let scales = |v: &[f32]| Tensor::from_vec(&[v.len()], v.to_vec()).unwrap();
    for coord in [
        "half_pixel",
        "asymmetric",
        "align_corners",
        "tf_half_pixel_for_nn",
    ] {
        for nearest in ["round_prefer_floor", "floor", "ceil", "simple"] {
            // Interpolate-4: data, target sizes, scales, axes; upsampling by 2 (YOLO) and an uneven resize.
            for (sizes, sc) in [
                (&[10i64, 14][..], &[2.0f32, 2.0][..]),
                (&[3, 11], &[0.6, 1.58]),
            ] {
                for calc in ["sizes", "scales"] {
                    check_against_reference(
                        || make(4, calc, coord, nearest),
                        &[x.clone(), ints(&[2], sizes), scales(sc), axes.clone()],
                        &[false, true, true, true],
                    );
                }
            }
        }
    }
    // Interpolate-11: data, scales or sizes, axes; an i32 tensor takes the same copies.
    check_against_reference(
        || make(11, "scales", "asymmetric", "floor"),
        &[
            i32s(&mut rng, &[2, 3, 4]),
            scales(&[1.0, 2.0, 0.5]),
            ints(&[3], &[0, 1, 2]),
        ],
        &[false, true, true],
    );
}
