//! CloudWatch metrics in Embedded Metric Format (EMF): the one place that names, records and
//! prints them. The library records through the `metrics` facade with the functions below (with
//! no recorder installed, the records go nowhere); the Lambda handlers install the [`Emitter`]
//! once and flush it after every invocation, as EMF lines on stdout that CloudWatch Logs turns
//! into metrics. [`METRICS`] lists every metric and its dimensions, which the template's alarms
//! name (`tests/template.rs`); no value ever carries a secret. What each metric counts, for
//! operators: docs/operators/alarms-and-runbooks.md.

use std::io::Write;

use genesys_core::classify::Classify;
use metrics::{counter, describe_counter, describe_histogram, histogram, Unit};
use metrics_cloudwatch_embedded::Collector;

/// The CloudWatch namespace of every metric.
pub const NAMESPACE: &str = "GenesysRotator";

/// A rotation step that succeeded. Dimensions: `Step`.
pub const STEP_SUCCEEDED: &str = "StepSucceeded";
/// A rotation step that failed. Dimensions: `Step`, `Retryable`.
pub const STEP_FAILED: &str = "StepFailed";
/// Clients deleted. Dimensions: `Reason`.
pub const CLIENTS_DELETED: &str = "ClientsDeleted";
/// Managed clients reconciliation found orphaned (deleted, or would delete in a dry run).
pub const ORPHANS_FOUND: &str = "OrphansFound";
/// Free places under the organization's client limit (`CLIENT_LIMIT` minus the clients it
/// holds), each time an org's clients are counted: before every create and in every scheduled
/// pass. Alarm on its Minimum.
pub const CLIENT_LIMIT_HEADROOM: &str = "ClientLimitHeadroom";
/// [`CLIENT_LIMIT_HEADROOM`] per organization, named by the master client that counted it (one
/// master serves one org). Dimensions: `MasterClient`. For the dashboard.
pub const ORG_CLIENT_LIMIT_HEADROOM: &str = "OrgClientLimitHeadroom";
/// A rotation step that failed, by what went wrong: the kind of its `errorType`
/// (`GenesysRateLimited`, `InvalidSecret`...). Dimensions: `Kind`. For the dashboard; the alarms
/// watch [`STEP_FAILED`].
pub const STEP_FAILED_BY_KIND: &str = "StepFailedByKind";
/// Failures of the cleanup function that an operator may have to look at. Dimensions: `Kind`.
pub const CLEANUP_FAILURES: &str = "CleanupFailures";
/// Replaced clients left active because another served secret or a master still holds them.
pub const SHARED_CLIENT_KEPT: &str = "SharedClientKept";
/// Replaced clients left active because the secret neither owns them nor proved it holds them
/// (its `clientId` named a client its stored credential does not authenticate as).
pub const UNPROVEN_CLIENT_KEPT: &str = "UnprovenClientKept";

/// Dimension of step metrics: the step's wire name, or [`INVALID_EVENT`].
pub const DIM_STEP: &str = "Step";
/// Dimension of [`STEP_FAILED`]: `"true"` if running the step again may succeed.
pub const DIM_RETRYABLE: &str = "Retryable";
/// Dimension of [`CLIENTS_DELETED`]: one of [`DeleteReason`].
pub const DIM_REASON: &str = "Reason";
/// Dimension of [`CLEANUP_FAILURES`] (one of [`CleanupFailure`]) and of
/// [`STEP_FAILED_BY_KIND`] (an error kind).
pub const DIM_KIND: &str = "Kind";
/// Dimension of [`ORG_CLIENT_LIMIT_HEADROOM`]: the master's OAuth client id.
pub const DIM_MASTER_CLIENT: &str = "MasterClient";

/// The values of a dimension that are not a fixed set (an error kind, a client id): no alarm
/// names one; the dashboard finds them with `SEARCH`.
const OPEN: &[&str] = &[];

/// The `Step` of an event too malformed to name its step.
pub const INVALID_EVENT: &str = "InvalidEvent";
/// Every `Step` value: the four steps and [`INVALID_EVENT`].
pub const STEP_VALUES: [&str; 5] = ["createSecret", "setSecret", "testSecret", "finishSecret", INVALID_EVENT];

/// One metric and its dimension set (exactly these dimensions, in this order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricDef {
    /// The metric name.
    pub name: &'static str,
    /// Its dimension names; each value a CloudWatch alarm must name.
    pub dimensions: &'static [&'static str],
    /// Its dimension values, per dimension; empty for an open set (see `OPEN`).
    pub values: &'static [&'static [&'static str]],
}

