import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import type { OptionSpec, ParsedArgs } from '../args.ts';
import { jsonOption, printJson, type Command, type CommandContext } from '../command.ts';
import { networkErrorCode, resolveServiceUrl } from '../client.ts';
import { CliError, ExitCodes } from '../errors.ts';
import { styleFor, type Style } from '../format.ts';
import { CDC_TOPIC, WAREHOUSE_COLLECTION, WAREHOUSE_DB } from '../../schemas/topics.ts';

/**
 * The Debezium path (the alternative to the built-in relay): the Kafka Connect configs shipped in
 * connectors/debezium/, checked, applied and watched over Kafka Connect's REST API.
 *
 *   validate  PUT /connector-plugins/{class}/config/validate for each config, plus Tributary's own rules
 *   apply     PUT /connectors/{name}/config (validated first; unchanged configs are left alone)
 *   status    GET /connectors/{name}/status: connector and task states, the trace of a failed task
 *
 * The MongoDB connection string is never in the files: they say `${env:MONGODB_URL}`, which the
 * Connect worker resolves from its own environment (config.providers=env with Kafka's
 * EnvVarConfigProvider), so the secret stays out of the config topic and out of this command.
 */

export const CONNECT_URL_ENV = 'KAFKA_CONNECT_URL';
export const DEFAULT_CONNECT_URL = 'http://127.0.0.1:8083';
/** Shipped configs, relative to the repository root. */
export const CONNECTORS_DIR = resolve(import.meta.dirname, '../../connectors/debezium');
/** What `apply` applies when no --file is given: one connector writes the CDC topic. */
export const DEFAULT_CONNECTOR_FILE = join(CONNECTORS_DIR, 'mongodb-source.json');

/** One shipped connector config, as Connect's REST API takes it. */
export interface ConnectorFile {
  path: string;
  name: string;
  config: Record<string, string>;
}

export interface FieldError {
  field: string;
  message: string;
  /** "connect": reported by the worker (the connector's and Connect's own checks); "tributary": the design's rules. */
  by: 'connect' | 'tributary';
}

const connectUrlOption: OptionSpec = { type: 'string', value: 'url', description: `Kafka Connect REST URL (overrides ${CONNECT_URL_ENV})`, defaultText: DEFAULT_CONNECT_URL };
const env: Array<[string, string]> = [
  [CONNECT_URL_ENV, `Kafka Connect REST URL (default ${DEFAULT_CONNECT_URL})`],
  ['MONGODB_URL', 'read by the Connect worker, not by this command: `${env:MONGODB_URL}` in the configs (config.providers=env)'],
];

// ---------------------------------------------------------------------------------------------
// Tributary's rules for a Debezium source config (DESIGN.md, "CDC safety"): checked before Connect is asked.

const CDC_TOPIC_PREFIX = CDC_TOPIC.slice(0, -`.${WAREHOUSE_DB}.${WAREHOUSE_COLLECTION}`.length);

