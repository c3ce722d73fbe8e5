import { parseArgs } from 'node:util'
import { eraseOwner, unfinishedErasures } from '../maintenance/erase.js'
import type { MaintenanceDeps } from './gc.js'

type Out = (line: string) => void

export const OWNERS_USAGE = `  owners erase <owner-id>        erase every image (rows, objects, cache entries) and API key of
                                 an owner; an interrupted erasure continues when run again
  owners erase --unfinished      list erasures that were interrupted`

export async function ownersCommand(
  deps: MaintenanceDeps,
  args: string[],
  out: Out,
): Promise<number> {
  const { positionals, values } = parseArgs({
    args,
    options: { unfinished: { type: 'boolean' } },
    allowPositionals: true,
  })
  const [action, ownerId] = positionals
  if (action !== 'erase') return usage()
  if (values.unfinished) {
    out(JSON.stringify(await unfinishedErasures(deps.authTables), null, 2))
    return 0
  }
  if (!ownerId) return usage()
  let erased = 0
  const report = await eraseOwner(
    {
      metadata: deps.metadata,
      store: deps.store,
      control: deps.authTables,
      cache: deps.cache,
      // CDN purge: none is integrated; a CdnPurge passed here would be called per image.
      onErased: () => {
        erased++
        if (erased % 100 === 0) out(`  ${erased} images erased…`)
      },
    },
    ownerId,
  )
  out(
    `${report.resumed ? 'Resumed and finished' : 'Finished'} erasing ${ownerId}: ${report.images} images, ${report.apiKeys} API keys revoked and deleted`,
  )
  return 0

  function usage(): number {
    process.stderr.write(`Usage:\n${OWNERS_USAGE}\n`)
    return 2
  }
}
