import type { FastifyInstance } from 'fastify';
import type { System } from '../wiring/system.ts';
import { buildApp } from './app.ts';

export interface RunningServer {
  app: FastifyInstance;
  /** e.g. http://127.0.0.1:8080 */
  url: string;
  /** Stops accepting connections and waits for in-flight requests. Does not close the system. */
  close(): Promise<void>;
}

/** Builds the app and listens on config.host:config.port (port 0 picks a free port). */
export async function startServer(system: System): Promise<RunningServer> {
  const app = await buildApp(system, { logger: true });
  const url = await app.listen({ host: system.config.host, port: system.config.port });
  return { app, url, close: () => app.close() };
}
