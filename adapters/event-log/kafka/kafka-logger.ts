import { logLevel, type logCreator } from 'kafkajs';
import type { Logger } from 'pino';

/**
 * Routes kafkajs's own log lines into the process's pino logger (component "kafkajs").
 * kafkajs logs every failed connection attempt at ERROR; those are reported at "warn" (the adapter
 * reports what they mean — broker unreachable, consumer restarting — as its own events).
 */
export function kafkaLogCreator(logger: Logger): logCreator {
  const child = logger.child({ component: 'kafkajs' });
  return () => ({ level, log }) => {
    const { message, timestamp: _ts, logger: _name, ...extra } = log as { message: string; timestamp?: string; logger?: string } & Record<string, unknown>;
    // protocol errors kafkajs retries by itself ("Response Metadata(...)": coordinator loading, leader moving),
    // and its notice about bounded producer retries (bounded on purpose: callers back off), are debug detail
    if (typeof message === 'string' && (message.startsWith('Response ') || message.startsWith('Limiting retries'))) {
      child.debug(extra, message);
      return;
    }
    switch (level) {
      case logLevel.ERROR:
      case logLevel.WARN:
        child.warn(extra, message);
        break;
      case logLevel.INFO:
        child.debug(extra, message);
        break;
      default:
        child.trace(extra, message);
    }
  };
}

/** kafkajs level for a pino level: nothing below what pino would print anyway. */
export function kafkaLogLevel(pinoLevel: string): logLevel {
  switch (pinoLevel) {
    case 'trace': return logLevel.DEBUG;
    case 'debug': return logLevel.INFO;
    case 'info': case 'warn': return logLevel.WARN;
    case 'error': case 'fatal': return logLevel.ERROR;
    default: return logLevel.NOTHING;
  }
}
