//! What the consumer API costs: `make bench` runs it as
//! `cargo bench --features consumer,endpoint-overrides --bench consumer` (the overrides send the
//! consumer to the emulator).
//!
//! Against the Genesys emulator on loopback, one request at a time:
//! - **warm**: `GET /api/v2/tokens/me` through a [`Consumer`] with a cached token, against the
//!   same request sent with plain `reqwest` and a fixed token; the difference is the consumer's
//!   overhead per call (cache lookup, request build, host check, header).
//! - **recovery**: the client behind the cached token is deleted (as the cleanup does after a
//!   rotation) and the secret holds a new one; the next call meets a 401, re-reads the secret,
//!   gets a token and retries. The secret store is in memory, so this is the consumer's and
//!   Genesys' share only: add one `GetSecretValue` round trip (typically 10 to 50 ms) for AWS.
//!
//! Prints a table. No assertions: timings vary by machine; the tests check behaviour.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use genesys_emulator::{Emulator, EmulatorConfig, SeedClient};
use genesys_rotator::consumer::{Consumer, ConsumerSettings};
use genesys_rotator::domain::ClientId;
use genesys_rotator::genesys::{ClientState, GenesysClient, HttpSettings};
use genesys_rotator::region::{EndpointOverrides, Endpoints, Region};
use genesys_rotator::secret::ClientCredentials;
use genesys_rotator::store::{BatchValues, SecretDescription, SecretStore, SecretValue, StoreError, Version};
use reqwest::Url;
use secrecy::SecretString;

const WARM_ROUNDS: usize = 40;
const WARM_BLOCK: usize = 100;
const RECOVERIES: usize = 100;
const ARN: &str = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:bench-AbCdEf";

/// A secret store holding one AWSCURRENT value in memory; clones share it.
#[derive(Clone, Default)]
struct MemoryStore(Arc<Mutex<String>>);

impl MemoryStore {
    fn set(&self, id: &str, secret: &str) {
        *self.0.lock().unwrap() =
            serde_json::json!({"clientId": id, "clientSecret": secret, "region": "mypurecloud.ie"}).to_string();
    }
}

impl SecretStore for MemoryStore {
    async fn describe(&self, _: &str) -> Result<SecretDescription, StoreError> {
        unimplemented!("the consumer only reads values")
    }
    async fn get_value(&self, _: &str, _: Version<'_>) -> Result<Option<SecretValue>, StoreError> {
        Ok(Some(SecretValue {
            version_id: "v".into(),
            value: SecretString::from(self.0.lock().unwrap().clone()),
        }))
    }
    async fn promote(&self, _: &str, _: &str, _: &str) -> Result<(), StoreError> {
        unimplemented!()
    }
    async fn put_staged(&self, _: &str, _: &str, _: &SecretString, _: &str, _: Option<&str>) -> Result<(), StoreError> {
        unimplemented!()
    }
    async fn remove_stage(&self, _: &str, _: &str, _: &str) -> Result<(), StoreError> {
        unimplemented!()
    }
    async fn version_ids(&self, _: &str) -> Result<std::collections::HashSet<String>, StoreError> {
        unimplemented!("the consumer only reads values")
    }
    async fn served_secrets(&self) -> Result<Vec<SecretDescription>, StoreError> {
        unimplemented!("the consumer only reads values")
    }
    async fn tag(&self, _: &str, _: &[(&str, String)]) -> Result<(), StoreError> {
        unimplemented!("the consumer only reads values")
    }
    async fn current_values(&self, _: &[&str]) -> Result<BatchValues, StoreError> {
        unimplemented!("the consumer only reads one value")
    }
}

struct Summary {
    median: Duration,
    mean: Duration,
    p99: Duration,
}

fn summarize(mut samples: Vec<Duration>) -> Summary {
    samples.sort();
    let n = samples.len();
    Summary {
        median: samples[n / 2],
        mean: samples.iter().sum::<Duration>() / n as u32,
        p99: samples[(n * 99 / 100).min(n - 1)],
    }
}

fn us(d: Duration) -> String {
    format!("{:>9.1}", d.as_secs_f64() * 1e6)
}

