import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { DOCKER_HOST, dockerAnswers, startDetached, tcpOpen, waitFor, which } from './services.ts'

/**
 * The suites run against the real Redis, RabbitMQ and Docker engine of this machine.
 * What is installed but not running is started (and stopped again afterwards); what is not
 * installed fails the run at once with the command that installs it. Nothing is skipped.
 */
const started: (() => void | Promise<void>)[] = []

const PIDFILE = '/run/bannou-docker.pid'
const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}
const pidOf = () => {
  try {
    return Number(readFileSync(PIDFILE, 'utf8')) || undefined
  } catch {
    return undefined
  }
}

async function ensureRedis() {
  if (await tcpOpen(6379)) return
  if (!which('redis-server')) throw new Error('Redis is not running on 127.0.0.1:6379 and redis-server is not installed: apt-get install -y redis-server')
  execFileSync('redis-server', ['--daemonize', 'yes', '--bind', '127.0.0.1', '--port', '6379', '--save', '', '--appendonly', 'no'])
  if (!(await waitFor(() => tcpOpen(6379), 15_000))) throw new Error('started redis-server but 127.0.0.1:6379 does not answer')
  started.push(() => void execFileSync('redis-cli', ['-p', '6379', 'shutdown', 'nosave']))
}

async function ensureRabbit() {
  if (await tcpOpen(5672)) return
  if (!which('rabbitmq-server')) throw new Error('RabbitMQ is not running on 127.0.0.1:5672 and is not installed: apt-get install -y rabbitmq-server')
  startDetached('rabbitmq-server', [])
  if (!(await waitFor(() => tcpOpen(5672), 90_000, 500))) throw new Error('started rabbitmq-server but 127.0.0.1:5672 does not answer after 90 s')
  started.push(() => void execFileSync('rabbitmqctl', ['stop']))
}

async function ensureDocker(): Promise<string | undefined> {
  if (await dockerAnswers()) return undefined
  if (!which('dockerd')) return 'dockerd is not installed: apt-get update && apt-get install -y docker.io (.ci/run does this)'
  // A daemon from a previous run may still be shutting down and holding the pidfile.
  const previous = pidOf()
  if (previous && !(await waitFor(async () => !alive(previous), 30_000, 200))) return `dockerd ${previous} (${PIDFILE}) neither answers nor exits`
  startDetached('dockerd', [
    '--host', DOCKER_HOST,
    '--data-root', '/var/lib/bannou-docker',
    '--exec-root', '/run/bannou-docker-exec',
    '--pidfile', '/run/bannou-docker.pid',
  ])
  if (!(await waitFor(dockerAnswers, 60_000, 300))) return `started dockerd on ${DOCKER_HOST} but it does not answer after 60 s`
  started.push(async () => {
    const pid = pidOf()
    if (!pid) return
    process.kill(pid, 'SIGTERM')
    // Wait for it to exit, so a run right after this one can start its own.
    await waitFor(async () => !alive(pid), 30_000, 200)
  })
  return undefined
}

export default async function setup() {
  await Promise.all([ensureRedis(), ensureRabbit()])
  const dockerProblem = await ensureDocker()
  // Fail at once with the reason rather than let every Docker suite fail on its own.
  if (dockerProblem) throw new Error(`The Docker engine the tests need is not available: ${dockerProblem}`)
  process.env.ORCHESTRATOR_TEST_DOCKER_HOST = DOCKER_HOST
  return async () => {
    for (const stop of started.reverse()) {
      try {
        await stop()
      } catch {
        /* already gone */
      }
    }
  }
}
