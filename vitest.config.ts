import { configDefaults, defineConfig } from 'vitest/config'

/**
 * This test restarts the machine's shared RabbitMQ (stop_app/start_app): run alongside other
 * RabbitMQ suites it makes them fail, so it runs in a group of its own, after the rest.
 */
const BROKER_RESTART = 'test/integration/queue.rabbitmq.test.ts'

export default defineConfig({
  test: {
    // Image work is CPU-bound: two forks on two cores, long enough timeouts for real encodes.
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    projects: [
      // `npm run test:unit`: next to the code, no server and no child process; seconds, not minutes.
      {
        extends: true,
        test: { name: 'unit', include: ['src/**/*.test.ts'], sequence: { groupOrder: 0 } },
      },
      // Contracts, end to end, real services (each skips itself without its variable), faults.
      {
        extends: true,
        test: {
          name: 'system',
          include: ['test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, BROKER_RESTART],
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: { name: 'broker-restart', include: [BROKER_RESTART], sequence: { groupOrder: 1 } },
      },
    ],
  },
})
