/**
 * Log event names of the Kafka adapter (the `event` field of its structured log lines).
 * Kept next to the adapter until observability/metrics.ts's LogEvents absorbs them.
 */
export const KafkaLogEvents = {
  consumerAssigned: 'kafka.consumer.assigned',
  consumerCrash: 'kafka.consumer.crash',
  consumerRestart: 'kafka.consumer.restart',
  commitRefused: 'kafka.consumer.commit_refused',
  producerReset: 'kafka.producer.reset',
  topicsApplied: 'kafka.topics.applied',
} as const;
