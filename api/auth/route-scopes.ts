import type { Scope } from './api-key-config.ts';

/**
 * Which scope each route needs, in one table. A route missing from it needs `admin`: a new route is
 * closed until someone decides otherwise here. `open` routes need no key at all: liveness and
 * readiness (probes carry no credentials), the API documentation and the /ops page's shell (no data in them).
 */
const TABLE: Record<string, Scope | 'open'> = {
  'GET /healthz': 'open',
  'GET /readyz': 'open',
  'GET /docs': 'open',
  'GET /docs/*': 'open',
  'GET /docs/json': 'open',
  'GET /docs/yaml': 'open',
  'GET /docs/static/*': 'open',
  'GET /docs/': 'open',
  // the operators' page: a static shell and its assets, no data (the page calls the admin routes with the key typed into it)
  'GET /ops': 'open',
  'GET /ops/ops.js': 'open',
  'GET /ops/time-axis.js': 'open',
  'GET /ops/ops.css': 'open',
  'GET /ops/uplot.js': 'open',
  'GET /ops/uplot.css': 'open',

  'POST /v1/content': 'ingest',
  'DELETE /v1/content/:id': 'ingest',
  'GET /v1/content/:id': 'query',
  'POST /v1/search': 'query',
  'POST /v1/rag/query': 'query',
  'POST /v1/feedback': 'query',

  'POST /v1/chat/completions': 'inference',
  'POST /v1/completions': 'inference',
  'POST /v1/embeddings': 'inference',
  'GET /v1/models': 'inference',

  'GET /metrics': 'admin',
  'GET /v1/ops/lag': 'admin',
  'GET /v1/ops/dlq': 'admin',
  'GET /v1/ops/history': 'admin',
  'POST /v1/ops/dlq/replay': 'admin',

  'GET /v1/traces': 'admin',
  'GET /v1/traces/:id': 'admin',
  'POST /v1/traces/:id/judge': 'admin',

  'GET /v1/finetune/datasets': 'admin',
  'GET /v1/finetune/jobs': 'admin',
  'GET /v1/finetune/jobs/:id': 'admin',
  'POST /v1/finetune/jobs/:id/status': 'admin',
  'POST /v1/finetune/trigger': 'admin',
  'GET /v1/finetune/datasets/:name/versions': 'admin',
  'GET /v1/finetune/datasets/:name/versions/:version': 'admin',
  'GET /v1/finetune/datasets/:name/versions/:version/lineage': 'admin',
  'GET /v1/finetune/datasets/:name/versions/:version/files/:file': 'admin',
};

/** The scope for a matched route pattern (`routeOptions.url`), or `admin` when unknown/unmatched. */
export function requiredScope(method: string, routeUrl: string | undefined): Scope | 'open' {
  if (routeUrl === undefined) return 'admin';
  const m = method === 'HEAD' ? 'GET' : method;
  return TABLE[`${m} ${routeUrl}`] ?? 'admin';
}

/** Whether a key with `granted` scopes may use a route needing `required`. `admin` may do everything. */
export function allows(granted: readonly Scope[], required: Scope): boolean {
  return granted.includes('admin') || granted.includes(required);
}

/** The table, for the documentation. */
export function scopeTable(): Readonly<Record<string, Scope | 'open'>> {
  return TABLE;
}
