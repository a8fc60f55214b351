import type Docker from 'dockerode'

/**
 * A client that hits an app's instances every `intervalMs`, the way a caller with any
 * instance to choose from would: a probe fails only when no instance answers /health.
 * Instances (host ports) come from the engine's labelled containers, refreshed each probe.
 */
export function startProber(docker: Docker, env: string, app: string, intervalMs = 50, expected?: number) {
  let stopped = false
  const stats = { probes: 0, failed: 0, maxUnavailable: 0, errors: [] as string[] }
  const known = new Set<number>()
  const once = async () => {
    const list = await docker.listContainers({ filters: { label: ['bannou.managed=true', `bannou.environment=${env}`, `bannou.app=${app}`, 'bannou.role=app'] } })
    for (const c of list) for (const p of (JSON.parse(c.Labels['bannou.spec'] ?? '{}').hostPorts ?? []) as number[]) known.add(p)
    const results = await Promise.all(
      [...known].map(async (p) => {
        try {
          const r = await fetch(`http://127.0.0.1:${p}/health`, { signal: AbortSignal.timeout(1000) })
          await r.arrayBuffer()
          return r.status === 200
        } catch {
          return false
        }
      }),
    )
    const healthy = results.filter(Boolean).length
    stats.probes++
    if (healthy === 0) {
      stats.failed++
      stats.errors.push(`${new Date().toISOString()} no instance answered (${[...known].join(',')})`)
    }
    if (expected !== undefined) stats.maxUnavailable = Math.max(stats.maxUnavailable, expected - healthy)
  }
  const loop = (async () => {
    while (!stopped) {
      const t = Date.now()
      await once().catch((e) => stats.errors.push(String(e)))
      await new Promise((r) => setTimeout(r, Math.max(0, intervalMs - (Date.now() - t))))
    }
  })()
  return {
    stats,
    stop: async () => {
      stopped = true
      await loop
      return stats
    },
  }
}
