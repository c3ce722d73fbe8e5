import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    // Image work is CPU-bound: two forks on two cores, long enough timeouts for real encodes.
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    projects: [
      // `npm run test:unit`: next to the code, no server and no child process; seconds, not minutes.
      { extends: true, test: { name: 'unit', include: ['src/**/*.test.ts'] } },
      // Contracts, end to end, real services (each skips itself without its variable), faults.
      { extends: true, test: { name: 'system', include: ['test/**/*.test.ts'] } },
    ],
  },
})
