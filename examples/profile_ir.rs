//! Times every node of an IR model on the CPU plugin and prints the totals per op type and kernel.
//!
//! `cargo run --release --example profile_ir -- model.xml [iterations]` (inputs are zeros of the static input shapes).

use ferrovino::frontends::ir::read_model_from_path;
use ferrovino::ir::Tensor;
use ferrovino::plugins::cpu::CpuPlugin;
use ferrovino::runtime::{Config, InferRequest, Plugin};
use std::collections::BTreeMap;
use std::time::Duration;

fn main() -> ferrovino::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or_else(|| {
        ferrovino::Error::InvalidArgument("usage: profile_ir MODEL.xml [N]".into())
    })?;
    let iterations: u32 = args.next().and_then(|n| n.parse().ok()).unwrap_or(5);
    let model = read_model_from_path(std::path::Path::new(&path), None)?;
    let cfg = Config::from([("PERF_COUNT".to_string(), true.into())]);
    let mut req = InferRequest::new(CpuPlugin::default().compile(&model, &cfg)?);
    for (i, p) in model.parameters.iter().enumerate() {
        let port = p.output(0);
        let shape = port.shape().expect_static("input")?;
        req.set_input(i, Tensor::zeros(port.element_type(), &shape))?;
    }
    req.infer()?;
    let mut totals: BTreeMap<(String, String), Duration> = BTreeMap::new();
    let mut walls = Vec::new();
    let cpu_before = process_cpu_seconds();
    for _ in 0..iterations {
        let started = std::time::Instant::now();
        req.infer()?;
        walls.push(started.elapsed());
        for p in &req.state().profile {
            *totals
                .entry((p.node_type.clone(), p.exec_type.clone()))
                .or_default() += p.real_time;
        }
    }
    let mut rows: Vec<_> = totals.into_iter().collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.1));
    let all: Duration = rows.iter().map(|r| r.1).sum();
    println!(
        "{:<28} {:<14} {:>10} {:>6}",
        "op type", "kernel", "ms/infer", "share"
    );
    for ((ty, kernel), t) in rows {
        let ms = t.as_secs_f64() * 1e3 / iterations as f64;
        println!(
            "{ty:<28} {kernel:<14} {ms:>10.2} {:>5.1}%",
            100.0 * t.as_secs_f64() / all.as_secs_f64()
        );
    }
    let cpu = (process_cpu_seconds() - cpu_before) / iterations as f64;
    walls.sort();
    let median = walls.get(walls.len() / 2).copied().unwrap_or_default();
    println!(
        "total {:.2} ms/infer in nodes; median wall time {:.2} ms/infer; CPU time {:.1} ms/infer",
        all.as_secs_f64() * 1e3 / iterations as f64,
        median.as_secs_f64() * 1e3,
        cpu * 1e3
    );
    Ok(())
}

/// User + system CPU seconds of this process so far (Linux; 0 elsewhere): a figure that other processes on a
/// busy machine disturb less than wall time.
fn process_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the command name; 100 ticks a second.
    (ticks(11) + ticks(12)) / 100.0
}
