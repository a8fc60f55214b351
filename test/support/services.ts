import { spawn, spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { connect } from 'node:net'

/** Polls `probe` until it resolves true or the deadline passes; no fixed sleeps. */
export async function waitFor(probe: () => Promise<boolean>, timeoutMs: number, intervalMs = 200): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await probe().catch(() => false)) return true
    await new Promise((r) => setTimeout(r, intervalMs))
  }
  return false
}

export const tcpOpen = (port: number, host = '127.0.0.1') =>
  new Promise<boolean>((resolve) => {
    const s = connect(port, host)
    s.setTimeout(1000)
    s.once('connect', () => (s.destroy(), resolve(true)))
    s.once('error', () => resolve(false))
    s.once('timeout', () => (s.destroy(), resolve(false)))
  })

export const which = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0

export function startDetached(cmd: string, args: string[], logFile?: string) {
  const child = spawn(cmd, args, { detached: true, stdio: logFile ? ['ignore', 'ignore', 'ignore'] : 'ignore' })
  child.unref()
  return child
}

export const DOCKER_SOCKET = '/run/bannou-docker.sock'
export const DOCKER_HOST = `unix://${DOCKER_SOCKET}`

export async function dockerAnswers(): Promise<boolean> {
  if (!existsSync(DOCKER_SOCKET)) return false
  return new Promise((resolve) => {
    const s = connect(DOCKER_SOCKET)
    s.setTimeout(2000)
    s.once('connect', () => s.write('GET /_ping HTTP/1.0\r\n\r\n'))
    s.once('data', (d) => (s.destroy(), resolve(d.toString().includes('200 OK'))))
    s.once('error', () => resolve(false))
    s.once('timeout', () => (s.destroy(), resolve(false)))
  })
}
