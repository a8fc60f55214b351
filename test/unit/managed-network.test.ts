import type Docker from 'dockerode'
import { describe, expect, it } from 'vitest'
import { managedNetwork } from '../../shared/backends/compose/client.ts'

/** A stand-in for the two Engine calls, recording what was asked. */
function fakeEngine(networks: { Name: string; Scope: string }[], create: (opts: Record<string, unknown>) => Promise<unknown>) {
  const calls: string[] = []
  const docker = {
    listNetworks: async () => (calls.push('list'), networks),
    createNetwork: async (opts: Record<string, unknown>) => (calls.push(`create ${String(opts.Driver)}`), create(opts)),
  }
  return { docker: docker as unknown as Docker, calls }
}

describe('managedNetwork', () => {
  it('host networking needs no network; an existing one is used as is', async () => {
    const host = fakeEngine([], async () => ({}))
    await managedNetwork(host.docker, 'host', 'bridge').ensure()
    expect(host.calls).toEqual([])
    const existing = fakeEngine([{ Name: 'bannou', Scope: 'local' }], async () => ({}))
    await managedNetwork(existing.docker, 'bannou', 'bridge').ensure()
    expect(existing.calls).toEqual(['list'])
  })

  it('creates the network on the configured subnet', async () => {
    const e = fakeEngine([], async (opts) => {
      expect(opts).toMatchObject({ Name: 'bannou', Driver: 'bridge', IPAM: { Config: [{ Subnet: '10.42.0.0/24' }] } })
      return {}
    })
    await managedNetwork(e.docker, 'bannou', 'bridge', '10.42.0.0/24').ensure()
    expect(e.calls).toEqual(['list', 'create bridge'])
  })

  it('a swarm needs an overlay: a local network of the same name does not count', async () => {
    const e = fakeEngine([{ Name: 'bannou', Scope: 'local' }], async (opts) => {
      expect(opts).toMatchObject({ Name: 'bannou', Attachable: true, Labels: { 'bannou.managed': 'true' } })
      return {}
    })
    await managedNetwork(e.docker, 'bannou', 'overlay').ensure()
    expect(e.calls).toEqual(['list', 'create overlay'])
  })

  it('creates once for concurrent callers, tolerates a 409 from a racing creator, and tries again after a failure', async () => {
    let attempt = 0
    const e = fakeEngine([], async () => {
      attempt++
      if (attempt === 1) throw Object.assign(new Error('engine hiccup'), { statusCode: 500 })
      throw Object.assign(new Error('already exists'), { statusCode: 409 })
    })
    const net = managedNetwork(e.docker, 'bannou', 'bridge')
    const first = await Promise.allSettled([net.ensure(), net.ensure()])
    expect(first.map((r) => r.status)).toEqual(['rejected', 'rejected'])
    expect(e.calls).toEqual(['list', 'create bridge'])
    await net.ensure()
    await net.ensure()
    expect(e.calls).toEqual(['list', 'create bridge', 'list', 'create bridge'])
    net.forget()
    await net.ensure()
    expect(e.calls.length).toBe(6)
  })
})
