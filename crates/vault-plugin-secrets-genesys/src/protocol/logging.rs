//! Logs as the server reads them: go-plugin parses each line of the plugin's stderr as hclog JSON
//! (`@level`, `@message`, `@timestamp` with exactly six fractional digits, other keys as fields;
//! go-plugin's log_entry.go) and logs it under the plugin's name at that level; any other line
//! is logged at debug. The level is `GENESYS_PLUGIN_LOG_LEVEL` (trace, debug, info, warn, error;
//! info if unset), set through the plugin's `env` at registration; the gRPC and TLS crates log
//! warnings and errors only.
//!
//! Request data is never logged (it may hold secrets): callers log operations and paths only.
use std::io::Write;

use serde_json::{Map, Value};
use time::OffsetDateTime;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

/// Installs the hclog JSON logger (and a panic hook that logs the panic as an error first).
pub fn init() {
    let level = match std::env::var("GENESYS_PLUGIN_LOG_LEVEL").as_deref() {
        Ok("trace") => LevelFilter::TRACE,
        Ok("debug") => LevelFilter::DEBUG,
        Ok("warn") => LevelFilter::WARN,
        Ok("error") => LevelFilter::ERROR,
        _ => LevelFilter::INFO,
    };
    // The transport's own debug output (every HTTP/2 frame) is noise in the server's log.
    let mut filter = Targets::new().with_default(level);
    for transport in ["h2", "hyper", "hyper_util", "tonic", "tower", "rustls", "tokio_rustls"] {
        filter = filter.with_target(transport, level.min(LevelFilter::WARN));
    }
    // A second init (tests) keeps the first.
    let _ = tracing_subscriber::registry()
        .with(HclogLayer.with_filter(filter))
        .try_init();
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        tracing::error!(panic = %info, "plugin panicked");
        default_hook(info);
    }));
}

/// Writes each event as one hclog JSON line on stderr.
#[derive(Debug, Default)]
pub struct HclogLayer;

impl<S: Subscriber> Layer<S> for HclogLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = FieldMap(Map::new());
        event.record(&mut fields);
        let line = hclog_line(*event.metadata().level(), OffsetDateTime::now_utc(), fields.0);
        let mut stderr = std::io::stderr().lock();
        let _ = writeln!(stderr, "{line}");
    }
}

/// One hclog JSON line: the event's `message` as `@message`, its other fields beside it.
pub fn hclog_line(level: Level, at: OffsetDateTime, mut fields: Map<String, Value>) -> String {
    let message = match fields.remove("message") {
        Some(Value::String(s)) => s,
        Some(other) => other.to_string(),
        None => String::new(),
    };
    let mut line = Map::new();
    line.insert("@level".into(), Value::String(hclog_level(level).into()));
    line.insert("@message".into(), Value::String(message));
    line.insert("@timestamp".into(), Value::String(hclog_timestamp(at)));
    line.extend(fields);
    Value::Object(line).to_string()
}

fn hclog_level(level: Level) -> &'static str {
    match level {
        Level::TRACE => "trace",
        Level::DEBUG => "debug",
        Level::INFO => "info",
        Level::WARN => "warn",
        Level::ERROR => "error",
    }
}

/// Go's `2006-01-02T15:04:05.000000Z07:00`, in UTC.
fn hclog_timestamp(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.microsecond()
    )
}

struct FieldMap(Map<String, Value>);

impl Visit for FieldMap {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), Value::String(value.into()));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), Value::Bool(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().into(), Value::String(format!("{value:?}")));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_line_has_hclogs_keys_and_a_microsecond_timestamp() {
        // GIVEN an event at a known instant with a message and a field
        let at = OffsetDateTime::from_unix_timestamp_nanos(1_764_493_200_123_456_789).unwrap();
        let mut fields = Map::new();
        fields.insert("message".into(), json!("backend set up"));
        fields.insert("path".into(), json!("roles/crm"));
        // WHEN it is written
        let line: Value = serde_json::from_str(&hclog_line(Level::WARN, at, fields)).unwrap();
        // THEN go-plugin's parser finds its keys, with exactly six fractional digits
        assert_eq!(line["@level"], "warn");
        assert_eq!(line["@message"], "backend set up");
        assert_eq!(line["@timestamp"], "2025-11-30T09:00:00.123456Z");
        assert_eq!(line["path"], "roles/crm");
        assert!(line.get("message").is_none());
    }
}
