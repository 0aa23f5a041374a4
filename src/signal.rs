//! SIGTERM and SIGINT: note them, so every loop can stop at its next step.
//!
//! Kubernetes sends SIGTERM and allows 30 s by default before SIGKILL. toss does not exit in
//! the handler: waiting ends at once, a running upload stops (a multipart upload is aborted),
//! the handoff still happens, then toss exits with 128 + the signal's number.

use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

static RECEIVED: AtomicI32 = AtomicI32::new(0);

extern "C" fn note(signal: libc::c_int) {
    // Only an atomic store: nothing else is async-signal-safe.
    RECEIVED.store(signal, Ordering::SeqCst);
}

pub fn install() {
    for signal in [libc::SIGTERM, libc::SIGINT] {
        // SAFETY: `note` only stores to an atomic; the struct is zeroed then filled in.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = note as extern "C" fn(libc::c_int) as libc::sighandler_t;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
}

/// The signal received, if any.
pub fn received() -> Option<i32> {
    match RECEIVED.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

pub fn stopping() -> bool {
    received().is_some()
}

pub fn name(signal: i32) -> &'static str {
    match signal {
        libc::SIGTERM => "SIGTERM",
        libc::SIGINT => "SIGINT",
        _ => "a signal",
    }
}

/// Sleep for `d`, or less if a signal arrives.
pub fn sleep(d: Duration) {
    // Capped so that no duration can overflow the clock.
    let end = Instant::now() + d.min(Duration::from_secs(1 << 32));
    while !stopping() {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
}
