//! Convolution throughput of the CPU plugin on the layer shapes of ResNet-50 and MobileNetV2 at batch 1.
//!
//! `cargo bench --bench conv [-- FILTER] [--fused]` prints GFLOP/s per layer (2 · multiply-adds / median time),
//! only for layers whose name contains FILTER when one is given; with `--fused` every layer ends with a
//! per-channel bias and ReLU6, as in MobileNet (the CPU plugin fuses them into the convolution).

mod common;

use common::{infer, median_time, op_request};
use ferrovino::ops::Op;
use ferrovino::ops::conv::{ConvAttrs, Convolution, GroupConvolution};
use std::time::Duration;

/// One convolution layer: input channels, output channels, input height (= width), kernel, stride, groups.
struct Layer {
    name: &'static str,
    cin: usize,
    cout: usize,
    size: usize,
    kernel: usize,
    stride: usize,
    groups: usize,
}

const LAYERS: &[Layer] = &[
    Layer {
        name: "r50 stem 7x7/2",
        cin: 3,
        cout: 64,
        size: 224,
        kernel: 7,
        stride: 2,
        groups: 1,
    },
    Layer {
        name: "r50 s1 1x1 64->64",
        cin: 64,
        cout: 64,
        size: 56,
        kernel: 1,
        stride: 1,
        groups: 1,
    },
    Layer {
        name: "r50 s1 3x3 64",
        cin: 64,
        cout: 64,
        size: 56,
        kernel: 3,
        stride: 1,
        groups: 1,
    },
    Layer {
        name: "r50 s1 1x1 64->256",
        cin: 64,
        cout: 256,
        size: 56,
        kernel: 1,
        stride: 1,
        groups: 1,
    },
    Layer {
        name: "r50 s1 1x1 256->64",
        cin: 256,
        cout: 64,
        size: 56,
        kernel: 1,
        stride: 1,
        groups: 1,
    },
    Layer {
        name: "r50 s2 3x3 128/2",
        cin: 128,
        cout: 128,
        size: 56,
        kernel: 3,
        stride: 2,
        groups: 1,
    },
    Layer {
        name: "r50 s2 1x1 512->128",
        cin: 512,
        cout: 128,
        size: 28,
        kernel: 1,
        stride: 1,
        groups: 1,
    },
    Layer {
        name: "r50 s3 3x3 256",
        cin: 256,
        cout: 256,
        size: 14,
        kernel: 3,
        stride: 1,
        groups: 1,
    },
    Layer {
        name: "r50 s3 1x1 256->1024",
        cin: 256,
        cout: 1024,
        size: 14,
        kernel: 1,
        stride: 1,
        groups: 1,
    },
    Layer {
        name: "r50 s4 3x3 512",
        cin: 512,
        cout: 512,
        size: 7,
        kernel: 3,
        stride: 1,
        groups: 1,
    },
    Layer {
        name: "r50 s4 3x3 512/2",
        cin: 512,
        cout: 512,
        size: 14,
        kernel: 3,
        stride: 2,
        groups: 1,
    },
    Layer {
        name: "r50 s3 1x1 1024->256",
        cin: 1024,
        cout: 256,
        size: 14,
        kernel: 1,
        stride: 1,
        groups: 1,
    },
    Layer {
        name: "r50 s2 1x1/2 256->512",
        cin: 256,
        cout: 512,
        size: 56,
        kernel: 1,
        stride: 2,
        groups: 1,
    },
    Layer {
        name: "r50 s4 1x1/2 1024->2048",
        cin: 1024,
        cout: 2048,
        size: 14,
        kernel: 1,
        stride: 2,
        groups: 1,
    },
    Layer {
        name: "r50 s4 1x1 512->2048",
        cin: 512,
        cout: 2048,
        size: 7,
        kernel: 1,
        stride: 1,
        groups: 1,
    },
    Layer {
        name: "mbv2 dw 3x3 144",
        cin: 144,
        cout: 144,
        size: 56,
        kernel: 3,
        stride: 1,
        groups: 144,
    },
    Layer {
        name: "mbv2 dw 3x3 576",
        cin: 576,
        cout: 576,
        size: 14,
        kernel: 3,
        stride: 1,
        groups: 576,
    },
    Layer {
        name: "mbv2 dw 3x3 960",
        cin: 960,
        cout: 960,
        size: 7,
        kernel: 3,
        stride: 1,
        groups: 960,
    },
    Layer {
        name: "mbv2 dw 3x3 32",
        cin: 32,
        cout: 32,
        size: 112,
        kernel: 3,
        stride: 1,
        groups: 32,
    },
    Layer {
        name: "mbv2 dw 3x3 96/2",
        cin: 96,
        cout: 96,
        size: 112,
        kernel: 3,
        stride: 2,
        groups: 96,
    },
    Layer {
        name: "mbv2 dw 3x3 144/2",
        cin: 144,
        cout: 144,
        size: 56,
        kernel: 3,
        stride: 2,
        groups: 144,
    },
    Layer {
        name: "mbv2 dw 3x3 576/2",
        cin: 576,
        cout: 576,
        size: 14,
        kernel: 3,
        stride: 2,
        groups: 576,
    },
    Layer {
        name: "mbv2 1x1 16->96",
        cin: 16,
        cout: 96,
        size: 112,
        kernel: 1,
        stride: 1,
        groups: 1,
    },
    Layer {
        name: "mbv2 1x1 144->24",
        cin: 144,
        cout: 24,
        size: 56,
        kernel: 1,
        stride: 1,
        groups: 1,
    },
    Layer {
        name: "mbv2 1x1 64->384 14",
        cin: 64,
        cout: 384,
        size: 14,
        kernel: 1,
        stride: 1,
        groups: 1,
    },
    Layer {
        name: "mbv2 1x1 576->96 14",
        cin: 576,
        cout: 96,
        size: 14,
        kernel: 1,
        stride: 1,
        groups: 1,
    },
    Layer {
        name: "mbv2 1x1 960->160",
        cin: 960,
        cout: 160,
        size: 7,
        kernel: 1,
        stride: 1,
        groups: 1,
    },
    Layer {
        name: "yolo stem 3x3/2 3->16",
        cin: 3,
        cout: 16,
        size: 640,
        kernel: 3,
        stride: 2,
        groups: 1,
    },
    Layer {
        name: "yolo 3x3/2 16->32",
        cin: 16,
        cout: 32,
        size: 320,
        kernel: 3,
        stride: 2,
        groups: 1,
    },
    Layer {
        name: "yolo 3x3 16 160",
        cin: 16,
        cout: 16,
        size: 160,
        kernel: 3,
        stride: 1,
        groups: 1,
    },
    Layer {
        name: "yolo 3x3 80 80",
        cin: 80,
        cout: 80,
        size: 80,
        kernel: 3,
        stride: 1,
        groups: 1,
    },
    Layer {
        name: "yolo 1x1 32->32 160",
        cin: 32,
        cout: 32,
        size: 160,
        kernel: 1,
        stride: 1,
        groups: 1,
    },
];

