import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { BSON } from 'mongodb';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CONNECTORS_DIR } from '../../cli/commands/connectors.ts';
import { runCli } from '../cli/helpers.ts';
import { isCi } from '../helpers/ci.ts';
import { freePort } from '../helpers/free-port.ts';
import { KafkaConnectWorker, MONGODB_CONNECTOR_CLASS } from '../setup/kafka-connect.ts';
import { describeKafka } from '../setup/kafka-env.ts';

/**
 * The Debezium path on a real Kafka Connect worker (test/setup/kafka-connect.ts) with the real Debezium
 * MongoDB plugin, against the test broker: the shipped configs validate with 0 errors, broken ones are
 * reported with the field named (REST and CLI), apply is idempotent, status shows a failed task's trace.
 *
 * Debezium's validation connects to MongoDB (listDatabases, replica-set name), and no MongoDB runs here:
 * the worker's MONGODB_URL points at a MongoDB wire-protocol stub below — a one-member replica-set
 * primary that answers the handshake and listDatabases and refuses every other command. So validation
 * passes, and a started task fails on its first change-stream command, as it would on a server that
 * cannot serve change streams.
 */

const ROOT = resolve(import.meta.dirname, '../..');
const shipped = ['mongodb-source.json', 'mongodb-source-flattened.json'].map((f) => ({ file: join(CONNECTORS_DIR, f), ...JSON.parse(readFileSync(join(CONNECTORS_DIR, f), 'utf8')) as { name: string; config: Record<string, string> } }));