/// Every metric this crate emits.
pub const METRICS: &[MetricDef] = &[
    MetricDef {
        name: STEP_SUCCEEDED,
        dimensions: &[DIM_STEP],
        values: &[&STEP_VALUES],
    },
    MetricDef {
        name: STEP_FAILED,
        dimensions: &[DIM_STEP, DIM_RETRYABLE],
        values: &[&STEP_VALUES, &["true", "false"]],
    },
    MetricDef {
        name: STEP_FAILED_BY_KIND,
        dimensions: &[DIM_KIND],
        values: &[OPEN],
    },
    MetricDef {
        name: CLIENTS_DELETED,
        dimensions: &[DIM_REASON],
        values: &[&DeleteReason::VALUES],
    },
    MetricDef {
        name: ORPHANS_FOUND,
        dimensions: &[],
        values: &[],
    },
    MetricDef {
        name: CLIENT_LIMIT_HEADROOM,
        dimensions: &[],
        values: &[],
    },
    MetricDef {
        name: ORG_CLIENT_LIMIT_HEADROOM,
        dimensions: &[DIM_MASTER_CLIENT],
        values: &[OPEN],
    },
    MetricDef {
        name: CLEANUP_FAILURES,
        dimensions: &[DIM_KIND],
        values: &[&CleanupFailure::VALUES],
    },
    MetricDef {
        name: SHARED_CLIENT_KEPT,
        dimensions: &[],
        values: &[],
    },
    MetricDef {
        name: UNPROVEN_CLIENT_KEPT,
        dimensions: &[],
        values: &[],
    },
];

/// Why a client was deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteReason {
    /// Its drain passed (cleanup, from the drain queue).
    Drained,
    /// Reconciliation found it orphaned.
    Orphaned,
    /// createSecret found it made by an earlier attempt whose secret was lost.
    LostSecret,
}

impl DeleteReason {
    /// Every value, as the `Reason` dimension spells it.
    pub const VALUES: [&'static str; 3] = ["Drained", "Orphaned", "LostSecret"];

    fn as_str(self) -> &'static str {
        match self {
            DeleteReason::Drained => Self::VALUES[0],
            DeleteReason::Orphaned => Self::VALUES[1],
            DeleteReason::LostSecret => Self::VALUES[2],
        }
    }
}

/// What went wrong in the cleanup function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CleanupFailure {
    /// A due delete was refused (the client is current, pending, unmanaged or renamed): an
    /// operator must look.
    Refused,
    /// A drain message could not be read; it will reach the DLQ.
    Malformed,
    /// Processing a message failed; it returns to the queue (and reaches the DLQ if it keeps
    /// failing).
    Failed,
    /// Reconciling a secret failed; none of its clients was deleted.
    Reconcile,
}

impl CleanupFailure {
    /// Every value, as the `Kind` dimension spells it.
    pub const VALUES: [&'static str; 4] = ["Refused", "Malformed", "Failed", "Reconcile"];

    fn as_str(self) -> &'static str {
        match self {
            CleanupFailure::Refused => Self::VALUES[0],
            CleanupFailure::Malformed => Self::VALUES[1],
            CleanupFailure::Failed => Self::VALUES[2],
            CleanupFailure::Reconcile => Self::VALUES[3],
        }
    }
}

/// Records a rotation step's outcome: `step` is a [`STEP_VALUES`] entry, `failure` is `None`
/// for a success and the error for a failure.
pub fn step_outcome(step: &'static str, failure: Option<&dyn Classify>) {
    match failure {
        None => counter!(STEP_SUCCEEDED, DIM_STEP => step).increment(1),
        Some(e) => {
            let retryable = if e.is_retryable() { "true" } else { "false" };
            counter!(STEP_FAILED, DIM_STEP => step, DIM_RETRYABLE => retryable).increment(1);
            counter!(STEP_FAILED_BY_KIND, DIM_KIND => e.kind()).increment(1);
        }
    }
}

/// Records `n` deleted clients.
pub fn clients_deleted(reason: DeleteReason, n: usize) {
    if n > 0 {
        counter!(CLIENTS_DELETED, DIM_REASON => reason.as_str()).increment(n as u64);
    }
}

/// Records `n` orphans found by a reconciliation.
pub fn orphans_found(n: usize) {
    if n > 0 {
        counter!(ORPHANS_FOUND).increment(n as u64);
    }
}

