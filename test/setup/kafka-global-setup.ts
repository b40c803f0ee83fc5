import type { TestProject } from 'vitest/node';
import { isCi } from '../helpers/ci.ts';
import { javaAvailable, KafkaBroker } from './kafka-broker.ts';

/**
 * Global setup of the "kafka" test project: provides `kafkaBrokers` to the suites.
 *  - KAFKA_BROKERS set: that cluster is used as is.
 *  - otherwise a one-node KRaft broker is started from the jars cached by test/setup/kafka-broker.ts
 *    (fetched from Maven Central on first use) and stopped after the last suite.
 * A broker that cannot start fails the run. The one exception: no Java on a developer machine
 * (CI unset), where the Kafka suites are skipped with a loud notice. With CI=true nothing is skipped.
 */

declare module 'vitest' {
  export interface ProvidedContext {
    /** Bootstrap servers of the test cluster ("" = Kafka suites skipped: no Java, not CI). */
    kafkaBrokers: string;
    /** How the broker came to be: "external", "local <version> started in N ms" or the skip reason. */
    kafkaBrokerInfo: string;
    /** What would run the Kafka suites when they are skipped ("" when they run). */
    kafkaToRun: string;
  }
}

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const external = process.env['KAFKA_BROKERS'];
  if (external) {
    project.provide('kafkaBrokers', external);
    project.provide('kafkaBrokerInfo', `external cluster ${external}`);
    project.provide('kafkaToRun', '');
    return undefined;
  }
  if (!javaAvailable() && !isCi()) {
    const why = 'no Java on this machine: the Kafka suites are SKIPPED (install a JDK 17+ and Maven, or set KAFKA_BROKERS; in CI they fail instead)';
    process.stderr.write(`\n[kafka] ${why}\n\n`);
    project.provide('kafkaBrokers', '');
    project.provide('kafkaBrokerInfo', why);
    project.provide('kafkaToRun', 'install a JDK 17+ and Maven (`npm test` then fetches Kafka), or set KAFKA_BROKERS');
    return undefined;
  }
  const t0 = Date.now();
  const broker = await KafkaBroker.start({ onProgress: (line) => process.stderr.write(`[kafka] ${line}\n`) });
  project.provide('kafkaBrokers', broker.bootstrap);
  project.provide('kafkaBrokerInfo', `local broker ${broker.bootstrap}, up in ${Date.now() - t0} ms`);
  project.provide('kafkaToRun', '');
  return async () => { await broker.destroy(); };
}
