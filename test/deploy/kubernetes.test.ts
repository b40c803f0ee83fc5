import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { ConfigMap, Namespace, Secret, Service } from 'kubernetes-models/v1';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { hashApiKey } from '../../api/auth/api-key-config.ts';
import { requiredScope } from '../../api/auth/route-scopes.ts';
import { kafkaConnectorFrom, readConnectorJson } from '../../deploy/generate.ts';
import { isCi } from '../helpers/ci.ts';
import { commandProblem, configFor, finetuneTriggerProblem, judgeProblem, unknownVariables } from './tributary-env.ts';

/**
 * deploy/, validated offline: the Kubernetes kinds against the Kubernetes OpenAPI schemas
 * (kubernetes-models' compiled validators), the Strimzi kinds against Strimzi's API model
 * (io.strimzi:api from Maven Central, fetched and cached by test/deploy/fetch-strimzi-api.sh, read by
 * test/deploy/strimzi-model-check.java), and what Tributary needs of them: the connector config is
 * the one in connectors/debezium/, every process is given real settings it accepts, every container
 * asks for resources, the API has both probes, every consumer and the cdc relay serve their metrics
 * port (HOST=0.0.0.0, a named container port, probes on /healthz, the prometheus.io annotations), the
 * finetune-trigger is one replica with its data directory on a volume of its own, the judge is
 * deployed like the clean consumer but opt-in (zero replicas until its LLM is set). deploy/observability/
 * (Prometheus configuration, rules and a dashboard, not Kubernetes resources) is checked by
 * test/deploy/observability.test.ts.
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
interface Probe { httpGet?: { path: string; port: string | number }; periodSeconds?: number; failureThreshold?: number; timeoutSeconds?: number }
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
interface PodSpec { containers: Container[]; initContainers?: Container[]; volumes?: Array<{ name: string; secret?: { secretName: string }; emptyDir?: object }> }
interface DeploymentManifest extends Manifest { spec: { replicas?: number; template: { metadata: { labels?: Record<string, string>; annotations?: Record<string, string> }; spec: PodSpec } } }
interface StatefulSetManifest extends DeploymentManifest {
  spec: DeploymentManifest['spec'] & {
    serviceName?: string;
    updateStrategy?: { type?: string };
    persistentVolumeClaimRetentionPolicy?: { whenDeleted?: string; whenScaled?: string };
    volumeClaimTemplates?: Array<{ metadata: { name: string }; spec: { accessModes?: string[]; resources?: { requests?: Record<string, string> } } }>;
  };
}

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? yamlFiles(join(dir, e.name)) : e.name.endsWith('.yaml') ? [join(dir, e.name)] : []));
}

const kustomizationPath = join(deployDir, 'kustomization.yaml');
const kustomization = parse(readFileSync(kustomizationPath, 'utf8')) as { kind: string; namespace: string; resources: string[]; images: Array<{ name: string }> };
/** Not Kubernetes resources: Prometheus's configuration and rules (test/deploy/observability.test.ts checks them). */
const observabilityDir = join(deployDir, 'observability');
const manifestFiles = yamlFiles(deployDir).filter((f) => f !== kustomizationPath && !f.startsWith(`${observabilityDir}/`));
const manifests: Array<{ file: string; doc: Manifest }> = manifestFiles.flatMap((file) => parseAllDocuments(readFileSync(file, 'utf8')).map((d) => {
  if (d.errors.length > 0) throw new Error(`${relative(root, file)}: ${d.errors.map((e) => e.message).join('; ')}`);
  return { file: relative(deployDir, file), doc: d.toJS() as Manifest };
}));
const of = (kind: string) => manifests.filter((m) => m.doc.kind === kind).map((m) => m.doc);
const byName = (kind: string, name: string) => of(kind).find((m) => m.metadata.name === name);
const deployments = of('Deployment') as DeploymentManifest[];
const statefulSets = of('StatefulSet') as StatefulSetManifest[];
/** Every workload running Tributary's pods: the Deployments and the StatefulSet (the finetune-trigger). */
const workloads: DeploymentManifest[] = [...deployments, ...statefulSets];
const configMaps = new Map(of('ConfigMap').map((c) => [c.metadata.name, c.data ?? {}]));
const secrets = new Map(of('Secret').map((s) => [s.metadata.name, s.stringData ?? {}]));

