//! The fault campaign: many rotations of several secrets in two shared orgs, with faults at
//! every external call, the Lambda crashing between any two calls, concurrent invocations of the
//! same step, and duplicated, delayed, reordered and forged drain-queue deliveries; the
//! invariants are checked after every step and every delivery.
//!
//! The orgs are shared, as real ones are: each has two master secrets, both allowed, and holds
//! four secrets, two with the same name prefix (`chaos-<org>-`), one with a nested one
//! (`chaos-<org>-eu-`) and a liar (`chaos-<org>-liar-`); the two with the same prefix start out
//! holding the same hand-made client (one client pasted into two secrets), and the second of
//! them goes through the org's second master; the liar's `clientId` names another team's client
//! (`team-b-integration`) with a made-up `clientSecret`, as whoever may write one secret could
//! set it, and it is rotated like the others. Other teams' clients and hand-made clients shaped
//! like managed ones (a prefix and a uuid, no marker) sit next to them. At a third of the run
//! (org 0), two thirds (org 1) and now and then at random, the current managed client of one
//! secret (id and secret) is pasted into the org's second-master secret, so it is held twice,
//! through two masters. At half the run, and now and then at random, a served secret becomes
//! unreadable to the functions (GetSecretValue refused) for 8 to 24 step invocations, and the
//! scheduled sweep runs inside that window; attempts made while a window is open do not count
//! against the rotation's attempt limit. Two strangers' tagged secrets sit beside them: one
//! rotated by another team's function that the deployment may not read, one rotated by this
//! deployment's function whose value is not a credential; neither may block a rotation. The
//! configuration names the deployment's rotation function (`genesys-rotation`), as deployed, so
//! a tagged secret is served only if it names that function; each campaign secret is set up
//! with it before its first rotation. A secret is sometimes rotated several times in a row, faster than
//! its drain, so its retired clients are passed over again while they drain. Forged drain
//! messages are sent straight to the queue at random rounds: one whose `notBefore` is past but
//! earlier than `retiredAt` plus the drain, one naming another secret's version and client, one
//! naming another secret's client with the secret's own version, one naming a client its version
//! never held. The emulators' clocks move with the cleanup's simulated clock.
//!
//! Master rotations are not part of the campaign (the masters never change here, and invariant
//! 8 checks it); master rotations, concurrent ones included, are covered by
//! tests/integration/master.rs.
//!
//! Size and seed come from the environment: `CHAOS_ROTATIONS` (default 16, the short version
//! `make test` runs) and `CHAOS_SEED` (default fixed); `make chaos` runs 1,000 rotations. The
//! seed fixes every decision the campaign makes (which fault, where, when to crash); the code
//! under test still draws its own retry jitter, so timings differ between runs, not the plan.
//!
//! What is real and what is played:
//! - Secrets Manager is moto, wrapped so that PutSecretValue refuses to change a stored
//!   version (AWS does, moto does not: without it a non-idempotent createSecret would pass).
//!   The campaign plays Secrets Manager around the function: RotateSecret, the four steps, a
//!   failed or crashed step restarting the rotation with the same token, AWSPENDING cleared.
//! - Genesys Cloud is the emulator, whose fault injection answers 429 (with a short or a long
//!   Retry-After), 500 and 503, delays answers past the client's request timeout, drops
//!   connections before or after acting, delays propagation of new clients and puts the org at
//!   its client limit.
//! - A crash drops the step's future the moment the chosen call completes (a Genesys call: the
//!   emulator has acted; a Secrets Manager or SQS call: just before it is made), so nothing after
//!   it runs, as when a Lambda dies.
//! - The drain queue is SQS on moto; sends are held back for a few rounds (delayed), released in
//!   shuffled order (reordered) and sometimes twice (duplicated); the event source mapping is
//!   played with crashes of the cleanup function too (the whole batch comes back).
//!
//! Invariants (a violation is recorded, and the test fails at the end if there is any):
//! 1. the AWSCURRENT credential of every secret can get a token (checked in the emulator without
//!    a request, so faults do not interfere with the check);
//! 2. no client that AWSCURRENT or AWSPENDING holds is deleted or made inactive;
//! 3. the clients outside every managed namespace (the masters, other teams' clients and
//!    names that only resemble managed ones, all created long ago) are never changed;
//! 4. every managed client of a secret is its current, pending or previous client, a retired
//!    client whose deletion is queued (draining), or an orphan younger than the reconciliation
//!    horizon; after the last drain and a reconciliation pass past the horizon, no orphan is
//!    left;
//! 5. no client secret or access token the emulators ever issued appears in any log line of the
//!    run (everything is captured, at debug level and above);
//! 6. org-wide: no served secret's AWSCURRENT or AWSPENDING client, in any org, is ever inactive
//!    or deleted (invariant 2 for every secret after every step, not just the rotated one; the
//!    shared client stays active while the other secret holds it);
//! 7. no client is deleted sooner than its token lifetime plus the drain margin after its
//!    deactivation, in the emulator's clock: the campaign records, from the emulators' state
//!    after every step and round, each client's `dateModified` when first seen inactive and the
//!    time it was first seen gone. A client deleted without ever being seen inactive is allowed
//!    only if no stored version ever held it (a lost createSecret client);
//! 8. the masters change only by their own rotation, which is not part of the campaign: their
//!    clients are never changed (invariant 3) and their secrets' versions and labels never move;
//! 9. forged drain messages delete nothing, are never re-queued (accepted as plausible), and are
//!    acknowledged (or, after faults returned them too often, dead-lettered);
//! 10. the integration credential one secret per org lists (`integrationCredentials`) always
//!     holds its AWSCURRENT or AWSPENDING client with that client's secret, and that client can
//!     get a token: a Data Action is never left holding a client that does not work;
//! 11. no client that is neither owned (the ownership rule) nor proven is ever deactivated,
//!     re-keyed or deleted: every client foreign at the start (other teams' clients, the
//!     clients the liars name, the masters and second masters, look-alikes) stays exactly as it
//!     was, the masters and the liars' victims still get a token with their original secret,
//!     and every client first seen inactive is owned by a secret or was held by a stored
//!     version with its real secret (provable); the liar's own first version (a made-up
//!     secret) is exempt from invariant 1;
//! 12. no client that any served secret, as the deployment finds them (ListSecrets: tagged and
//!     rotated by its function), holds in AWSCURRENT or AWSPENDING is ever inactive or deleted,
//!     in any org, through whichever master (the pasted client and the second-master secrets
//!     included);
//! 13. while a served secret is unreadable, no client a stored version ever held is deactivated
//!     or deleted by any path (finishSecret, the cleanup, a reconciliation), and the sweep run
//!     in the window retires nothing and reports `GuardUnreadable`.
//!
//! One file per role: `plan` (the seeded plan), `crash` (crash points, ChaosStore), `queue` (the
//! drain queue and forged messages), `guard` (strangers, pastes, unreadable windows),
//! `invariants`, `campaign` (the driver and its table). `CHAOS_LOG=<path>` keeps the run's
//! captured log there, to read a violation's sequence.