/// Records the room left under the client limit when the org of master client `master` holds
/// `count` clients: once for the alarm (all orgs) and once per org for the dashboard.
pub fn client_limit_headroom(client_limit: usize, count: usize, master: &str) {
    // Negative when an org is already over the configured limit: shown as it is.
    let headroom = client_limit as f64 - count as f64;
    histogram!(CLIENT_LIMIT_HEADROOM).record(headroom);
    histogram!(ORG_CLIENT_LIMIT_HEADROOM, DIM_MASTER_CLIENT => master.to_owned()).record(headroom);
}

/// Records a replaced client left active because someone else still holds it.
pub fn shared_client_kept() {
    counter!(SHARED_CLIENT_KEPT).increment(1);
}

/// Records a replaced client left active because the secret neither owns it nor proved it
/// holds it.
pub fn unproven_client_kept() {
    counter!(UNPROVEN_CLIENT_KEPT).increment(1);
}

/// Records `n` cleanup failures of one kind.
pub fn cleanup_failures(kind: CleanupFailure, n: usize) {
    if n > 0 {
        counter!(CLEANUP_FAILURES, DIM_KIND => kind.as_str()).increment(n as u64);
    }
}

/// Why the EMF recorder could not be installed.
#[derive(Debug, thiserror::Error)]
#[error("cannot install the metrics recorder: {0}")]
pub struct InstallError(String);

impl genesys_core::classify::Classify for InstallError {
    /// Never: a process has one recorder.
    fn is_retryable(&self) -> bool {
        false
    }

    fn kind(&self) -> &'static str {
        "MetricsRecorder"
    }

    fn call_name(&self) -> Option<&'static str> {
        None
    }
}

/// The installed EMF recorder. One per process.
///
/// Why `metrics_cloudwatch_embedded`: it is a backend of the `metrics` facade (the common
/// metrics API of Rust), so the library depends on the facade only; it is maintained (regular
/// releases, lambda_runtime 1.x); it writes valid EMF (tested by `tests/observability.rs`); and
/// without its `lambda` feature it pulls no HTTP stack. The flush is ours rather than its
/// `lambda::run` wrapper, which would replace `lambda_runtime::run` in both handlers. EMF needs
/// no `cloudwatch:PutMetricData` call, permission or latency.
#[derive(Clone, Copy)]
pub struct Emitter {
    collector: &'static Collector,
}

impl Emitter {
    /// Installs the EMF recorder as the process's `metrics` recorder. Fails if one is already
    /// installed.
    pub fn install() -> Result<Emitter, InstallError> {
        let collector = metrics_cloudwatch_embedded::Builder::new()
            .cloudwatch_namespace(NAMESPACE)
            .init()
            .map_err(|e| InstallError(e.to_string()))?;
        describe_counter!(STEP_SUCCEEDED, Unit::Count, "rotation steps that succeeded");
        describe_counter!(STEP_FAILED, Unit::Count, "rotation steps that failed");
        describe_counter!(CLIENTS_DELETED, Unit::Count, "clients deleted");
        describe_counter!(ORPHANS_FOUND, Unit::Count, "orphaned managed clients found");
        describe_histogram!(CLIENT_LIMIT_HEADROOM, Unit::Count, "free places under the client limit");
        describe_counter!(CLEANUP_FAILURES, Unit::Count, "cleanup failures");
        describe_counter!(STEP_FAILED_BY_KIND, Unit::Count, "rotation steps that failed, by kind");
        describe_histogram!(
            ORG_CLIENT_LIMIT_HEADROOM,
            Unit::Count,
            "free places under the client limit, per organization"
        );
        Ok(Emitter { collector })
    }

    /// Writes what was recorded since the last flush as EMF lines, each tagged with the
    /// invocation's `requestId` (to find its logs), to `writer`. Counters that did not move are
    /// left out.
    pub fn flush_to(&self, request_id: &str, writer: impl Write) -> std::io::Result<()> {
        self.collector.set_property("requestId", request_id).flush(writer)
    }

    /// [`Emitter::flush_to`] stdout, where Lambda sends it to CloudWatch Logs. A failed write
    /// loses metrics, never the invocation's result, so it is only logged.
    pub fn flush(&self, request_id: &str) {
        if let Err(e) = self.flush_to(request_id, std::io::stdout().lock()) {
            tracing::warn!(error = %e, "could not write metrics");
        }
    }
}