fn row(name: &str, n: usize, s: &Summary) {
    println!(
        "| {name:<48} | {n:>6} | {} | {} | {} |",
        us(s.median),
        us(s.mean),
        us(s.p99)
    );
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let emulator = Emulator::start(EmulatorConfig::default()).await.expect("emulator");
    let base = emulator.base_url();
    let master = emulator.seed_client(SeedClient::admin("bench-master"));
    let app = emulator.seed_client(SeedClient::new("bench-app", &[]));

    let store = MemoryStore::default();
    store.set(&app.id, &app.secret);
    let mut overrides = EndpointOverrides::none();
    overrides.insert(Region::EuWest1, &base).unwrap();
    let http = reqwest::Client::new();
    let consumer = Consumer::new(
        store.clone(),
        ARN,
        http.clone(),
        ConsumerSettings {
            endpoint_overrides: overrides,
            ..ConsumerSettings::default()
        },
    );
    consumer.warm_up().await.expect("warm up");
    let raw_token = emulator.issue_token_for(&app.id).expect("token");
    let url = format!("{base}/api/v2/tokens/me");

    // Warm: alternate blocks of raw and consumer calls so drift hits both alike.
    let (mut raw, mut via) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        let _ = http
            .get(&url)
            .bearer_auth(&raw_token)
            .send()
            .await
            .unwrap()
            .bytes()
            .await;
        let _ = consumer.get("/api/v2/tokens/me").await.unwrap().bytes().await;
    }
    for _ in 0..WARM_ROUNDS {
        for _ in 0..WARM_BLOCK {
            let t = Instant::now();
            let r = http.get(&url).bearer_auth(&raw_token).send().await.unwrap();
            assert_eq!(r.status(), 200);
            r.bytes().await.unwrap();
            raw.push(t.elapsed());
        }
        for _ in 0..WARM_BLOCK {
            let t = Instant::now();
            let r = consumer.get("/api/v2/tokens/me").await.unwrap();
            assert_eq!(r.status(), 200);
            r.bytes().await.unwrap();
            via.push(t.elapsed());
        }
    }
    let (raw, via) = (summarize(raw), summarize(via));

    // Recovery: delete the client behind the cached token, put a new one in the secret.
    let admin = GenesysClient::new(
        http.clone(),
        Endpoints::single(Url::parse(&base).unwrap()),
        ClientCredentials::new(ClientId::parse(&master.id).unwrap(), &master.secret),
        HttpSettings::default(),
    );
    let mut current = app.id.clone();
    let mut recover = Vec::new();
    let mut recovered_store_reads = 0;
    for i in 0..RECOVERIES {
        let next = emulator.seed_client(SeedClient::new(format!("bench-app-{i}"), &[]));
        store.set(&next.id, &next.secret);
        let old = admin.get_client(&current).await.unwrap().expect("old client");
        let mut body = old.to_request();
        body.state = Some(ClientState::Inactive);
        admin.update_client(&current, &body).await.unwrap();
        admin.delete_client(&current).await.unwrap();
        current = next.id;
        let reads = consumer.stats().secret_reads;
        let t = Instant::now();
        let r = consumer.get("/api/v2/tokens/me").await.unwrap();
        assert_eq!(r.status(), 200);
        r.bytes().await.unwrap();
        recover.push(t.elapsed());
        recovered_store_reads += consumer.stats().secret_reads - reads;
    }
    let recover = summarize(recover);
    let stats = consumer.stats();
    assert_eq!(stats.recovered as usize, RECOVERIES);

    println!();
    println!("consumer bench: GET /api/v2/tokens/me on the emulator (loopback), one call at a time; µs");
    println!();
    println!(
        "| {:<48} | {:>6} | {:>9} | {:>9} | {:>9} |",
        "call", "n", "median", "mean", "p99"
    );
    println!("|{:-<50}|{:-<8}|{:-<11}|{:-<11}|{:-<11}|", "", "", "", "", "");
    row("raw reqwest, fixed token", WARM_ROUNDS * WARM_BLOCK, &raw);
    row("consumer.get, warm cache", WARM_ROUNDS * WARM_BLOCK, &via);
    row("consumer.get after delete (401, re-read, retry)", RECOVERIES, &recover);
    println!();
    println!(
        "overhead per warm call: median {} µs, mean {} µs",
        us(via.median.saturating_sub(raw.median)).trim(),
        us(via.mean.saturating_sub(raw.mean)).trim()
    );
    println!(
        "recovery: median {} µs more than a warm call ({} secret read and 1 token request per \
         recovery; add a Secrets Manager round trip for AWS)",
        us(recover.median.saturating_sub(via.median)).trim(),
        recovered_store_reads / RECOVERIES as u64
    );
}
