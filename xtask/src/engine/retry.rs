//! Jittered exponential backoff under a deadline, for the waits and retries the SDK cannot do
//! itself (eventual consistency, polling a resource until it is usable or gone).

use std::future::Future;
use std::time::Duration;

use rand::Rng;
use tokio::time::Instant;

use super::kind::{CloudError, CloudResult};

#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { initial: Duration::from_millis(200), max: Duration::from_secs(10) }
    }
}

impl Backoff {
    /// The pause before attempt `attempt` (0-based): "equal jitter", so it never collapses to 0
    /// and never exceeds the cap.
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = self.initial.saturating_mul(1u32 << attempt.min(16));
        let capped = exp.min(self.max);
        let half = capped / 2;
        half + rand::thread_rng().gen_range(Duration::ZERO..=half)
    }

    /// The pause between two looks at something becoming ready, `waited` into the wait: the
    /// backoff, but no longer than a twentieth of the time waited so far (and at least
    /// `initial`), so that a wait of any length ends within about 5% of the moment it could.
    pub fn poll(&self, attempt: u32, waited: Duration) -> Duration {
        self.delay(attempt).min((waited / 20).max(self.initial))
    }
}

/// How long a retrying loop may go on: until `deadline`, and for a `RetryableFor` answer no
/// longer than its window after the first one.
pub struct Budget {
    deadline: Instant,
    first_bounded: Option<Instant>,
    attempts: u32,
}

impl Budget {
    pub fn new(deadline: Instant) -> Budget {
        Budget { deadline, first_bounded: None, attempts: 0 }
    }

    /// For a retryable `error`: the pause before the next attempt and why; any other error, or
    /// a retryable one past its budget, comes back as the error to return.
    pub fn next(
        &mut self,
        backoff: Backoff,
        error: CloudError,
    ) -> Result<(Duration, String), CloudError> {
        let (why, limit) = match error {
            CloudError::Retryable(why) => (why, self.deadline),
            CloudError::RetryableFor(why, window) => {
                let first = *self.first_bounded.get_or_insert_with(Instant::now);
                (why, self.deadline.min(first + window))
            }
            other => return Err(other),
        };
        let pause = backoff.delay(self.attempts);
        if Instant::now() + pause > limit {
            return Err(CloudError::Fatal(format!(
                "gave up after {} attempts: {why}",
                self.attempts + 1
            )));
        }
        self.attempts += 1;
        Ok((pause, why))
    }
}

/// Runs `op` until it succeeds, fails for good, or `deadline` passes. `on_retry` hears why.
pub async fn retry<T, F, Fut>(
    backoff: Backoff,
    deadline: Instant,
    mut on_retry: impl FnMut(&str),
    mut op: F,
) -> CloudResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = CloudResult<T>>,
{
    let mut budget = Budget::new(deadline);
    loop {
        match op().await {
            Err(e) => {
                let (pause, why) = budget.next(backoff, e)?;
                on_retry(&why);
                tokio::time::sleep(pause).await;
            }
            ok => return ok,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_are_capped() {
        let b = Backoff { initial: Duration::from_millis(100), max: Duration::from_secs(2) };
        for attempt in 0..30 {
            let d = b.delay(attempt);
            let ceiling = (b.initial * 2u32.pow(attempt.min(16))).min(b.max);
            assert!(d >= ceiling / 2 && d <= ceiling, "attempt {attempt}: {d:?}");
        }
    }

    #[test]
    fn polls_come_no_later_than_a_twentieth_of_the_wait() {
        let b = Backoff::default();
        for attempt in 0..30 {
            let waited = Duration::from_secs(u64::from(attempt) * 3);
            let d = b.poll(attempt, waited);
            assert!(d <= (waited / 20).max(b.initial), "attempt {attempt} after {waited:?}: {d:?}");
            assert!(d >= b.initial / 2, "never a busy loop: {d:?}");
        }
        assert!(b.poll(30, Duration::from_secs(3600)) <= b.max, "the cap still holds");
    }

    #[tokio::test(start_paused = true)]
    async fn retries_until_success_and_gives_up_at_deadline() {
        let mut n = 0;
        let got = retry(
            Backoff::default(),
            Instant::now() + Duration::from_secs(60),
            |_| {},
            || {
                n += 1;
                let n = n;
                async move {
                    if n < 4 {
                        Err(CloudError::Retryable("busy".into()))
                    } else {
                        Ok(n)
                    }
                }
            },
        )
        .await;
        assert_eq!(got.unwrap(), 4);

        let got: CloudResult<()> = retry(
            Backoff::default(),
            Instant::now() + Duration::from_secs(5),
            |_| {},
            || async { Err(CloudError::Retryable("busy".into())) },
        )
        .await;
        assert!(matches!(got, Err(CloudError::Fatal(m)) if m.contains("gave up")));
    }

    /// A bounded answer is retried for its window, not until the deadline.
    #[tokio::test(start_paused = true)]
    async fn a_bounded_retry_gives_up_after_its_window() {
        let start = Instant::now();
        let got: CloudResult<()> = retry(
            Backoff::default(),
            start + Duration::from_secs(900),
            |_| {},
            || async { Err(CloudError::RetryableFor("role".into(), Duration::from_secs(60))) },
        )
        .await;
        assert!(matches!(got, Err(CloudError::Fatal(m)) if m.contains("gave up")));
        let waited = start.elapsed();
        assert!(
            waited <= Duration::from_secs(60) && waited >= Duration::from_secs(45),
            "{waited:?}"
        );
    }
}
