//! Publishers make sure their JetStream stream exists once per process, not before every
//! message: asking NATS each time doubled the round trips of queuing a job.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Whether a stream was made. Forgotten after a failed publish, since the stream may
/// have gone with a NATS restarted without its store.
#[derive(Clone, Default)]
pub(crate) struct Made(Arc<AtomicBool>);

impl Made {
    pub(crate) async fn ensure<Error, Make, Making>(&self, make: Make) -> Result<(), Error>
    where
        Make: FnOnce() -> Making,
        Making: Future<Output = Result<(), Error>>,
    {
        if !self.0.load(Ordering::Acquire) {
            make().await?;
            self.0.store(true, Ordering::Release);
        }
        Ok(())
    }

    pub(crate) fn forget(&self) {
        self.0.store(false, Ordering::Release);
    }
}
