//! The failure record: when a step fails, the rotation writes when, which step and its
//! `errorType` on the secret's tags ([`LAST_FAILURE_TAGS`]), so `genesys-rotator status` can show
//! the last failure without CloudWatch. Best effort: a record that cannot be written is logged
//! and never replaces the step's own error; no secret is ever part of it.

use time::OffsetDateTime;
use tracing::warn;

use super::{RotationError, Rotator, Step};
use crate::drain::Retirement;
use crate::store::{SecretStore, LAST_FAILURE_TAGS};

/// The tags that record a failure of `step` with `error_type` at `at`, in the order of
/// [`LAST_FAILURE_TAGS`].
pub fn failure_tags(at: OffsetDateTime, step: Step, error_type: &str) -> Vec<(&'static str, String)> {
    let [at_key, step_key, type_key] = LAST_FAILURE_TAGS;
    vec![
        (at_key, super::error::rfc3339(&at.replace_nanosecond(0).unwrap_or(at))),
        (step_key, step.as_str().to_owned()),
        (type_key, error_type.to_owned()),
    ]
}

/// Whether a failure is recorded on the secret the event names: not when that secret is not
/// provably one this deployment serves (untagged, or not found), whose tags are not ours to write.
fn recorded(e: &RotationError) -> bool {
    !matches!(e, RotationError::NotServed(_) | RotationError::Event(_))
        && !matches!(e, RotationError::Store(s @ crate::store::StoreError::NotFound { .. })
            if s.call() == crate::store::SecretsManagerCall::DescribeSecret)
}

impl<S: SecretStore, R: Retirement> Rotator<S, R> {
    /// Records the failure of `step` on `secret_id` (see the module doc).
    pub(super) async fn record_failure(&self, secret_id: &str, step: Step, e: &RotationError, error_type: &str) {
        if !recorded(e) {
            return;
        }
        let tags = failure_tags(OffsetDateTime::now_utc(), step, error_type);
        if let Err(tag_error) = self.deployment.store().tag(secret_id, &tags).await {
            warn!(error = %tag_error, "the step's failure could not be recorded on the secret's tags; `status` will not show it");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_record_is_time_step_and_error_type_in_tag_safe_characters() {
        let at = time::macros::datetime!(2026-11-30 12:34:56.789 UTC);
        let tags = failure_tags(
            at,
            Step::CreateSecret,
            "NonRetryable.GenesysRequestRefused.CreateClient",
        );
        assert_eq!(
            tags,
            [
                (LAST_FAILURE_TAGS[0], "2026-11-30T12:34:56Z".to_owned()),
                (LAST_FAILURE_TAGS[1], "createSecret".to_owned()),
                (
                    LAST_FAILURE_TAGS[2],
                    "NonRetryable.GenesysRequestRefused.CreateClient".to_owned()
                ),
            ]
        );
        // AWS tag values: letters, digits, spaces and + - = . _ : / @ only.
        for (_, v) in &tags {
            assert!(
                v.chars().all(|c| c.is_ascii_alphanumeric() || " +-=._:/@".contains(c)),
                "{v}"
            );
        }
    }
}
