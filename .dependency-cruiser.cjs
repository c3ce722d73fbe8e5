/**
 * The import rules of src/ (docs/architecture.md explains each layer). `npm test` runs this check;
 * `npm run deps` runs it alone. A layer may import the layers below it and never one above; folders
 * in the same layer do not import each other, except where SIBLINGS says so. Tests are exempt:
 * they may reach anything to set a scene.
 */
const LAYERS = [
  // 0 ground floor: imports nothing of ours. `lib` holds small mechanisms with no domain meaning
  // that several ports share (a circuit breaker), so that ports need not import each other.
  ['domain', 'errors', 'lib'],
  // 1 configuration: the schema and loadConfig(env)
  ['config'],
  // 2 ports and their drivers, each a seam to one kind of system. `purge` is the CDN purger (nginx's
  // cache folder, CloudFront); `imaging` is the sharp code both the worker and the transforms run
  // (encoder settings, watermark, libvips error mapping), so neither imports the other.
  [
    'db',
    'storage',
    'queue',
    'metadata',
    'cache',
    'ratelimit',
    'auth',
    'observability',
    'purge',
    'imaging',
    // The admin audit log: its own table in the control database, opened like auth's.
    'audit',
  ],
  // 3 use cases, shared by the HTTP API, the worker process and the command line. `capacity` is
  // the capacity plan and the worker scaling rule: pure arithmetic on measured figures, used by
  // `pixelflow plan` and replayed by bench/capacity, so it sits with the use cases the CLI calls.
  // `reconcile` is the sweep that moves or fails images nothing else will move (stuck, or whose
  // job died in the broker): it reads the shards and the dead queue, like relay and worker.
  // `maintenance` is the operator's jobs over stored data: the orphaned-object collector, an
  // owner's erasure, backups; it works on the ports directly, like `sharding`.
  // `events` is the live stream read from each shard's event outbox; `webhooks` delivers the same
  // events to owners' endpoints from a durable outbox; `uploads` is resumable (tus) and
  // direct-to-object-store uploads and upload tokens, landing in `images`' pipeline through start/.
  [
    'images',
    'sharding',
    'relay',
    'worker',
    'events',
    'webhooks',
    'uploads',
    'transforms',
    'capacity',
    'reconcile',
    'maintenance',
  ],
  // 4 the ways in: HTTP and the command line
  ['api', 'cli'],
  // 5 entry points and the composition root
  ['start'],
]

/** Same-layer imports that are allowed, and why. */
const SIBLINGS = {
  // The image model uses error codes in its checks; errors import nothing.
  domain: ['errors'],
  // The outbound URL guard (lib/ssrf) refuses with stable error codes; errors import nothing.
  lib: ['errors'],
  // Both keep their tables in a database opened the same way (SQLite file or PostgreSQL URL).
  metadata: ['db'],
  auth: ['db'],
  audit: ['db'],
}

const layerOf = (folder) => LAYERS.findIndex((layer) => layer.includes(folder))
const alternatives = (folders) => `^src/(${folders.join('|')})/`

const layerRules = LAYERS.flat().map((folder) => {
  const level = layerOf(folder)
  const allowed = new Set([folder, ...(SIBLINGS[folder] ?? [])])
  const forbidden = LAYERS.flat().filter((other) => !allowed.has(other) && layerOf(other) >= level)
  return {
    name: `layer-${folder}`,
    comment: `src/${folder} (layer ${level}) may import only layers below it${
      SIBLINGS[folder] ? ` and ${SIBLINGS[folder].join(', ')}` : ''
    }: not ${forbidden.join(', ')}`,
    severity: 'error',
    from: { path: `^src/${folder}/`, pathNot: '\\.test\\.ts$' },
    to: { path: alternatives(forbidden) },
  }
})

module.exports = {
  forbidden: [
    ...layerRules,
    {
      name: 'no-circular',
      comment:
        'A cycle between modules: one of them belongs lower, or the shared part in its own module.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'no-folder-cycles',
      comment: 'Two folders that import each other are one layer pretending to be two.',
      severity: 'error',
      scope: 'folder',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'api-not-worker',
      comment:
        'The worker pipeline loads every sharp encoder; the API reads headers only (images/read-header).',
      severity: 'error',
      from: { path: '^src/api/' },
      to: { path: '^src/worker/' },
    },
    {
      name: 'src-not-from-tests',
      comment: 'Production code never imports test or bench code.',
      severity: 'error',
      from: { path: '^src/', pathNot: '\\.test\\.ts$' },
      to: { path: '^(test|bench|scripts)/' },
    },
    {
      name: 'packages-speak-http',
      comment:
        'The client and web UI packages talk to the server over HTTP only, never through src/.',
      severity: 'error',
      from: { path: '^packages/' },
      to: { path: '^src/' },
    },
    {
      name: 'unknown-folder',
      comment:
        'Every folder of src/ has a layer: add a new one to LAYERS in .dependency-cruiser.cjs.',
      severity: 'error',
      from: { path: '^src/', pathNot: alternatives(LAYERS.flat()) },
      to: {},
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    // Tests are not part of the layering: they set scenes with whatever they need.
    exclude: { path: ['(^|/)node_modules/', '\\.test\\.ts$'] },
  },
}
