export { LAG_STATUSES, LAG_STATUS_VALUE, worseStatus, worstStatus, type LagStatus } from './status.ts';
export { evaluatePartition, lagOf, type LagRules, type OffsetSnapshot, type PartitionVerdict } from './evaluate.ts';
export { SnapshotWindows } from './window.ts';
