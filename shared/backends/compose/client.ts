import Docker from 'dockerode'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { LABELS } from '../types.ts'

/**
 * dockerode client for ORCHESTRATOR_DOCKER_HOST: unix:///path, or tcp://host:port with TLS
 * material (ca.pem, cert.pem, key.pem) from ORCHESTRATOR_DOCKER_TLS_CERT_PATH.
 */
export function dockerClient(host: string, tlsCertPath?: string): Docker {
  const u = new URL(host)
  if (u.protocol === 'unix:') return new Docker({ socketPath: u.pathname })
  if (u.protocol === 'npipe:') return new Docker({ socketPath: host.replace(/^npipe:\/\//, '') })
  const tls = tlsCertPath
    ? {
        protocol: 'https' as const,
        ca: readFileSync(join(tlsCertPath, 'ca.pem')),
        cert: readFileSync(join(tlsCertPath, 'cert.pem')),
        key: readFileSync(join(tlsCertPath, 'key.pem')),
      }
    : { protocol: (u.protocol === 'https:' ? 'https' : 'http') as 'https' | 'http' }
  return new Docker({ host: u.hostname, port: Number(u.port || (tls.protocol === 'https' ? 2376 : 2375)), ...tls })
}

/** Splits Docker's multiplexed (non-TTY) log stream: 8-byte header [stream, 0,0,0, size u32be]. */
export function createDemuxer(onFrame: (stream: 'stdout' | 'stderr', text: string) => void) {
  let buf: Buffer = Buffer.alloc(0)
  return (chunk: Buffer) => {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk
    while (buf.length >= 8) {
      const size = buf.readUInt32BE(4)
      if (buf.length < 8 + size) break
      const kind = buf[0] === 2 ? 'stderr' : 'stdout'
      onFrame(kind, buf.subarray(8, 8 + size).toString('utf8'))
      buf = buf.subarray(8 + size)
    }
  }
}

/**
 * The labelled network units attach to, created on first use unless it exists (a bridge for
 * a single engine, an attachable overlay for a swarm; on `subnet` when given). Nothing to do
 * with host networking. An existing network is used as it is.
 * One attempt at a time; a failed attempt is tried again on the next ensure().
 */
export function managedNetwork(docker: Docker, name: string, driver: 'bridge' | 'overlay', subnet?: string) {
  let ready: Promise<void> | undefined
  const ensure = async () => {
    if (name === 'host') return
    const existing = await docker.listNetworks({ filters: { name: [name] } })
    if (existing.some((n) => n.Name === name && (driver === 'bridge' || n.Scope === 'swarm'))) return
    await docker
      .createNetwork({
        Name: name,
        Driver: driver,
        ...(driver === 'overlay' ? { Attachable: true } : {}),
        ...(subnet ? { IPAM: { Driver: 'default', Config: [{ Subnet: subnet }] } } : {}),
        Labels: { [LABELS.managed]: 'true' },
      })
      .catch((e: { statusCode?: number }) => {
        // Created meanwhile by another orchestrator process.
        if (e.statusCode !== 409) throw e
      })
  }
  return {
    ensure: () =>
      (ready ??= ensure().catch((e) => {
        ready = undefined
        throw e
      })),
    /** After the network was removed (clean): the next ensure() looks again. */
    forget: () => {
      ready = undefined
    },
  }
}
