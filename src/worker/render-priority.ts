import { readdirSync, readFileSync } from 'node:fs'
import { getPriority, setPriority } from 'node:os'

/** libvips names the threads of its pool so (glib's g_thread_new name, cut to 15 bytes by Linux). */
const RENDER_THREAD = 'libvips worker'

/**
 * Lowers the CPU priority of libvips' render threads to `nice`, now and every `intervalMs` (its
 * pool starts threads when an image needs them). In the one-process mode the API's event loop and
 * the renders share the cores: at equal priority a render running on every core delays the loop
 * by whole scheduler slices, and every request waits behind it. At nice 10 the kernel gives the
 * loop the CPU first whenever it has work and the renders everything it leaves, so an idle API
 * costs them nothing. Linux only (threads have their own nice value there); elsewhere it does
 * nothing. Raising a nice value needs no privilege.
 */
export function lowerRenderPriority(nice: number, intervalMs: number): { stop(): void } {
  if (process.platform !== 'linux' || nice <= 0) return { stop() {} }
  const lower = () => {
    for (const tid of renderThreads()) {
      try {
        if (getPriority(tid) < nice) setPriority(tid, nice)
      } catch {
        // The thread ended between the listing and here.
      }
    }
  }
  lower()
  const timer = setInterval(lower, intervalMs).unref()
  return { stop: () => clearInterval(timer) }
}

function renderThreads(): number[] {
  const threads: number[] = []
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      if (readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trimEnd() === RENDER_THREAD)
        threads.push(Number(tid))
    } catch {
      // The thread ended between the listing and here.
    }
  }
  return threads
}
