import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { Script } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { commandProblem, configFor, unknownVariables } from './tributary-env.ts';

/**
 * docker-compose.yml, checked statically (no Docker here): what Tributary's processes are given,
 * the start-up order, the health checks it relies on, and the debezium profile.
 */

const root = new URL('../../', import.meta.url);
const composeText = readFileSync(new URL('docker-compose.yml', root), 'utf8');
const dockerfile = readFileSync(new URL('Dockerfile', root), 'utf8');

type Env = Record<string, string>;
interface Service {
  image?: string;
  build?: { context: string; target?: string; dockerfile?: string };
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string | number | boolean>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  ports?: string[];
  profiles?: string[];
  restart?: string;
  volumes?: string[];
}
interface Compose {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
  'x-debezium': { replaces: string; up: string };
}

// YAML merge keys (<<: *anchor) as Compose reads them
const compose = parse(composeText, { merge: true }) as Compose;
const services = Object.entries(compose.services);

/** Compose interpolation of a literal: `$$` is a `$` (the files use no variables). */
const literal = (s: string) => s.replaceAll('$$', '$');
const envOf = (s: Service): Env => Object.fromEntries(Object.entries(s.environment ?? {}).map(([k, v]) => [k, literal(String(v))]));

/** Services built from ./Dockerfile; of those, the Tributary processes run its entrypoint (node cli/main.ts). */
const built = services.filter(([, s]) => s.build !== undefined);
const processes = built.filter(([, s]) => s.entrypoint === undefined);
const dockerfileStages = [...dockerfile.matchAll(/^FROM\s+\S+\s+AS\s+(\S+)/gim)].map((m) => m[1]);

