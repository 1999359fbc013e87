// Runs the GraphQL-over-HTTP audit suite of `graphql-http` against a server and prints
// the results as one JSON array: [{id, name, status, reason?, response?}], where name
// begins with MUST, SHOULD or MAY and status is ok, notice (a MAY), warn (a SHOULD) or
// error (a MUST). A failed audit carries the response it saw: status, content type, body.
//
//   node tests/clients/audit.mjs http://127.0.0.1:PORT/graphql [TOKEN]
//
// With TOKEN (a session token from logIn), every request is signed in with
// `Authorization: Bearer TOKEN`.
import { serverAudits } from 'graphql-http';

const [url, token] = process.argv.slice(2);
if (!url) {
  console.error('usage: node audit.mjs URL [TOKEN]');
  process.exit(2);
}

// Reads each body once and hands the audit a copy, so that a failure can still show
// the body the audit already consumed.
const bodies = new WeakMap();
async function fetchFn(input, init) {
  const headers = new Headers(init?.headers);
  if (token) headers.set('Authorization', `Bearer ${token}`);
  const response = await fetch(input, { ...init, headers, signal: AbortSignal.timeout(20_000) });
  const text = await response.text();
  const nullBody = [101, 204, 205, 304].includes(response.status);
  const copy = new Response(nullBody ? null : text, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
  bodies.set(copy, text);
  return copy;
}

const results = [];
for (const audit of serverAudits({ url, fetchFn })) {
  let result;
  try {
    result = await audit.fn();
  } catch (error) {
    // The suite throws (instead of failing the audit) when something is fatally wrong.
    result = { id: audit.id, name: audit.name, status: 'error', reason: `audit threw: ${error?.stack ?? error}` };
  }
  const { id, name, status, reason, response } = result;
  const entry = { id, name, status };
  if (status !== 'ok') {
    entry.reason = reason;
    if (response) {
      entry.response = {
        status: response.status,
        contentType: response.headers.get('content-type'),
        // A clone (which some audits hand back) still has its body to read.
        body: bodies.get(response) ?? (response.bodyUsed ? null : await response.text().catch(() => null)),
      };
    }
  }
  results.push(entry);
}
process.stdout.write(JSON.stringify(results, null, 1) + '\n');
