//! The drain queue of the campaign: sends held back for a few rounds, released shuffled and
//! sometimes twice; and the forged drain messages sent straight to SQS.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use genesys_emulator::{ClientRecord, ClientState};
use genesys_rotator::drain::{DrainMessage, DrainQueue, QueueError};
use genesys_rotator::store::{SecretStore, AWSCURRENT, AWSPREVIOUS};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;
use time::OffsetDateTime;

use super::campaign::Campaign;
use super::crash::Crash;
use super::invariants::{client_of, managed_by, value_of};
use crate::harness::When;

#[derive(Default)]
pub(super) struct QueueState {
    /// Accepted sends not yet on SQS, with the rounds they are still held for.
    pub(super) held: Vec<(DrainMessage, u32)>,
    pub(super) fail_next: Option<When>,
    /// Clients whose deletion was ever queued.
    queued: HashSet<String>,
    pub(super) duplicated: u64,
    pub(super) delayed: u64,
    pub(super) reordered: u64,
    /// Every body the function ever sent (rotation and cleanup re-sends).
    pub(super) sent_bodies: HashSet<String>,
}

/// The drain queue of the rotator and the cleanup: SQS on moto, behind a crash point, with a
/// send failure on demand. Time is simulated, so each copy is put on SQS visible at once; the
/// delay it asked for is what the campaign's clock advances by.
#[derive(Clone)]
pub(super) struct ChaosQueue {
    /// Released copies go to SQS in batches of ten: the bodies are exactly what the function's
    /// own queue client sends, one call instead of ten.
    pub(super) sqs: aws_sdk_sqs::Client,
    pub(super) queue_url: String,
    pub(super) crash: Crash,
    pub(super) state: Arc<Mutex<QueueState>>,
    pub(super) rng: Arc<Mutex<StdRng>>,
}

impl DrainQueue for ChaosQueue {
    async fn send(&self, message: &DrainMessage, _delay: Duration) -> Result<(), QueueError> {
        self.crash.point().await;
        let injected = || QueueError::Transient("injected failure".into());
        let fault = self.state.lock().unwrap().fail_next.take();
        if fault == Some(When::Before) {
            return Err(injected());
        }
        let hold = {
            let mut rng = self.rng.lock().unwrap();
            if rng.random_bool(0.3) {
                rng.random_range(1..=3)
            } else {
                0
            }
        };
        {
            let mut state = self.state.lock().unwrap();
            state.queued.insert(message.client_id.clone());
            state.sent_bodies.insert(message.to_body());
            if hold > 0 {
                state.delayed += 1;
            }
            state.held.push((message.clone(), hold));
        }
        if fault == Some(When::After) {
            return Err(injected());
        }
        Ok(())
    }
}

impl ChaosQueue {
    /// Puts the copies whose hold is over on SQS, shuffled, some twice; the others wait one
    /// round less. `all`: release everything.
    pub(super) async fn release(&self, all: bool) {
        let due: Vec<DrainMessage> = {
            let mut state = self.state.lock().unwrap();
            let mut due = Vec::new();
            state.held.retain_mut(|(m, hold)| {
                if all || *hold == 0 {
                    due.push(m.clone());
                    false
                } else {
                    *hold -= 1;
                    true
                }
            });
            due
        };
        let mut copies = Vec::new();
        {
            let mut rng = self.rng.lock().unwrap();
            for m in due {
                if rng.random_bool(0.2) {
                    copies.push(m.clone());
                    self.state.lock().unwrap().duplicated += 1;
                }
                copies.push(m);
            }
            if copies.len() > 1 {
                let before: Vec<String> = copies.iter().map(DrainMessage::to_body).collect();
                copies.shuffle(&mut *rng);
                if copies.iter().map(DrainMessage::to_body).collect::<Vec<_>>() != before {
                    self.state.lock().unwrap().reordered += 1;
                }
            }
        }
        // Ten to a call, as SendMessageBatch allows.
        for chunk in copies.chunks(10) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(n, m)| {
                    aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                        .id(format!("m{n}"))
                        .message_body(m.to_body())
                        .build()
                        .unwrap()
                })
                .collect();
            let out = self
                .sqs
                .send_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .expect("SQS send");
            assert!(out.failed().is_empty(), "SQS send: {:?}", out.failed());
        }
    }

    pub(super) fn queued(&self, client_id: &str) -> bool {
        self.state.lock().unwrap().queued.contains(client_id)
    }
}

/// A forged drain message on its way.
pub(super) struct Forged {
    pub(super) kind: &'static str,
    /// The client it names, and whether that client must outlive the message whatever else
    /// happens (a live or foreign client); otherwise invariant 7 judges its deletion.
    pub(super) client_id: String,
    pub(super) org: usize,
    pub(super) must_survive: bool,
}

