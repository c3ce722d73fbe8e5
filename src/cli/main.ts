import { Command, CommanderError } from 'commander'
import { registerAdmin } from './admin.js'
import { registerBackup } from './backup.js'
import { type CliContext, createScope, EXIT, type Role, type Scope } from './command.js'
import { registerDoctor } from './doctor.js'
import { registerGc } from './gc.js'
import { registerImages } from './images.js'
import { registerOwners } from './owners.js'
import { registerPlan } from './plan.js'
import { registerShards } from './shards.js'
import { registerUpload } from './upload.js'

export type { CliContext, CliDeps, CliIo, Role } from './command.js'

/**
 * The `pixelflow` command line. Resolves to the exit code, or to -1 when a role was started and
 * keeps the process running. A wrong command line (unknown command or option, a missing argument,
 * a bad value, or no command at all, which prints the help) exits 2; `--help` exits 0.
 */
export async function runCli(argv: string[], ctx: CliContext): Promise<number> {
  const exit = { code: EXIT.ok as number }
  const program = buildProgram(createScope(ctx, exit))
  try {
    await program.parseAsync(argv, { from: 'user' })
    return exit.code
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.usage
    throw error
  }
}

export function buildProgram(scope: Scope): Command {
  const { io } = scope.ctx
  // Set before any subcommand is added: `.command()` copies these settings to each.
  const program = new Command('pixelflow')
    .description(
      'Pixelflow: a self-hosted image upload and processing service. ' +
        'Environment: PIXELFLOW_* configures the service (README "Configuration"); the user ' +
        'commands read PIXELFLOW_URL and PIXELFLOW_API_KEY.',
    )
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .showHelpAfterError('(add --help for usage)')
    .helpCommand('help [command]', 'help for a command')

  program.commandsGroup('Run the service:')
  for (const [role, summary] of ROLES) {
    program
      .command(role)
      .description(summary)
      .action(scope.run(async () => startRole(scope, role)))
  }
  program.commandsGroup('Use a server (by URL and API key):')
  registerUpload(program, scope)
  registerImages(program, scope)
  program.commandsGroup('Operate an install (opens its databases):')
  registerAdmin(program, scope)
  registerDoctor(program, scope)
  registerShards(program, scope)
  registerGc(program, scope)
  registerOwners(program, scope)
  registerBackup(program, scope)
  program.commandsGroup('Plan:')
  registerPlan(program, scope)
  return program
}

const ROLES: [Role, string][] = [
  ['serve', 'API, outbox relay and workers in one process (npm start, the container default)'],
  ['api', 'the HTTP API and the outbox relay (PIXELFLOW_RELAY_ENABLED=false: API only)'],
  ['worker', 'job processing, with /healthz, /readyz and /metrics on PIXELFLOW_PORT'],
  ['relay', 'only the outbox relay (when the API runs without it)'],
]

async function startRole(scope: Scope, role: Role): Promise<number> {
  await scope.ctx.startRole(role)
  return -1
}
