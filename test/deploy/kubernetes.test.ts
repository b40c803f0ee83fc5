import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { ConfigMap, Namespace, Secret, Service } from 'kubernetes-models/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { hashApiKey } from '../../api/auth/api-key-config.ts';
import { kafkaConnectorFrom, readConnectorJson } from '../../deploy/generate.ts';
import { commandProblem, configFor, unknownVariables } from './tributary-env.ts';

/**
 * deploy/, validated offline: the Kubernetes kinds against the Kubernetes OpenAPI schemas
 * (kubernetes-models' compiled validators), the Strimzi kinds against Strimzi's API model
 * (io.strimzi:api from Maven Central, fetched and cached by test/deploy/fetch-strimzi-api.sh, read by
 * test/deploy/strimzi-model-check.java), and what Tributary needs of them: the connector config is
 * the one in connectors/debezium/, every process is given real settings it accepts, every container
 * asks for resources, the API has both probes.
 */

const root = fileURLToPath(new URL('../../', import.meta.url));
const deployDir = join(root, 'deploy');
const here = fileURLToPath(new URL('.', import.meta.url));

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
  [k: string]: unknown;
}
interface EnvVar { name: string; value?: string; valueFrom?: { configMapKeyRef?: { name: string; key: string }; secretKeyRef?: { name: string; key: string } } }
interface Probe { httpGet?: { path: string; port: string | number } }
interface Container {
  name: string;
  image: string;
  args?: string[];
  command?: string[];
  env?: EnvVar[];
  envFrom?: Array<{ configMapRef?: { name: string }; secretRef?: { name: string } }>;
  ports?: Array<{ name?: string; containerPort: number }>;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  startupProbe?: Probe;
  volumeMounts?: Array<{ name: string; mountPath: string }>;
}
interface PodSpec { containers: Container[]; initContainers?: Container[]; volumes?: Array<{ name: string; secret?: { secretName: string } }> }
interface DeploymentManifest extends Manifest { spec: { replicas?: number; template: { spec: PodSpec } } }

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? yamlFiles(join(dir, e.name)) : e.name.endsWith('.yaml') ? [join(dir, e.name)] : []));
}

const kustomizationPath = join(deployDir, 'kustomization.yaml');
const kustomization = parse(readFileSync(kustomizationPath, 'utf8')) as { kind: string; namespace: string; resources: string[]; images: Array<{ name: string }> };
const manifestFiles = yamlFiles(deployDir).filter((f) => f !== kustomizationPath);
const manifests: Array<{ file: string; doc: Manifest }> = manifestFiles.flatMap((file) => parseAllDocuments(readFileSync(file, 'utf8')).map((d) => {
  if (d.errors.length > 0) throw new Error(`${relative(root, file)}: ${d.errors.map((e) => e.message).join('; ')}`);
  return { file: relative(deployDir, file), doc: d.toJS() as Manifest };
}));
const of = (kind: string) => manifests.filter((m) => m.doc.kind === kind).map((m) => m.doc);
const byName = (kind: string, name: string) => of(kind).find((m) => m.metadata.name === name);
const deployments = of('Deployment') as DeploymentManifest[];
const configMaps = new Map(of('ConfigMap').map((c) => [c.metadata.name, c.data ?? {}]));
const secrets = new Map(of('Secret').map((s) => [s.metadata.name, s.stringData ?? {}]));

/** The Kubernetes kinds deploy/ uses, each with its OpenAPI validator. */
const KUBERNETES_KINDS: Record<string, (doc: Manifest) => void> = {
  'apps/v1 Deployment': (doc) => new Deployment(doc as never).validate(),
  'v1 Service': (doc) => new Service(doc as never).validate(),
  'v1 ConfigMap': (doc) => new ConfigMap(doc as never).validate(),
  'v1 Secret': (doc) => new Secret(doc as never).validate(),
  'v1 Namespace': (doc) => new Namespace(doc as never).validate(),
};
const STRIMZI_KINDS = ['Kafka', 'KafkaNodePool', 'KafkaConnect', 'KafkaConnector'];

