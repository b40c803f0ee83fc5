import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { Script } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { commandProblem, configFor, finetuneTriggerProblem, judgeProblem, unknownVariables } from './tributary-env.ts';

/**
 * docker-compose.yml, checked statically (no Docker here): what Tributary's processes are given,
 * the start-up order, the health checks it relies on, and the debezium, training and judge profiles.
 */

const root = new URL('../../', import.meta.url);
const composeText = readFileSync(new URL('docker-compose.yml', root), 'utf8');
const dockerfile = readFileSync(new URL('Dockerfile', root), 'utf8');

type Env = Record<string, string>;
interface Service {
  image?: string;
  container_name?: string;
  scale?: number;
  deploy?: { replicas?: number };
  build?: { context: string; target?: string; dockerfile?: string };
  command?: string[];
  entrypoint?: string[];
  extra_hosts?: string[];
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
  'x-training': { adds: string; up: string };
  'x-judge': { adds: string; up: string };
}

// YAML merge keys (<<: *anchor) as Compose reads them
const compose = parse(composeText, { merge: true }) as Compose;
const services = Object.entries(compose.services);

/**
 * Compose's interpolation as compose-go 2 does it, of the forms the file may use: `$$` is a `$`,
 * `$NAME` and `${NAME}` the host's value (empty when unset), `${NAME:-default}` the host's value
 * unless unset or empty, `${NAME-default}` unless unset; the default is interpolated in turn. The
 * closing brace is found as compose-go finds it: every `{` opens one (and hides the character after
 * it), every `}` closes one, so a JSON default reads whole only if its braces balance and no `{` is
 * directly followed by a brace. Any other form (`:?`, `:+`, …) is refused: the file does not use it.
 */
export function interpolate(s: string, host: Env, used: Set<string> = new Set()): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    if (s[i] !== '$') { out += s[i]; continue; }
    if (s[i + 1] === '$') { out += '$'; i++; continue; }
    const named = /^[_a-zA-Z][_a-zA-Z0-9]*/.exec(s.slice(i + 1));
    if (named) { used.add(named[0]); out += host[named[0]] ?? ''; i += named[0].length; continue; }
    if (s[i + 1] !== '{') throw new Error(`invalid interpolation at ${JSON.stringify(s.slice(i))}`);
    let open = 0;
    let end = -1;
    for (let j = i; j < s.length; j++) {
      if (s[j] === '}' && --open === 0) { end = j; break; }
      if (s[j] === '{') { open++; j++; }
    }
    if (end < 0) throw new Error(`unclosed \${ in ${JSON.stringify(s)}`);
    const m = /^([_a-zA-Z][_a-zA-Z0-9]*)(?:(:?-)([\s\S]*))?$/.exec(s.slice(i + 2, end));
    if (!m) throw new Error(`not a form this file may use: ${s.slice(i, end + 1)}`);
    const [, name, op, fallback] = m as unknown as [string, string, string | undefined, string | undefined];
    used.add(name);
    const value = host[name];
    out += op === undefined ? value ?? '' : (value === undefined || (op === ':-' && value === '')) ? interpolate(fallback!, host, used) : value;
    i = end;
  }
  return out;
}

/** The host's environment the stack is checked with: nothing set (every default applies). */
const NO_HOST: Env = {};
const envOf = (s: Service, host: Env = NO_HOST): Env => Object.fromEntries(Object.entries(s.environment ?? {}).map(([k, v]) => [k, interpolate(String(v), host)]));
/** The variables of the host the file reads, each with what it is for (documented in docker-compose.yml). */
const HOST_VARIABLES = ['TRIBUTARY_FINETUNE_DATASETS', 'FINETUNE_WEBHOOK_SECRET', 'OPENAI_API_KEY',
  'TRIBUTARY_LLM_BASE_URL', 'TRIBUTARY_LLM_MODEL', 'TRIBUTARY_LLM_API_KEY', 'TRIBUTARY_JUDGE_SAMPLE'];