export function policyErrors(config: Record<string, string>): FieldError[] {
  const out: FieldError[] = [];
  const err = (field: string, message: string) => out.push({ field, message, by: 'tributary' });
  const tolerance = config['errors.tolerance'] ?? 'none';
  if (tolerance !== 'none') {
    err('errors.tolerance', `must be "none" (got "${tolerance}"): on a source connector "all" skips a record that fails to convert or to reach Kafka, and nothing downstream ever sees it`);
  }
  for (const k of Object.keys(config)) {
    if (k.startsWith('errors.deadletterqueue.')) {
      err(k, 'Kafka Connect ignores dead-letter-queue settings on source connectors: no record would ever reach that topic; remove it');
    }
  }
  if (config['topic.prefix'] !== CDC_TOPIC_PREFIX) {
    err('topic.prefix', `must be "${CDC_TOPIC_PREFIX}" so the collection ${WAREHOUSE_DB}.${WAREHOUSE_COLLECTION} lands on ${CDC_TOPIC}, the topic the clean stage reads (got ${JSON.stringify(config['topic.prefix'] ?? null)})`);
  }
  if (config['capture.mode'] !== 'change_streams_update_full_with_pre_image') {
    err('capture.mode', `must be "change_streams_update_full_with_pre_image" (MongoDB 6+): every update carries the whole document (got ${JSON.stringify(config['capture.mode'] ?? null)})`);
  }
  if (config['snapshot.mode'] !== 'when_needed') {
    err('snapshot.mode', `must be "when_needed": a snapshot on first start and whenever the resume position is gone (got ${JSON.stringify(config['snapshot.mode'] ?? null)})`);
  }
  const heartbeat = Number(config['heartbeat.interval.ms'] ?? '0');
  if (!(heartbeat > 0)) {
    err('heartbeat.interval.ms', `must be > 0: heartbeats keep the resume position moving while the collection is idle (got ${JSON.stringify(config['heartbeat.interval.ms'] ?? null)})`);
  }
  if (config['tombstones.on.delete'] !== 'true') {
    err('tombstones.on.delete', `must be "true": a delete is followed by a tombstone (got ${JSON.stringify(config['tombstones.on.delete'] ?? null)})`);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Files

export function shippedConnectorFiles(): string[] {
  return readdirSync(CONNECTORS_DIR).filter((f) => f.endsWith('.json')).sort().map((f) => join(CONNECTORS_DIR, f));
}

export function readConnectorFile(path: string): ConnectorFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new CliError(`cannot read ${path}: ${(e as Error).message}`, ExitCodes.usage, { cause: e });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new CliError(`${path} is not valid JSON: ${(e as Error).message}`, ExitCodes.config, { cause: e });
  }
  const o = parsed as { name?: unknown; config?: unknown };
  if (!o || typeof o !== 'object' || typeof o.name !== 'string' || o.name === '' || !o.config || typeof o.config !== 'object' || Array.isArray(o.config)) {
    throw new CliError(`${path} must be {"name": "<connector name>", "config": {…}} as Kafka Connect's REST API takes it`, ExitCodes.config);
  }
  const config: Record<string, string> = {};
  for (const [k, v] of Object.entries(o.config as Record<string, unknown>)) {
    if (typeof v !== 'string') throw new CliError(`${path}: config.${k} must be a string (Kafka Connect takes every value as a string; got ${JSON.stringify(v)})`, ExitCodes.config);
    config[k] = v;
  }
  if (typeof config['connector.class'] !== 'string') throw new CliError(`${path}: config."connector.class" is required`, ExitCodes.config);
  return { path, name: o.name, config };
}

function filesFrom(args: ParsedArgs, ctx: CommandContext, fallback: string[]): string[] {
  const given = args.strings('file');
  return given.length > 0 ? given.map((f) => resolve(ctx.cwd, f)) : fallback;
}

function display(path: string, ctx: CommandContext): string {
  const rel = relative(ctx.cwd, path);
  return rel.startsWith('..') ? path : rel;
}

// ---------------------------------------------------------------------------------------------
// Kafka Connect REST

export function resolveConnectUrl(flag: string | undefined, environment: NodeJS.ProcessEnv): string {
  return resolveServiceUrl({ flag, flagName: '--connect-url', env: environment, envName: CONNECT_URL_ENV, fallback: DEFAULT_CONNECT_URL });
}

export class ConnectClient {
  readonly baseUrl: string;
  private readonly signal: AbortSignal;
  constructor(baseUrl: string, signal: AbortSignal) { this.baseUrl = baseUrl; this.signal = signal; }

