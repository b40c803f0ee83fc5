import { randomBytes } from 'node:crypto';
import { MongoClient, type Db } from 'mongodb';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { describeFerretDb } from '../../setup/ferretdb-env.ts';

/**
 * What the MongoDB wire-protocol test server answers to the official driver: FerretDB 1.24 with
 * its SQLite backend, started by test/setup/ferretdb-global-setup.ts (or the server in
 * FERRETDB_URL). Facts recorded against FerretDB 1.24.2 and mongodb (driver) 7.9:
 *  - documents round-trip; a unique index refuses an inserted (or upserted) duplicate with 11000,
 *    but an update that makes an existing document collide fails with 1 InternalError (the SQLite
 *    constraint message), not 11000;
 *  - change streams are refused: 238 NotImplemented;
 *  - there are no transactions: the first write in `withTransaction` is refused with 9
 *    FailedToParse (unknown field "autocommit") and nothing is written; a read-only transaction
 *    reads, then fails at commitTransaction with 59 CommandNotFound.
 * The tests that pin FerretDB's refusals run only when buildInfo says the server is FerretDB.
 */

const url = inject('ferretDbUrl');
describeFerretDb('MongoDB wire protocol against the test server', () => {
  let client: MongoClient;
  let db: Db;
  /** FerretDB's version from buildInfo, or null when the server is something else (FERRETDB_URL). */
  let ferretDb: string | null = null;

  beforeAll(async () => {
    client = new MongoClient(url, { serverSelectionTimeoutMS: 5000 });
    await client.connect();
    db = client.db(`tributary_wire_${randomBytes(4).toString('hex')}`);
    const info = await client.db('admin').command({ buildInfo: 1 });
    ferretDb = typeof info['ferretdbVersion'] === 'string' ? info['ferretdbVersion'] : null;
  });
  afterAll(async () => {
    await db?.dropDatabase().catch(() => undefined);
    await client?.close();
  });

  it('answers ping and hello as a standalone writable primary', async () => {
    expect(await client.db('admin').command({ ping: 1 })).toMatchObject({ ok: 1 });
    const hello = await client.db('admin').command({ hello: 1 });
    expect(hello['isWritablePrimary']).toBe(true);
    if (ferretDb) expect(hello['setName']).toBeUndefined();
  });

  it('round-trips a document through insertOne and find', async () => {
    const coll = db.collection<{ _id: string; title: string; tags: string[]; n: number; at: Date }>('round_trip');
    const doc = { _id: 'doc-1', title: 'Wombats dig', tags: ['a', 'b'], n: 42, at: new Date('2026-01-02T03:04:05.678Z') };
    const res = await coll.insertOne(doc);
    expect(res).toMatchObject({ acknowledged: true, insertedId: 'doc-1' });
    expect(await coll.find({ tags: 'b' }).toArray()).toEqual([doc]);
    expect(await coll.findOne({ _id: 'doc-1' }, { projection: { _id: 0, n: 1 } })).toEqual({ n: 42 });
  });

  it('a unique index refuses a duplicate with code 11000', async () => {
    const coll = db.collection<{ k: number; v?: string }>('unique_index');
    await coll.createIndex({ k: 1 }, { unique: true, name: 'k_unique' });
    await coll.insertOne({ k: 1 });

    await expect(coll.insertOne({ k: 1 })).rejects.toMatchObject({ name: 'MongoServerError', code: 11000 });
    // an upsert that inserts is refused the same way
    await expect(coll.updateOne({ k: 7 }, { $set: { k: 1 } }, { upsert: true })).rejects.toMatchObject({ code: 11000 });
    // insertMany: a bulk write error naming the refused document
    const bulk = await coll.insertMany([{ k: 5 }, { k: 5 }]).catch((e: unknown) => e);
    expect(bulk).toMatchObject({ name: 'MongoBulkWriteError', code: 11000 });
    expect((bulk as { writeErrors: Array<{ index: number; code: number }> }).writeErrors.map((w) => [w.index, w.code])).toEqual([[1, 11000]]);
    expect(await coll.countDocuments({ k: 1 })).toBe(1);

    if (ferretDb) {
      // FerretDB's message names the collection only (MongoDB adds the index and the key)
      await expect(coll.insertOne({ k: 1 })).rejects.toThrow(`E11000 duplicate key error collection: ${db.databaseName}.unique_index`);
      // updating an existing document into a duplicate is not 11000 on FerretDB 1.24 + SQLite
      const err = await coll.updateOne({ k: 5 }, { $set: { k: 1 } }).catch((e: unknown) => e);
      expect(err).toMatchObject({ name: 'MongoServerError', code: 1, codeName: 'InternalError' });
      expect((err as Error).message).toContain('UNIQUE constraint failed');
    }
  });

  it('$changeStream is refused: 238 NotImplemented', async (ctx) => {
    if (!ferretDb) ctx.skip('unset FERRETDB_URL: these pin FerretDB\'s own refusals, and that server is not FerretDB');
    const coll = db.collection('change_stream');
    await coll.insertOne({ a: 1 });
    const refusal = { name: 'MongoServerError', code: 238, codeName: 'NotImplemented', message: '`aggregate` stage "$changeStream" is not implemented yet' };
    await expect(coll.aggregate([{ $changeStream: {} }]).toArray()).rejects.toMatchObject(refusal);
    // watch() sends the same aggregate when it is first read
    const stream = coll.watch();
    try {
      await expect(stream.tryNext()).rejects.toMatchObject(refusal);
    } finally {
      await stream.close();
    }
  });

  it('session.withTransaction does not work: the first write is refused, nothing is written', async (ctx) => {
    if (!ferretDb) ctx.skip('unset FERRETDB_URL: these pin FerretDB\'s own refusals, and that server is not FerretDB');
    const coll = db.collection<{ k: number }>('transactions');
    await coll.insertOne({ k: 0 });

    // a write inside a transaction: the driver adds lsid, txnNumber, autocommit and startTransaction
    const session = client.startSession();
    try {
      await expect(session.withTransaction(async () => {
        await coll.insertOne({ k: 1 }, { session });
      })).rejects.toMatchObject({ name: 'MongoServerError', code: 9, codeName: 'FailedToParse', message: 'insert: unknown field "autocommit"' });
    } finally {
      await session.endSession();
    }
    expect(await coll.countDocuments({ k: 1 })).toBe(0);

    // a read-only transaction: find ignores the transaction fields, then the commit is refused
    const reader = client.startSession();
    let seen: unknown = null;
    try {
      await expect(reader.withTransaction(async () => {
        seen = await coll.findOne({ k: 0 }, { session: reader, projection: { _id: 0 } });
      })).rejects.toMatchObject({ name: 'MongoServerError', code: 59, codeName: 'CommandNotFound', message: "no such command: 'commitTransaction'" });
    } finally {
      await reader.endSession();
    }
    expect(seen).toEqual({ k: 0 });

    // outside a transaction, a session is fine (lsid is accepted)
    const plain = client.startSession();
    try {
      await coll.insertOne({ k: 2 }, { session: plain });
    } finally {
      await plain.endSession();
    }
    expect(await coll.countDocuments({ k: 2 })).toBe(1);
  });
});