impl Campaign {
    /// Sends one forged drain message straight to the queue (invariant 9). Times are the
    /// cleanup's clock.
    pub(super) async fn forge(&mut self) {
        let now = OffsetDateTime::now_utc() + self.sim;
        let s = self.rng.random_range(0..self.secrets.len());
        let (arn, org, prefix) = {
            let m = &self.secrets[s];
            (m.arn.clone(), m.org, m.prefix.clone())
        };
        let Some(desc) = self.plain.describe(&arn).await.ok() else {
            return;
        };
        let own_version = desc
            .version_with(if self.rng.random_bool(0.5) {
                AWSPREVIOUS
            } else {
                AWSCURRENT
            })
            .or(desc.version_with(AWSCURRENT))
            .map(str::to_owned)
            .expect("AWSCURRENT");
        let clients = self.w.orgs[org].emulator.clients();
        let due_long_ago = (now - time::Duration::days(3), now - time::Duration::days(2));
        // Another secret of the same org (same or nested prefix), its AWSCURRENT version and
        // client.
        let others: Vec<usize> = (0..self.secrets.len())
            .filter(|&o| o != s && self.secrets[o].org == org)
            .collect();
        let other = others[self.rng.random_range(0..others.len())];
        let other_arn = self.secrets[other].arn.clone();
        let other_current = self
            .plain
            .describe(&other_arn)
            .await
            .ok()
            .and_then(|d| d.version_with(AWSCURRENT).map(str::to_owned));
        let other_client = value_of(&self.plain, &other_arn, AWSCURRENT)
            .await
            .and_then(|v| v["clientId"].as_str().map(str::to_owned))
            .and_then(|id| clients.iter().find(|c| c.id == id).cloned());
        let pick = self.rng.random_range(0..4);
        let (kind, client, version, (retired_at, not_before), must_survive) = match pick {
            0 => {
                // notBefore past, but earlier than retiredAt plus the drain: a draining client
                // of this secret, named with the version that held it.
                let draining: Vec<(ClientRecord, String)> = clients
                    .iter()
                    .filter(|c| {
                        client_of(&arn, &prefix, c) && c.state == ClientState::Inactive && self.queue.queued(&c.id)
                    })
                    .filter_map(|c| {
                        let v = c.name.strip_prefix(&prefix)?.to_owned();
                        (self.values.get(&(arn.clone(), v.clone())).map(|x| &x.0) == Some(&c.id))
                            .then(|| (c.clone(), v))
                    })
                    .collect();
                if draining.is_empty() {
                    return;
                }
                let (c, v) = draining[self.rng.random_range(0..draining.len())].clone();
                let times = (now - time::Duration::minutes(30), now - time::Duration::minutes(1));
                ("notBefore earlier than retiredAt + drain", c, v, times, false)
            }
            1 => {
                // Another secret's version and its live client, under this secret's ARN.
                let (Some(c), Some(v)) = (other_client, other_current) else {
                    return;
                };
                ("another secret's version and client", c, v, due_long_ago, true)
            }
            2 => {
                // Another secret's live client (the shared one, if both still hold it) with this
                // secret's own version.
                let Some(c) = other_client else { return };
                (
                    "another secret's client, own version",
                    c,
                    own_version,
                    due_long_ago,
                    true,
                )
            }
            _ => {
                // A client no version of this secret ever held: a hand-made client shaped like
                // one of its managed clients.
                let lookalikes: Vec<&ClientRecord> = clients
                    .iter()
                    .filter(|c| managed_by(&prefix, &c.name) && self.foreign.iter().any(|(_, f)| f.id == c.id))
                    .collect();
                if lookalikes.is_empty() {
                    return;
                }
                let c = lookalikes[self.rng.random_range(0..lookalikes.len())].clone();
                ("a client its version never held", c, own_version, due_long_ago, true)
            }
        };
        let message = DrainMessage {
            version: genesys_rotator::drain::DRAIN_MESSAGE_VERSION,
            secret_arn: arn.clone(),
            client_id: client.id.clone(),
            client_name: client.name.clone(),
            secret_version_id: version,
            retired_at,
            not_before,
        };
        let body = message.to_body();
        self.player
            .sqs
            .send_message()
            .queue_url(&self.player.queue_url)
            .message_body(&body)
            .send()
            .await
            .expect("SQS send");
        self.stats.forged_sent += 1;
        self.forged.insert(
            body,
            Forged {
                kind,
                client_id: client.id,
                org,
                must_survive,
            },
        );
    }
}
