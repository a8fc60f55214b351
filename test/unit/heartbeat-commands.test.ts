import { describe, expect, it } from 'vitest'
import { heartbeatCommands } from '../../shared/heartbeats/write.ts'
import { createKeys } from '../../shared/store/keys.ts'

const keys = createKeys('p:')
const hb = { eventId: 'e', timestamp: '2026-12-04T12:00:00Z', serviceId: 'auth', appId: 'bannou', status: 'healthy' as const }

describe('heartbeat commands', () => {
  it('write the reference key and the indexes; no instance key without an instanceId', () => {
    const cmds = heartbeatCommands(keys, hb, 90, 1)
    expect(cmds.map((c) => c[1])).toEqual([keys.heartbeat('auth', 'bannou'), keys.heartbeatIndex, keys.serviceHeartbeatIndex('auth'), keys.services])
  })
  it("also keep the instance's own last beat, same JSON and TTL, when the heartbeat names its instance", () => {
    const cmds = heartbeatCommands(keys, { ...hb, instanceId: 'web-1-next' }, 90, 1)
    const instance = cmds.find((c) => c[1] === keys.instanceHeartbeat('auth', 'bannou', 'web-1-next'))
    const shared = cmds.find((c) => c[1] === keys.heartbeat('auth', 'bannou'))
    expect(instance).toEqual(['SET', keys.instanceHeartbeat('auth', 'bannou', 'web-1-next'), shared![2], 'EX', 90])
  })
})
