import { TributaryError, findTributaryError, type ErrorCode } from '../../../ports/errors.ts';

/**
 * kafkajs errors → Tributary errors with a stable code and a `retryable` flag, so callers (the
 * relay, the consume loop, the CLI) decide by code and never parse kafkajs messages.
 * kafkajs errors are recognised by shape (`name`, `type`, `retriable`), walking `cause`.
 */

interface KafkaJsLike {
  name?: string;
  type?: string;
  retriable?: boolean;
  message?: string;
  cause?: unknown;
}

/** Protocol error types that mean "the producer's idempotence state is out of sync: start a new producer". */
export const PRODUCER_FENCED_TYPES = new Set([
  'OUT_OF_ORDER_SEQUENCE_NUMBER', 'INVALID_PRODUCER_EPOCH', 'UNKNOWN_PRODUCER_ID', 'INVALID_PRODUCER_ID_MAPPING', 'PRODUCER_FENCED',
]);

/** Group-membership errors: the member must re-join; in-flight work is not committed (it is redone). */
export const MEMBERSHIP_TYPES = new Set(['REBALANCE_IN_PROGRESS', 'ILLEGAL_GENERATION', 'UNKNOWN_MEMBER_ID', 'NOT_COORDINATOR_FOR_GROUP', 'FENCED_INSTANCE_ID']);

const OVERSIZE_TYPES = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE', 'INVALID_RECORD']);
const NOT_FOUND_TYPES = new Set(['UNKNOWN_TOPIC_OR_PARTITION', 'GROUP_ID_NOT_FOUND']);
const FORBIDDEN_TYPES = new Set(['TOPIC_AUTHORIZATION_FAILED', 'GROUP_AUTHORIZATION_FAILED', 'CLUSTER_AUTHORIZATION_FAILED', 'TRANSACTIONAL_ID_AUTHORIZATION_FAILED']);

/** Every kafkajs error in the cause chain, outermost first. */
function chain(e: unknown): KafkaJsLike[] {
  const out: KafkaJsLike[] = [];
  let cur: unknown = e;
  for (let i = 0; i < 8 && cur && typeof cur === 'object'; i++) {
    out.push(cur as KafkaJsLike);
    cur = (cur as KafkaJsLike).cause;
  }
  return out;
}

/** The Kafka protocol error type (e.g. REBALANCE_IN_PROGRESS) anywhere in the cause chain. */
export function kafkaErrorType(e: unknown): string | undefined {
  return chain(e).find((c) => typeof c.type === 'string')?.type;
}

export function isMembershipError(e: unknown): boolean {
  const t = kafkaErrorType(e);
  return t !== undefined && MEMBERSHIP_TYPES.has(t);
}

export function isProducerFenced(e: unknown): boolean {
  const t = kafkaErrorType(e);
  return t !== undefined && PRODUCER_FENCED_TYPES.has(t);
}

/** Wraps a kafkajs failure of `what` (e.g. "append to tributary.dlq") into a TributaryError. */
export function toLogError(e: unknown, what: string): TributaryError {
  const existing = findTributaryError(e);
  if (existing) return existing;
  const links = chain(e);
  const type = kafkaErrorType(e);
  const root = links[links.length - 1];
  const detail = [links[0]?.message, root !== links[0] ? root?.message : undefined].filter(Boolean).join(': ');
  let code: ErrorCode = 'LOG_UNAVAILABLE';
  let retryable = true;
  if (type && OVERSIZE_TYPES.has(type)) { code = 'OVERSIZE_RECORD'; retryable = false; }
  else if (type && NOT_FOUND_TYPES.has(type)) { code = 'NOT_FOUND'; retryable = false; }
  else if (type && FORBIDDEN_TYPES.has(type)) { code = 'FORBIDDEN'; retryable = false; }
  else if (links.some((l) => l.name === 'KafkaJSServerDoesNotSupportApiKey' || l.name === 'KafkaJSNotImplemented')) { code = 'INTERNAL'; retryable = false; }
  const hint = code === 'NOT_FOUND' ? ' (create the topics: tributary topics apply)' : '';
  return new TributaryError(code, `Kafka: ${what} failed${type ? ` (${type})` : ''}: ${detail || String(e)}${hint}`, { cause: e, retryable });
}
