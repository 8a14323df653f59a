//! Pinning worker threads to CPUs (ENABLE_CPU_PINNING).
//!
//! On a machine whose CPUs have been idle, the scheduler tends to wake both workers of a pool on the CPU that
//! woke them, and an inference then runs on one CPU until the load balancer moves a worker away — on two cores
//! that doubled MobileNetV2's latency (16 ms instead of 8) whenever an inference came after 20 ms or more of
//! idleness. A pool whose workers are pinned one per CPU keeps its parallelism from the first op. Pinning is
//! only done where the process may use at least as many CPUs as the model has threads, and only on Linux.

/// The CPUs this process may run on (its main thread's affinity, so that a pool started from a pinned worker
/// still spreads over every CPU), in increasing order, or None where that cannot be known.
#[cfg(target_os = "linux")]
pub fn allowed_cpus() -> Option<Vec<usize>> {
    cpus_of(std::process::id())
}

/// The CPUs the calling thread may run on, in increasing order, or None where that cannot be known.
#[cfg(target_os = "linux")]
pub fn thread_cpus() -> Option<Vec<usize>> {
    cpus_of(0)
}

/// The CPUs the calling thread may run on: unknown on this system.
#[cfg(not(target_os = "linux"))]
pub fn thread_cpus() -> Option<Vec<usize>> {
    None
}

/// The CPUs thread (or process) `id` may run on, in increasing order (0: the calling thread).
#[cfg(target_os = "linux")]
fn cpus_of(id: u32) -> Option<Vec<usize>> {
    let pid = libc::pid_t::try_from(id).ok()?;
    // SAFETY: `set` is a plain bit set owned here; sched_getaffinity writes at most `size_of_val(&set)` bytes.
    let set = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(pid, std::mem::size_of_val(&set), &mut set) != 0 {
            return None;
        }
        set
    };
    let cpus = (0..libc::CPU_SETSIZE as usize)
        // SAFETY: `cpu` is below CPU_SETSIZE, the bit set's capacity.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect::<Vec<_>>();
    (!cpus.is_empty()).then_some(cpus)
}

/// The CPUs this process may run on: unknown on this system.
#[cfg(not(target_os = "linux"))]
pub fn allowed_cpus() -> Option<Vec<usize>> {
    None
}

/// Binds the calling thread to `cpu`; false where that failed (the thread then runs wherever it is scheduled).
#[cfg(target_os = "linux")]
pub fn pin_current_thread(cpu: usize) -> bool {
    if cpu >= libc::CPU_SETSIZE as usize {
        return false;
    }
    // SAFETY: `set` is a plain bit set owned here and `cpu` is below its capacity; pid 0 is the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) == 0
    }
}

/// Binds the calling thread to `cpu`: not supported on this system.
#[cfg(not(target_os = "linux"))]
pub fn pin_current_thread(_cpu: usize) -> bool {
    false
}

/// The CPU of each worker of each stream (`plan[stream][thread]`) when `streams` pools of `threads` workers each
/// can have a CPU of their own, else None.
pub fn plan(streams: usize, threads: usize) -> Option<Vec<Vec<usize>>> {
    let cpus = allowed_cpus()?;
    if streams.saturating_mul(threads) > cpus.len() {
        return None;
    }
    Some(
        cpus.chunks(threads.max(1))
            .take(streams)
            .map(<[usize]>::to_vec)
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_gives_each_worker_its_own_cpu() {
        let Some(cpus) = allowed_cpus() else { return };
        assert_eq!(plan(1, cpus.len()).unwrap(), vec![cpus.clone()]);
        assert!(plan(cpus.len() + 1, 1).is_none());
        if cpus.len() >= 2 {
            assert_eq!(plan(2, 1).unwrap(), vec![vec![cpus[0]], vec![cpus[1]]]);
        }
    }

    #[test]
    fn a_pinned_thread_runs_where_it_was_pinned() {
        let Some(cpus) = allowed_cpus() else { return };
        let last = *cpus.last().unwrap();
        let seen = std::thread::spawn(move || {
            assert!(pin_current_thread(last));
            (thread_cpus(), allowed_cpus())
        })
        .join()
        .unwrap();
        assert_eq!(seen, (Some(vec![last]), Some(cpus)));
    }
}
