//! The thin tokio loop around [`SenderCore`]: it reads the clock, opens and closes connections as the core asks,
//! hands frames to the connection writers, feeds responses back, and sleeps until the core's deadline, a
//! connection event or a wake-up from the accumulator. It makes no decision of its own.
//!
//! Deadlines less than a few milliseconds away (a `linger.ms` of 1) are slept by a [`PreciseTimer`] thread:
//! tokio's timer wheel has a 1 ms tick and rounds up, so `linger.ms=1` waited 1–2 ms on it. `KPROD_PRECISE_TIMER=0`
//! turns the thread off (tokio's timer only), to compare.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, mpsc};

use super::{IoAction, SenderCore};
use crate::producer::connection::{self, ConnEvent, ConnIo, ConnectSettings};
use crate::producer::sender::Shared;

/// Deadlines closer than this are slept by the precise timer; farther ones by tokio's timer (woken this much
/// early, then handed to the precise timer).
const PRECISE_WINDOW: Duration = Duration::from_millis(3);

/// Runs the sender until the producer closes (everything completed) or aborts (everything failed).
pub(crate) async fn run(sh: Arc<Shared>) {
    let mut core = SenderCore::new(sh.clone(), rand::random());
    let (events_tx, mut events_rx) = mpsc::unbounded_channel();
    let settings = ConnectSettings {
        client_id: Some(sh.config.client_id.clone()).filter(|c| !c.is_empty()),
        connect_timeout: sh.config.request_timeout.min(Duration::from_secs(10)),
        request_timeout: sh.config.request_timeout,
        tls: sh.tls.clone(),
        sasl: sh.sasl.clone(),
    };
    let mut ios: HashMap<u64, ConnIo> = HashMap::new();
    let timer = PreciseTimer::start();
    loop {
        let now = Instant::now();
        core.poll(now);
        let failed = perform(&mut core, &mut ios, &settings, &events_tx);
        if !failed.is_empty() {
            let now = Instant::now();
            for conn_id in failed {
                core.handle_closed(conn_id, "writer stopped".into(), now);
            }
            continue;
        }
        if core.is_stopped() {
            break;
        }
        let wakeup = sh.wakeup.notified();
        let deadline = core.poll_timeout();
        let sleep = async {
            match deadline {
                None => std::future::pending::<()>().await,
                Some(d) if !timer.enabled => tokio::time::sleep_until(d.into()).await,
                Some(d) if d.saturating_duration_since(Instant::now()) <= PRECISE_WINDOW => {
                    timer.arm(Some(d));
                    timer.fired.notified().await;
                }
                Some(d) => {
                    timer.arm(None);
                    tokio::time::sleep_until((d - PRECISE_WINDOW + Duration::from_micros(500)).into()).await;
                }
            }
        };
        tokio::select! {
            biased;
            ev = events_rx.recv() => {
                let Some(ev) = ev else { break };
                let now = Instant::now();
                handle_event(&mut core, &mut ios, ev, now);
                while let Ok(ev) = events_rx.try_recv() {
                    handle_event(&mut core, &mut ios, ev, now);
                }
            }
            _ = wakeup => {}
            _ = sleep => {}
        }
    }
    drop(ios);
}

fn handle_event(core: &mut SenderCore, ios: &mut HashMap<u64, ConnIo>, ev: ConnEvent, now: Instant) {
    match ev {
        ConnEvent::Connected { conn_id, result } => {
            let result = result.map(|(hs, io)| {
                ios.insert(conn_id, io);
                hs
            });
            core.handle_connected(conn_id, result, now);
        }
        ConnEvent::Response { conn_id, frame } => core.handle_response(conn_id, frame, now),
        ConnEvent::Closed { conn_id, reason } => {
            ios.remove(&conn_id);
            core.handle_closed(conn_id, reason, now);
        }
    }
}

/// Carries out the core's connection actions and hands its frames to the writers. Returns the connections whose
/// writer is gone.
fn perform(
    core: &mut SenderCore,
    ios: &mut HashMap<u64, ConnIo>,
    settings: &ConnectSettings,
    events: &mpsc::UnboundedSender<ConnEvent>,
) -> Vec<u64> {
    while let Some(action) = core.poll_io() {
        match action {
            IoAction::Connect { conn_id, node: _, address } => {
                let settings = settings.clone();
                let events = events.clone();
                tokio::spawn(async move {
                    let result = connection::connect(conn_id, address, settings, events.clone()).await;
                    let _ = events.send(ConnEvent::Connected { conn_id, result });
                });
            }
            IoAction::Close { conn_id } => {
                ios.remove(&conn_id);
            }
        }
    }
    let mut failed = Vec::new();
    core.drain_transmits(|conn_id, frame| {
        let sent = ios.get(&conn_id).is_some_and(|io| io.send(frame).is_ok());
        if !sent && !failed.contains(&conn_id) {
            failed.push(conn_id);
        }
    });
    failed
}

/// A thread that wakes the sender at a deadline with ~0.1 ms precision (a condition variable's timed wait)
/// instead of tokio's 1 ms tick. One per producer; it sleeps while nothing is armed.
struct PreciseTimer {
    /// False without the thread (`KPROD_PRECISE_TIMER=0`, or it could not start): tokio's timer only.
    enabled: bool,
    state: Arc<(Mutex<TimerState>, Condvar)>,
    /// Notified when the armed deadline passes.
    fired: Arc<Notify>,
}

#[derive(Default)]
struct TimerState {
    deadline: Option<Instant>,
    shutdown: bool,
}

impl PreciseTimer {
    fn start() -> Self {
        let state: Arc<(Mutex<TimerState>, Condvar)> = Arc::default();
        let fired = Arc::new(Notify::new());
        if std::env::var("KPROD_PRECISE_TIMER").is_ok_and(|v| v == "0") {
            return PreciseTimer { enabled: false, state, fired };
        }
        let (s, f) = (state.clone(), fired.clone());
        let spawned = std::thread::Builder::new().name("kprod-sender-timer".into()).spawn(move || {
            let (lock, cv) = &*s;
            let mut st = lock.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                if st.shutdown {
                    return;
                }
                match st.deadline {
                    None => st = cv.wait(st).unwrap_or_else(|e| e.into_inner()),
                    Some(d) => {
                        let now = Instant::now();
                        if d <= now {
                            st.deadline = None;
                            f.notify_one();
                        } else {
                            st = cv.wait_timeout(st, d - now).unwrap_or_else(|e| e.into_inner()).0;
                        }
                    }
                }
            }
        });
        let enabled = match spawned {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!(error = %e, "cannot start the sender's timer thread; linger uses tokio's 1 ms timer");
                false
            }
        };
        PreciseTimer { enabled, state, fired }
    }

    /// Arms (or disarms) the deadline. The thread is woken only when the deadline moves earlier.
    fn arm(&self, deadline: Option<Instant>) {
        let (lock, cv) = &*self.state;
        let mut st = lock.lock().unwrap_or_else(|e| e.into_inner());
        let earlier = match (deadline, st.deadline) {
            (Some(new), Some(old)) => new < old,
            (Some(_), None) => true,
            (None, _) => false,
        };
        st.deadline = deadline;
        if earlier {
            cv.notify_one();
        }
    }
}

impl Drop for PreciseTimer {
    fn drop(&mut self) {
        let (lock, cv) = &*self.state;
        lock.lock().unwrap_or_else(|e| e.into_inner()).shutdown = true;
        cv.notify_one();
    }
}