  /** One request; returns status and parsed body. Unreachable worker → exit 3. */
  async request(method: 'GET' | 'PUT', path: string, body?: unknown, timeoutMs = 120_000): Promise<{ status: number; body: unknown }> {
    let res: Response;
    try {
      res = await fetch(`${this.baseUrl}${path}`, {
        method,
        headers: { accept: 'application/json', ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.any([this.signal, AbortSignal.timeout(timeoutMs)]),
      });
    } catch (e) {
      if (this.signal.aborted) throw e;
      const code = networkErrorCode(e) ?? (e as Error).name;
      throw new CliError(`Kafka Connect is not reachable at ${this.baseUrl} (${code})`, ExitCodes.unavailable, {
        cause: e, hints: [`Set ${CONNECT_URL_ENV} or --connect-url to the worker's REST URL, and check that the worker is up.`],
      });
    }
    const text = await res.text();
    let parsed: unknown = text;
    try { parsed = text ? JSON.parse(text) : null; } catch { /* not JSON: keep the text */ }
    return { status: res.status, body: parsed };
  }

  /** Connect's error body is {error_code, message}. */
  static errorMessage(r: { status: number; body: unknown }): string {
    const m = (r.body as { message?: unknown } | null)?.message;
    return typeof m === 'string' ? m : `HTTP ${r.status}${typeof r.body === 'string' && r.body ? `: ${r.body.slice(0, 300)}` : ''}`;
  }
}

interface ConnectConfigInfos {
  name: string;
  error_count: number;
  configs: Array<{ value: { name: string; value: string | null; errors: string[] } }>;
}

/** Connect's own validation of one config: every field that has errors, with its messages. */
export async function connectFieldErrors(client: ConnectClient, file: ConnectorFile): Promise<FieldError[]> {
  const cls = file.config['connector.class']!;
  const r = await client.request('PUT', `/connector-plugins/${encodeURIComponent(cls)}/config/validate`, { ...file.config, name: file.name });
  if (r.status !== 200) {
    throw new CliError(`Kafka Connect could not validate ${file.path}: ${ConnectClient.errorMessage(r)}`, ExitCodes.failure, {
      hints: r.status === 500 && /Failed to find any class/.test(ConnectClient.errorMessage(r))
        ? [`The worker has no plugin ${cls}: install the Debezium MongoDB connector in its plugin.path.`] : [],
    });
  }
  const infos = r.body as ConnectConfigInfos;
  const out: FieldError[] = [];
  for (const c of infos.configs ?? []) for (const message of c.value.errors ?? []) out.push({ field: c.value.name, message, by: 'connect' });
  return out;
}

/** Hints for errors on fields whose value is a `${provider:…}` reference the worker could not resolve. */
function providerHints(file: ConnectorFile, errors: FieldError[]): string[] {
  const hints: string[] = [];
  for (const e of errors) {
    const m = /\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}/.exec(file.config[e.field] ?? '');
    if (m) hints.push(`${e.field} is \${env:${m[1]}}: the worker resolves it from its own environment. It needs config.providers=env, config.providers.env.class=org.apache.kafka.common.config.provider.EnvVarConfigProvider, and ${m[1]} set (a reachable MongoDB replica set).`);
  }
  return [...new Set(hints)];
}

function printFieldErrors(ctx: CommandContext, s: Style, errors: FieldError[]): void {
  for (const e of errors) ctx.stdout.write(`  ${s.red('✗')} ${s.bold(e.field)}${e.by === 'tributary' ? s.dim(' (tributary)') : ''}: ${e.message}\n`);
}

// ---------------------------------------------------------------------------------------------
// Commands

export const connectorsValidate: Command = {
  spec: {
    name: 'connectors validate',
    summary: 'check the Debezium connector configs against a Kafka Connect worker (field by field)',
    usage: '',
    description: [
      'Asks the Kafka Connect worker to validate each config (PUT /connector-plugins/{class}/config/validate:',
      'the connector\'s own checks, including a connection to MongoDB), and checks Tributary\'s rules for the',
      'Debezium path: errors.tolerance=none (no record dropped silently), no dead-letter-queue settings (Connect',
      'ignores them on source connectors), topic.prefix giving tributary.cdc.tributary.documents,',
      'capture.mode=change_streams_update_full_with_pre_image, snapshot.mode=when_needed, heartbeats, tombstones.',
      'Prints every field error; exits 1 when there is any. Default: every config in connectors/debezium/.',
    ].join('\n'),
    options: {
      file: { type: 'string', short: 'f', multiple: true, value: 'path', description: 'a connector config {name, config} to check instead of the shipped ones' },
      'connect-url': connectUrlOption,
      json: jsonOption,
    },
    positionals: { min: 0, max: 0 },
    examples: ['KAFKA_CONNECT_URL=http://127.0.0.1:8083 tributary connectors validate', 'tributary connectors validate --file my-connector.json'],
    env,
  },

  async run(args: ParsedArgs, ctx: CommandContext): Promise<number> {
    const files = filesFrom(args, ctx, shippedConnectorFiles()).map(readConnectorFile);
    const client = new ConnectClient(resolveConnectUrl(args.string('connect-url'), ctx.env), ctx.signal);
    const results: Array<{ file: string; name: string; errors: FieldError[]; hints: string[] }> = [];
    for (const f of files) {
      const errors = [...policyErrors(f.config), ...await connectFieldErrors(client, f)];
      results.push({ file: display(f.path, ctx), name: f.name, errors, hints: providerHints(f, errors) });
    }
    const total = results.reduce((a, r) => a + r.errors.length, 0);
    if (args.flag('json')) {
      printJson(ctx, { connectUrl: client.baseUrl, errorCount: total, connectors: results });
      return total === 0 ? ExitCodes.ok : ExitCodes.failure;
    }
    const s = styleFor(ctx.stdout, ctx.env);
    for (const r of results) {
      const n = r.errors.length;
      ctx.stdout.write(`${n === 0 ? s.green('✓') : s.red('✗')} ${r.file} ${s.dim(`(${r.name})`)}: ${n === 0 ? 'valid' : `${n} error${n === 1 ? '' : 's'}`}\n`);
      printFieldErrors(ctx, s, r.errors);
      for (const h of r.hints) ctx.stdout.write(`    ${s.dim(h)}\n`);
    }
    ctx.stdout.write(`\n${total === 0 ? `${results.length} config${results.length === 1 ? '' : 's'} valid on ${client.baseUrl}.` : `${total} error${total === 1 ? '' : 's'} on ${client.baseUrl}.`}\n`);
    return total === 0 ? ExitCodes.ok : ExitCodes.failure;
  },
};

