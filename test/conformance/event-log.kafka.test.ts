import { pino } from 'pino';
import { KafkaEventLog, parseBrokers } from '../../adapters/event-log/kafka/kafka-event-log.ts';
import { describeEventLogConformance } from './event-log.conformance.ts';

import { describeKafka } from '../setup/kafka-env.ts';

describeKafka('on the test broker', (brokers) => {
  describeEventLogConformance('kafka (kafkajs, real broker)', async () => {
    const logs: KafkaEventLog[] = [];
    const open = () => {
      const log = new KafkaEventLog({
        brokers: parseBrokers(brokers),
        clientId: 'tributary-conformance',
        logger: pino({ level: 'silent' }),
        maxRecordBytes: 64 * 1024,
        replicationFactor: -1,
        sessionTimeoutMs: 6_000,
        rebalanceTimeoutMs: 10_000,
        heartbeatIntervalMs: 300,
        partitionConcurrency: 4,
        fetchMaxWaitMs: 100,
      });
      logs.push(log);
      return log;
    };
    const log = open();
    return {
      log,
      reopen: async () => open(),
      cleanup: async () => { for (const l of logs) await l.close(); },
    };
  });
});
