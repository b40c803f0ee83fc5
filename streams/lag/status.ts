import { LAG_STATUSES } from '../../schemas/lag-status.ts';

/**
 * Lag statuses, Burrow's names (schemas/lag-status.ts). The order is severity: OK < WARN < REWIND <
 * STALL < STOP, the same order `tributary lag` uses for "worst status"; the number is what the
 * Prometheus gauge exports.
 */
export { LAG_STATUSES };
export type LagStatus = (typeof LAG_STATUSES)[number];

export const LAG_STATUS_VALUE: Readonly<Record<LagStatus, number>> = { OK: 0, WARN: 1, REWIND: 2, STALL: 3, STOP: 4 };

export function worseStatus(a: LagStatus, b: LagStatus): LagStatus {
  return LAG_STATUS_VALUE[b] > LAG_STATUS_VALUE[a] ? b : a;
}

export function worstStatus(statuses: Iterable<LagStatus>): LagStatus {
  let worst: LagStatus = 'OK';
  for (const s of statuses) worst = worseStatus(worst, s);
  return worst;
}