/** Tributary's image, as kustomization.yaml's `images` renames it. */
const TRIBUTARY_IMAGE = 'tributary';

describe('deploy/ (Kubernetes, kustomize)', () => {
  it('kustomization.yaml lists every manifest file once, and nothing else', () => {
    expect(kustomization.kind).toBe('Kustomization');
    expect([...kustomization.resources].sort()).toEqual(manifestFiles.map((f) => relative(deployDir, f)).sort());
    expect(new Set(kustomization.resources).size).toBe(kustomization.resources.length);
    expect(kustomization.images.map((i) => i.name)).toContain(TRIBUTARY_IMAGE);
    expect(byName('Namespace', kustomization.namespace)).toBeDefined();
  });

  it('every resource is a kind this test can validate', () => {
    for (const { file, doc } of manifests) {
      const known = `${doc.apiVersion} ${doc.kind}` in KUBERNETES_KINDS || (doc.apiVersion === 'kafka.strimzi.io/v1beta2' && STRIMZI_KINDS.includes(doc.kind));
      expect(known, `${file}: ${doc.apiVersion} ${doc.kind}`).toBe(true);
    }
  });

  it.each(manifests.filter(({ doc }) => `${doc.apiVersion} ${doc.kind}` in KUBERNETES_KINDS).map(({ file, doc }) => [`${file} ${doc.kind}/${doc.metadata.name}`, doc] as const))(
    '%s is valid against the Kubernetes OpenAPI schema',
    (_label, doc) => {
      expect(() => KUBERNETES_KINDS[`${doc.apiVersion} ${doc.kind}`]!(doc)).not.toThrow();
    },
  );

  it('the schema validation catches what it should (a probe without a port, a string where a number goes)', () => {
    const api = structuredClone(byName('Deployment', 'tributary-api')!) as DeploymentManifest;
    api.spec.template.spec.containers[0]!.livenessProbe = { httpGet: { path: '/healthz' } as never };
    expect(() => KUBERNETES_KINDS['apps/v1 Deployment']!(api)).toThrow(/port/);
    const two = structuredClone(byName('Deployment', 'tributary-embed')!) as DeploymentManifest;
    (two.spec as Record<string, unknown>)['replicas'] = 'two';
    expect(() => KUBERNETES_KINDS['apps/v1 Deployment']!(two)).toThrow(/integer/);
  });

  describe('Strimzi resources against Strimzi\'s API model (io.strimzi:api)', () => {
    let lib: string | null = null;
    let fetchError = '';
    const strimzi = manifests.filter(({ doc }) => STRIMZI_KINDS.includes(doc.kind)).map(({ doc }) => doc);
    const check = (docs: Manifest[]): string[] => {
      const r = spawnSync('java', ['-cp', `${lib}/*`, join(here, 'strimzi-model-check.java')], { input: JSON.stringify(docs), encoding: 'utf8', timeout: 120_000 });
      if (r.status !== 0) throw new Error(`strimzi-model-check.java failed (${r.status}): ${r.stderr}`);
      return JSON.parse(r.stdout) as string[];
    };

    beforeAll(() => {
      try {
        lib = execFileSync('bash', [join(here, 'fetch-strimzi-api.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 280_000 }).trim();
      } catch (e) {
        fetchError = `${(e as Error).message}`;
      }
    }, 300_000);

    it('has a KRaft Kafka with a node pool, Kafka Connect with the Debezium MongoDB plugin, and the connector', ({ skip }) => {
      if (!lib && !process.env['CI']) skip(`Strimzi's API model could not be fetched (Java 17+ and Maven needed): ${fetchError}`);
      expect(lib, fetchError).not.toBeNull();
      expect(strimzi.map((d) => d.kind).sort()).toEqual([...STRIMZI_KINDS].sort());
      expect(check(strimzi)).toEqual([]);
    }, 120_000);

    it('the model check catches what it should (an unknown field, an unknown enum value, a wrong type)', ({ skip }) => {
      if (!lib && !process.env['CI']) skip(`Strimzi's API model could not be fetched: ${fetchError}`);
      const kafka = structuredClone(strimzi.find((d) => d.kind === 'Kafka')!) as Manifest & { spec: { kafka: { listeners: Array<{ type: string }>; listenerz?: unknown } } };
      kafka.spec.kafka.listeners[0]!.type = 'internl';
      kafka.spec.kafka.listenerz = [];
      const connector = structuredClone(strimzi.find((d) => d.kind === 'KafkaConnector')!) as Manifest & { spec: { tasksMax: unknown } };
      connector.spec.tasksMax = 'one';
      const problems = check([kafka, connector]);
      expect(problems.join('\n')).toMatch(/listeners\[0\]\.type: "internl"/);
      expect(problems.join('\n')).toMatch(/unknown field\(s\) listenerz/);
      expect(problems.join('\n')).toMatch(/KafkaConnector\/.*"one"/);
    }, 120_000);

    it('Kafka runs KRaft with node pools, and the bootstrap address is the one the processes use', () => {
      const kafka = strimzi.find((d) => d.kind === 'Kafka')!;
      expect(kafka.metadata.annotations?.['strimzi.io/kraft']).toBe('enabled');
      expect(kafka.metadata.annotations?.['strimzi.io/node-pools']).toBe('enabled');
      const pools = strimzi.filter((d) => d.kind === 'KafkaNodePool');
      expect(pools.every((p) => p.metadata.labels?.['strimzi.io/cluster'] === kafka.metadata.name)).toBe(true);
      const roles = pools.flatMap((p) => (p.spec as { roles: string[] }).roles);
      expect(roles).toEqual(expect.arrayContaining(['controller', 'broker']));
      const listeners = (kafka.spec as { kafka: { listeners: Array<{ name: string; port: number; tls: boolean }> } }).kafka.listeners;
      const bootstraps = listeners.filter((l) => !l.tls).map((l) => `${kafka.metadata.name}-kafka-bootstrap:${l.port}`);
      expect(bootstraps).toContain(configMaps.get('tributary-config')!['KAFKA_BROKERS']);
      const connect = strimzi.find((d) => d.kind === 'KafkaConnect')!;
      expect(bootstraps).toContain((connect.spec as { bootstrapServers: string }).bootstrapServers);
    });

    it('KafkaConnect builds the Debezium MongoDB plugin from Maven and is driven by KafkaConnector resources', () => {
      const connect = strimzi.find((d) => d.kind === 'KafkaConnect')!;
      expect(connect.metadata.annotations?.['strimzi.io/use-connector-resources']).toBe('true');
      const artifacts = (connect.spec as { build: { plugins: Array<{ artifacts: Array<Record<string, string>> }> } }).build.plugins.flatMap((p) => p.artifacts);
      expect(artifacts).toContainEqual(expect.objectContaining({ type: 'maven', group: 'io.debezium', artifact: 'debezium-connector-mongodb' }));
    });
  });

  describe('the KafkaConnector is connectors/debezium/mongodb-source.json', () => {
    const connectorJson = JSON.parse(readFileSync(join(root, 'connectors/debezium/mongodb-source.json'), 'utf8')) as { name: string; config: Record<string, string> };
    const resource = byName('KafkaConnector', connectorJson.name) as Manifest & { spec: { class: string; tasksMax: number; config: Record<string, string> } } | undefined;

    it('has the name, class, tasks and config of the JSON file, key for key (read now: a change to one without the other fails)', () => {
      expect(resource, `a KafkaConnector named ${connectorJson.name}`).toBeDefined();
      // Strimzi takes connector.class and tasks.max as spec fields and refuses them (and name) in spec.config
      const asConnectConfig = { ...resource!.spec.config, 'connector.class': resource!.spec.class, 'tasks.max': String(resource!.spec.tasksMax) };
      expect(asConnectConfig).toEqual(connectorJson.config);
      for (const k of ['name', 'connector.class', 'tasks.max']) expect(Object.keys(resource!.spec.config)).not.toContain(k);
    });

    it('is what `node deploy/generate.ts` writes', () => {
      expect(resource).toEqual(kafkaConnectorFrom(readConnectorJson()));
    });

    it('belongs to the KafkaConnect cluster, whose worker resolves every ${env:NAME} the config uses', () => {
      const clusterName = resource!.metadata.labels?.['strimzi.io/cluster'];
      const connect = byName('KafkaConnect', clusterName ?? '') as Manifest & { spec: { config: Record<string, unknown>; template?: { connectContainer?: { env?: EnvVar[] } } } } | undefined;
      expect(connect, `KafkaConnect ${clusterName}`).toBeDefined();
      const refs = [...JSON.stringify(connectorJson.config).matchAll(/\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}/g)].map((m) => m[1]!);
      if (refs.length > 0) {
        expect(String(connect!.spec.config['config.providers']).split(',')).toContain('env');
        expect(connect!.spec.config['config.providers.env.class']).toBe('org.apache.kafka.common.config.provider.EnvVarConfigProvider');
      }
      const env = connect!.spec.template?.connectContainer?.env ?? [];
      for (const name of refs) {
        const v = env.find((e) => e.name === name);
        expect(v, `${name} in the Connect worker's environment`).toBeDefined();
        const ref = v!.valueFrom?.secretKeyRef;
        if (ref) expect(secrets.get(ref.name)?.[ref.key], `Secret ${ref.name} key ${ref.key}`).toBeDefined();
      }
    });
  });

  describe('Tributary\'s Deployments', () => {
    const tributaryContainers = (d: DeploymentManifest) => [...(d.spec.template.spec.initContainers ?? []), ...d.spec.template.spec.containers].filter((c) => c.image === TRIBUTARY_IMAGE);
    let keysDir = '';
    beforeAll(() => { keysDir = mkdtempSync(join(tmpdir(), 'tributary-deploy-')); });
    afterAll(() => { rmSync(keysDir, { recursive: true, force: true }); });

    /** The environment a container gets; Secret values are replaced by valid stand-ins (the example's are placeholders). */
    function envOf(c: Container): Record<string, string> {
      const env: Record<string, string> = {};
      for (const from of c.envFrom ?? []) {
        if (from.configMapRef) Object.assign(env, configMaps.get(from.configMapRef.name) ?? expect.fail(`ConfigMap ${from.configMapRef.name} is not in deploy/`));
        if (from.secretRef) expect.fail(`${c.name}: envFrom a Secret puts names in the environment this test cannot see`);
      }
      for (const v of c.env ?? []) {
        if (v.value !== undefined) env[v.name] = v.value;
        else if (v.valueFrom?.configMapKeyRef) env[v.name] = configMaps.get(v.valueFrom.configMapKeyRef.name)?.[v.valueFrom.configMapKeyRef.key] ?? expect.fail(`${v.name}: no such ConfigMap key`);
        else if (v.valueFrom?.secretKeyRef) {
          const { name, key } = v.valueFrom.secretKeyRef;
          expect(secrets.get(name)?.[key], `${v.name}: Secret ${name} key ${key}`).toBeDefined();
          env[v.name] = v.name === 'MONGODB_URL' ? 'mongodb://mongodb-0.mongodb:27017/?replicaSet=rs0' : 'secret';
        }
      }
      if (env['TRIBUTARY_API_KEYS_FILE']) {
        const file = join(keysDir, 'api-keys.json');
        writeFileSync(file, JSON.stringify([{ name: 'test', sha256: hashApiKey('test-key'), scopes: ['admin'] }]));
        env['TRIBUTARY_API_KEYS_FILE'] = file;
      }
      return env;
    }

    it('are the API and the processes of the distributed mode, embed with 2 replicas', () => {
      const names = deployments.map((d) => d.metadata.name).sort();
      expect(names).toEqual(['tributary-api', 'tributary-archive', 'tributary-cdc', 'tributary-clean', 'tributary-embed', 'tributary-lag-monitor']);
      expect(byName('Deployment', 'tributary-embed')!.spec!['replicas']).toBe(2);
      expect(byName('Deployment', 'tributary-cdc')!.spec!['replicas']).toBe(1);
    });

    it.each(deployments.map((d) => [d.metadata.name, d] as const))('%s: every container asks for CPU and memory and has a memory limit', (_n, d) => {
      for (const c of [...(d.spec.template.spec.initContainers ?? []), ...d.spec.template.spec.containers]) {
        expect(c.resources?.requests?.['cpu'], `${c.name} requests.cpu`).toBeDefined();
        expect(c.resources?.requests?.['memory'], `${c.name} requests.memory`).toBeDefined();
        expect(c.resources?.limits?.['memory'], `${c.name} limits.memory`).toBeDefined();
      }
    });

    it.each(deployments.map((d) => [d.metadata.name, d] as const))('%s: runs tributary commands, with real settings in a combination Tributary accepts', (_n, d) => {
      const containers = tributaryContainers(d);
      expect(containers.length).toBeGreaterThan(0);
      for (const c of containers) {
        expect(c.command, `${c.name}: the image's entrypoint (node cli/main.ts) runs`).toBeUndefined();
        expect(commandProblem(c.args ?? []), c.name).toBeNull();
        const env = envOf(c);
        expect(unknownVariables(env), c.name).toEqual([]);
        const loaded = configFor(env);
        expect('error' in loaded ? loaded.error : null, c.name).toBeNull();
      }
    });

    it.each(deployments.map((d) => [d.metadata.name, d] as const))('%s: registers the schemas before it starts (init container)', (_n, d) => {
      const init = d.spec.template.spec.initContainers ?? [];
      expect(init.map((c) => c.args)).toContainEqual(['schemas', 'apply']);
    });

    it('the API: liveness /healthz and readiness /readyz on its port, API keys from the Secret, a Service in front', () => {
      const api = byName('Deployment', 'tributary-api') as DeploymentManifest;
      const c = api.spec.template.spec.containers.find((x) => x.args?.[0] === 'dev')!;
      const loaded = configFor(envOf(c));
      if ('error' in loaded) throw new Error(loaded.error);
      expect(loaded.config.host).toBe('0.0.0.0');
      expect(loaded.config.apiKeys.length).toBeGreaterThan(0);
      expect(loaded.config.consumers).toBe('none');
      const port = c.ports!.find((p) => p.containerPort === loaded.config.port);
      expect(port, `a container port ${loaded.config.port}`).toBeDefined();
      const samePort = (p: Probe | undefined) => p?.httpGet?.port === port!.name || p?.httpGet?.port === port!.containerPort;
      expect(c.livenessProbe?.httpGet?.path).toBe('/healthz');
      expect(samePort(c.livenessProbe)).toBe(true);
      expect(c.readinessProbe?.httpGet?.path).toBe('/readyz');
      expect(samePort(c.readinessProbe)).toBe(true);
      // the keys file is the Secret's key, mounted where TRIBUTARY_API_KEYS_FILE says
      const keysFile = c.env!.find((e) => e.name === 'TRIBUTARY_API_KEYS_FILE')!.value!;
      const mount = c.volumeMounts!.find((m) => keysFile.startsWith(`${m.mountPath}/`))!;
      const volume = api.spec.template.spec.volumes!.find((v) => v.name === mount.name)!;
      expect(secrets.get(volume.secret!.secretName)?.[keysFile.slice(mount.mountPath.length + 1)]).toBeDefined();
      const service = byName('Service', 'tributary-api') as Manifest & { spec: { selector: Record<string, string>; ports: Array<{ targetPort: string | number }> } };
      const labels = (api.spec.template as unknown as { metadata: { labels: Record<string, string> } }).metadata.labels;
      for (const [k, v] of Object.entries(service.spec.selector)) expect(labels[k]).toBe(v);
      expect(service.spec.ports.map((p) => p.targetPort)).toContain(port!.name ?? port!.containerPort);
    });

    it('the API keys Secret is an example: its placeholder is not a key hash, so the API refuses to start until it is replaced', () => {
      const example = JSON.parse(secrets.get('tributary-api-keys')!['api-keys.json']!) as Array<{ sha256: string }>;
      expect(example.length).toBeGreaterThan(0);
      for (const k of example) expect(k.sha256).not.toMatch(/^(sha256:)?[0-9a-fA-F]{64}$/);
    });
  });
});