/** The image's working directory (./Dockerfile): a relative TRIBUTARY_DATA_DIR is under it. */
const IMAGE_WORKDIR = (() => {
  const dirs = new Set([...dockerfile.matchAll(/^WORKDIR\s+(\S+)$/gm)].map((m) => m[1]!));
  if (dirs.size !== 1) throw new Error(`Dockerfile: one WORKDIR expected, found ${[...dirs].join(', ')}`);
  return [...dirs][0]!;
})();
/** A service's volumes as source → target (short syntax, `:ro` dropped) with whether it is read-only. */
const mountsOf = (s: Service) => (s.volumes ?? []).map((v) => {
  const [source, target, mode] = v.split(':') as [string, string, string | undefined];
  return { source, target, readOnly: mode === 'ro' };
});

/** Services built from ./Dockerfile; of those, the Tributary processes run its entrypoint (node cli/main.ts). */
const built = services.filter(([, s]) => s.build !== undefined);
const processes = built.filter(([, s]) => s.entrypoint === undefined);
const dockerfileStages = [...dockerfile.matchAll(/^FROM\s+\S+\s+AS\s+(\S+)/gim)].map((m) => m[1]);

describe('docker-compose.yml', () => {
  it('has the whole stack: servers, one-shot set-up, and every Tributary process', () => {
    const names = Object.keys(compose.services);
    for (const n of ['mongodb', 'mongodb-init', 'mongodb-setup', 'kafka', 'schema-registry', 'qdrant', 'topics-init', 'schemas-init',
      'api', 'cdc', 'clean', 'embed', 'archive', 'lag-monitor', 'finetune-trigger', 'judge', 'connect', 'debezium-register']) {
      expect(names, n).toContain(n);
    }
    expect(compose.services['qdrant']!.image).toBe('qdrant/qdrant:v1.16.3');
    expect(compose.services['mongodb']!.image).toMatch(/^mongo:7(\.|$)/);
    expect(compose.services['kafka']!.image).toMatch(/^apache\/kafka:/);
  });

  it('builds every Tributary service from ./Dockerfile, one image per target', () => {
    expect(processes.map(([n]) => n).sort()).toEqual(['api', 'archive', 'cdc', 'clean', 'debezium-register', 'embed', 'finetune-trigger', 'judge', 'lag-monitor', 'mongodb-setup', 'schemas-init', 'topics-init']);
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
    for (const n of ['api', 'cdc', 'clean', 'embed', 'archive', 'lag-monitor', 'finetune-trigger', 'judge', 'topics-init']) expect(env(n)['KAFKA_BROKERS'], n).toBe('kafka:19092');
    // one wire format on every topic: every process on Kafka (and the one that registers the schemas) names the same registry
    const registries = new Set(['api', 'cdc', 'clean', 'embed', 'archive', 'lag-monitor', 'finetune-trigger', 'judge', 'schemas-init'].map((n) => env(n)['SCHEMA_REGISTRY_URL']));
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
    for (const n of ['api', 'cdc', 'clean', 'embed', 'archive', 'lag-monitor', 'finetune-trigger', 'judge']) expect(compose.services[n]!.restart, n).toBe('unless-stopped');
  });

  it('every consume and cdc process serves GET /metrics and /healthz beyond loopback, on the stack\'s network only, and its healthcheck asks /healthz', () => {
    const serving = processes.filter(([, s]) => s.command?.[0] === 'consume' || s.command?.[0] === 'cdc');
    expect(serving.map(([n]) => n).sort()).toEqual(['archive', 'cdc', 'clean', 'embed', 'finetune-trigger', 'judge', 'lag-monitor']);
    for (const [name, s] of serving) {
      const loaded = configFor(envOf(s));
      if ('error' in loaded) throw new Error(`${name}: ${loaded.error}`);
      // HOST: the metrics server listens beyond loopback (Prometheus scrapes <service>:<port> on the stack's network)
      expect(loaded.config.host, name).toBe('0.0.0.0');
      expect(s.environment?.['HOST'], name).toBe('0.0.0.0');
      expect(s.ports, `${name}: not published on the host`).toBeUndefined();
      const test = s.healthcheck?.test ?? [];
      expect(test.slice(0, 3), name).toEqual(['CMD', 'node', '-e']);
      expect(test[3], name).toContain(`fetch('http://127.0.0.1:${loaded.config.metricsPort}/healthz')`);
      expect(() => new Script(test[3]!, { filename: `${name} healthcheck` }), name).not.toThrow();
      // one check for all of them (x-metrics-healthcheck)
      expect(s.healthcheck, name).toEqual(compose.services['clean']!.healthcheck);
    }
    // the header says where they are
    expect(composeText.split('\n').filter((l) => l.startsWith('#')).join('\n')).toContain('GET /metrics and GET /healthz on port 9464');
  });

  it('the processes start after the topics and the schemas exist, and the store after the replica set', () => {
    for (const n of ['api', 'cdc', 'clean', 'embed', 'archive', 'lag-monitor', 'finetune-trigger', 'judge']) {
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
      const script = interpolate(compose.services[n]!.command!.join('\n'), NO_HOST);
      expect(() => new Script(script, { filename: n }), n).not.toThrow();
    }
  });

  it('the image keeps what start-up reads: .dockerignore drops the docs but not the prompt templates', () => {
    const lines = readFileSync(new URL('.dockerignore', root), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    const dropsMd = lines.indexOf('*.md');
    expect(dropsMd).toBeGreaterThanOrEqual(0);
    // a later "!" line wins: the templates (prompts/<id>.md) go into the image
    expect(lines.indexOf('!prompts/*.md')).toBeGreaterThan(dropsMd);
    expect(lines).not.toContain('prompts');
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

  describe('profiles', () => {
    it('are exactly debezium (Kafka Connect and the registration), training (the finetune-trigger) and judge (the judge), each service in one', () => {
      const byProfile: Record<string, string[]> = {};
      for (const [name, s] of services) {
        if (s.profiles === undefined) continue;
        expect(s.profiles, name).toHaveLength(1);
        (byProfile[s.profiles[0]!] ??= []).push(name);
      }
      expect(Object.fromEntries(Object.entries(byProfile).map(([p, names]) => [p, names.sort()]))).toEqual({
        debezium: ['connect', 'debezium-register'],
        training: ['finetune-trigger'],
        judge: ['judge'],
      });
    });

    it('each is documented: an x-<profile> entry whose command is in the header comment', () => {
      for (const p of ['debezium', 'training', 'judge'] as const) {
        const { up } = compose[`x-${p}`];
        expect(up, p).toContain(`--profile ${p}`);
        expect(composeText.split('\n').filter((l) => l.startsWith('#')).join('\n'), p).toContain(up);
      }
      expect(compose['x-training'].adds).toBe('finetune-trigger');
      expect(compose['x-judge'].adds).toBe('judge');
    });

    it('no service outside a profile depends on one inside it', () => {
      for (const [name, s] of services) {
        if (s.profiles) continue;
        for (const target of Object.keys(s.depends_on ?? {})) expect(compose.services[target]!.profiles, `${name} → ${target}`).toBeUndefined();
      }
    });
  });

  describe('variables from the host', () => {
    it('are only the documented ones, each documented in the header comment', () => {
      const used = new Set<string>();
      const walk = (v: unknown): void => {
        if (typeof v === 'string') interpolate(v, NO_HOST, used);
        else if (Array.isArray(v)) v.forEach(walk);
        else if (v !== null && typeof v === 'object') Object.values(v).forEach(walk);
      };
      walk(parse(composeText, { merge: true }));
      expect([...used].sort()).toEqual([...HOST_VARIABLES].sort());
      const header = composeText.split('\n').filter((l) => l.startsWith('#')).join('\n');
      for (const name of HOST_VARIABLES) expect(header, name).toContain(name);
    });

    it('interpolation (compose-go 2) reads the JSON default whole, and a value from the host replaces it whole', () => {
      const raw = String(compose.services['finetune-trigger']!.environment!['TRIBUTARY_FINETUNE_DATASETS']);
      const fallback = interpolate(raw, NO_HOST);
      expect(() => JSON.parse(fallback) as unknown, fallback).not.toThrow();
      const mine = '[{"name":"mine","source":"feedback","threshold":5,"launcher":{"type":"webhook","url":"https://example.com/hook"}}]';
      expect(interpolate(raw, { TRIBUTARY_FINETUNE_DATASETS: mine })).toBe(mine);
      expect(interpolate(raw, { TRIBUTARY_FINETUNE_DATASETS: '' })).toBe(fallback);
      // the emulation reads balanced JSON as compose-go 2 does, and refuses what compose-go misreads ("{" then a brace)
      expect(interpolate('${X:-[{"a":{"b":1}}]}', NO_HOST)).toBe('[{"a":{"b":1}}]');
      expect(() => interpolate('${X:-{}}', NO_HOST)).toThrow(/unclosed/);
    });
  });

  describe('profile training: the finetune-trigger', () => {
    const trigger = compose.services['finetune-trigger']!;
    const api = compose.services['api']!;

    it('runs `consume finetune-trigger` from the consumers\' image, and starts with the default example', async () => {
      expect(trigger.command).toEqual(['consume', 'finetune-trigger']);
      expect(trigger.build?.target).toBe(compose.services['clean']!.build?.target);
      expect(trigger.image).toBe(compose.services['clean']!.image);
      expect(await finetuneTriggerProblem(envOf(trigger))).toBeNull();
      // and with an openai launcher once the host gives the key (its default apiKeyEnv)
      const openai = '[{"name":"support-sft","source":"content","threshold":10,"launcher":{"type":"openai","model":"gpt-4.1-mini-2025-04-14"}}]';
      expect(await finetuneTriggerProblem(envOf(trigger, { TRIBUTARY_FINETUNE_DATASETS: openai }))).toMatch(/OPENAI_API_KEY/);
      expect(await finetuneTriggerProblem(envOf(trigger, { TRIBUTARY_FINETUNE_DATASETS: openai, OPENAI_API_KEY: 'sk-test' }))).toBeNull();
    });

    it('runs exactly one container: a fixed container name (Compose refuses to scale it), no replicas', () => {
      expect(trigger.container_name).toMatch(/^[a-z0-9][a-z0-9_.-]+$/);
      expect(trigger.scale ?? 1).toBe(1);
      expect(trigger.deploy?.replicas ?? 1).toBe(1);
      const running = services.filter(([, s]) => s.command?.[0] === 'consume' && s.command[1] === 'finetune-trigger').map(([n]) => n);
      expect(running).toEqual(['finetune-trigger']);
    });

    it('keeps its data directory on a named volume of its own', () => {
      const loaded = configFor(envOf(trigger));
      if ('error' in loaded) throw new Error(loaded.error);
      const dataDir = posix.resolve(IMAGE_WORKDIR, loaded.config.dataDir);
      const data = mountsOf(trigger).find((m) => m.target === dataDir);
      expect(data, `a volume at the data directory ${dataDir}`).toBeDefined();
      expect(data!.readOnly).toBe(false);
      expect(Object.keys(compose.volumes ?? {})).toContain(data!.source);
      const others = services.filter(([n, s]) => n !== 'finetune-trigger' && mountsOf(s).some((m) => m.source === data!.source)).map(([n]) => n);
      expect(others, `${data!.source} is the trigger's only`).toEqual([]);
    });

    it('shares its pinned versions with the API (read-only there), which serves them for export', () => {
      const ofTrigger = configFor(envOf(trigger));
      const ofApi = configFor(envOf(api));
      if ('error' in ofTrigger) throw new Error(ofTrigger.error);
      if ('error' in ofApi) throw new Error(ofApi.error);
      // <data dir>/datasets: wiring/finetune.ts datasetsDirOf
      const versions = mountsOf(trigger).find((m) => m.target === posix.join(posix.resolve(IMAGE_WORKDIR, ofTrigger.config.dataDir), 'datasets'));
      expect(versions, 'a volume at the trigger\'s datasets directory').toBeDefined();
      expect(versions!.readOnly).toBe(false);
      const atApi = mountsOf(api).find((m) => m.target === posix.join(posix.resolve(IMAGE_WORKDIR, ofApi.config.dataDir), 'datasets'));
      expect(atApi, 'the same volume at the API\'s datasets directory').toEqual({ ...versions, readOnly: true });
      expect(Object.keys(compose.volumes ?? {})).toContain(versions!.source);
      // a volume mounted there starts owned by the image's directory: the image makes it node's
      expect(dockerfile).toMatch(/^RUN mkdir -p \/app\/data\/datasets && chown -R node:node \/app\/data$/m);
    });

    it('the API is given the same datasets, so it lists the ones the trigger keeps, whatever the host sets', () => {
      for (const host of [NO_HOST, { TRIBUTARY_FINETUNE_DATASETS: '[{"name":"mine","source":"feedback","threshold":5,"launcher":{"type":"command","command":["true"]}}]' }]) {
        expect(envOf(api, host)['TRIBUTARY_FINETUNE_DATASETS']).toBe(envOf(trigger, host)['TRIBUTARY_FINETUNE_DATASETS']);
      }
      expect(api.depends_on?.['finetune-trigger']).toBeUndefined();
    });
  });

  describe('profile judge: the judge (LLM-as-judge)', () => {
    const judge = compose.services['judge']!;
    const LLM = { TRIBUTARY_LLM_BASE_URL: 'http://host.docker.internal:11434/v1', TRIBUTARY_LLM_MODEL: 'qwen2.5:7b-instruct' };

    it('runs `consume judge` from the consumers\' image, stateless like clean: no volume, no fixed name (it scales)', () => {
      expect(judge.command).toEqual(['consume', 'judge']);
      expect(judge.build?.target).toBe(compose.services['clean']!.build?.target);
      expect(judge.image).toBe(compose.services['clean']!.image);
      expect(judge.volumes).toBeUndefined();
      expect(judge.container_name).toBeUndefined();
      expect(judge.ports).toBeUndefined();
      const running = services.filter(([, s]) => s.command?.[0] === 'consume' && s.command[1] === 'judge').map(([n]) => n);
      expect(running).toEqual(['judge']);
    });

    it('has no default LLM: with nothing from the host it refuses to start, naming what it needs (exit 78)', () => {
      const env = envOf(judge);
      for (const name of ['TRIBUTARY_LLM_BASE_URL', 'TRIBUTARY_LLM_MODEL', 'TRIBUTARY_LLM_API_KEY', 'TRIBUTARY_JUDGE_SAMPLE']) expect(env[name], name).toBe('');
      expect(judgeProblem(env)).toMatch(/needs an LLM \(TRIBUTARY_LLM_BASE_URL/);
    });

    it('starts with the LLM from the host (the key and the sample too), and the host\'s values reach it whole', () => {
      expect(judgeProblem(envOf(judge, LLM))).toBeNull();
      const all = { ...LLM, TRIBUTARY_LLM_API_KEY: 'sk-test', TRIBUTARY_JUDGE_SAMPLE: '0.25' };
      expect(judgeProblem(envOf(judge, all))).toBeNull();
      const loaded = configFor(envOf(judge, all));
      if ('error' in loaded) throw new Error(loaded.error);
      expect(loaded.config).toMatchObject({ llmBaseUrl: LLM.TRIBUTARY_LLM_BASE_URL, llmModel: LLM.TRIBUTARY_LLM_MODEL, llmApiKey: 'sk-test', judgeSample: 0.25 });
      // a base URL without its model is refused by the configuration, naming the missing variable
      expect(judgeProblem(envOf(judge, { TRIBUTARY_LLM_BASE_URL: LLM.TRIBUTARY_LLM_BASE_URL }))).toMatch(/TRIBUTARY_LLM_MODEL/);
    });

    it('reaches an LLM on the Docker host at host.docker.internal, as the header says', () => {
      expect(judge.extra_hosts).toContain('host.docker.internal:host-gateway');
      expect(composeText.split('\n').filter((l) => l.startsWith('#')).join('\n')).toContain('host.docker.internal');
    });

    it('only the judge is given the LLM: the other processes answer and run as they do without the profile', () => {
      const given = services.filter(([, s]) => Object.keys(s.environment ?? {}).some((k) => k.startsWith('TRIBUTARY_LLM_') || k === 'TRIBUTARY_JUDGE_SAMPLE')).map(([n]) => n);
      expect(given).toEqual(['judge']);
    });
  });

  describe('profile debezium', () => {
    const connectorFile = 'connectors/debezium/mongodb-source.json';
    const connector = JSON.parse(readFileSync(new URL(connectorFile, root), 'utf8')) as { name: string; config: Record<string, string> };

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
