import { MongoClient } from 'mongodb';
import { TributaryError } from '../../../ports/errors.ts';
import { createMongoDocumentStore, redact } from './mongodb-document-store.ts';
import { mongoError } from './mongodb-errors.ts';

export interface MongoSetupResult {
  /** The collection did not exist and was created. */
  created: boolean;
  /** changeStreamPreAndPostImages was off and this run turned it on. */
  imagesTurnedOn: boolean;
  /** changeStreamPreAndPostImages as the server reports it after the setup. */
  imagesOn: boolean;
  indexes: string[];
}

/**
 * One-time setup of the warehouse collection (`tributary setup mongodb`): creates it if missing,
 * turns on `changeStreamPreAndPostImages` (what Debezium's
 * `change_streams_update_full_with_pre_image` capture mode and the relay's `before` images read),
 * and creates the store's indexes. Idempotent.
 */
export async function setupMongoCollection(opts: { url: string; database: string; collection: string }): Promise<MongoSetupResult> {
  const client = new MongoClient(opts.url, { serverSelectionTimeoutMS: 10_000, appName: 'tributary-setup' });
  let created = false;
  let imagesTurnedOn: boolean;
  try {
    await client.connect();
    const hello = await client.db('admin').command({ hello: 1 }) as { setName?: string };
    if (!hello.setName) {
      throw new TributaryError('INVALID_CONFIG', `${redact(opts.url)} is not a replica set member: change streams (the relay and Debezium) need one; initiate a replica set (rs.initiate()) and add ?replicaSet=<name> to MONGODB_URL`);
    }
    const db = client.db(opts.database);
    const existing = await db.listCollections({ name: opts.collection }).toArray();
    const info = existing[0] as { options?: { changeStreamPreAndPostImages?: { enabled?: boolean } } } | undefined;
    if (!info) {
      await db.createCollection(opts.collection, { changeStreamPreAndPostImages: { enabled: true } });
      created = true;
    }
    imagesTurnedOn = !created && info?.options?.changeStreamPreAndPostImages?.enabled !== true;
    if (imagesTurnedOn) await db.command({ collMod: opts.collection, changeStreamPreAndPostImages: { enabled: true } });
  } catch (e) {
    throw mongoError(e, 'setup');
  } finally {
    await client.close();
  }
  const store = createMongoDocumentStore({ ...opts, transactions: 'required' });
  try {
    await store.init();
  } finally {
    await store.close();
  }
  const check = new MongoClient(opts.url, { serverSelectionTimeoutMS: 10_000 });
  try {
    await check.connect();
    const indexes = (await check.db(opts.database).collection(opts.collection).indexes()).map((i) => String(i.name));
    const coll = (await check.db(opts.database).listCollections({ name: opts.collection }).toArray())[0] as { options?: { changeStreamPreAndPostImages?: { enabled?: boolean } } } | undefined;
    return { created, imagesTurnedOn, imagesOn: coll?.options?.changeStreamPreAndPostImages?.enabled === true, indexes };
  } finally {
    await check.close();
  }
}
