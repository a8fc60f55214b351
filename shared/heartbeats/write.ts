import * as v from 'valibot'
import type { Keys } from '../store/keys.ts'
import type { Command, Store } from '../store/types.ts'
import { ServiceHeartbeatEvent } from './schema.ts'

/**
 * The commands that record one heartbeat: the reference key with its TTL plus our
 * indexes, applied in one MULTI so the index never points at a heartbeat that was not written.
 */
export function heartbeatCommands(keys: Keys, hb: ServiceHeartbeatEvent, ttlSeconds: number, seenAtMs: number): Command[] {
  const member = keys.heartbeatMember(hb.serviceId, hb.appId)
  const json = JSON.stringify(hb)
  const instanceId = (hb as Record<string, unknown>).instanceId
  return [
    ['SET', keys.heartbeat(hb.serviceId, hb.appId), json, 'EX', ttlSeconds],
    ...(typeof instanceId === 'string' && instanceId ? [['SET', keys.instanceHeartbeat(hb.serviceId, hb.appId, instanceId), json, 'EX', ttlSeconds] as Command] : []),
    ['ZADD', keys.heartbeatIndex, seenAtMs, member],
    ['ZADD', keys.serviceHeartbeatIndex(hb.serviceId), seenAtMs, member],
    ['SADD', keys.services, hb.serviceId],
  ]
}

export interface HeartbeatWriter {
  keys: Keys
  store: Store
  ttlSeconds: number
  now: () => number
}

/** Validates and records a heartbeat; throws valibot's ValiError on a bad event. */
export async function writeHeartbeat(w: HeartbeatWriter, event: unknown): Promise<ServiceHeartbeatEvent> {
  const hb = v.parse(ServiceHeartbeatEvent, event)
  await w.store.transaction(heartbeatCommands(w.keys, hb, w.ttlSeconds, w.now()))
  return hb
}
