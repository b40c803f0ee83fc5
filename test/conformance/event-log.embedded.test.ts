import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import { EmbeddedEventLog } from '../../adapters/event-log/embedded/embedded-event-log.ts';
import { openDatabase } from '../../adapters/sqlite/open-database.ts';
import { describeEventLogConformance } from './event-log.conformance.ts';

describeEventLogConformance('embedded (SQLite)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-log-'));
  const dbs: DatabaseSync[] = [];
  const logs: EmbeddedEventLog[] = [];
  const open = () => {
    const db = openDatabase({ path: join(dir, 'log.db'), synchronous: 'normal' });
    dbs.push(db);
    const log = new EmbeddedEventLog({ db, maxRecordBytes: 64 * 1024, pollIntervalMs: 20 });
    logs.push(log);
    return log;
  };
  const log = open();
  return {
    log,
    reopen: async () => open(),
    cleanup: async () => {
      for (const l of logs) await l.close();
      for (const d of dbs) d.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
