//! GENESYS_ENDPOINT_OVERRIDES exists only in test and demo builds (cargo feature
//! `endpoint-overrides`). This checks the real `rotation` binary the way it was built:
//!
//! - without the feature (`cargo nextest run -p rotation`, a step of `make test`; the release zips
//!   are built the same way, only optimised): the override parser is absent from the binary, and
//!   a set variable is refused at start with `NonRetryable.InvalidConfiguration`;
//! - with it (`--all-features`): the parser is there (so the fingerprint below does detect it)
//!   and the same environment is taken.
//!
//! Why a fingerprint: the parser cannot be called from outside the binary, but the text of its
//! loopback refusal is a string literal that any build carrying the parser holds verbatim, and no
//! other code holds. Looking for it in the binary is cheap (no extra build: the test harness
//! builds the binary anyway) and does not depend on symbols, which release builds strip.
//! `make package` looks for the same text in the release zips, and `make lint` checks with
//! `cargo tree` that the release build's feature set leaves the feature out.

mod runtime_api;

use std::time::Duration;

use runtime_api::{Answer, REQUEST_ID};

/// Part of `EndpointOverrideError::NotLoopback`'s message (crates/genesys-core/src/region.rs), which only the
/// parser's code carries. The Makefile's `package` check uses the same text.
const PARSER_FINGERPRINT: &str = "overrides exist only to reach a local emulator";

fn binary_carries_the_parser() -> bool {
    let binary = std::fs::read(env!("CARGO_BIN_EXE_rotation")).expect("read the rotation binary");
    binary
        .windows(PARSER_FINGERPRINT.len())
        .any(|w| w == PARSER_FINGERPRINT.as_bytes())
}

#[test]
fn the_makefile_checks_the_release_zips_for_the_same_fingerprint() {
    let makefile = include_str!("../../../Makefile");
    assert!(
        makefile.contains(PARSER_FINGERPRINT),
        "`make package` must look for {PARSER_FINGERPRINT:?} in the release zips"
    );
}

#[cfg(not(feature = "endpoint-overrides"))]
#[test]
fn a_build_without_the_feature_carries_no_override_parser() {
    assert!(
        !binary_carries_the_parser(),
        "the rotation binary built without `endpoint-overrides` holds the override parser"
    );
}

#[cfg(feature = "endpoint-overrides")]
#[test]
fn a_build_with_the_feature_carries_the_parser_the_fingerprint_finds() {
    assert!(
        binary_carries_the_parser(),
        "{PARSER_FINGERPRINT:?} is not in the rotation binary built with `endpoint-overrides`: \
         the fingerprint no longer matches crates/genesys-core/src/region.rs, so the release check would pass blindly"
    );
}

/// Runs the binary with a valid environment plus GENESYS_ENDPOINT_OVERRIDES, hands it a
/// malformed event, and returns its answer. A function whose environment was refused answers
/// `NonRetryable.InvalidConfiguration` to anything; one that took it refuses the event.
async fn answer_with_overrides() -> serde_json::Value {
    let mut api = runtime_api::start(serde_json::json!({"Step": "createSecret"})).await;
    let mut child = runtime_api::function(&api, true)
        .env("ALLOWED_MASTER_SECRET_ARNS", runtime_api::MASTER_ARN)
        .env("DRAIN_QUEUE_URL", runtime_api::QUEUE_URL)
        .env("GENESYS_ENDPOINT_OVERRIDES", "mypurecloud.ie=http://127.0.0.1:9")
        .spawn()
        .expect("start the rotation binary");
    let answered = api.answer(Duration::from_secs(120)).await;
    child.kill().await.ok();
    match answered {
        Some(Answer::Error { request_id, body }) => {
            assert_eq!(request_id, REQUEST_ID);
            body
        }
        other => panic!("the function did not answer with an error: {other:?}"),
    }
}

#[cfg(not(feature = "endpoint-overrides"))]
#[tokio::test]
async fn a_build_without_the_feature_refuses_the_variable_at_start() {
    let body = answer_with_overrides().await;
    assert_eq!(body["errorType"], "NonRetryable.InvalidConfiguration", "{body}");
    let message = body["errorMessage"].as_str().unwrap_or_default();
    assert!(
        message.contains("GENESYS_ENDPOINT_OVERRIDES")
            && message.contains("this build does not take endpoint overrides"),
        "{message}"
    );
}

#[cfg(feature = "endpoint-overrides")]
#[tokio::test]
async fn a_build_with_the_feature_takes_the_variable() {
    let body = answer_with_overrides().await;
    assert_eq!(body["errorType"], "NonRetryable.InvalidEvent", "{body}");
}
