//! The sender core's timers, in the style of quinn-proto's timer table: each reason to wake up has its own slot,
//! set while the core works through [`SenderCore::poll`](super::SenderCore::poll), and the IO loop sleeps until
//! [`TimerTable::next_timeout`], the earliest of them. Nothing threads a "next wake-up" through function arguments.

use std::time::Instant;

/// Why the core wants to be polled at a given instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Timer {
    /// The first batch of a partition becomes sendable: its linger ends or its retry backoff is over.
    Ready = 0,
    /// The next metadata request may go (one attempt per `retry.backoff.ms`).
    Metadata = 1,
    /// InitProducerId may be retried.
    InitProducerId = 2,
    /// A connection's SASL session is about to end (KIP-368): stop using it.
    Reauth = 3,
    /// The oldest request in flight reaches `request.timeout.ms`.
    RequestTimeout = 4,
    /// A node's reconnect backoff ends.
    Reconnect = 5,
    /// The transaction manager wants to send again (its retry backoff).
    Txn = 6,
    /// Longest sleep without a reason, so age-based checks (metadata age, delivery timeouts) still run.
    Idle = 7,
}

const COUNT: usize = 8;

/// One deadline per [`Timer`].
#[derive(Debug, Default, Clone)]
pub(super) struct TimerTable {
    at: [Option<Instant>; COUNT],
}

impl TimerTable {
    /// Arms `timer` at `at`, or earlier if it is already armed earlier.
    pub(super) fn set_earliest(&mut self, timer: Timer, at: Instant) {
        let slot = &mut self.at[timer as usize];
        *slot = Some(slot.map_or(at, |t| t.min(at)));
    }

    #[cfg(test)]
    pub(super) fn get(&self, timer: Timer) -> Option<Instant> {
        self.at[timer as usize]
    }

    /// Disarms every timer (each poll re-arms what it still needs).
    pub(super) fn clear(&mut self) {
        self.at = [None; COUNT];
    }

    /// Every armed timer and its deadline (the simulation names them when a run hangs).
    #[cfg(test)]
    pub(super) fn armed(&self) -> impl Iterator<Item = (Timer, Instant)> + '_ {
        const ALL: [Timer; COUNT] = [
            Timer::Ready,
            Timer::Metadata,
            Timer::InitProducerId,
            Timer::Reauth,
            Timer::RequestTimeout,
            Timer::Reconnect,
            Timer::Txn,
            Timer::Idle,
        ];
        ALL.into_iter().filter_map(|t| self.at[t as usize].map(|at| (t, at)))
    }

    /// The earliest armed deadline.
    pub(super) fn next_timeout(&self) -> Option<Instant> {
        self.at.iter().flatten().min().copied()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn earliest_wins_and_clear_disarms() {
        let t0 = Instant::now();
        let mut t = TimerTable::default();
        assert_eq!(t.next_timeout(), None);
        t.set_earliest(Timer::Idle, t0 + Duration::from_millis(100));
        t.set_earliest(Timer::Ready, t0 + Duration::from_micros(900));
        t.set_earliest(Timer::Ready, t0 + Duration::from_millis(5));
        assert_eq!(t.get(Timer::Ready), Some(t0 + Duration::from_micros(900)));
        assert_eq!(t.next_timeout(), Some(t0 + Duration::from_micros(900)));
        t.clear();
        assert_eq!(t.next_timeout(), None);
    }
}
