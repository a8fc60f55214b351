import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ConfigMap, Service, ServiceAccount } from 'kubernetes-models/v1'
import { Deployment } from 'kubernetes-models/apps/v1'
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1'
import { Role, RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1'
import { beforeAll, describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { repoRoot } from '../../deploy/build.ts'
import { parsePreset } from '../../shared/presets/yaml.ts'

/** Offline validation of deploy/kubernetes/ against the Kubernetes OpenAPI schemas (kubernetes-models). */
const dir = join(repoRoot, 'deploy/kubernetes')
const MODELS: Record<string, new (data: never) => { validate(): void; toJSON(): unknown }> = {
  'apps/v1/Deployment': Deployment,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'v1/ConfigMap': ConfigMap,
  'rbac.authorization.k8s.io/v1/Role': Role,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
}

type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string }; [k: string]: unknown }
let docs: { file: string; obj: Obj }[] = []
const one = <T>(kind: string) => docs.find((d) => d.obj.kind === kind)!.obj as unknown as T

beforeAll(async () => {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
  docs = await Promise.all(files.map(async (file) => ({ file, obj: parse(await readFile(join(dir, file), 'utf8')) as Obj })))
})

describe('deploy/kubernetes manifests', () => {
  it('every manifest validates against its Kubernetes schema, in the bannou namespace', () => {
    expect(docs.length).toBeGreaterThanOrEqual(7)
    for (const { file, obj } of docs) {
      const Model = MODELS[`${obj.apiVersion}/${obj.kind}`]
      expect(Model, `${file}: no model for ${obj.apiVersion} ${obj.kind}`).toBeDefined()
      expect(() => new Model!(obj as never).validate(), file).not.toThrow()
      expect(obj.metadata.namespace, file).toBe('bannou')
    }
  })

  it('the validator really rejects a broken manifest', () => {
    const broken = structuredClone(one<Obj>('Deployment')) as Obj & { spec: { replicas: unknown } }
    broken.spec.replicas = 'two'
    expect(() => new Deployment(broken as never).validate()).toThrow()
  })

  it('kustomization.yaml lists every manifest', async () => {
    const k = parse(await readFile(join(dir, 'kustomization.yaml'), 'utf8')) as { resources: string[] }
    expect([...k.resources].sort()).toEqual(docs.map((d) => d.file).sort())
  })

  it('Deployment: 2 replicas, probes on the health endpoints, resources, non-root, read-only root fs', () => {
    const d = new Deployment(one('Deployment'))
    expect(d.spec?.replicas).toBe(2)
    const pod = d.spec!.template.spec!
    expect(pod.serviceAccountName).toBe('bannou-orchestrator')
    expect(pod.securityContext?.runAsNonRoot).toBe(true)
    const c = pod.containers[0]!
    expect(c.readinessProbe?.httpGet?.path).toBe('/orchestrator/health')
    expect(c.livenessProbe?.httpGet?.path).toBe('/orchestrator/status')
    expect(c.startupProbe?.httpGet).toBeDefined()
    expect(c.resources?.requests).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) })
    expect(c.resources?.limits).toMatchObject({ memory: expect.any(String) })
    expect(c.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, runAsNonRoot: true, capabilities: { drop: ['ALL'] } })
    expect(c.ports?.[0]?.containerPort).toBe(8090)
  })

  it('Deployment: API keys and connections come from the Secret, presets from the ConfigMap', () => {
    const pod = new Deployment(one('Deployment')).spec!.template.spec!
    const env = pod.containers[0]!.env!
    const fromSecret = env.filter((e) => e.valueFrom?.secretKeyRef?.name === 'bannou-orchestrator-secrets').map((e) => e.name)
    expect(fromSecret).toEqual(expect.arrayContaining(['ORCHESTRATOR_REDIS_CONNECTION', 'ORCHESTRATOR_API_KEYS', 'ORCHESTRATOR_PORTAINER_API_KEY']))
    expect(env.some((e) => e.value !== undefined && /amqp:\/\/|password|key/i.test(e.value))).toBe(false)
    const presetsDir = env.find((e) => e.name === 'ORCHESTRATOR_PRESETS_DIRECTORY')!.value
    const volume = pod.volumes!.find((v) => v.configMap?.name === 'bannou-orchestrator-presets')!
    expect(pod.containers[0]!.volumeMounts).toContainEqual(expect.objectContaining({ name: volume.name, mountPath: presetsDir, readOnly: true }))
  })

  it('the presets ConfigMap holds valid presets', () => {
    const data = new ConfigMap(one('ConfigMap')).data!
    expect(Object.keys(data).length).toBeGreaterThan(0)
    for (const [file, text] of Object.entries(data)) expect(Array.isArray(parsePreset(file, text, 'user')), file).toBe(false)
  })

  it('RBAC: a namespaced Role with exactly the resources the Kubernetes backend needs, no wildcards', () => {
    const role = new Role(one('Role'))
    const granted = new Map<string, string[]>()
    for (const rule of role.rules!) {
      for (const v of [...(rule.apiGroups ?? []), ...(rule.resources ?? []), ...rule.verbs]) expect(v).not.toBe('*')
      for (const r of rule.resources ?? []) granted.set(r, rule.verbs)
    }
    expect([...granted.keys()].sort()).toEqual(['configmaps', 'deployments', 'deployments/scale', 'pods', 'pods/log', 'secrets', 'services'])
    expect(granted.get('pods/log')).toEqual(['get'])
    expect(granted.get('pods')).not.toContain('create')
    const binding = new RoleBinding(one('RoleBinding'))
    expect(binding.roleRef).toMatchObject({ kind: 'Role', name: role.metadata!.name })
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'bannou-orchestrator', namespace: 'bannou' }])
  })

  it('Service selects the Deployment pods and targets the http port', () => {
    const svc = new Service(one('Service'))
    const d = new Deployment(one('Deployment'))
    expect(d.spec!.template.metadata!.labels).toMatchObject(svc.spec!.selector!)
    expect(svc.spec!.ports![0]).toMatchObject({ port: 8090, targetPort: 'http' })
  })
})