export const connectorsApply: Command = {
  spec: {
    name: 'connectors apply',
    summary: 'create or update the Debezium connector on Kafka Connect, idempotently',
    usage: '',
    description: [
      'Validates the config (as `connectors validate` does), then PUT /connectors/{name}/config. A connector',
      'whose config is already the same is left alone. Applies connectors/debezium/mongodb-source.json unless',
      '--file names another; apply only one of the shipped configs (both write tributary.cdc.tributary.documents).',
      'The worker needs config.providers=env (EnvVarConfigProvider) and MONGODB_URL in its environment; create the',
      'topics first with `tributary topics apply`.',
    ].join('\n'),
    options: {
      file: { type: 'string', short: 'f', value: 'path', description: 'the connector config {name, config} to apply', defaultText: 'connectors/debezium/mongodb-source.json' },
      'connect-url': connectUrlOption,
      json: jsonOption,
    },
    positionals: { min: 0, max: 0 },
    examples: ['KAFKA_CONNECT_URL=http://connect:8083 tributary connectors apply', 'tributary connectors apply --file connectors/debezium/mongodb-source-flattened.json'],
    env,
  },

  async run(args: ParsedArgs, ctx: CommandContext): Promise<number> {
    const file = readConnectorFile(filesFrom(args, ctx, [DEFAULT_CONNECTOR_FILE])[0]!);
    const client = new ConnectClient(resolveConnectUrl(args.string('connect-url'), ctx.env), ctx.signal);
    const s = styleFor(ctx.stdout, ctx.env);
    const errors = [...policyErrors(file.config), ...await connectFieldErrors(client, file)];
    if (errors.length > 0) {
      if (args.flag('json')) printJson(ctx, { name: file.name, action: 'refused', errors });
      else {
        ctx.stdout.write(`${s.red('✗')} ${display(file.path, ctx)} ${s.dim(`(${file.name})`)}: not applied, ${errors.length} error${errors.length === 1 ? '' : 's'}\n`);
        printFieldErrors(ctx, s, errors);
        for (const h of providerHints(file, errors)) ctx.stdout.write(`    ${s.dim(h)}\n`);
      }
      return ExitCodes.failure;
    }
    const path = `/connectors/${encodeURIComponent(file.name)}`;
    const current = await client.request('GET', `${path}/config`);
    let action: 'created' | 'updated' | 'unchanged';
    if (current.status === 200 && sameConfig(current.body as Record<string, string>, { ...file.config, name: file.name })) {
      action = 'unchanged';
    } else {
      const r = await client.request('PUT', `${path}/config`, file.config);
      if (r.status !== 200 && r.status !== 201) throw new CliError(`Kafka Connect refused ${file.name}: ${ConnectClient.errorMessage(r)}`, ExitCodes.failure);
      action = r.status === 201 ? 'created' : 'updated';
    }
    if (args.flag('json')) { printJson(ctx, { name: file.name, action, connectUrl: client.baseUrl }); return ExitCodes.ok; }
    const word = action === 'unchanged' ? s.dim('unchanged') : s.green(action);
    ctx.stdout.write(`${s.green('✓')} ${file.name} ${word} on ${client.baseUrl}\n`);
    if (action !== 'unchanged') ctx.stdout.write(`  Follow it with \`${ctx.invokedAs} connectors status\`.\n`);
    return ExitCodes.ok;
  },
};

function sameConfig(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a).sort();
  const kb = Object.keys(b).sort();
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && a[k] === b[k]);
}

interface ConnectStatus {
  name: string;
  connector: { state: string; worker_id: string; trace?: string };
  tasks: Array<{ id: number; state: string; worker_id: string; trace?: string }>;
  type?: string;
}

