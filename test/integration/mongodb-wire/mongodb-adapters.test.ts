import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { expect, inject, it } from 'vitest';
import { createMongoDocumentStore } from '../../../adapters/document-store/mongodb/mongodb-document-store.ts';
import { MongoChangeFeed } from '../../../adapters/change-feed/mongodb/mongodb-change-feed.ts';
import { CDC_TOPIC, Topics } from '../../../schemas/topics.ts';
import { loadConfig } from '../../../wiring/config.ts';
import { createSystem } from '../../../wiring/system.ts';
import { describeFerretDb } from '../../setup/ferretdb-env.ts';

/**
 * What Tributary does with a MongoDB server that is not a replica set (FerretDB here: no change
 * streams, no transactions): every part that needs one refuses at start-up and says what to do —
 * never a store whose batches are not atomic, never a relay that cannot relay.
 */

const url = inject('ferretDbUrl');
const ROOT = resolve(import.meta.dirname, '../../..');

describeFerretDb('MongoDB adapters against a server that is not a replica set', () => {
  it('the store refuses batches it could not make atomic', async () => {
    const store = createMongoDocumentStore({ url, database: 'tributary_refuse', collection: 'documents', transactions: 'required', timeoutMs: 5_000 });
    await expect(store.init()).rejects.toMatchObject({ code: 'INVALID_CONFIG', message: expect.stringMatching(/not a replica set member.*rs\.initiate/) });
    await store.close();
  });

  it('the change feed refuses: change streams need a replica set', async () => {
    const feed = new MongoChangeFeed({ url, database: 'tributary_refuse', collection: 'documents', cdcTopic: CDC_TOPIC, opsTopic: Topics.opsEvents, timeoutMs: 5_000 });
    await expect(feed.init()).rejects.toMatchObject({ code: 'INVALID_CONFIG', message: expect.stringMatching(/change streams need one/) });
    await feed.close();
  });

  it('npm start with MONGODB_URL on it stops with that message', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tributary-mongo-refuse-'));
    try {
      const config = loadConfig({ MONGODB_URL: url, TRIBUTARY_DATA_DIR: dir, TRIBUTARY_LOG_LEVEL: 'silent' });
      await expect(createSystem(config, { consumers: false })).rejects.toMatchObject({ code: 'INVALID_CONFIG', message: expect.stringMatching(/not a replica set member/) });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('`tributary setup mongodb` says the server is not a replica set, and `tributary cdc` needs Kafka mode: both configuration errors (exit 78)', () => {
    const env = { ...process.env, MONGODB_URL: url, NO_COLOR: '1', QDRANT_URL: '' };
    const setup = spawnSync(process.execPath, [join(ROOT, 'cli/main.ts'), 'setup', 'mongodb'], { env, encoding: 'utf8', timeout: 60_000 });
    expect(setup.status).toBe(78);
    expect(setup.stderr).toMatch(/not a replica set member/);
    const cdc = spawnSync(process.execPath, [join(ROOT, 'cli/main.ts'), 'cdc'], { env, encoding: 'utf8', timeout: 60_000 });
    expect(cdc.status).toBe(78);
    expect(cdc.stderr).toMatch(/TRIBUTARY_MODE.*tributary cdc.*Kafka mode/);
  });
});
