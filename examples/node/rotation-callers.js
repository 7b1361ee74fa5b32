'use strict';
/**
 * Many concurrent callers of Genesys Cloud sharing one Consumer, until told to stop.
 *
 * The program the rotation proof (tests/integration/consumer_sdks.rs) runs while the rotator
 * replaces the client ten times, and an example of sharing one Consumer. Each caller calls
 * `GET /api/v2/tokens/me` through the official SDK in a loop.
 *
 * Environment:
 *   GENESYS_SECRET_ID           the secret's ARN or name
 *   CALLERS                     concurrent callers (default 16)
 *   PAUSE_MS                    each caller's pause between two calls (default 2)
 *   MAX_SECONDS                 stop by itself after this long (default 300)
 *   CREDENTIAL_TTL_SECONDS, REFRESH_MARGIN_SECONDS   the helper's settings (defaults 300, 60)
 *   GENESYS_ENDPOINT_OVERRIDES  tests only: region=http://127.0.0.1:PORT,...
 *   AWS_REGION, AWS credentials, AWS_ENDPOINT_URL_SECRETS_MANAGER (moto), as the AWS SDK reads them
 *
 * Protocol: one JSON object per line on stdout. `{"event": "ready", ...}` once the consumer is
 * warmed up and the callers started; each stdin line `mark LABEL` is answered with
 * `{"event": "mark", "label": LABEL, ...}`; when stdin closes (or on `stop`) the callers stop and
 * `{"event": "report", ...}` is printed. Counts: `calls` finished, `ok`, `failed`, `failures`
 * (the first few, described by type and status only), `clientId` in use and the consumer's
 * `stats`. No secret or token is ever printed.
 */

const readline = require('node:readline');
const platformClient = require('purecloud-platform-client-v2');
const { Consumer, parseEndpointOverrides } = require('./genesys-consumer');

const KEPT_FAILURES = 20;

function emit(event, fields) {
  process.stdout.write(`${JSON.stringify({ event, ...fields })}\n`);
}

/** A failure as type and status: never the error's text, whatever it may hold. */
function describe(error) {
  const name = (error && error.constructor && error.constructor.name) || typeof error;
  return error && error.status !== undefined ? `${name} HTTP ${error.status}` : name;
}

async function main() {
  const consumer = new Consumer({
    secretId: process.env.GENESYS_SECRET_ID,
    endpointOverrides: parseEndpointOverrides(process.env.GENESYS_ENDPOINT_OVERRIDES),
    credentialTtlMs: Number(process.env.CREDENTIAL_TTL_SECONDS || 300) * 1000,
    refreshMarginMs: Number(process.env.REFRESH_MARGIN_SECONDS || 60) * 1000,
  });
  await consumer.warmUp();

  const tally = { calls: 0, ok: 0, failures: [] };
  const snapshot = () => ({
    calls: tally.calls,
    ok: tally.ok,
    failed: tally.failures.length,
    failures: tally.failures.slice(0, KEPT_FAILURES),
    clientId: consumer.clientId,
    stats: consumer.stats(),
  });
  let stopping = false;
  const pauseMs = Number(process.env.PAUSE_MS || 2);
  const tokensMe = (api) => new platformClient.TokensApi(api).getTokensMe();
  const caller = async () => {
    while (!stopping) {
      try {
        const me = await consumer.call(tokensMe);
        if (me && me.status === 200 && me.body && me.body.OAuthClient) {
          tally.ok += 1;
        } else {
          tally.failures.push('unexpected answer');
        }
      } catch (e) {
        tally.failures.push(describe(e));
      }
      tally.calls += 1;
      await new Promise((resolve) => setTimeout(resolve, pauseMs));
    }
  };
  const callers = Array.from({ length: Number(process.env.CALLERS || 16) }, caller);
  emit('ready', { helper: require.resolve('./genesys-consumer'), ...snapshot() });

  const finish = async (timedOut) => {
    stopping = true;
    await Promise.all(callers);
    emit('report', { timedOut, ...snapshot() });
    process.exit(0);
  };
  // Bounded whatever the driver does.
  setTimeout(() => finish(true), Number(process.env.MAX_SECONDS || 300) * 1000).unref();

  const lines = readline.createInterface({ input: process.stdin });
  for await (const line of lines) {
    const [command, ...rest] = line.trim().split(' ');
    if (command === 'mark') emit('mark', { label: rest.join(' '), ...snapshot() });
    else if (command === 'stop') break;
  }
  await finish(false);
}

main().catch((e) => {
  // Described without its text: an SDK error may carry a request's headers.
  process.stderr.write(`rotation-callers: ${describe(e)}${e && e.message && !e.config ? `: ${e.message}` : ''}\n`);
  process.exit(1);
});
