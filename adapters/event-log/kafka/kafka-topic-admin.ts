import type { Logger } from 'pino';
import { TributaryError } from '../../../ports/errors.ts';
import type { TopicSpec } from '../../../schemas/topics.ts';
import type { KafkaClients } from './kafka-clients.ts';
import { toLogError } from './kafka-errors.ts';
import { KafkaLogEvents } from './kafka-log-events.ts';
import { planTopic, type ExistingTopic, type TopicChange } from './kafka-topics.ts';

/** How long a cached partition count is trusted before metadata is asked again. */
const PARTITION_CACHE_MS = 30_000;

export interface KafkaTopicAdminOptions {
  clients: KafkaClients;
  log: Logger;
  maxRecordBytes: number;
  /** Replication factor for topics it creates; -1 = the broker's default.replication.factor. */
  replicationFactor: number;
}

/** Topics on the broker through the admin client: apply specs (kafka-topics.ts plans), list them, and partition counts (cached). */
export class KafkaTopicAdmin {
  private readonly o: KafkaTopicAdminOptions;
  private readonly partitionCache = new Map<string, { count: number; at: number }>();

  constructor(options: KafkaTopicAdminOptions) {
    this.o = options;
  }

  /**
   * Creates missing topics, grows partitions, aligns owned configs; returns what changed per topic.
   * With `dryRun`, only reports what would change.
   */
  async applyTopics(specs: TopicSpec[], opts: { dryRun?: boolean } = {}): Promise<TopicChange[]> {
    const dryRun = opts.dryRun === true;
    const admin = await this.o.clients.adminClient();
    try {
      const existingNames = new Set(await admin.listTopics());
      const existing = new Map<string, ExistingTopic>();
      const present = specs.filter((s) => existingNames.has(s.name)).map((s) => s.name);
      if (present.length > 0) {
        const meta = await admin.fetchTopicMetadata({ topics: present });
        const configs = await admin.describeConfigs({ includeSynonyms: false, resources: present.map((name) => ({ type: 2, name })) });
        for (const t of meta.topics) existing.set(t.name, { partitions: t.partitions.length, configs: {} });
        for (const r of configs.resources) {
          const e = existing.get(r.resourceName);
          if (!e) continue;
          for (const c of r.configEntries) e.configs[c.configName] = c.configValue;
          // configs set on the topic by anyone (kept when Tributary's own are updated)
          (e as ExistingTopic & { dynamic?: Record<string, string> }).dynamic = Object.fromEntries(
            r.configEntries.filter((c) => !c.isDefault && c.configSource === 1 && !c.isSensitive).map((c) => [c.configName, c.configValue]),
          );
        }
      }
      const out: TopicChange[] = [];
      const toCreate: TopicSpec[] = [];
      for (const spec of specs) {
        const cur = existing.get(spec.name);
        const plan = planTopic(spec, cur, this.o.maxRecordBytes);
        if (plan.create) { toCreate.push(spec); out.push({ topic: spec.name, action: 'created', partitions: spec.partitions, changes: plan.changes }); continue; }
        if (dryRun) {
          out.push({ topic: spec.name, action: plan.changes.length > 0 ? 'updated' : 'unchanged', partitions: Math.max(spec.partitions, cur!.partitions), changes: plan.changes });
          continue;
        }
        if (plan.growTo !== null) {
          await admin.createPartitions({ topicPartitions: [{ topic: spec.name, count: plan.growTo }] });
        }
        if (plan.configs) {
          const dynamic = (cur as ExistingTopic & { dynamic?: Record<string, string> }).dynamic ?? {};
          const merged = { ...dynamic, ...plan.configs };
          await admin.alterConfigs({ validateOnly: false, resources: [{ type: 2, name: spec.name, configEntries: Object.entries(merged).map(([name, value]) => ({ name, value })) }] });
        }
        out.push({ topic: spec.name, action: plan.changes.length > 0 ? 'updated' : 'unchanged', partitions: Math.max(spec.partitions, cur!.partitions), changes: plan.changes });
      }
      if (dryRun) return out;
      if (toCreate.length > 0) {
        await admin.createTopics({
          waitForLeaders: true,
          topics: toCreate.map((s) => {
            const plan = planTopic(s, undefined, this.o.maxRecordBytes);
            return {
              topic: s.name,
              numPartitions: s.partitions,
              replicationFactor: this.o.replicationFactor,
              configEntries: Object.entries(plan.configs!).map(([name, value]) => ({ name, value })),
            };
          }),
        });
      }
      for (const c of out) this.partitionCache.set(c.topic, { count: c.partitions, at: Date.now() });
      if (out.some((c) => c.action !== 'unchanged')) {
        this.o.log.info({ event: KafkaLogEvents.topicsApplied, changes: out.filter((c) => c.action !== 'unchanged') }, 'topics applied');
      }
      return out;
    } catch (e) {
      // another process created the topic between our listing and our create: apply again
      if ((e as { type?: string }).type === 'TOPIC_ALREADY_EXISTS' || /already exists/i.test((e as Error).message ?? '')) return this.applyTopics(specs, opts);
      throw toLogError(e, 'apply topics');
    }
  }

  async listTopics(): Promise<string[]> {
    const admin = await this.o.clients.adminClient();
    try {
      return (await admin.listTopics()).filter((t) => !t.startsWith('__')).sort();
    } catch (e) {
      throw toLogError(e, 'list topics');
    }
  }

  async partitionCount(topic: string): Promise<number> {
    const cached = this.partitionCache.get(topic);
    if (cached && Date.now() - cached.at < PARTITION_CACHE_MS) return cached.count;
    const admin = await this.o.clients.adminClient();
    let count: number;
    try {
      const names = await admin.listTopics();
      if (!names.includes(topic)) throw new TributaryError('NOT_FOUND', `topic "${topic}" does not exist; create it with ensureTopics (tributary topics apply)`);
      const meta = await admin.fetchTopicMetadata({ topics: [topic] });
      count = meta.topics.find((t) => t.name === topic)?.partitions.length ?? 0;
    } catch (e) {
      throw toLogError(e, `read metadata of ${topic}`);
    }
    this.partitionCache.set(topic, { count, at: Date.now() });
    return count;
  }

  /** Forgets a cached partition count (the topic was not found on the broker). */
  forget(topic: string): void {
    this.partitionCache.delete(topic);
  }
}
