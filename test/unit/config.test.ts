import { describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from '../../shared/config.ts'

describe('config', () => {
  it('defaults to embedded mode with the reference defaults', () => {
    const c = loadConfig({})
    expect(c).toMatchObject({
      port: 8090,
      store: 'memory',
      embedded: true,
      dockerHost: 'unix:///var/run/docker.sock',
      kubernetesNamespace: 'bannou',
      preferredBackend: 'auto',
      healthCheckIntervalSeconds: 30,
      heartbeatTimeoutSeconds: 90,
      degradationThresholdMinutes: 5,
    })
  })
  it('switches to Redis when a connection is given, in every accepted form', () => {
    for (const conn of ['127.0.0.1:6379', 'redis://localhost:6379/0', 'rediss://user:pw@host:6380', 'redis:6379']) {
      expect(loadConfig({ ORCHESTRATOR_REDIS_CONNECTION: conn })).toMatchObject({ store: 'redis', embedded: false })
    }
  })
  it('PORT and ORCHESTRATOR_PORT override the port, ORCHESTRATOR_PORT first', () => {
    expect(loadConfig({ PORT: '9000' }).port).toBe(9000)
    expect(loadConfig({ PORT: '9000', ORCHESTRATOR_PORT: '9100' }).port).toBe(9100)
  })
  it('lists every bad variable at once with what is expected', () => {
    let error: ConfigError | undefined
    try {
      loadConfig({
        ORCHESTRATOR_HEARTBEAT_TIMEOUT: 'soon',
        ORCHESTRATOR_PREFERRED_BACKEND: 'nomad',
        ORCHESTRATOR_RABBITMQ_CONNECTION: 'localhost',
        ORCHESTRATOR_PORTAINER_URL: 'not a url',
      })
    } catch (e) {
      error = e as ConfigError
    }
    expect(error).toBeInstanceOf(ConfigError)
    expect(error!.problems.map((p) => p.variable).sort()).toEqual([
      'ORCHESTRATOR_HEARTBEAT_TIMEOUT',
      'ORCHESTRATOR_PORTAINER_URL',
      'ORCHESTRATOR_PREFERRED_BACKEND',
      'ORCHESTRATOR_RABBITMQ_CONNECTION',
    ])
    expect(error!.message).toContain('expected auto, kubernetes, portainer, swarm or compose')
    expect(error!.message).toContain('got "soon"')
  })
  it('a forced driver needs its settings', () => {
    expect(() => loadConfig({ ORCHESTRATOR_STORE: 'redis' })).toThrow(/ORCHESTRATOR_REDIS_CONNECTION/)
    expect(() => loadConfig({ ORCHESTRATOR_STORE: 'upstash', ORCHESTRATOR_UPSTASH_URL: 'http://127.0.0.1:1' })).toThrow(/TOKEN/)
    expect(loadConfig({ ORCHESTRATOR_STORE: 'memory', ORCHESTRATOR_REDIS_CONNECTION: '127.0.0.1:6379' }).store).toBe('memory')
  })
  it('accepts fractional degradation thresholds (minutes)', () => {
    expect(loadConfig({ ORCHESTRATOR_DEGRADATION_THRESHOLD: '0.5' }).degradationThresholdMinutes).toBe(0.5)
  })

  it('ORCHESTRATOR_DOCKER_SUBNET: an IPv4 CIDR for the network the orchestrator creates', () => {
    expect(loadConfig({ ORCHESTRATOR_DOCKER_SUBNET: '10.42.0.0/24' }).deploy.subnet).toBe('10.42.0.0/24')
    expect(loadConfig({}).deploy.subnet).toBeUndefined()
    for (const bad of ['10.42.0.0', '10.300.0.0/24', '10.42.0.0/31', 'fd00::/64']) {
      expect(() => loadConfig({ ORCHESTRATOR_DOCKER_SUBNET: bad }), bad).toThrow(/ORCHESTRATOR_DOCKER_SUBNET/)
    }
  })
})
