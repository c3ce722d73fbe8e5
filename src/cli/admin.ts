import { type Command, InvalidArgumentError, Option } from 'commander'
import { DEFAULT_ROTATION_GRACE_SECONDS, MAX_ROTATION_GRACE_SECONDS } from '../auth/api-keys.js'
import { type Scope as KeyScope, parseScopes, SCOPES } from '../auth/principal.js'
import { redriveDead } from '../queue/redrive.js'
import { acceptDashedKeyIds, EXIT, type Scope, wholeNumber } from './command.js'
import { parseDurationSeconds } from './duration.js'

/** `pixelflow keys|migrate|dead …`: API keys, schema migrations and the dead-letter queue. */
export function registerAdmin(program: Command, scope: Scope): void {
  registerKeys(program, scope)
  program
    .command('migrate')
    .description('create or update every shard and the control database')
    .action(
      scope.run(() =>
        scope.withDeps({}, async (deps) => {
          scope.out(`Migrated ${deps.metadata.shards().length} shards and the control database.`)
          return EXIT.ok
        }),
      ),
    )
  registerDead(program, scope)
}

function registerKeys(program: Command, scope: Scope): void {
  const keys = program.command('keys').description('create, list, revoke and rotate API keys')
  keys
    .command('create')
    .description('create an API key for an owner; prints it once')
    .requiredOption('--owner <id>', 'the owner the key acts for')
    .option('--scopes <list>', `comma-separated, of ${SCOPES.join(', ')} (default: all)`, scopes)
    .action(
      scope.run((options: { owner: string; scopes?: KeyScope[] }) =>
        scope.withDeps({}, async (deps) => {
          scope.out((await deps.apiKeys.create(options.owner, options.scopes)).key)
          return EXIT.ok
        }),
      ),
    )
  keys
    .command('list')
    .description('list keys (ids, owners, scopes, revocation), never secrets')
    .option('--owner <id>', 'only this owner’s keys')
    .action(
      scope.run((options: { owner?: string }) =>
        scope.withDeps({}, async (deps) => {
          scope.out(JSON.stringify(await deps.apiKeys.list(options.owner), null, 2))
          return EXIT.ok
        }),
      ),
    )
  acceptDashedKeyIds(
    keys
      .command('revoke')
      .description('stop a key at once')
      .argument('<key-id>', 'the id of the key (the part after pf_)'),
  ).action(
    scope.run((id: string) =>
      scope.withDeps({}, async (deps) => {
        if (await deps.apiKeys.revoke(id)) {
          scope.out(`Revoked ${id}`)
          return EXIT.ok
        }
        scope.err(`No active key ${id}`)
        return EXIT.failed
      }),
    ),
  )
  acceptDashedKeyIds(
    keys
      .command('rotate')
      .summary('issue a new key; the old one keeps working for a grace period')
      .description(
        'issue a new key with the same owner and scopes; the old one keeps working for the ' +
          'grace period, then stops (revoke stops it at once)',
      )
      .argument('<key-id>', 'the id of the key (the part after pf_)')
      .addOption(
        new Option(
          '--grace-seconds <duration>',
          'how long the old key keeps working: seconds, or 45s, 30m, 1h, 2d; at most 30d',
        )
          .argParser(grace)
          .default(DEFAULT_ROTATION_GRACE_SECONDS, '1d'),
      ),
  ).action(
    scope.run((id: string, options: { graceSeconds: number }) =>
      scope.withDeps({}, async (deps) => {
        const fresh = await deps.apiKeys.rotate(id, options.graceSeconds * 1000)
        if (fresh) {
          scope.out(fresh.key)
          return EXIT.ok
        }
        scope.err(`No active key ${id}`)
        return EXIT.failed
      }),
    ),
  )
}

function registerDead(program: Command, scope: Scope): void {
  const dead = program.command('dead').description('dead-lettered jobs: list them, redrive one')
  dead
    .command('list')
    .description('list dead-lettered jobs with their error history')
    .option('--limit <n>', 'at most this many', wholeNumber(1), 50)
    .action(
      scope.run((options: { limit: number }) =>
        scope.withDeps({}, async (deps) => {
          scope.out(JSON.stringify(await deps.queue.listDead(options.limit), null, 2))
          return EXIT.ok
        }),
      ),
    )
  dead
    .command('redrive')
    .description('put a dead job back in the queue')
    .argument('<job-id>')
    .action(
      scope.run((id: string) =>
        scope.withDeps({}, async (deps) => {
          const { redriven, error } = await redriveDead(deps.queue, [id], 1)
          if (error) throw error
          scope.out(redriven.length === 1 ? `Redriven ${id}` : `No dead job ${id}`)
          return EXIT.ok
        }),
      ),
    )
}

function scopes(text: string): KeyScope[] {
  const parsed = parseScopes(text)
  if (parsed.length === 0)
    throw new InvalidArgumentError(`unknown scopes (known: ${SCOPES.join(', ')})`)
  return parsed
}

function grace(text: string): number {
  try {
    return parseDurationSeconds(text, MAX_ROTATION_GRACE_SECONDS)
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message)
  }
}
