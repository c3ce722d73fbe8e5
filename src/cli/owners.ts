import type { Command } from 'commander'
import { createApiKeys } from '../auth/api-keys.js'
import { eraseOwner, unfinishedErasures } from '../maintenance/erase.js'
import { EXIT, type MaintenanceDeps, type Scope } from './command.js'

type Out = (line: string) => void

export function registerOwners(program: Command, scope: Scope): void {
  const owners = program.command('owners').description("erase an owner's data")
  const erase = owners
    .command('erase')
    .summary('erase every image and API key of an owner')
    .description(
      'erase every image (rows, objects, cache entries) and API key of an owner; an interrupted ' +
        'erasure continues when run again',
    )
    .argument('[owner-id]', 'the owner to erase')
    .option('--unfinished', 'list erasures that were interrupted instead')
  erase.action(
    scope.run(async (ownerId: string | undefined, options: { unfinished?: boolean }) => {
      if (!options.unfinished && !ownerId)
        erase.error("error: missing required argument 'owner-id' (or --unfinished)")
      return scope.withMaintenance(async (deps) => {
        if (options.unfinished) {
          scope.out(JSON.stringify(await unfinishedErasures(deps.authTables), null, 2))
          return EXIT.ok
        }
        return eraseOne(deps, ownerId as string, scope.out)
      })
    }),
  )
}

async function eraseOne(deps: MaintenanceDeps, ownerId: string, out: Out): Promise<number> {
  let erased = 0
  const report = await eraseOwner(
    {
      metadata: deps.metadata,
      store: deps.store,
      control: deps.authTables,
      // This process serves no requests: a key service of its own has nothing cached to forget.
      apiKeys: createApiKeys(deps.authTables),
      cache: deps.cache,
      purge: deps.purge,
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
  return EXIT.ok
}
