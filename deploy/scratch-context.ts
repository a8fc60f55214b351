import { execFileSync } from 'node:child_process'
import { chmod, copyFile, mkdir } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * Lays out the build context of deploy/Dockerfile.scratch: the machine's node binary, the
 * shared libraries it links (from ldd), and the server bundle. Returns the top-level entries
 * to send as the context (dockerode packs them into a tar stream).
 */
export function sharedLibraries(binary: string): string[] {
  const out = execFileSync('ldd', [binary], { encoding: 'utf8' })
  const libs = new Set<string>()
  for (const line of out.split('\n')) {
    // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)" or "/lib64/ld-linux-x86-64.so.2 (0x…)"
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line)
    if (m?.[1]) libs.add(m[1])
  }
  return [...libs]
}

export async function prepareScratchContext(contextDir: string, serverBundle: string, nodeBinary = '/usr/bin/node'): Promise<string[]> {
  const rootfs = join(contextDir, 'rootfs')
  for (const file of [nodeBinary, ...sharedLibraries(nodeBinary)]) {
    const target = join(rootfs, file)
    await mkdir(dirname(target), { recursive: true })
    await copyFile(file, target) // follows symlinks: the image gets the real files
  }
  await chmod(join(rootfs, nodeBinary), 0o755)
  await mkdir(join(rootfs, 'tmp'), { recursive: true })
  await chmod(join(rootfs, 'tmp'), 0o1777)
  await mkdir(join(contextDir, 'app'), { recursive: true })
  await copyFile(serverBundle, join(contextDir, 'app', 'server.mjs'))
  await copyFile(fileURLToPath(new URL('./Dockerfile.scratch', import.meta.url)), join(contextDir, 'Dockerfile'))
  return ['Dockerfile', 'rootfs', 'app']
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  const dir = resolve(process.argv[2] ?? 'dist/scratch-image')
  const bundle = resolve(process.argv[3] ?? 'dist/server.mjs')
  await prepareScratchContext(dir, bundle)
  console.log(`build context ready in ${dir} (run \`npm run build\` first if dist/server.mjs is stale)`)
}
