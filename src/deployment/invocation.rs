//! What one invocation reads once: the master secrets' AWSCURRENT and AWSPENDING values.
//!
//! A step of an integration secret reads its master for the master client
//! ([`super::Deployment::master_of`]) and every allowed master again for the guard's holders; the values
//! cannot differ in ways that matter within one invocation (a master rotation renews the secret
//! of the same client, and a refused AWSCURRENT falls back to AWSPENDING), so each is read once
//! per invocation. Never across invocations: the next one must see a rotated master at once.
//! The cache travels as a task-local value ([`scope`]), like the step deadline, because the
//! deployment context outlives its invocations. Outside a scope (the command line) every read goes to
//! Secrets Manager. A master secret's own rotation runs outside any scope: it writes the values
//! it would otherwise read from the cache.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;

use crate::store::SecretValue;

tokio::task_local! {
    static MASTER_READS: RefCell<HashMap<(String, &'static str), Option<SecretValue>>>;
}

/// Runs `invocation` with its own, empty cache of master reads.
pub(crate) async fn scope<F: Future>(invocation: F) -> F::Output {
    // Boxed: a whole step's future is large, and a debug build keeps copies of it in each
    // caller's stack frame.
    MASTER_READS
        .scope(RefCell::new(HashMap::new()), Box::pin(invocation))
        .await
}

pub(super) fn cached(arn: &str, stage: &'static str) -> Option<Option<SecretValue>> {
    MASTER_READS
        .try_with(|reads| reads.borrow().get(&(arn.to_owned(), stage)).cloned())
        .ok()
        .flatten()
}

pub(super) fn remember(arn: &str, stage: &'static str, value: &Option<SecretValue>) {
    // Outside a scope there is nothing to remember into.
    let _ = MASTER_READS.try_with(|reads| reads.borrow_mut().insert((arn.to_owned(), stage), value.clone()));
}