/** The Kubernetes kinds deploy/ uses, each with its OpenAPI validator. */
const KUBERNETES_KINDS: Record<string, (doc: Manifest) => void> = {
  'apps/v1 Deployment': (doc) => new Deployment(doc as never).validate(),
  'apps/v1 StatefulSet': (doc) => new StatefulSet(doc as never).validate(),
  'v1 Service': (doc) => new Service(doc as never).validate(),
  'v1 ConfigMap': (doc) => new ConfigMap(doc as never).validate(),
  'v1 Secret': (doc) => new Secret(doc as never).validate(),
  'v1 Namespace': (doc) => new Namespace(doc as never).validate(),
};
const STRIMZI_KINDS = ['Kafka', 'KafkaNodePool', 'KafkaConnect', 'KafkaConnector'];

/** Tributary's image, as kustomization.yaml's `images` renames it. */
const TRIBUTARY_IMAGE = 'tributary';
/** The image's working directory (./Dockerfile): a relative TRIBUTARY_DATA_DIR is under it. */
const IMAGE_WORKDIR = (() => {
  const dirs = new Set([...readFileSync(join(root, 'Dockerfile'), 'utf8').matchAll(/^WORKDIR\s+(\S+)$/gm)].map((m) => m[1]!));
  if (dirs.size !== 1) throw new Error(`Dockerfile: one WORKDIR expected, found ${[...dirs].join(', ')}`);
  return [...dirs][0]!;
})();