describe('docker-compose.yml', () => {
  it('has the whole stack: servers, one-shot set-up, and every Tributary process', () => {
    const names = Object.keys(compose.services);
    for (const n of ['mongodb', 'mongodb-init', 'mongodb-setup', 'kafka', 'schema-registry', 'qdrant', 'topics-init', 'schemas-init',
      'api', 'cdc', 'clean', 'embed', 'archive', 'lag-monitor', 'connect', 'debezium-register']) {
      expect(names, n).toContain(n);
    }
    expect(compose.services['qdrant']!.image).toBe('qdrant/qdrant:v1.16.3');
    expect(compose.services['mongodb']!.image).toMatch(/^mongo:7(\.|$)/);
    expect(compose.services['kafka']!.image).toMatch(/^apache\/kafka:/);
  });

  it('builds every Tributary service from ./Dockerfile, one image per target', () => {
    expect(processes.map(([n]) => n).sort()).toEqual(['api', 'archive', 'cdc', 'clean', 'debezium-register', 'embed', 'lag-monitor', 'mongodb-setup', 'schemas-init', 'topics-init']);
    const imageOfTarget = new Map<string, string>();
    for (const [name, s] of built) {
      expect(s.build!.context, name).toBe('.');
      expect(s.build!.dockerfile ?? 'Dockerfile', name).toBe('Dockerfile');
      expect(dockerfileStages, `${name}: target ${s.build!.target}`).toContain(s.build!.target);
      expect(s.image, name).toMatch(/^tributary(-[a-z]+)?:local$/);
      const seen = imageOfTarget.get(s.build!.target!);
      if (seen) expect(s.image, `${name}: the image of target ${s.build!.target}`).toBe(seen);
      imageOfTarget.set(s.build!.target!, s.image!);
    }
    expect(new Set(imageOfTarget.values()).size).toBe(imageOfTarget.size);
    // the last stage is the default build: the generic runtime, not the API's
    expect(dockerfileStages.at(-1)).toBe('runtime');
    expect(dockerfile).toMatch(/^ENTRYPOINT \["node", "cli\/main\.ts"\]$/m);
    expect(dockerfile).toMatch(/^USER node$/m);
  });

  it.each(processes)('%s runs a tributary command', (_name, s) => {
    expect(commandProblem(s.command ?? [])).toBeNull();
  });

  it.each(processes)('%s is given only real settings, in a combination Tributary accepts', (_name, s) => {
    const env = envOf(s);
    expect(unknownVariables(env)).toEqual([]);
    const loaded = configFor(env);
    expect('error' in loaded ? loaded.error : null).toBeNull();
  });

  it('the API listens beyond loopback with API keys, as api/server.ts requires, on the port it publishes', () => {
    const api = compose.services['api']!;
    const loaded = configFor(envOf(api));
    if ('error' in loaded) throw new Error(loaded.error);
    expect(loaded.config.host).toBe('0.0.0.0');
    expect(loaded.config.apiKeys.length).toBeGreaterThan(0);
    expect(loaded.config.mode).toBe('kafka');
    expect(loaded.config.consumers).toBe('none');
    expect(api.ports).toContain(`${loaded.config.port}:${loaded.config.port}`);
    expect(api.build!.target).toBe('api');
    expect(api.healthcheck!.test.join(' ')).toContain(`127.0.0.1:${loaded.config.port}/readyz`);
    // the documented example key: its hash is the one configured
    expect(loaded.config.apiKeys[0]!.sha256).toBe(createHash('sha256').update('tributary-dev-key').digest('hex'));
  });

  it('every process that opens the document store, the index or the log is given its server', () => {
    const env = (n: string) => envOf(compose.services[n]!);
    for (const n of ['api', 'cdc', 'archive', 'mongodb-setup']) expect(env(n)['MONGODB_URL'], n).toMatch(/^mongodb:\/\/mongodb:27017\/\?replicaSet=rs0$/);
    for (const n of ['api', 'embed']) expect(env(n)['QDRANT_URL'], n).toBe('http://qdrant:6333');
    for (const n of ['api', 'cdc', 'clean', 'embed', 'archive', 'lag-monitor', 'topics-init']) expect(env(n)['KAFKA_BROKERS'], n).toBe('kafka:19092');
    // one wire format on every topic: every process on Kafka (and the one that registers the schemas) names the same registry
    const registries = new Set(['api', 'cdc', 'clean', 'embed', 'archive', 'lag-monitor', 'schemas-init'].map((n) => env(n)['SCHEMA_REGISTRY_URL']));
    expect([...registries]).toEqual(['http://schema-registry:8080/apis/ccompat/v7']);
  });

  it('every depends_on names a service, and its condition is one the target can meet', () => {
    for (const [name, s] of services) {
      for (const [target, { condition }] of Object.entries(s.depends_on ?? {})) {
        const t = compose.services[target];
        expect(t, `${name} depends on ${target}, which is not a service`).toBeDefined();
        if (condition === 'service_healthy') expect(t!.healthcheck, `${name} waits for ${target} to be healthy: it needs a healthcheck`).toBeDefined();
        else if (condition === 'service_completed_successfully') expect(t!.restart, `${name} waits for ${target} to complete: a one-shot (restart "no")`).toBe('no');
        else expect(condition, `${name} → ${target}`).toBe('service_started');
      }
    }
  });

  it('every server has a healthcheck; the one-shots never restart; long-running processes do', () => {
    for (const [name, s] of services) {
      if (s.ports) expect(s.healthcheck, `${name} publishes a port: it needs a healthcheck`).toBeDefined();
      if (s.restart === 'no') expect(s.ports, `${name} is a one-shot`).toBeUndefined();
    }
    for (const n of ['api', 'cdc', 'clean', 'embed', 'archive', 'lag-monitor']) expect(compose.services[n]!.restart, n).toBe('unless-stopped');
  });

  it('the processes start after the topics and the schemas exist, and the store after the replica set', () => {
    for (const n of ['api', 'cdc', 'clean', 'embed', 'archive', 'lag-monitor']) {
      const deps = compose.services[n]!.depends_on ?? {};
      expect(deps['topics-init']?.condition, n).toBe('service_completed_successfully');
      expect(deps['schemas-init']?.condition, n).toBe('service_completed_successfully');
      // topics-init applies the topics once: the processes don't (TRIBUTARY_KAFKA_APPLY_TOPICS=false)
      expect(envOf(compose.services[n]!)['TRIBUTARY_KAFKA_APPLY_TOPICS'], n).toBe('false');
    }
    for (const n of ['api', 'cdc', 'archive']) expect(compose.services[n]!.depends_on?.['mongodb-setup']?.condition, n).toBe('service_completed_successfully');
    expect(compose.services['mongodb-setup']!.depends_on?.['mongodb-init']?.condition).toBe('service_completed_successfully');
    expect(compose.services['mongodb-setup']!.command).toEqual(['setup', 'mongodb']);
  });

  it('the mongosh set-up script is valid JavaScript', () => {
    for (const n of ['mongodb-init']) {
      const script = literal(compose.services[n]!.command!.join('\n'));
      expect(() => new Script(script, { filename: n }), n).not.toThrow();
    }
  });

  it('named volumes are declared', () => {
    const declared = Object.keys(compose.volumes ?? {});
    for (const [name, s] of services) {
      for (const v of s.volumes ?? []) {
        const source = v.split(':')[0]!;
        if (!source.startsWith('.') && !source.startsWith('/')) expect(declared, `${name}: volume ${source}`).toContain(source);
      }
    }
  });

  describe('profile debezium', () => {
    const inProfile = services.filter(([, s]) => s.profiles !== undefined);
    const connectorFile = 'connectors/debezium/mongodb-source.json';
    const connector = JSON.parse(readFileSync(new URL(connectorFile, root), 'utf8')) as { name: string; config: Record<string, string> };

    it('is the only profile, and holds Kafka Connect and the registration', () => {
      expect(inProfile.map(([n]) => n).sort()).toEqual(['connect', 'debezium-register']);
      for (const [, s] of inProfile) expect(s.profiles).toEqual(['debezium']);
    });

    it('no service outside the profile depends on one inside it', () => {
      for (const [name, s] of services) {
        if (s.profiles) continue;
        for (const target of Object.keys(s.depends_on ?? {})) expect(compose.services[target]!.profiles, `${name} → ${target}`).toBeUndefined();
      }
    });

    it('replaces the relay: the documented command scales cdc to zero, so changes are not captured twice', () => {
      const { replaces, up } = compose['x-debezium'];
      expect(replaces).toBe('cdc');
      expect(compose.services[replaces]!.command).toEqual(['cdc']);
      expect(compose.services[replaces]!.profiles).toBeUndefined();
      expect(up).toContain('--profile debezium');
      expect(up).toContain(`--scale ${replaces}=0`);
      expect(composeText).toContain(up);
    });

    it('registers the shipped connector config on the Connect service, after the topics exist', () => {
      const register = compose.services['debezium-register']!;
      expect(existsSync(new URL(connectorFile, root))).toBe(true);
      expect(register.command).toEqual(['connectors', 'apply', '--file', connectorFile]);
      expect(register.entrypoint).toBeUndefined();
      expect(register.depends_on?.['connect']?.condition).toBe('service_healthy');
      expect(register.depends_on?.['topics-init']?.condition).toBe('service_completed_successfully');
      expect(envOf(register)['KAFKA_CONNECT_URL']).toBe('http://connect:8083');
      expect(compose.services['connect']!.depends_on?.['mongodb-setup']?.condition).toBe('service_completed_successfully');
    });

    it('gives the Connect worker what the connector config refers to: ${env:NAME} needs the env provider and NAME', () => {
      const connect = envOf(compose.services['connect']!);
      const refs = [...JSON.stringify(connector.config).matchAll(/\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}/g)].map((m) => m[1]!);
      if (refs.length > 0) {
        expect(connect['CONNECT_CONFIG_PROVIDERS']?.split(',')).toContain('env');
        expect(connect['CONNECT_CONFIG_PROVIDERS_ENV_CLASS']).toBe('org.apache.kafka.common.config.provider.EnvVarConfigProvider');
      }
      for (const name of refs) expect(connect[name], `${name} in the Connect worker's environment`).toBeDefined();
      if (refs.includes('MONGODB_URL')) expect(connect['MONGODB_URL']).toBe(envOf(compose.services['cdc']!)['MONGODB_URL']);
    });
  });
});
