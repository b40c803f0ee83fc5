/**
 * Fetches the test Kafka Connect worker's jars and the Debezium MongoDB connector plugin into the user
 * cache (idempotent; prints the directory). `npm test` does the same first (test/setup/fetch-fixtures.ts,
 * step "kafka-connect"); this fetches them alone.
 *   node test/setup/fetch-kafka-connect.ts
 */
import { CONNECT_KAFKA_VERSION, DEBEZIUM_VERSION, ensureKafkaConnectJars } from './kafka-connect.ts';
import { javaAvailable } from './kafka-broker.ts';

if (!javaAvailable()) {
  process.stderr.write(`error: Java 17+ is needed to run the Kafka Connect ${CONNECT_KAFKA_VERSION} test worker with Debezium ${DEBEZIUM_VERSION} (install a JDK, and Maven to fetch it)\n`);
  process.exit(1);
}
try {
  const dir = await ensureKafkaConnectJars({ onProgress: (line) => process.stderr.write(`${line}\n`) });
  process.stdout.write(`${dir}\n`);
} catch (e) {
  process.stderr.write(`error: ${(e as Error).message}\n`);
  process.exit(1);
}
