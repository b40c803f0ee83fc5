/**
 * Fetches the test broker's jars into the user cache (idempotent; prints the directory).
 * `npm test` does the same first (test/setup/fetch-fixtures.ts, step "kafka"); this fetches Kafka alone.
 *   node test/setup/fetch-kafka.ts
 */
import { ensureKafkaJars, javaAvailable, KAFKA_VERSION } from './kafka-broker.ts';

if (!javaAvailable()) {
  process.stderr.write(`error: Java 17+ is needed to run the Kafka ${KAFKA_VERSION} test broker (install a JDK, and Maven to fetch it)\n`);
  process.exit(1);
}
try {
  const dir = await ensureKafkaJars({ onProgress: (line) => process.stderr.write(`${line}\n`) });
  process.stdout.write(`${dir}\n`);
} catch (e) {
  process.stderr.write(`error: ${(e as Error).message}\n`);
  process.exit(1);
}
