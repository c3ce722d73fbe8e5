/**
 * The process settings that every way of starting the one-process service gives it: `npm start`
 * (package.json) and the container image (Dockerfile), whose default command is `serve`; compose
 * and Kubernetes run that image. glibc and V8 read them before any JavaScript runs, so they cannot
 * be set from inside Node. test/deploy/process-env.test.ts checks both places against this list,
 * and the memory and corpus benches start the service with it. An environment value you set
 * yourself wins (docs/operations.md, "Memory").
 *
 * Each one's share of the `npm start` peak (issue 16's target is 300 MB, the whole process tree)
 * is in docs/operations.md; in short:
 *   MALLOC_ARENA_MAX=2           glibc gives each libvips thread its own arena and keeps what was
 *                                freed in it: 522–551 → 402–418 MB on the worker bench.
 *   MALLOC_MMAP_THRESHOLD_=131072  every buffer above 128 KB is mapped on its own and handed back
 *                                when freed (by default the threshold rises as libvips frees
 *                                decoded images, which then stay in the heap).
 *   --max-semi-space-size=2      V8's young generation grows to 16 MB semi-spaces while the app
 *                                starts (schemas compiled, routes built) and never shrinks: idle
 *                                RSS 146 → 120 MB. The upload bench showed no cost in req/s or CPU.
 */
export const PROCESS_ENV = {
  MALLOC_ARENA_MAX: '2',
  MALLOC_MMAP_THRESHOLD_: '131072',
  NODE_OPTIONS: '--max-semi-space-size=2',
} as const
