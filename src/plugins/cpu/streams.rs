//! Execution streams: the thread pools a compiled model owns. LATENCY gives one stream with every thread;
//! THROUGHPUT (or NUM_STREAMS) splits the threads into several streams so that parallel requests run side by
//! side, each on its own pool. Each request is bound to one stream when it first runs.
//!
//! Running a whole inference inside its pool (`install`) makes the calling thread a worker of the pool: the
//! parallel loops of consecutive ops then hand work between warm workers instead of waking a sleeping caller
//! for every op. While an inference runs, the pool's other workers stay awake: each runs a job that takes the
//! inference's parallel work as it appears (`rayon::yield_now`) and otherwise spins, so the short gaps between
//! ops never put a worker to sleep (a worker that finds nothing for 200 µs stops spinning). Handing an inference
//! to a pool wakes all its workers at once, each waiting up to 100 µs for its share, instead of one after the
//! other (MobileNetV2 on two threads after a pause: 70-100 µs less per inference). Between inferences the
//! workers sleep (rayon parks them); they do not spin.
//! With ENABLE_CPU_PINNING (the default) every worker is bound to a CPU of its own ([`affinity`]), so that an
//! inference after a pause does not start with its workers stacked on one CPU.

use super::affinity;
use crate::error::{Error, Result};
use crate::runtime::properties::{Config, PropertyValue, keys};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How many streams and threads a compiled model runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamConfig {
    /// Independent streams (parallel requests that do not share threads).
    pub streams: usize,
    /// Threads per stream.
    pub threads_per_stream: usize,
}

impl StreamConfig {
    /// Resolves PERFORMANCE_HINT, NUM_STREAMS (-1: AUTO, -2: NUMA), INFERENCE_NUM_THREADS (0: every core) and
    /// PERFORMANCE_HINT_NUM_REQUESTS (a cap on streams) against `cores` available cores. `config` holds what the
    /// user chose: without NUM_STREAMS, the hint decides.
    pub fn resolve(config: &Config, cores: usize) -> Result<StreamConfig> {
        let int = |key: &str| -> Result<i64> { config.get(key).map_or(Ok(0), |v| v.as_int(key)) };
        let threads = match int(keys::INFERENCE_NUM_THREADS)? {
            n if n < 0 => {
                return Err(Error::InvalidArgument(format!(
                    "INFERENCE_NUM_THREADS must be 0 (every core) or positive, got {n}"
                )));
            }
            0 => cores.max(1),
            n => n as usize,
        };
        let hint = config
            .get(keys::PERFORMANCE_HINT)
            .map(PropertyValue::as_string)
            .unwrap_or_default();
        let throughput = matches!(hint.as_str(), "THROUGHPUT" | "CUMULATIVE_THROUGHPUT");
        // AUTO and NUMA (one NUMA node here) choose as the THROUGHPUT hint does: one stream per core.
        let streams = match int(keys::NUM_STREAMS)? {
            n if n > 0 => n as usize,
            -1 | -2 => threads,
            0 if throughput => threads,
            0 => 1,
            n => {
                return Err(Error::InvalidArgument(format!(
                    "NUM_STREAMS must be AUTO (-1), NUMA (-2) or a positive count, got {n}"
                )));
            }
        };
        let cap = match int(keys::PERFORMANCE_HINT_NUM_REQUESTS)? {
            n if n > 0 => n as usize,
            _ => usize::MAX,
        };
        let streams = streams.min(cap).max(1);
        Ok(StreamConfig {
            streams,
            threads_per_stream: (threads / streams).max(1),
        })
    }
}

/// The pools of a compiled model, one per stream.
pub struct Streams {
    config: StreamConfig,
    pools: Vec<rayon::ThreadPool>,
    next: AtomicUsize,
}

impl std::fmt::Debug for Streams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Streams({:?})", self.config)
    }
}

