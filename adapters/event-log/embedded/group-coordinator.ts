import type { BatchHandler, SubscribeOptions, Subscription } from '../../../ports/event-log.ts';
import { PartitionLoop, type PartitionLogAccess, type PartitionLoopSettings } from './partition-loop.ts';

/** What the coordinator needs from the embedded log: partition loops' access, plus partition counts. */
export interface GroupLogAccess extends PartitionLogAccess {
  /** Throws when the topic does not exist. */
  topicInfo(topic: string): { partitions: number };
}

interface Member {
  id: number;
  options: SubscribeOptions;
  handler: BatchHandler;
  loops: Map<string, PartitionLoop>;
  stopping: boolean;
  resolveDone: () => void;
}

/** In-process consumer group: assigns partitions round-robin to members and rebalances on join/leave. */
export class GroupCoordinator {
  private readonly members: Member[] = [];
  private readonly active = new Map<string, PartitionLoop>();
  private nextId = 1;
  private readonly log: GroupLogAccess;
  private readonly group: string;
  private readonly settings: PartitionLoopSettings;

  constructor(log: GroupLogAccess, group: string, settings: PartitionLoopSettings) {
    this.log = log;
    this.group = group;
    this.settings = settings;
  }

  join(options: SubscribeOptions, handler: BatchHandler): Subscription {
    let resolveDone!: () => void;
    const done = new Promise<void>((r) => { resolveDone = r; });
    const member: Member = { id: this.nextId++, options, handler, loops: new Map(), stopping: false, resolveDone };
    this.members.push(member);
    this.rebalance();
    const stop = async () => {
      if (member.stopping) return done;
      member.stopping = true;
      const i = this.members.indexOf(member);
      if (i >= 0) this.members.splice(i, 1);
      await Promise.all([...member.loops.values()].map((l) => l.stop()));
      member.loops.clear();
      this.rebalance();
      member.resolveDone();
      return done;
    };
    return {
      done,
      get running() { return !member.stopping; },
      stop,
    };
  }

  async stopAll(): Promise<void> {
    const members = [...this.members];
    this.members.length = 0;
    await Promise.all(members.map(async (m) => {
      m.stopping = true;
      await Promise.all([...m.loops.values()].map((l) => l.stop()));
      m.loops.clear();
      m.resolveDone();
    }));
  }

  rebalance(): void {
    // every (topic, partition) any member subscribes to, assigned round-robin among the members subscribed to that topic
    const wanted = new Map<Member, Set<string>>();
    for (const m of this.members) wanted.set(m, new Set());
    const topics = new Set(this.members.flatMap((m) => m.options.topics));
    for (const topic of topics) {
      let partitions: number;
      try { partitions = this.log.topicInfo(topic).partitions; } catch { continue; }
      const subs = this.members.filter((m) => m.options.topics.includes(topic));
      for (let p = 0; p < partitions; p++) {
        const m = subs[p % subs.length];
        if (m) wanted.get(m)!.add(`${topic}\u0000${p}`);
      }
    }
    for (const [m, tps] of wanted) {
      for (const [tp, loop] of m.loops) {
        if (!tps.has(tp)) { m.loops.delete(tp); void loop.stop(); }
      }
      for (const tp of tps) {
        if (m.loops.has(tp)) continue;
        const [topic, p] = tp.split('\u0000') as [string, string];
        // a partition moving between members starts only after its previous owner finished its batch
        const previous = this.findLoop(topic, Number(p));
        const loop = new PartitionLoop(this.active, this.log, this.group, topic, Number(p), m.options, m.handler, this.settings);
        m.loops.set(tp, loop);
        void (previous ? previous.stopped.then(() => loop.start()) : loop.start());
      }
    }
  }

  private findLoop(topic: string, partition: number): PartitionLoop | undefined {
    return this.active.get(PartitionLoop.key(this.group, topic, partition));
  }
}
