import type Docker from 'dockerode'

/**
 * A client that hits an app's instances every `intervalMs`, the way a caller with any
 * instance to choose from would: a probe fails only when no instance answers /health.
 * Instances (host ports) come from the engine's labelled containers, refreshed each probe.
 */
export function startProber(docker: Docker, env: string, app: string, intervalMs = 50, expected?: number, ports: () => Promise<number[]> = () => containerPorts(docker, env, app)) {
  let stopped = false
  const stats = { probes: 0, failed: 0, maxUnavailable: 0, errors: [] as string[], shortfalls: [] as string[] }
  const known = new Set<number>()
  const once = async () => {
    for (const p of await ports()) known.add(p)
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
    if (expected !== undefined) {
      stats.maxUnavailable = Math.max(stats.maxUnavailable, expected - healthy)
      if (healthy < expected) stats.shortfalls.push(`${new Date().toISOString()} ${healthy}/${expected} answered`)
    }
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

/** Host ports of an app's containers (compose backend: from their spec labels). */
export async function containerPorts(docker: Docker, env: string, app: string): Promise<number[]> {
  const list = await docker.listContainers({ filters: { label: ['bannou.managed=true', `bannou.environment=${env}`, `bannou.app=${app}`, 'bannou.role=app'] } })
  return list.flatMap((c) => (JSON.parse(c.Labels['bannou.spec'] ?? '{}').hostPorts ?? []) as number[])
}

/** Host ports of an app's swarm service: each slot's spec port and its alternate (labels). */
export async function servicePorts(docker: Docker, env: string, app: string): Promise<number[]> {
  const list = (await docker.listServices({ filters: { label: ['bannou.managed=true', `bannou.environment=${env}`, `bannou.app=${app}`, 'bannou.role=app'] } })) as unknown as { Spec: { Labels: Record<string, string> } }[]
  return list.flatMap((s) => [
    ...(JSON.parse(s.Spec.Labels['bannou.specs'] ?? '[]') as { hostPorts: number[] }[]).flatMap((u) => u.hostPorts),
    ...(JSON.parse(s.Spec.Labels['bannou.alt-ports'] ?? '[]') as number[]),
  ])
}

/** The ports an app's swarm tasks listen on now (BANNOU_PORTS of the service's current spec). */
export async function activeServicePorts(docker: Docker, env: string, app: string): Promise<number[]> {
  const list = (await docker.listServices({ filters: { label: ['bannou.managed=true', `bannou.environment=${env}`, `bannou.app=${app}`, 'bannou.role=app'] } })) as unknown as { Spec: { TaskTemplate: { ContainerSpec: { Env?: string[] } } } }[]
  return list.flatMap((s) => (s.Spec.TaskTemplate.ContainerSpec.Env ?? []).filter((e) => e.startsWith('BANNOU_PORTS=')).flatMap((e) => e.slice(13).split(',').map(Number)))
}

/** The sample image has node: a Docker health check that asks the instance's own /health. */
export const NODE_HEALTHCHECK = JSON.stringify([
  '/usr/bin/node',
  '-e',
  "const p=(process.env.BANNOU_PORTS||'').split(',')[Number(process.env.BANNOU_TaskSlot||1)-1]||process.env.PORT;require('http').get('http://127.0.0.1:'+p+'/health',r=>process.exit(r.statusCode===200?0:1)).on('error',()=>process.exit(1))",
])

/** Resolves once every port answers /health with 200 (a deploy returns when tasks started, not when all are healthy). */
export async function allAnswer(ports: () => Promise<number[]>, timeoutMs = 30_000): Promise<boolean> {
  const until = Date.now() + timeoutMs
  while (Date.now() < until) {
    const list = await ports()
    const ok = await Promise.all(list.map((p) => fetch(`http://127.0.0.1:${p}/health`, { signal: AbortSignal.timeout(1000) }).then((r) => r.status === 200, () => false)))
    if (list.length && ok.every(Boolean)) return true
    await new Promise((r) => setTimeout(r, 100))
  }
  return false
}