impl Streams {
    /// Starts the pools; with `pin`, each worker is bound to a CPU of its own where there are enough CPUs
    /// ([`affinity::plan`]).
    pub fn start(config: StreamConfig, pin: bool) -> Result<Streams> {
        let cpus = if pin && config.streams * config.threads_per_stream > 1 {
            affinity::plan(config.streams, config.threads_per_stream)
        } else {
            None
        };
        let pools = (0..config.streams)
            .map(|s| {
                let stream_cpus = cpus.as_ref().and_then(|c| c.get(s)).cloned();
                rayon::ThreadPoolBuilder::new()
                    .num_threads(config.threads_per_stream)
                    .thread_name(move |t| format!("ferrovino-s{s}-t{t}"))
                    .start_handler(move |t| {
                        if let Some(&cpu) = stream_cpus.as_ref().and_then(|c| c.get(t)) {
                            affinity::pin_current_thread(cpu);
                        }
                    })
                    .build()
                    .map_err(|e| Error::Device(format!("CPU: cannot start stream {s}: {e}")))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Streams {
            config,
            pools,
            next: AtomicUsize::new(0),
        })
    }

    /// The stream and thread counts.
    pub fn config(&self) -> StreamConfig {
        self.config
    }

    /// The stream for a new request: round robin.
    pub fn assign(&self) -> usize {
        self.next.fetch_add(1, Ordering::Relaxed) % self.pools.len().max(1)
    }

    /// Runs `work` on the pool of `stream`, the pool's other workers kept awake until it returns.
    pub fn run<R: Send>(&self, stream: usize, work: impl FnOnce() -> R + Send) -> R {
        match self.pools.get(stream).or(self.pools.first()) {
            Some(pool) if pool.current_num_threads() > 1 => {
                pool.spawn_broadcast(|_| wait_for_inference());
                pool.install(|| with_awake_workers(work))
            }
            Some(pool) => pool.install(work),
            None => work(),
        }
    }
}

/// How long a worker woken ahead of an inference ([`wait_for_inference`]) waits for work before it goes back to
/// rayon's own idling.
const AHEAD_SPIN: Duration = Duration::from_micros(100);

/// Run by every worker of a pool as an inference is handed to it, so that all of them wake at once rather than
/// one after the other (the inference's job wakes one worker, whose keep-awake broadcast then wakes the next):
/// returns once the worker has run a job (the inference, or its keep-awake job) or after [`AHEAD_SPIN`] without
/// one.
fn wait_for_inference() {
    let start = Instant::now();
    while start.elapsed() < AHEAD_SPIN {
        if rayon::yield_now() == Some(rayon::Yield::Executed) {
            return;
        }
        std::hint::spin_loop();
    }
}

/// How long a worker kept awake by [`with_awake_workers`] spins without finding work before it goes back to
/// rayon's own idling (which parks it): longer than the gaps between an inference's parallel ops.
const MAX_IDLE_SPIN: Duration = Duration::from_micros(200);

/// Runs `work` on the current worker while every other worker of the current pool runs parallel work as it
/// appears and spins in between, until `work` returns or no work came for [`MAX_IDLE_SPIN`].
fn with_awake_workers<R: Send>(work: impl FnOnce() -> R + Send) -> R {
    let done = AtomicBool::new(false);
    let me = rayon::current_thread_index();
    rayon::in_place_scope(|scope| {
        scope.spawn_broadcast(|_, worker| {
            // The caller's own share returns at once: it is busy with `work` (and may pick this job up while
            // it waits inside a parallel loop).
            if Some(worker.index()) == me {
                return;
            }
            // A worker may also reach this job while it waits inside a job it stole from the inference (a
            // steal that raced the broadcast); that stolen job cannot finish until this one returns, so
            // spinning until `done` would deadlock. Leaving after MAX_IDLE_SPIN without work bounds that case.
            let mut idle_since = None;
            while !done.load(Ordering::Acquire) {
                if rayon::yield_now() == Some(rayon::Yield::Executed) {
                    idle_since = None;
                    continue;
                }
                let now = Instant::now();
                if now.duration_since(*idle_since.get_or_insert(now)) > MAX_IDLE_SPIN {
                    return;
                }
                std::hint::spin_loop();
            }
        });
        // Released on return and on unwinding alike, so the spinning workers always stop.
        let _release = Release(&done);
        work()
    })
}

/// Sets its flag when dropped.
struct Release<'a>(&'a AtomicBool);