mod campaign;
mod crash;
mod guard;
mod invariants;
mod plan;
mod queue;

use rand::Rng;
use std::time::Instant;

use crate::harness::LogCapture;
use campaign::Campaign;
use plan::{env_number, DEFAULT_ROTATIONS, DEFAULT_SEED};

#[tokio::test(flavor = "current_thread")]
async fn fault_campaign_keeps_every_invariant() {
    let rotations = env_number("CHAOS_ROTATIONS", DEFAULT_ROTATIONS as u64) as usize;
    let seed = env_number("CHAOS_SEED", DEFAULT_SEED);
    let logs = LogCapture::default();
    let _guard = logs.install_filtered(
        "debug,aws_smithy_runtime=info,aws_smithy_runtime_api=info,hyper=info,hyper_util=info,h2=info,rustls=info",
    );
    let started = Instant::now();
    println!("fault campaign: seed {seed:#x}, {rotations} rotations (CHAOS_SEED, CHAOS_ROTATIONS)");

    let mut c = Campaign::new(seed).await;
    let (mut r, mut printed) = (0, 0);
    // Planned moments (and, at 1,000 rotations, random ones too): a managed client pasted into
    // each org's second-master secret, and a served secret unreadable for a while.
    let (mut pasted, mut made_unreadable) = ([false; 2], false);
    while r < rotations {
        for (o, done) in pasted.iter_mut().enumerate() {
            if !*done && r >= rotations * (o + 1) / 3 {
                *done = true;
                c.paste(o).await;
            }
        }
        if c.rng.random_bool(0.01) {
            let o = c.rng.random_range(0..c.w.orgs.len());
            c.paste(o).await;
        }
        if c.unreadable.is_none() && ((!made_unreadable && r >= rotations / 2) || c.rng.random_bool(0.02)) {
            made_unreadable = true;
            let s = c.rng.random_range(0..c.secrets.len());
            let invocations = c.rng.random_range(8..=24);
            c.open_unreadable(s, invocations).await;
        }
        let s = c.rng.random_range(0..c.secrets.len());
        c.rotate(s).await;
        r += 1;
        // Sometimes the same secret again, before the next drain round: faster than its drain.
        if c.rng.random_bool(0.25) {
            for _ in 0..c.rng.random_range(1..=2) {
                if r < rotations {
                    c.rotate(s).await;
                    c.stats.burst_rotations += 1;
                    r += 1;
                }
            }
        }
        let t = Instant::now();
        c.sqs_round(false, 3).await;
        c.stats.time_queue += t.elapsed();
        if r / 100 > printed {
            printed = r / 100;
            println!(
                "  {} rotations, {} crashes, {} violations, {:.0} s",
                r,
                c.stats.crashes,
                c.stats.violations.len(),
                started.elapsed().as_secs_f64()
            );
        }
    }
    c.finish().await;
    let text = logs.text();
    // CHAOS_LOG: where to keep the run's captured log (every line, debug and up), to read a
    // violation's sequence after the run.
    if let Ok(path) = std::env::var("CHAOS_LOG") {
        std::fs::write(&path, &text).unwrap_or_else(|e| panic!("CHAOS_LOG={path}: {e}"));
    }
    c.search_logs(&text);
    let table = c.table(seed, started.elapsed());
    println!("\n| fault campaign | |\n|---|---|\n{table}");
    assert!(text.contains("step done"), "the logs were captured");
    assert_eq!(c.stats.rotations as usize, rotations, "every rotation finished");
    assert!(
        c.stats.violations.is_empty(),
        "{} invariant violations, first ones:\n{}",
        c.stats.violations.len(),
        c.stats
            .violations
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(c.stats.orphans_left, 0);
    assert!(
        c.stats.crashes > 0 && c.stats.injected.values().any(|(_, hit)| *hit > 0),
        "faults were injected and hit"
    );
}
