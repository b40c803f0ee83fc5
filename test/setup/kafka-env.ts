import { describe, inject } from 'vitest';

/** Bootstrap servers of the test cluster, as provided by kafka-global-setup.ts ("" = no broker: suites skipped). */
export function testBrokers(): string {
  return inject('kafkaBrokers');
}

/**
 * `describe` for a suite that needs the test broker: skipped (visibly, with the reason) only when
 * the global setup decided so — never in CI, where a missing broker fails the run instead.
 */
export function describeKafka(name: string, fn: (brokers: string) => void): void {
  const brokers = testBrokers();
  if (brokers) describe(name, () => fn(brokers));
  else describe.skip(`${name} — ${inject('kafkaBrokerInfo')}`, () => fn(''));
}