impl Drop for Release<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(pairs: &[(&str, PropertyValue)], cores: usize) -> Result<StreamConfig> {
        let config: Config = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        StreamConfig::resolve(&config, cores)
    }

    fn sc(streams: usize, threads_per_stream: usize) -> StreamConfig {
        StreamConfig {
            streams,
            threads_per_stream,
        }
    }

    #[test]
    fn hints_streams_and_threads() {
        assert_eq!(resolve(&[], 8).unwrap(), sc(1, 8));
        let latency = (keys::PERFORMANCE_HINT, PropertyValue::from("LATENCY"));
        let throughput = (keys::PERFORMANCE_HINT, PropertyValue::from("THROUGHPUT"));
        assert_eq!(
            resolve(std::slice::from_ref(&latency), 2).unwrap(),
            sc(1, 2)
        );
        assert_eq!(
            resolve(std::slice::from_ref(&throughput), 2).unwrap(),
            sc(2, 1)
        );
        let threads = (keys::INFERENCE_NUM_THREADS, PropertyValue::Int(4));
        assert_eq!(
            resolve(&[throughput.clone(), threads.clone()], 16).unwrap(),
            sc(4, 1)
        );
        assert_eq!(resolve(&[latency, threads.clone()], 16).unwrap(), sc(1, 4));
        let streams = (keys::NUM_STREAMS, PropertyValue::Int(2));
        assert_eq!(resolve(&[streams, threads.clone()], 16).unwrap(), sc(2, 2));
        let auto = (keys::NUM_STREAMS, PropertyValue::Int(-1));
        assert_eq!(resolve(&[auto, threads], 16).unwrap(), sc(4, 1));
        let cap = (keys::PERFORMANCE_HINT_NUM_REQUESTS, PropertyValue::Int(3));
        assert_eq!(resolve(&[throughput, cap], 8).unwrap(), sc(3, 2));
    }

    #[test]
    fn bad_values_are_errors() {
        let negative = (keys::INFERENCE_NUM_THREADS, PropertyValue::Int(-3));
        assert!(matches!(
            resolve(&[negative], 2),
            Err(Error::InvalidArgument(_))
        ));
        let streams = (keys::NUM_STREAMS, PropertyValue::Int(-7));
        let err = resolve(&[streams], 2).unwrap_err().to_string();
        assert!(err.contains("NUM_STREAMS"), "{err}");
    }

    #[test]
    fn requests_are_spread_and_run_on_their_pool() {
        let streams = Streams::start(sc(2, 1), true).unwrap();
        assert_eq!(
            (streams.assign(), streams.assign(), streams.assign()),
            (0, 1, 0)
        );
        assert_eq!(streams.run(1, rayon::current_num_threads), 1);
    }

    /// Inferences handed to a pool of several workers (each waking them all ahead, see `wait_for_inference`)
    /// from two threads at once, back to back and after pauses longer than the workers wait: each runs its
    /// parallel work on the pool and returns.
    #[test]
    fn inferences_from_two_threads_on_one_pool_all_finish() {
        use rayon::prelude::*;
        let streams = std::sync::Arc::new(Streams::start(sc(1, 3), false).unwrap());
        let (done, finished) = std::sync::mpsc::channel();
        for caller in 0..2u64 {
            let (streams, done) = (streams.clone(), done.clone());
            std::thread::spawn(move || {
                for i in 0..300u64 {
                    if i % 50 == 0 {
                        std::thread::sleep(Duration::from_micros(300));
                    }
                    let (sum, threads) = streams.run(0, || {
                        let sum: u64 = (0..1000u64).into_par_iter().map(|v| v * caller).sum();
                        (sum, rayon::current_num_threads())
                    });
                    assert_eq!((sum, threads), (499_500 * caller, 3));
                }
                done.send(()).unwrap();
            });
        }
        for _ in 0..2 {
            finished.recv_timeout(Duration::from_secs(60)).unwrap();
        }
    }

    #[test]
    fn pinned_workers_each_have_a_cpu_of_their_own() {
        let Some(cpus) = affinity::allowed_cpus().filter(|c| c.len() >= 2) else {
            return;
        };
        let seen = |pin| {
            let streams = Streams::start(sc(1, 2), pin).unwrap();
            let mut seen = streams.run(0, || rayon::broadcast(|_| affinity::thread_cpus()));
            seen.sort();
            seen
        };
        assert_eq!(seen(true), vec![Some(vec![cpus[0]]), Some(vec![cpus[1]])]);
        assert_eq!(seen(false), vec![Some(cpus.clone()), Some(cpus)]);
    }

    /// The race that once hung an inference, forced: a worker steals part of the inference (`b`), waits inside
    /// it for a piece the inference's own thread took (`b2`), and meanwhile picks up its keep-awake job. The
    /// inference cannot finish before `b` does, and `b` cannot finish while the keep-awake job spins.
    #[test]
    fn a_worker_kept_awake_inside_a_stolen_job_lets_it_finish() {
        use std::sync::atomic::AtomicBool;
        fn wait(flag: &AtomicBool, help: bool) {
            while !flag.load(Ordering::Acquire) {
                if help {
                    rayon::yield_now();
                }
                std::hint::spin_loop();
            }
        }
        let (tx, rx) = std::sync::mpsc::channel();
        // A thread of its own, so that a hang fails the test instead of blocking it.
        std::thread::spawn(move || {
            let [b_started, b2_started, b_done]: [AtomicBool; 3] = Default::default();
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(2)
                .build()
                .unwrap();
            pool.install(|| {
                rayon::join(
                    || {
                        wait(&b_started, false);
                        with_awake_workers(|| {
                            wait(&b2_started, true);
                            wait(&b_done, true);
                        });
                    },
                    || {
                        b_started.store(true, Ordering::Release);
                        rayon::join(
                            || wait(&b2_started, false),
                            || {
                                b2_started.store(true, Ordering::Release);
                                std::thread::sleep(Duration::from_millis(20));
                            },
                        );
                        b_done.store(true, Ordering::Release);
                    },
                )
            });
            tx.send(()).unwrap();
        });
        let finished = rx.recv_timeout(Duration::from_secs(20));
        assert!(finished.is_ok(), "the inference hung");
    }
}
