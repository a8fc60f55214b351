import type { ResolvedPreset } from '../presets/schema.ts'

/** service -> app id that serves it (first node hosting it), for ServiceMappingEvents and the routing cache. */
export function serviceMapping(preset: Pick<ResolvedPreset, 'nodes'>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const n of preset.nodes) for (const s of n.services) out[s] ??= n.daprAppId
  return out
}
