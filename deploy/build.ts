import { build as esbuild, type BuildOptions, type Plugin } from 'esbuild'
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { builtinModules } from 'node:module'
import { basename, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import { functions } from '../functions/index.ts'
import type { AnyFunction } from '../shared/function.ts'
import { generatedFile, renderBuiltinPresets } from './gen-presets.ts'
import { errorMessage } from '../shared/errors.ts'

/**
 * `npm run build`: one ESM bundle per function (dist/functions/<name>.mjs), the scheduler
 * function (dist/scheduler.mjs), the combined Node server (dist/server.mjs) and
 * dist/functions/manifest.json. Edge bundles are built for workerd and fail the build if
 * anything in them reaches for a Node built-in or a Node-only client library.
 */
export const repoRoot = fileURLToPath(new URL('..', import.meta.url))
const NODE_ONLY_PACKAGES = ['ioredis', 'amqplib', 'dockerode', '@kubernetes/client-node', 'ssh2', 'docker-modem', '@hono/node-server']
const NODE_BUILTINS = new Set(builtinModules)

export interface BundleInfo {
  file: string
  bytes: number
  gzipBytes: number
}
export interface FunctionEntry extends BundleInfo {
  name: string
  method: string
  path: string
  aliases: { method: string; path: string }[]
  permission: string
  runtime: 'edge' | 'node'
}
export interface Manifest {
  functions: FunctionEntry[]
  scheduler: BundleInfo & { runtime: 'edge'; method: 'POST'; path: string }
  server: BundleInfo & { runtime: 'node' }
}

export class EdgeImportError extends Error {
  override name = 'EdgeImportError'
}

const packageOf = (spec: string) => (spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!)

/** Fails an edge build at the first Node-only import, naming the bundle, the module and who imported it. */
function edgeGuard(bundle: string): Plugin {
  return {
    name: 'edge-guard',
    setup(b) {
      const importedBy = new Map<string, string>()
      b.onResolve({ filter: /.*/ }, (args) => {
        if (args.path.startsWith('.') && args.importer) importedBy.set(resolve(args.resolveDir, args.path), args.importer)
        const spec = args.path
        const isBuiltin = spec.startsWith('node:') || NODE_BUILTINS.has(spec) || NODE_BUILTINS.has(packageOf(spec))
        if (!isBuiltin && !NODE_ONLY_PACKAGES.includes(packageOf(spec))) return undefined
        const chain: string[] = []
        for (let at: string | undefined = args.importer; at && chain.length < 20; at = importedBy.get(at)) chain.push(relative(repoRoot, at) || at)
        const text =
          `edge bundle "${bundle}" imports the Node-only module "${spec}" (import chain: ${chain.join(' <- ')}). ` +
          `Edge functions must run on workerd: mark the function runtime: 'node' in its definition, or reach that capability through ctx.platform.`
        return { errors: [{ text }] }
      })
    },
  }
}

/**
 * Modules edge bundles get in place of the Node ones (as a package's "browser" field would):
 * the same exports, without the code that needs a container backend.
 */
const EDGE_SUBSTITUTES: Record<string, string> = {
  [join(repoRoot, 'scheduler/tasks.ts')]: join(repoRoot, 'scheduler/tasks-edge.ts'),
}

const edgeSubstitutes: Plugin = {
  name: 'edge-substitutes',
  setup(b) {
    b.onResolve({ filter: /^\./ }, (args) => {
      const substitute = EDGE_SUBSTITUTES[resolve(args.resolveDir, args.path)]
      return substitute ? { path: substitute } : undefined
    })
  },
}

const edgeOptions = (bundle: string): BuildOptions => ({
  platform: 'neutral',
  mainFields: ['browser', 'module', 'main'],
  conditions: ['workerd', 'worker', 'browser', 'import', 'default'],
  define: { 'process.env.NODE_ENV': '"production"' },
  plugins: [edgeSubstitutes, edgeGuard(bundle)],
})

/**
 * dockerode modules for features the orchestrator never uses, replaced in Node bundles by a
 * stub that says so: BuildKit sessions (gRPC + protobuf) and ssh:// engines (ssh2, which
 * ORCHESTRATOR_DOCKER_HOST does not accept). About 700 KB, 45% of the server bundle.
 */
const UNUSED_DOCKER_MODULES: { dir: string; file: string; feature: string }[] = [
  { dir: 'dockerode/lib', file: './session', feature: 'BuildKit build sessions' },
  { dir: 'dockerode/lib', file: './buildkit', feature: 'BuildKit build sessions' },
  { dir: 'docker-modem/lib', file: './ssh', feature: 'ssh:// Docker hosts' },
]

const withoutUnusedDockerFeatures: Plugin = {
  name: 'without-unused-docker-features',
  setup(b) {
    b.onResolve({ filter: /^\.\/(session|buildkit|ssh)$/ }, (args) => {
      const hit = UNUSED_DOCKER_MODULES.find((m) => m.file === args.path && args.importer.replaceAll('\\', '/').includes(`node_modules/${m.dir}/`))
      return hit ? { path: hit.feature, namespace: 'unused-docker-feature' } : undefined
    })
    b.onLoad({ filter: /.*/, namespace: 'unused-docker-feature' }, (args) => ({
      contents: `module.exports = function () { throw new Error(${JSON.stringify(`${args.path} are not part of the orchestrator build`)}) }`,
      loader: 'js',
    }))
  },
}

const nodeOptions: BuildOptions = {
  platform: 'node',
  plugins: [withoutUnusedDockerFeatures],
  target: 'node20',
  // CommonJS dependencies (ioredis, amqplib, dockerode) call require() and read __dirname; give the ESM bundle real ones.
  banner: {
    js: [
      "import { createRequire as __bannouRequire } from 'node:module'",
      "import { fileURLToPath as __bannouPath } from 'node:url'",
      "import { dirname as __bannouDir } from 'node:path'",
      'const require = __bannouRequire(import.meta.url)',
      'const __filename = __bannouPath(import.meta.url)',
      'const __dirname = __bannouDir(__filename)',
    ].join(';'),
  },
  // Native add-ons are loaded in try/catch by their packages; leave them out.
  external: ['cpu-features', '*.node'],
}

async function bundle(entry: string, outfile: string, options: BuildOptions, minify: boolean): Promise<BundleInfo> {
  const result = await esbuild({
    stdin: { contents: entry, resolveDir: repoRoot, sourcefile: `${basename(outfile, ".mjs")}.entry.ts`, loader: 'ts' },
    bundle: true,
    format: 'esm',
    target: 'es2022',
    outfile,
    minify,
    legalComments: 'none',
    logLevel: 'silent',
    ...options,
  })
  if (result.errors.length > 0) throw new Error(result.errors.map((e) => e.text).join('\n'))
  const code = await readFile(outfile)
  return { file: outfile, bytes: code.length, gzipBytes: gzipSync(code, { level: 9 }).length }
}

/** Builds one edge bundle from entry source (resolved from the repo root); rejects with the edge-guard message. */
export const bundleEdge = (bundleName: string, entry: string, outfile: string, minify = true) => bundle(entry, outfile, edgeOptions(bundleName), minify)

/** functions/<file>.ts -> the definition it exports, so each bundle imports only its own function. */
async function functionFiles(): Promise<Map<string, string>> {
  const dir = join(repoRoot, 'functions')
  const byName = new Map<string, string>()
  for (const file of (await readdir(dir)).filter((f) => f.endsWith('.ts') && f !== 'index.ts')) {
    const mod = (await import(join(dir, file))) as { default?: Partial<AnyFunction> }
    if (typeof mod.default?.name === 'string' && typeof mod.default.handler === 'function') byName.set(mod.default.name, join(dir, file))
  }
  return byName
}

const importPath = (abs: string) => JSON.stringify(abs.split('\\').join('/'))

export async function build(opts: { outDir: string; minify?: boolean }): Promise<Manifest> {
  const outDir = resolve(opts.outDir)
  const minify = opts.minify ?? true
  await mkdir(join(outDir, 'functions'), { recursive: true })
  const files = await functionFiles()
  const worker = importPath(join(repoRoot, 'deploy/worker.ts'))
  const platformNode = importPath(join(repoRoot, 'deploy/platform-node.ts'))

  const entries = await Promise.all(
    functions.map(async (fn): Promise<FunctionEntry> => {
      const file = files.get(fn.name)
      if (!file) throw new Error(`function "${fn.name}" is in functions/index.ts but no functions/*.ts file default-exports it`)
      const outfile = join(outDir, 'functions', `${fn.name}.mjs`)
      const info =
        fn.runtime === 'edge'
          ? await bundle(`import fn from ${importPath(file)}\nimport { createWorker } from ${worker}\nexport default createWorker([fn])\n`, outfile, edgeOptions(`functions/${fn.name}`), minify)
          : await bundle(
              `import fn from ${importPath(file)}\nimport { createWorker } from ${worker}\nimport { nodePlatform } from ${platformNode}\n` +
                `export default createWorker([fn], { platform: nodePlatform, defaultEnv: () => process.env })\n`,
              outfile,
              nodeOptions,
              minify,
            )
      const { name, method, path, permission, runtime } = fn
      return { name, method, path, aliases: fn.aliases ?? [], permission, runtime, ...info, file: relative(outDir, info.file) }
    }),
  )

  const schedulerEntry = `import { createSchedulerWorker } from ${importPath(join(repoRoot, 'deploy/scheduler-function.ts'))}\nexport default createSchedulerWorker()\n`
  const scheduler = await bundle(schedulerEntry, join(outDir, 'scheduler.mjs'), edgeOptions('scheduler'), minify)
  const server = await bundle(`import ${importPath(join(repoRoot, 'deploy/node-server.ts'))}\n`, join(outDir, 'server.mjs'), nodeOptions, minify)

  const manifest: Manifest = {
    functions: entries,
    scheduler: { ...scheduler, file: relative(outDir, scheduler.file), runtime: 'edge', method: 'POST', path: '/orchestrator/scheduler/run' },
    server: { ...server, file: relative(outDir, server.file), runtime: 'node' },
  }
  await writeFile(join(outDir, 'functions', 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n')
  return manifest
}

/** Regenerates presets/builtin.generated.ts when presets/*.yaml changed (workerd has no filesystem). */
export async function refreshBuiltinPresets(): Promise<boolean> {
  const next = await renderBuiltinPresets()
  const current = await readFile(generatedFile, 'utf8').catch(() => '')
  if (current === next) return false
  await writeFile(generatedFile, next)
  return true
}

const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  const outDir = process.argv[2] ?? join(repoRoot, 'dist')
  if (await refreshBuiltinPresets()) console.log('regenerated presets/builtin.generated.ts')
  try {
    const m = await build({ outDir })
    for (const f of m.functions) console.log(`${f.runtime.padEnd(4)}  ${f.file.padEnd(40)} ${kb(f.bytes).padStart(10)} ${kb(f.gzipBytes).padStart(10)} gzip  ${f.method} ${f.path}`)
    console.log(`edge  ${m.scheduler.file.padEnd(40)} ${kb(m.scheduler.bytes).padStart(10)} ${kb(m.scheduler.gzipBytes).padStart(10)} gzip  POST ${m.scheduler.path} + scheduled()`)
    console.log(`node  ${m.server.file.padEnd(40)} ${kb(m.server.bytes).padStart(10)} ${kb(m.server.gzipBytes).padStart(10)} gzip  combined server`)
    console.log(`manifest: ${join(outDir, 'functions', 'manifest.json')} (${(await stat(join(outDir, 'functions', 'manifest.json'))).size} bytes)`)
  } catch (e) {
    console.error(`build failed:\n${errorMessage(e)}`)
    process.exit(1)
  }
}
