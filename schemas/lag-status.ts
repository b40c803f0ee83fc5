import { z } from 'zod';

/** Burrow's status names, in order of severity (OK < WARN < REWIND < STALL < STOP). */
export const LAG_STATUSES = ['OK', 'WARN', 'REWIND', 'STALL', 'STOP'] as const;
export const lagStatusSchema = z.enum(LAG_STATUSES);

const offset = z.number().int().nonnegative();

/** One partition of a group, as the lag monitor evaluated it. */
export const partitionLagSchema = z.object({
  topic: z.string().min(1),
  partition: z.number().int().nonnegative(),
  committed: offset,
  end: offset,
  /** Records behind: end − committed. */
  lag: offset,
  /** Age of the next unconsumed record (now − its timestamp); 0 when caught up. */
  lagSeconds: z.number().nonnegative(),
  status: lagStatusSchema,
  /** Why the status, in one line. */
  reason: z.string(),
  /** Fraction of the evaluation window that is filled. */
  complete: z.number().min(0).max(1),
});
export type PartitionLag = z.infer<typeof partitionLagSchema>;

/** Value of tributary.ops.lag (key = group): one record per group per evaluation. */
export const groupLagStatusSchema = z.object({
  group: z.string().min(1),
  /** The worst partition status. */
  status: lagStatusSchema,
  evaluatedAtMs: z.number().int().nonnegative(),
  totalLag: offset,
  maxLagSeconds: z.number().nonnegative(),
  /** The evaluation window: snapshots taken every intervalMs, windowSize of them per partition. */
  intervalMs: z.number().int().positive(),
  windowSize: z.number().int().min(2),
  partitions: z.array(partitionLagSchema),
});
export type GroupLagStatus = z.infer<typeof groupLagStatusSchema>;