export const connectorsStatus: Command = {
  spec: {
    name: 'connectors status',
    summary: 'show the Debezium connector\'s state and its tasks (with the trace of a failed one)',
    usage: '',
    description: [
      'GET /connectors/{name}/status for the connectors named in the shipped configs (or --file): the connector',
      'state, each task\'s state and worker, and the error trace of a failed task. Exits 0 when every connector found',
      'is RUNNING with all its tasks RUNNING, 1 otherwise (failed or paused, or none applied).',
      'Debezium retries retriable errors (MongoDB unreachable) errors.max.retries times, the task RUNNING meanwhile;',
      'then the task is FAILED and stays so until it is restarted.',
    ].join('\n'),
    options: {
      file: { type: 'string', short: 'f', multiple: true, value: 'path', description: 'a connector config whose connector to show (default: the shipped ones)' },
      'connect-url': connectUrlOption,
      'trace-lines': { type: 'string', value: 'n', description: 'lines of a failed task\'s trace to print', defaultText: '12' },
      json: jsonOption,
    },
    positionals: { min: 0, max: 0 },
    examples: ['tributary connectors status', 'tributary connectors status --json'],
    env,
  },

  async run(args: ParsedArgs, ctx: CommandContext): Promise<number> {
    const traceLines = args.int('trace-lines', { min: 0, max: 10_000 }, 12);
    const files = filesFrom(args, ctx, shippedConnectorFiles()).map(readConnectorFile);
    const client = new ConnectClient(resolveConnectUrl(args.string('connect-url'), ctx.env), ctx.signal);
    const found: ConnectStatus[] = [];
    const missing: string[] = [];
    for (const f of files) {
      const r = await client.request('GET', `/connectors/${encodeURIComponent(f.name)}/status`);
      if (r.status === 404) { missing.push(f.name); continue; }
      if (r.status !== 200) throw new CliError(`Kafka Connect could not report ${f.name}: ${ConnectClient.errorMessage(r)}`, ExitCodes.failure);
      found.push(r.body as ConnectStatus);
    }
    const healthy = found.length > 0 && found.every((c) => c.connector.state === 'RUNNING' && c.tasks.length > 0 && c.tasks.every((t) => t.state === 'RUNNING'));
    if (args.flag('json')) {
      printJson(ctx, { connectUrl: client.baseUrl, healthy, connectors: found, notApplied: missing });
      return healthy ? ExitCodes.ok : ExitCodes.failure;
    }
    const s = styleFor(ctx.stdout, ctx.env);
    const paint = (state: string) => (state === 'RUNNING' ? s.green(state) : state === 'FAILED' ? s.red(state) : s.yellow(state));
    for (const c of found) {
      ctx.stdout.write(`${s.bold(c.name)}  connector ${paint(c.connector.state)} on ${c.connector.worker_id}\n`);
      if (c.connector.trace) writeTrace(ctx, s, c.connector.trace, traceLines);
      if (c.tasks.length === 0) ctx.stdout.write(`  ${s.yellow('no tasks yet')} (the connector is starting, or failed before creating them)\n`);
      for (const t of c.tasks) {
        ctx.stdout.write(`  task ${t.id}  ${paint(t.state)} on ${t.worker_id}\n`);
        if (t.trace) writeTrace(ctx, s, t.trace, traceLines);
      }
    }
    for (const m of missing) ctx.stdout.write(`${s.bold(m)}  ${s.dim('not applied')}\n`);
    if (found.length === 0) ctx.stdout.write(`\nNo Tributary connector on ${client.baseUrl}; create one with \`${ctx.invokedAs} connectors apply\`.\n`);
    else if (!healthy) ctx.stdout.write(`\nNot every connector and task is RUNNING on ${client.baseUrl}.\n`);
    return healthy ? ExitCodes.ok : ExitCodes.failure;
  },
};

function writeTrace(ctx: CommandContext, s: Style, trace: string, max: number): void {
  const lines = trace.split('\n').map((l) => l.replace(/\s+$/, '')).filter((l) => l !== '');
  // the exception lines and their causes first: they say what happened; the frames say where
  const headline = lines.filter((l) => !/^\s+at |^\s*\.\.\. \d+ more/.test(l));
  const shown = headline.slice(0, max);
  for (const l of shown) ctx.stdout.write(`    ${s.red(l.trim())}\n`);
  if (lines.length > shown.length) ctx.stdout.write(`    ${s.dim(`(${lines.length - shown.length} more trace lines: --json shows them all)`)}\n`);
}
