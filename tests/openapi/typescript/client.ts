// Drives a live server through a client generated from its /openapi.json (openapi-typescript
// types, openapi-fetch calls), as a TypeScript user would: compiled under `tsc --strict` with
// no casts, `any` or non-null assertions, then run by node. Each step prints one line; a
// mismatch throws, and node exits non-zero. Run by tests/openapi/test_typescript_client.py.
import createClient from "openapi-fetch";
import type { components, paths } from "./schema.js";

type Problem = components["schemas"]["Problem"];
type NotReady = components["schemas"]["NotReadyProblem"];

const baseUrl = process.env.EB_BASE_URL;
if (baseUrl === undefined) throw new Error("EB_BASE_URL is not set");
const client = createClient<paths>({ baseUrl });

function check(condition: boolean, what: string): void {
  if (!condition) throw new Error(`failed: ${what}`);
  console.log(`ok: ${what}`);
}

const job = `ts-${Date.now()}`;
const key = `${job}-create`;

// A POST with its Idempotency-Key as a typed header parameter, then the same POST again.
const pattern = {
  id: `${job}-reflect`,
  pattern_type: "strategy",
  pattern_name: "Reflect, then act",
};
const created = await client.POST("/v1/patterns", {
  params: { header: { "Idempotency-Key": key } },
  body: pattern,
});
check(created.response.status === 201, "create a pattern: 201");
check(created.data?.quarantine_status === "pending", "a new pattern is pending");
check(created.response.headers.get("Location") === `/v1/patterns/${pattern.id}`, "its Location");
const again = await client.POST("/v1/patterns", {
  params: { header: { "Idempotency-Key": key } },
  body: pattern,
});
check(again.response.headers.get("Idempotent-Replayed") === "true", "the retry is replayed");
check(again.data?.id === created.data?.id, "the replay is the same pattern");

// A reading: the budget it set, typed down to the number.
const reading = await client.POST("/v1/jobs/{job_hash}/entropy-readings", {
  params: { path: { job_hash: job } },
  body: { entropy: 0.2 },
});
const budget: number | undefined = reading.data?.adjustment.budget_value;
check(budget === 0.15, "a first reading sets the initial budget");

// The policy's ETag, sent back as If-Match.
const policy = await client.GET("/v1/jobs/{job_hash}/policy", {
  params: { path: { job_hash: job } },
});
const etag = policy.response.headers.get("ETag");
check(etag !== null, "the policy has an ETag");
const changed = await client.PUT("/v1/jobs/{job_hash}/policy", {
  params: { path: { job_hash: job }, header: { "If-Match": etag ?? "" } },
  body: { decay_rate: 0.9 },
});
check(changed.data?.decay_rate === 0.9, "the policy changed under If-Match");
const stale = await client.PUT("/v1/jobs/{job_hash}/policy", {
  params: { path: { job_hash: job }, header: { "If-Match": etag ?? "" } },
  body: { decay_rate: 0.8 },
});
const preconditionFailed: Problem | undefined = stale.error;
check(preconditionFailed?.status === 412, "a stale ETag is a 412 problem");

// Errors are typed problem documents.
const missing = await client.GET("/v1/patterns/{pattern_id}", {
  params: { path: { pattern_id: "no-such-pattern" } },
});
check(missing.error?.status === 404, "an unknown pattern is a 404 problem");
const invalid = await client.POST("/v1/budget/adjustments", {
  body: { job_hash: job, current_entropy: 2 },
});
// Any 4xx may be a plain problem: a 422's field errors are found by narrowing, not casting.
const problem = invalid.error;
const fields =
  problem !== undefined && "errors" in problem ? problem.errors.map((e) => e.loc.join(".")) : [];
check(fields.join() === "body.current_entropy", "a 422 lists the invalid field");

// Pages and query parameters.
const page = await client.GET("/v1/budget/history", {
  params: { query: { job_hash: job, limit: 1 } },
});
// JSON unless Accept asks for CSV or NDJSON (which arrive as text).
const records = typeof page.data === "object" ? page.data.items : [];
check(records.length === 1, "a page of one record");

// Readiness: 200 here; its 503 body is typed with the revisions.
const ready = await client.GET("/readyz");
const notReady: NotReady | undefined =
  ready.error !== undefined && "revision" in ready.error ? ready.error : undefined;
check(ready.data?.status === "ready" && notReady === undefined, "the server is ready");
