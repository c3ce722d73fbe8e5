import { defineConfig } from 'vitest/config'

/**
 * The reliability soak runs only when asked (`npm run soak`, see bench/soak/README.md): the
 * project's vitest config includes src/ and test/ only, so `npm test` never picks this up.
 */
export default defineConfig({
  test: {
    include: ['bench/soak/*.soak.ts'],
    testTimeout: 3 * 60 * 60 * 1000,
    hookTimeout: 120_000,
    fileParallelism: false,
  },
})
