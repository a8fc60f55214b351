import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/** `npm run bench -- <name> [--quick]` runs bench/<name>.ts. */
const [name, ...rest] = process.argv.slice(2)
const file = fileURLToPath(new URL(`./${name}.ts`, import.meta.url))
if (!name || !existsSync(file)) {
  console.error(`usage: npm run bench -- <name> [--quick]   (bench/<name>.ts; got ${name ?? 'nothing'})`)
  process.exit(2)
}
const r = spawnSync(process.execPath, ['--import', 'tsx', file, ...rest], { stdio: 'inherit' })
process.exit(r.status ?? 1)