describeKafka('Kafka Connect + Debezium MongoDB: shipped configs, validate/apply/status', (brokers) => {
  let worker: KafkaConnectWorker | undefined;
  let mongo: WireStub;
  let dir: string;
  let unavailable = '';

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tributary-connect-test-'));
    mongo = await startWireStub();
    try {
      worker = await KafkaConnectWorker.start({
        bootstrap: brokers,
        // what ${env:MONGODB_URL} in the shipped configs resolves to
        env: { MONGODB_URL: `${mongo.url}&serverSelectionTimeoutMS=3000` },
        onProgress: (line) => process.stderr.write(`[kafka-connect] ${line}\n`),
      });
      process.stderr.write(`[kafka-connect] worker up in ${worker.startMs} ms\n`);
    } catch (e) {
      if (isCi()) throw e; // CI: a worker that can't start fails the suite
      unavailable = (e as Error).message.split('\n')[0]!;
      process.stderr.write(`\n[kafka-connect] SKIPPED: ${unavailable}\n\n`);
    }
  });
  afterAll(async () => {
    await worker?.destroy();
    await mongo?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const connect = (ctx: { skip: (note?: string) => void }): KafkaConnectWorker => {
    if (!worker) ctx.skip(`the Kafka Connect worker did not start (CI fails instead): ${unavailable}`);
    return worker!;
  };
  const validate = async (w: KafkaConnectWorker, config: Record<string, string>) => {
    const res = await fetch(`${w.url}/connector-plugins/${MONGODB_CONNECTOR_CLASS}/config/validate`, {
      method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(config),
    });
    expect(res.status).toBe(200);
    const body = await res.json() as { error_count: number; configs: Array<{ value: { name: string; errors: string[] } }> };
    return { count: body.error_count, errors: Object.fromEntries(body.configs.filter((c) => c.value.errors.length > 0).map((c) => [c.value.name, c.value.errors])) };
  };
  const writeConfig = (file: string, name: string, config: Record<string, string>) => {
    const path = join(dir, file);
    writeFileSync(path, JSON.stringify({ name, config }, null, 2));
    return path;
  };
  const cliChild = async (args: string[], env: Record<string, string> = {}) => {
    try {
      const { stdout, stderr } = await promisify(execFile)(process.execPath, ['cli/main.ts', ...args], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1', ...env }, timeout: 90_000 });
      return { code: 0, stdout, stderr };
    } catch (e) {
      const err = e as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof err.code === 'number' ? err.code : -1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
    }
  };

  it('every shipped config validates with 0 errors on the real worker, and through `connectors validate`', async (ctx) => {
    const w = connect(ctx);
    for (const c of shipped) {
      expect(c.config['mongodb.connection.string']).toBe('${env:MONGODB_URL}');
      expect(await validate(w, { ...c.config, name: c.name }), c.file).toEqual({ count: 0, errors: {} });
    }
    const r = await runCli(['connectors', 'validate', '--connect-url', w.url]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('mongodb-source.json (tributary-mongodb): valid');
    expect(r.stdout).toContain('mongodb-source-flattened.json (tributary-mongodb-flattened): valid');
    expect(r.stdout).toContain('2 configs valid');
  });

  it('a broken config is reported with the field named: by Connect, and by the CLI (child process) with exit 1', async (ctx) => {
    const w = connect(ctx);
    const base = shipped[0]!.config;
    // the worker's own answers, as Debezium 3.0.8 words them
    expect(await validate(w, { ...base, name: 'x', 'capture.mode': 'change_streams_full' })).toEqual({
      count: 1,
      errors: { 'capture.mode': ["The 'capture.mode' value is invalid: Value must be one of change_streams, change_streams_update_full, change_streams_with_pre_image, change_streams_update_full_with_pre_image"] },
    });
    const noPrefix = Object.fromEntries(Object.entries(base).filter(([k]) => k !== 'topic.prefix'));
    expect(await validate(w, { ...noPrefix, name: 'x' })).toEqual({ count: 1, errors: { 'topic.prefix': ["The 'topic.prefix' value is invalid: A value is required"] } });
    // the name is required by Connect itself
    expect((await validate(w, base)).errors).toEqual({ name: ['Missing required configuration "name" which has no default value.'] });
    // an unresolved ${env:…} reaches Debezium as is
    expect((await validate(w, { ...base, name: 'x', 'mongodb.connection.string': '${env:NO_SUCH_VARIABLE}' })).errors)
      .toEqual({ 'mongodb.connection.string': ["The 'mongodb.connection.string' value is invalid: Invalid connection string"] });
    // Connect accepts dead-letter-queue settings on a source connector and ignores them: Tributary's rule catches it
    expect(await validate(w, { ...base, name: 'x', 'errors.tolerance': 'all', 'errors.deadletterqueue.topic.name': 'tributary.dlq' })).toEqual({ count: 0, errors: {} });

    const badMode = writeConfig('bad-mode.json', 'bad-mode', { ...base, 'capture.mode': 'change_streams_full' });
    const noTopicPrefix = writeConfig('no-prefix.json', 'no-prefix', noPrefix);
    const silent = writeConfig('silent.json', 'silent', { ...base, 'errors.tolerance': 'all', 'errors.deadletterqueue.topic.name': 'tributary.dlq' });
    const unresolved = writeConfig('unresolved.json', 'unresolved', { ...base, 'mongodb.connection.string': '${env:NO_SUCH_VARIABLE}' });
    const r = await cliChild(['connectors', 'validate', '-f', badMode, '-f', noTopicPrefix, '-f', silent, '-f', unresolved], { [`KAFKA_CONNECT_URL`]: w.url });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/bad-mode\.json \(bad-mode\): 2 errors/); // Connect's and Tributary's rule on the same field
    expect(r.stdout).toContain("✗ capture.mode: The 'capture.mode' value is invalid: Value must be one of change_streams,");
    expect(r.stdout).toContain('✗ capture.mode (tributary): must be "change_streams_update_full_with_pre_image"');
    expect(r.stdout).toContain("✗ topic.prefix: The 'topic.prefix' value is invalid: A value is required");
    expect(r.stdout).toContain('✗ topic.prefix (tributary): must be "tributary.cdc" so the collection tributary.documents lands on tributary.cdc.tributary.documents');
    expect(r.stdout).toMatch(/silent\.json \(silent\): 2 errors/);
    expect(r.stdout).toContain('✗ errors.tolerance (tributary): must be "none" (got "all")');
    expect(r.stdout).toContain('✗ errors.deadletterqueue.topic.name (tributary): Kafka Connect ignores dead-letter-queue settings on source connectors');
    expect(r.stdout).toContain("✗ mongodb.connection.string: The 'mongodb.connection.string' value is invalid: Invalid connection string");
    expect(r.stdout).toContain('mongodb.connection.string is ${env:NO_SUCH_VARIABLE}: the worker resolves it from its own environment');
    expect(r.stdout).toContain(`7 errors on ${w.url}.`);
  });

  it('apply refuses a config whose MongoDB is unreachable: the worker validates first, the CLI names the field', async (ctx) => {
    const w = connect(ctx);
    const closedPort = await freePort();
    const path = writeConfig('unreachable.json', 'tributary-unreachable', { ...shipped[0]!.config, 'mongodb.connection.string': `mongodb://127.0.0.1:${closedPort}/?replicaSet=rs0&serverSelectionTimeoutMS=1500` });
    const r = await runCli(['connectors', 'apply', '--file', path, '--connect-url', w.url]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('(tributary-unreachable): not applied, 1 error');
    expect(r.stdout).toMatch(/✗ mongodb\.connection\.string: Unable to connect: Timed out after 1500 ms while waiting for a server .*Connection refused/);
    // the real worker refuses the same PUT with 400 (it runs the same validation)
    const put = await fetch(`${w.url}/connectors/tributary-unreachable/config`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify((JSON.parse(readFileSync(path, 'utf8')) as { config: unknown }).config) });
    expect(put.status).toBe(400);
    expect(((await put.json()) as { message: string }).message).toMatch(/Connector configuration is invalid and contains the following 1 error\(s\):\nUnable to connect/);
    expect(await (await fetch(`${w.url}/connectors`)).json()).not.toContain('tributary-unreachable');
  });

  it('apply creates the shipped connector, then leaves it unchanged; status shows it, and a failed task with its trace', async (ctx) => {
    const w = connect(ctx);
    const first = await runCli(['connectors', 'apply', '--connect-url', w.url]);
    expect(first.stderr).toBe('');
    expect(first.stdout).toContain(`✓ tributary-mongodb created on ${w.url}`);
    expect(first.code).toBe(0);
    // Connect stores configs through its config topic: a GET right after the create may not see it yet
    for (let i = 0; i < 100 && (await fetch(`${w.url}/connectors/tributary-mongodb/config`)).status !== 200; i++) await new Promise((r) => setTimeout(r, 100));
    const again = await runCli(['connectors', 'apply', '--connect-url', w.url, '--json']);
    expect(JSON.parse(again.stdout)).toMatchObject({ name: 'tributary-mongodb', action: 'unchanged' });
    const stored = await (await fetch(`${w.url}/connectors/tributary-mongodb/config`)).json() as Record<string, string>;
    expect(stored['mongodb.connection.string']).toBe('${env:MONGODB_URL}'); // the secret is not in the config topic

    // The stub refuses the change stream: with the shipped errors.max.retries=60 Debezium retries for ~10 min
    // with the task RUNNING. A copy that gives up after one retry shows what the operator sees then.
    const failFast = writeConfig('fail-fast.json', 'tributary-fail-fast', { ...shipped[0]!.config, 'errors.max.retries': '1', 'retriable.restart.connector.wait.ms': '500' });
    expect((await runCli(['connectors', 'apply', '--file', failFast, '--connect-url', w.url])).code).toBe(0);
    const deadline = Date.now() + 60_000;
    let task: { state: string; trace?: string } | undefined;
    while (Date.now() < deadline) {
      const s = await (await fetch(`${w.url}/connectors/tributary-fail-fast/status`)).json() as { tasks?: Array<{ state: string; trace?: string }> };
      task = s.tasks?.[0]; // 404 body until the connector has started
      if (task?.state === 'FAILED') break;
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(task?.state, w.tail()).toBe('FAILED');
    expect(task?.trace).toContain('CommandNotFound');

    const failed = await cliChild(['connectors', 'status', '--file', failFast, '--connect-url', w.url]);
    expect(failed.code).toBe(1);
    expect(failed.stdout).toMatch(/tributary-fail-fast {2}connector RUNNING on 127\.0\.0\.1:\d+/);
    expect(failed.stdout).toMatch(/task 0 {2}FAILED on 127\.0\.0\.1:\d+/);
    expect(failed.stdout).toContain('CommandNotFound');
    expect(failed.stdout).toContain('Not every connector and task is RUNNING');

    const shippedStatus = await runCli(['connectors', 'status', '--connect-url', w.url, '--json']);
    const body = JSON.parse(shippedStatus.stdout) as { connectors: Array<{ name: string; connector: { state: string } }>; notApplied: string[] };
    expect(body.connectors.map((c) => [c.name, c.connector.state])).toEqual([['tributary-mongodb', 'RUNNING']]);
    expect(body.notApplied).toEqual(['tributary-mongodb-flattened']);
  });
});

it('connectors commands: an unreachable worker is exit 3, and a file that is not {name, config} is a config error', async () => {
  const port = await freePort();
  const down = await runCli(['connectors', 'status', '--connect-url', `http://127.0.0.1:${port}`]);
  expect(down.code).toBe(3);
  expect(down.stderr).toContain(`Kafka Connect is not reachable at http://127.0.0.1:${port}`);
  const dir = mkdtempSync(join(tmpdir(), 'tributary-connect-cli-'));
  try {
    writeFileSync(join(dir, 'flat.json'), JSON.stringify({ 'connector.class': MONGODB_CONNECTOR_CLASS }));
    const bad = await runCli(['connectors', 'validate', '--file', join(dir, 'flat.json'), '--connect-url', `http://127.0.0.1:${port}`]);
    expect(bad.code).toBe(78);
    expect(bad.stderr).toContain('must be {"name": "<connector name>", "config": {…}}');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------------------------------------

interface WireStub { url: string; close(): Promise<void> }

/**
 * A MongoDB wire-protocol stub on loopback: a one-member replica set ("rs0") primary at wire version 8
 * that answers the handshake (OP_QUERY isMaster, OP_MSG hello), listDatabases (one database: tributary),
 * ping and endSessions; every other command fails with CommandNotFound (59).
 */
async function startWireStub(): Promise<WireStub> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let buf = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 16 && buf.length >= buf.readInt32LE(0)) {
        const msg = buf.subarray(0, buf.readInt32LE(0));
        buf = buf.subarray(msg.length);
        const requestId = msg.readInt32LE(4);
        const opCode = msg.readInt32LE(12);
        if (opCode === 2004) { // OP_QUERY (the driver's first handshake): flags, collection name, skip, return, query
          const docAt = msg.indexOf(0, 20) + 1 + 8;
          const body = BSON.serialize(reply(BSON.deserialize(msg.subarray(docAt, docAt + msg.readInt32LE(docAt)))));
          const head = Buffer.alloc(36); // OP_REPLY: header, flags, cursor id, starting from, number returned
          head.writeInt32LE(36 + body.length, 0); head.writeInt32LE(requestId, 8); head.writeInt32LE(1, 12); head.writeInt32LE(1, 32);
          socket.write(Buffer.concat([head, body]));
        } else if (opCode === 2013) { // OP_MSG: flag bits, then the kind-0 body section
          const body = BSON.serialize(reply(BSON.deserialize(msg.subarray(21, 21 + msg.readInt32LE(21)))));
          const head = Buffer.alloc(21);
          head.writeInt32LE(21 + body.length, 0); head.writeInt32LE(requestId, 8); head.writeInt32LE(2013, 12);
          socket.write(Buffer.concat([head, body]));
        } else {
          socket.destroy();
        }
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const me = `127.0.0.1:${(server.address() as { port: number }).port}`;
  function reply(cmd: Record<string, unknown>): Record<string, unknown> {
    const name = Object.keys(cmd)[0]?.toLowerCase();
    if (name === 'hello' || name === 'ismaster') {
      return {
        helloOk: true, ismaster: true, isWritablePrimary: true, setName: 'rs0', setVersion: 1, hosts: [me], me, primary: me,
        minWireVersion: 0, maxWireVersion: 8, maxBsonObjectSize: 16 * 1024 * 1024, maxMessageSizeBytes: 48_000_000, maxWriteBatchSize: 100_000,
        localTime: new Date(), logicalSessionTimeoutMinutes: 30, ok: 1,
      };
    }
    if (name === 'listdatabases') return { databases: [{ name: 'tributary', sizeOnDisk: 0, empty: false }], totalSize: 0, ok: 1 };
    if (name === 'ping' || name === 'endsessions') return { ok: 1 };
    return { ok: 0, errmsg: `no such command: '${name}' (MongoDB wire stub)`, code: 59, codeName: 'CommandNotFound' };
  }
  return {
    url: `mongodb://${me}/?replicaSet=rs0`,
    close: () => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
  };
}
