import { describe, expect, it } from 'vitest'
import type { Unit } from '../../shared/backends/types.ts'
import { loadConfig } from '../../shared/config.ts'
import { desiredState } from '../../shared/environments/desired.ts'
import { serviceMapping } from '../../shared/environments/service-mapping.ts'
import { mappingEvents } from '../../shared/environments/events.ts'
import { diffPlan } from '../../shared/environments/plan.ts'
import type { ResolvedPreset } from '../../shared/presets/schema.ts'

const preset = (nodes: Partial<ResolvedPreset['nodes'][number]>[], infrastructure: ResolvedPreset['infrastructure'] = {}): ResolvedPreset => ({
  name: 'p',
  description: '',
  source: 'user',
  file: 'x',
  infrastructure,
  nodes: nodes.map((n) => ({ replicas: 1, daprEnabled: false, services: ['auth'], name: 'main', daprAppId: n.name ?? 'main', ...n })),
})

const cfg = (env: Record<string, string> = {}) => loadConfig({ ORCHESTRATOR_DOCKER_NETWORK: 'host', ORCHESTRATOR_HOST_PORT_RANGE: '20000-20999', ...env }).deploy
const asUnits = (specs: ReturnType<typeof desiredState>['units']): Unit[] =>
  specs.map((spec) => ({ id: spec.name, name: spec.name, environment: spec.environment, app: spec.app, role: spec.role, replica: spec.replica, revision: 1, image: spec.image, state: 'running', status: 'Up', spec, createdAt: '' }))

describe('desired state', () => {
  it('infrastructure containers on a chosen port: told to the server, reserved from the app port range', () => {
    const d = desiredState({
      environment: 'dev',
      preset: preset([{ name: 'main' }], { redis: { enabled: true, port: 20500 }, rabbitmq: { enabled: true, port: 20501 } }),
      deploy: cfg({ ORCHESTRATOR_HOST_PORT_RANGE: '20500-20502' }),
      keyPrefix: '',
      existing: [],
    })
    const byName = Object.fromEntries(d.units.map((u) => [u.name, u]))
    expect(d.infrastructure.map((t) => t.address)).toEqual(['127.0.0.1:20500', '127.0.0.1:20501'])
    expect(byName['bannou-dev-redis']).toMatchObject({ command: ['redis-server', '--port', '20500'], hostPorts: [20500] })
    expect(byName['bannou-dev-rabbitmq']).toMatchObject({ env: { RABBITMQ_NODE_PORT: '20501' }, hostPorts: [20501] })
    // The only port left in the range goes to the app.
    expect(byName['bannou-dev-main-1']!.hostPorts).toEqual([20502])
    expect(byName['bannou-dev-main-1']!.env.BANNOU_RedisConnectionString).toBe('redis:20500')
    // Default ports keep the image's own command (an unchanged spec for existing deployments).
    const plain = desiredState({ environment: 'dev', preset: preset([{ name: 'main' }], { redis: { enabled: true } }), deploy: cfg(), keyPrefix: '', existing: [] })
    expect(plain.units.find((u) => u.role === 'infrastructure')).not.toHaveProperty('command')
  })

  it('sets every {SERVICE}_SERVICE_ENABLED, the app id, connections, and pairs a standalone sidecar', () => {
    const d = desiredState({
      environment: 'dev',
      preset: preset([{ name: 'bannou-auth', services: ['auth'], daprEnabled: true, replicas: 2, daprAppId: 'auth-app' }], { redis: { enabled: true, external: '10.1.2.3:6380' }, rabbitmq: { enabled: true } }),
      deploy: cfg(),
      keyPrefix: '',
      existing: [],
    })
    expect(d.units.map((u) => `${u.role}:${u.name}`)).toEqual([
      'infrastructure:bannou-dev-rabbitmq',
      'app:bannou-dev-bannou-auth-1',
      'sidecar:bannou-dev-bannou-auth-1-dapr',
      'app:bannou-dev-bannou-auth-2',
      'sidecar:bannou-dev-bannou-auth-2-dapr',
    ])
    const app = d.units[1]!
    expect(app.env).toMatchObject({ AUTH_SERVICE_ENABLED: 'true', ACCOUNTS_SERVICE_ENABLED: 'false', HTTP_TESTER_SERVICE_ENABLED: 'false', DAPR_APP_ID: 'auth-app' })
    expect(app.env.BANNOU_RedisConnectionString).toBe('redis:6380')
    expect(app.env.BANNOU_RabbitMqConnectionString).toBe('amqp://guest:guest@rabbitmq:5672')
    expect(app.extraHosts).toEqual(expect.arrayContaining(['redis:10.1.2.3', 'rabbitmq:127.0.0.1', 'placement:127.0.0.1', 'bannou-dev-bannou-auth-1-dapr:127.0.0.1']))
    const side = d.units[2]!
    const httpPort = side.hostPorts[0]
    expect(app.env.DAPR_HTTP_ENDPOINT).toBe(`http://bannou-dev-bannou-auth-1-dapr:${httpPort}`)
    expect(side.command).toEqual(expect.arrayContaining(['--app-id', 'auth-app', '--placement-host-address', 'placement:50006', '--app-port', app.env.PORT]))
    // host networking: nobody shares a port
    const ports = d.units.filter((u) => u.role !== 'infrastructure').flatMap((u) => u.hostPorts)
    expect(new Set(ports).size).toBe(ports.length)
  })

  it('plans nothing for the same state and names env changes field by field', () => {
    const input = { environment: 'e', deploy: cfg(), keyPrefix: '', existing: [] as Unit[] }
    const first = desiredState({ ...input, preset: preset([{ name: 'main', services: ['auth', 'accounts'] }]) })
    const running = asUnits(first.units)
    const same = desiredState({ ...input, existing: running, preset: preset([{ name: 'main', services: ['auth', 'accounts'] }]) })
    expect(diffPlan('e', 2, same.units, running).summary).toEqual({ create: 0, recreate: 0, remove: 0, unchanged: 1 })
    const changed = desiredState({ ...input, existing: running, preset: preset([{ name: 'main', services: ['auth'] }, { name: 'other', services: ['accounts'] }]) })
    const plan = diffPlan('e', 2, changed.units, running)
    expect(plan.actions.map((a) => [a.unit, a.action, a.reasons])).toEqual([
      ['bannou-e-main-1', 'recreate', ['env ACCOUNTS_SERVICE_ENABLED true → false']],
      ['bannou-e-other-1', 'create', ['not running yet']],
    ])
    expect(diffPlan('e', 3, [], running).actions[0]).toMatchObject({ action: 'remove' })
  })

  it('turns app-id changes into register / update / unregister mapping events', () => {
    const before = serviceMapping(preset([{ name: 'main', services: ['auth', 'accounts'] }]))
    const after = serviceMapping(preset([{ name: 'main', services: ['auth'] }, { name: 'acct', services: ['accounts', 'behavior'] }]))
    const ev = mappingEvents(before, after).map((e) => (e.kind === 'service-mapping' ? `${e.event.action}:${e.event.serviceName}@${e.event.appId}` : ''))
    expect(ev.sort()).toEqual(['register:behavior@acct', 'update:accounts@acct'])
    expect(mappingEvents(after, {}).length).toBe(3)
  })
})