describe('deploy/ (Kubernetes, kustomize)', () => {
  it('kustomization.yaml lists every manifest file once, and nothing else', () => {
    expect(kustomization.kind).toBe('Kustomization');
    expect([...kustomization.resources].sort()).toEqual(manifestFiles.map((f) => relative(deployDir, f)).sort());
    expect(new Set(kustomization.resources).size).toBe(kustomization.resources.length);
    expect(kustomization.images.map((i) => i.name)).toContain(TRIBUTARY_IMAGE);
    expect(byName('Namespace', kustomization.namespace)).toBeDefined();
    // deploy/observability/ holds Prometheus's files, not resources: kustomize must not apply them
    expect(kustomization.resources.filter((r) => r.startsWith('observability/'))).toEqual([]);
    expect(readdirSync(observabilityDir).sort()).toEqual(['alerts.yaml', 'grafana-dashboard.json', 'prometheus.yaml']);
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
    const trigger = structuredClone(byName('StatefulSet', 'tributary-finetune-trigger')!) as StatefulSetManifest;
    (trigger.spec.volumeClaimTemplates![0]!.spec as Record<string, unknown>)['accessModes'] = 'ReadWriteOnce';
    expect(() => KUBERNETES_KINDS['apps/v1 StatefulSet']!(trigger)).toThrow(/array/);
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
      if (!lib && !isCi()) skip(`install a JDK 17+ and Maven (\`npm test\` then fetches Strimzi's API model): ${fetchError.split('\n')[0]}`);
      expect(lib, fetchError).not.toBeNull();
      expect(strimzi.map((d) => d.kind).sort()).toEqual([...STRIMZI_KINDS].sort());
      expect(check(strimzi)).toEqual([]);
    }, 120_000);

    it('the model check catches what it should (an unknown field, an unknown enum value, a wrong type)', ({ skip }) => {
      if (!lib && !isCi()) skip(`install a JDK 17+ and Maven (\`npm test\` then fetches Strimzi's API model): ${fetchError.split('\n')[0]}`);
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

  describe('Tributary\'s workloads (Deployments, and the finetune-trigger\'s StatefulSet)', () => {
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
          // a stand-in long enough to be a webhook's signing secret (16 characters at least)
          env[v.name] = v.name === 'MONGODB_URL' ? 'mongodb://mongodb-0.mongodb:27017/?replicaSet=rs0' : 'stand-in-for-a-secret-0123456789';
        }
      }
      if (env['TRIBUTARY_API_KEYS_FILE']) {
        const file = join(keysDir, 'api-keys.json');
        writeFileSync(file, JSON.stringify([{ name: 'test', sha256: hashApiKey('test-key'), scopes: ['admin'] }]));
        env['TRIBUTARY_API_KEYS_FILE'] = file;
      }
      return env;
    }

    it('are the API and the processes of the distributed mode, embed with 2 replicas, the finetune-trigger a StatefulSet', () => {
      const names = deployments.map((d) => d.metadata.name).sort();
      expect(names).toEqual(['tributary-api', 'tributary-archive', 'tributary-cdc', 'tributary-clean', 'tributary-embed', 'tributary-judge', 'tributary-lag-monitor']);
      expect(statefulSets.map((d) => d.metadata.name)).toEqual(['tributary-finetune-trigger']);
      expect(byName('Deployment', 'tributary-embed')!.spec!['replicas']).toBe(2);
      expect(byName('Deployment', 'tributary-cdc')!.spec!['replicas']).toBe(1);
    });

    it.each(workloads.map((d) => [d.metadata.name, d] as const))('%s: every container asks for CPU and memory and has a memory limit', (_n, d) => {
      for (const c of [...(d.spec.template.spec.initContainers ?? []), ...d.spec.template.spec.containers]) {
        expect(c.resources?.requests?.['cpu'], `${c.name} requests.cpu`).toBeDefined();
        expect(c.resources?.requests?.['memory'], `${c.name} requests.memory`).toBeDefined();
        expect(c.resources?.limits?.['memory'], `${c.name} limits.memory`).toBeDefined();
      }
    });

    it.each(workloads.map((d) => [d.metadata.name, d] as const))('%s: runs tributary commands, with real settings in a combination Tributary accepts', (_n, d) => {
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

    it.each(workloads.map((d) => [d.metadata.name, d] as const))('%s: registers the schemas before it starts (init container)', (_n, d) => {
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

    describe('the metrics port of every consumer and of the cdc relay', () => {
      /** `tributary consume …` and `tributary cdc`: each serves GET /metrics and GET /healthz on TRIBUTARY_METRICS_PORT, on HOST. */
      const servesMetrics = (c: Container) => c.image === TRIBUTARY_IMAGE && (c.args?.[0] === 'consume' || c.args?.[0] === 'cdc');
      const serving = workloads.filter((w) => w.spec.template.spec.containers.some(servesMetrics));

      it('are every consume and cdc workload: the consumers, the lag monitor and the relay, one such container each', () => {
        expect(serving.map((w) => w.metadata.name).sort()).toEqual(['tributary-archive', 'tributary-cdc', 'tributary-clean', 'tributary-embed', 'tributary-finetune-trigger', 'tributary-judge', 'tributary-lag-monitor']);
        for (const w of serving) expect(w.spec.template.spec.containers.filter(servesMetrics), w.metadata.name).toHaveLength(1);
      });

      it.each(serving.map((w) => [w.metadata.name, w] as const))('%s: HOST=0.0.0.0 in its env, container port "metrics" = TRIBUTARY_METRICS_PORT, startup/liveness/readiness on /healthz there, the prometheus.io annotations', (_n, w) => {
        const c = w.spec.template.spec.containers.find(servesMetrics)!;
        const loaded = configFor(envOf(c));
        if ('error' in loaded) throw new Error(loaded.error);
        // beyond loopback, or neither Prometheus nor the kubelet reach it; set once, in the container's own env
        expect(loaded.config.host).toBe('0.0.0.0');
        expect((c.env ?? []).filter((v) => v.name === 'HOST')).toEqual([{ name: 'HOST', value: '0.0.0.0' }]);
        expect(c.ports).toEqual([{ name: 'metrics', containerPort: loaded.config.metricsPort }]);
        expect(c.startupProbe?.httpGet, 'startupProbe').toEqual({ path: '/healthz', port: 'metrics' });
        expect(c.livenessProbe?.httpGet, 'livenessProbe').toEqual({ path: '/healthz', port: 'metrics' });
        expect(c.readinessProbe?.httpGet, 'readinessProbe').toEqual({ path: '/healthz', port: 'metrics' });
        // the server listens once the process has opened what it needs (models, the index): minutes, not seconds
        expect((c.startupProbe!.periodSeconds ?? 10) * (c.startupProbe!.failureThreshold ?? 3)).toBeGreaterThanOrEqual(120);
        // a restart only after /healthz failed for 30 s at least
        expect((c.livenessProbe!.periodSeconds ?? 10) * (c.livenessProbe!.failureThreshold ?? 3)).toBeGreaterThanOrEqual(30);
        expect(w.spec.template.metadata.annotations).toEqual({ 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(loaded.config.metricsPort), 'prometheus.io/path': '/metrics' });
      });

      it('HOST is not in the shared ConfigMap: each process sets its own (the API sets it too, with its keys)', () => {
        expect(configMaps.get('tributary-config')!['HOST']).toBeUndefined();
      });

      it('the API is not annotated for scraping: its GET /metrics needs an admin key (deploy/observability/prometheus.yaml scrapes it with one)', () => {
        const api = byName('Deployment', 'tributary-api') as DeploymentManifest;
        expect(requiredScope('GET', '/metrics')).toBe('admin');
        expect(api.spec.template.metadata.annotations?.['prometheus.io/scrape']).toBeUndefined();
      });
    });

    it('the API keys Secret is an example: its placeholder is not a key hash, so the API refuses to start until it is replaced', () => {
      const example = JSON.parse(secrets.get('tributary-api-keys')!['api-keys.json']!) as Array<{ sha256: string }>;
      expect(example.length).toBeGreaterThan(0);
      for (const k of example) expect(k.sha256).not.toMatch(/^(sha256:)?[0-9a-fA-F]{64}$/);
    });

    describe('the judge', () => {
      const isJudge = (c: Container) => c.args?.[0] === 'consume' && c.args[1] === 'judge';
      const judge = byName('Deployment', 'tributary-judge') as DeploymentManifest;
      const container = () => judge.spec.template.spec.containers.find(isJudge)!;
      const LLM_VARIABLES = ['TRIBUTARY_LLM_BASE_URL', 'TRIBUTARY_LLM_MODEL', 'TRIBUTARY_LLM_API_KEY'];

      it('is opt-in: zero replicas, the only workload running `consume judge`', () => {
        expect(judge, 'Deployment tributary-judge').toBeDefined();
        expect(judge.spec.replicas).toBe(0);
        const running = workloads.flatMap((w) => w.spec.template.spec.containers.filter(isJudge).map(() => w.metadata.name));
        expect(running).toEqual(['tributary-judge']);
        // the comment says how to opt in
        const text = readFileSync(join(deployDir, 'judge.yaml'), 'utf8');
        expect(text).toMatch(/^# OPT-IN: replicas 0\./m);
        for (const name of LLM_VARIABLES) expect(text, name).toContain(name);
      });

      it('is deployed like the clean consumer (stateless, same pod settings, metrics port, probes and scrape annotations): only its command, LLM settings and resources differ', () => {
        const clean = byName('Deployment', 'tributary-clean') as DeploymentManifest;
        const normalized = (d: DeploymentManifest) => {
          const spec = structuredClone(d.spec.template.spec);
          for (const c of spec.containers) { c.name = ''; c.args = []; delete c.env; delete c.resources; }
          return spec;
        };
        expect(normalized(judge)).toEqual(normalized(clean));
        expect(judge.spec.template.metadata.annotations).toEqual(clean.spec.template.metadata.annotations);
        const c = container();
        expect(c.ports).toEqual([{ name: 'metrics', containerPort: 9464 }]);
        expect(c.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
        // its env is clean's (HOST) plus its LLM and its sample
        const cleanEnv = clean.spec.template.spec.containers[0]!.env ?? [];
        expect(cleanEnv.map((v) => v.name)).toEqual(['HOST']);
        const own = (c.env ?? []).filter((v) => !cleanEnv.some((x) => x.name === v.name));
        expect((c.env ?? []).filter((v) => cleanEnv.some((x) => x.name === v.name))).toEqual(cleanEnv);
        expect(own.map((v) => v.name).sort()).toEqual([...LLM_VARIABLES, 'TRIBUTARY_JUDGE_SAMPLE'].sort());
      });

      it('starts with the settings in its Deployment: an LLM (the example endpoint, its key from a Secret), traces and a sample', () => {
        const c = container();
        expect(c.envFrom?.map((f) => f.configMapRef?.name)).toContain('tributary-config');
        expect(judgeProblem(envOf(c))).toBeNull();
        const names = (c.env ?? []).map((v) => v.name);
        for (const name of LLM_VARIABLES) expect(names, name).toContain(name);
        expect(c.env!.find((v) => v.name === 'TRIBUTARY_LLM_API_KEY')!.valueFrom?.secretKeyRef).toEqual({ name: 'tributary-llm', key: 'api-key' });
        // the key is an example: a placeholder to replace
        expect(secrets.get('tributary-llm')!['api-key']).toBe('REPLACE-ME');
        // without its LLM the judge refuses to start (exit 78): the variables are needed, not decoration
        const without = envOf({ ...c, env: c.env?.filter((v) => !v.name.startsWith('TRIBUTARY_LLM_') && v.name !== 'TRIBUTARY_JUDGE_SAMPLE') });
        expect(judgeProblem(without)).toMatch(/needs an LLM/);
      });

      it('its LLM settings are its own: not in the shared ConfigMap, so no other process is given them', () => {
        const shared = configMaps.get('tributary-config')!;
        for (const name of [...LLM_VARIABLES, 'TRIBUTARY_JUDGE_SAMPLE']) expect(shared[name], name).toBeUndefined();
      });
    });

    describe('the finetune-trigger', () => {
      const isTrigger = (c: Container) => c.args?.[0] === 'consume' && c.args[1] === 'finetune-trigger';
      const trigger = byName('StatefulSet', 'tributary-finetune-trigger') as StatefulSetManifest;
      const container = () => trigger.spec.template.spec.containers.find(isTrigger)!;

      it('runs in exactly one pod: one StatefulSet of one replica, the only workload running it', () => {
        expect(trigger, 'StatefulSet tributary-finetune-trigger').toBeDefined();
        expect(trigger.spec.replicas).toBe(1);
        // OnDelete would leave an old pod running a previous version; RollingUpdate (the default) stops it first
        expect(trigger.spec.updateStrategy?.type ?? 'RollingUpdate').toBe('RollingUpdate');
        const running = workloads.flatMap((w) => w.spec.template.spec.containers.filter(isTrigger).map(() => w.metadata.name));
        expect(running).toEqual(['tributary-finetune-trigger']);
      });

      it('keeps its data directory (state and pinned versions) on a claim of its own, kept when the StatefulSet is deleted or scaled', () => {
        const c = container();
        const loaded = configFor(envOf(c));
        if ('error' in loaded) throw new Error(loaded.error);
        const dataDir = posix.resolve(IMAGE_WORKDIR, loaded.config.dataDir);
        const mount = c.volumeMounts?.find((m) => m.mountPath === dataDir);
        expect(mount, `a volume mounted at the data directory ${dataDir}`).toBeDefined();
        expect(trigger.spec.template.spec.volumes?.map((v) => v.name), 'a claim, not a pod volume').not.toContain(mount!.name);
        const claim = trigger.spec.volumeClaimTemplates?.find((t) => t.metadata.name === mount!.name);
        expect(claim, `a volumeClaimTemplate named ${mount!.name}`).toBeDefined();
        expect(claim!.spec.accessModes).toEqual(['ReadWriteOnce']);
        expect(claim!.spec.resources?.requests?.['storage']).toMatch(/^[0-9]+(Mi|Gi|Ti)$/);
        // nothing below the data directory is mounted from elsewhere (the state and the versions stay on the claim)
        expect(c.volumeMounts!.filter((m) => m.mountPath.startsWith(`${dataDir}/`))).toEqual([]);
        expect(trigger.spec.persistentVolumeClaimRetentionPolicy).toEqual({ whenDeleted: 'Retain', whenScaled: 'Retain' });
      });

      it('has its governing Service: headless, selecting its pods', () => {
        const service = byName('Service', trigger.spec.serviceName ?? '') as Manifest & { spec: { clusterIP?: string; selector: Record<string, string> } } | undefined;
        expect(service, `Service ${trigger.spec.serviceName}`).toBeDefined();
        expect(service!.spec.clusterIP).toBe('None');
        const labels = (trigger.spec.template as unknown as { metadata: { labels: Record<string, string> } }).metadata.labels;
        for (const [k, v] of Object.entries(service!.spec.selector)) expect(labels[k]).toBe(v);
      });

      it('starts with the example settings: the datasets from the ConfigMap, each launcher\'s variable from a Secret', async () => {
        const c = container();
        expect(c.envFrom?.map((f) => f.configMapRef?.name)).toContain('tributary-config');
        expect(configMaps.get('tributary-config')!['TRIBUTARY_FINETUNE_DATASETS'], 'an example dataset list in the shared ConfigMap').toBeDefined();
        expect(await finetuneTriggerProblem(envOf(c))).toBeNull();
        // without its Secret the trigger would refuse: the variable is needed, not decoration
        const without = envOf({ ...c, env: c.env?.filter((v) => !v.valueFrom?.secretKeyRef) });
        expect(await finetuneTriggerProblem(without)).toMatch(/not set/);
      });

      it('the webhook secret is an example: its placeholder is too short to sign with, so the trigger refuses to start until it is replaced', async () => {
        const c = container();
        const secretVar = c.env!.find((v) => v.valueFrom?.secretKeyRef?.name === 'tributary-finetune')!;
        const { name, key } = secretVar.valueFrom!.secretKeyRef!;
        const env = { ...envOf(c), [secretVar.name]: secrets.get(name)![key]! };
        expect(await finetuneTriggerProblem(env)).toMatch(/shorter than 16 characters/);
      });

      it('the API is given the same datasets (it lists them); it does not see the pinned versions, which stay on the trigger\'s claim', () => {
        const api = byName('Deployment', 'tributary-api') as DeploymentManifest;
        const apiContainer = api.spec.template.spec.containers.find((x) => x.args?.[0] === 'dev')!;
        const ofApi = configFor(envOf(apiContainer));
        const ofTrigger = configFor(envOf(container()));
        if ('error' in ofApi) throw new Error(ofApi.error);
        if ('error' in ofTrigger) throw new Error(ofTrigger.error);
        expect(ofApi.config.finetuneDatasets).toEqual(ofTrigger.config.finetuneDatasets);
        // documented in finetune-trigger.yaml: exports are copied from the trigger's pod (the API's data directory is an emptyDir)
        const apiData = apiContainer.volumeMounts!.find((m) => m.mountPath === posix.resolve(IMAGE_WORKDIR, ofApi.config.dataDir))!;
        expect(api.spec.template.spec.volumes!.find((v) => v.name === apiData.name)!.emptyDir).toBeDefined();
        expect(readFileSync(join(deployDir, 'finetune-trigger.yaml'), 'utf8')).toContain('kubectl -n tributary cp tributary-finetune-trigger-0:/app/data/datasets/');
      });
    });
  });
});
