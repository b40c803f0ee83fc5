import { describe, inject } from 'vitest';
import { describeWith } from '../helpers/ci.ts';

/** Bootstrap servers of the test cluster, as provided by kafka-global-setup.ts ("" = no broker: suites skipped). */
export function testBrokers(): string {
  return inject('kafkaBrokers');
}

/** What would run the Kafka suites, when the global setup skipped them (null: they run). */
export function kafkaToRun(): string | null {
  return testBrokers() ? null : inject('kafkaToRun') || inject('kafkaBrokerInfo');
}

/**
 * `describe` for a suite that needs the test broker: skipped (every test, visibly, with what would
 * run it) only when the global setup decided so — never in CI, where a missing broker fails the run
 * instead. `also`: a further need of the suite (a Qdrant variant: QDRANT_URL), skipped the same way.
 * A skipped suite's body gets "" for the brokers (it is only collected, never run).
 */
export function describeKafka(name: string, fn: (brokers: string) => void, also?: { toRun: string | null; inCi: 'fail' | 'skip' }): void {
  const brokers = testBrokers();
  const toRun = kafkaToRun();
  if (toRun !== null) describeWith({ toRun, inCi: 'fail' }, name, () => fn(''));
  else if (also && also.toRun !== null) describeWith(also, name, () => fn(''));
  else describe(name, () => fn(brokers));
}