fn conv_op(l: &Layer) -> Box<dyn Op> {
    let pad = (l.kernel / 2) as i64;
    let attrs = ConvAttrs {
        strides: vec![l.stride as i64; 2],
        dilations: vec![1; 2],
        pads_begin: vec![pad; 2],
        pads_end: vec![pad; 2],
        ..ConvAttrs::default()
    };
    if l.groups > 1 {
        Box::new(GroupConvolution { attrs })
    } else {
        Box::new(Convolution { attrs })
    }
}

fn main() {
    // Cargo passes `--bench` to bench targets; the first other argument filters layers by name.
    let filter = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .unwrap_or_default();
    let fused = std::env::args().any(|a| a == "--fused");
    println!("{:<24} {:>10} {:>10}", "layer", "ms", "GFLOP/s");
    for l in LAYERS.iter().filter(|l| l.name.contains(filter.as_str())) {
        let input = [1, l.cin, l.size, l.size];
        let (cin_g, cout_g) = (l.cin / l.groups, l.cout / l.groups);
        let weights: Vec<usize> = if l.groups > 1 {
            vec![l.groups, cout_g, cin_g, l.kernel, l.kernel]
        } else {
            vec![l.cout, l.cin, l.kernel, l.kernel]
        };
        let mut req = op_request(conv_op(l), &input, &weights, fused);
        let t = median_time(Duration::from_millis(800), || infer(&mut req));
        let out = l.size.div_ceil(l.stride);
        let flops = 2.0 * (l.cout * out * out * cin_g * l.kernel * l.kernel) as f64;
        println!(
            "{:<24} {:>10.3} {:>10.1}",
            l.name,
            t.as_secs_f64() * 1e3,
            flops / t.as_secs_f64() / 1e9
        );
    }
}
