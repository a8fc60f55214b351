import * as v from 'valibot'

/** Services a Bannou container can host; each maps to `{SERVICE}_SERVICE_ENABLED`. */
export const KNOWN_SERVICES = ['accounts', 'auth', 'behavior', 'connect', 'permissions', 'website', 'testing', 'http-tester', 'edge-tester'] as const

const label = v.pipe(v.string(), v.regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'must be lowercase letters, digits and dashes (a DNS label)'))
const serviceName = v.pipe(v.string(), v.regex(/^[a-z][a-z0-9-]{0,62}$/, 'must be a lowercase service name'))

export const PresetNode = v.object({
  name: label,
  services: v.pipe(v.array(serviceName), v.minLength(1, 'must list at least one service')),
  replicas: v.optional(v.pipe(v.number(), v.integer('must be a whole number'), v.minValue(1, 'must be ≥ 1'), v.maxValue(100, 'must be ≤ 100')), 1),
  daprEnabled: v.optional(v.boolean('must be true or false'), false),
  daprAppId: v.optional(v.pipe(v.string(), v.regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a lowercase app id'))),
  image: v.optional(v.pipe(v.string(), v.minLength(1))),
  environment: v.optional(v.record(v.pipe(v.string(), v.regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'env names are letters, digits and _')), v.string())),
})

const InfrastructureEntry = v.object({
  enabled: v.optional(v.boolean('must be true or false'), true),
  image: v.optional(v.pipe(v.string(), v.minLength(1))),
  /** `host:port` of an existing server; the orchestrator checks it instead of starting a container. */
  external: v.optional(v.pipe(v.string(), v.regex(/^[^\s:]+:\d{1,5}$/, 'must be host:port'))),
  /** Port the container listens on (default 6379 / 5672 / 3306); on host networking it must not collide with a server on the machine. */
  port: v.optional(v.pipe(v.number('must be a port number'), v.integer('must be a whole number'), v.minValue(1, 'must be ≥ 1'), v.maxValue(65535, 'must be ≤ 65535'))),
})

export const Preset = v.pipe(
  v.object({
    name: v.optional(label),
    description: v.optional(v.string()),
    nodes: v.pipe(v.array(PresetNode), v.minLength(1, 'a preset needs at least one node')),
    infrastructure: v.optional(
      v.object({
        redis: v.optional(InfrastructureEntry),
        rabbitmq: v.optional(InfrastructureEntry),
        mysql: v.optional(InfrastructureEntry),
      }),
    ),
  }),
  v.check((p) => new Set(p.nodes.map((n) => n.name)).size === p.nodes.length, 'node names must be unique'),
)

export type PresetInput = v.InferInput<typeof Preset>
export type PresetNode = v.InferOutput<typeof PresetNode>

export interface ResolvedPreset {
  name: string
  description: string
  source: 'builtin' | 'user'
  file: string
  nodes: (PresetNode & { daprAppId: string })[]
  infrastructure: Partial<Record<'redis' | 'rabbitmq' | 'mysql', { enabled: boolean; image?: string; external?: string; port?: number }>>
}
