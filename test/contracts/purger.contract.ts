import { afterEach, describe, expect, it } from 'vitest'
import type { Purger } from '../../src/purge/purger.js'

export interface PurgerContractSetup {
  /** A purger on a fresh scene (its own cache folder, distribution…). */
  open(): Promise<Purger>
  /** Makes `path` cached where the test can (nginx: its files); absent when it cannot. */
  seed?(path: string): Promise<void>
  /** Whether every cached copy of `path` is gone or handed to the CDN; absent for `none`. */
  purged?(path: string): Promise<boolean>
}

/**
 * What every purger keeps: a purge of what was never cached resolves; the copies of an explicit
 * and of a negotiated path go (every Accept token's); close sends what is still batched, so a
 * purge that was started resolves, and a purge after close is refused.
 */
export function describePurger(name: string, setup: PurgerContractSetup): void {
  describe(`${name}: Purger contract`, () => {
    const opened: Purger[] = []
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((purger) => purger.close()))
    })
    async function open(): Promise<Purger> {
      const purger = await setup.open()
      opened.push(purger)
      return purger
    }
    const unique = () => Math.random().toString(36).slice(2, 12)

    it('resolves for paths that were never cached, and for no path at all', async () => {
      const purger = await open()
      const id = unique()
      await expect(
        purger.purge([`/i/${id}/thumb.webp`, `/i/${id}/thumb`, `/t/_/w:10/${id}`]),
      ).resolves.toBeUndefined()
      await expect(purger.purge([])).resolves.toBeUndefined()
    })

    it('refuses what is not a URL path', async () => {
      const purger = await open()
      for (const bad of ['i/x/thumb.webp', '/i/x/thumb.webp?sig=1', 'https://cdn/i/x/thumb.webp'])
        await expect(purger.purge([bad]), bad).rejects.toThrow(/not a URL path/)
    })

    it.skipIf(!setup.purged)(
      "removes an explicit path's copy and every Accept token's copy of a negotiated path",
      async () => {
        const purger = await open()
        const id = unique()
        const paths = [`/i/${id}/thumb.webp`, `/i/${id}/medium`, `/t/sig/w:100/${id}`]
        const kept = `/t/sig/w:200/${id}.webp`
        for (const path of [...paths, kept]) await setup.seed?.(path)
        await purger.purge(paths)
        for (const path of paths) expect(await setup.purged!(path), path).toBe(true)
        if (setup.seed) expect(await setup.purged!(kept), kept).toBe(false)
      },
    )

    it('close sends what is still batched: a purge in progress resolves', async () => {
      const purger = await setup.open()
      const path = `/t/sig/w:300/${unique()}.webp`
      await setup.seed?.(path)
      const purging = purger.purge([path])
      await purger.close()
      await expect(purging).resolves.toBeUndefined()
      if (setup.purged) expect(await setup.purged(path)).toBe(true)
    })

    it('refuses a purge after close', async () => {
      const purger = await setup.open()
      await purger.close()
      await expect(purger.purge(['/i/x/thumb.webp'])).rejects.toThrow(/closed/)
    })
  })
}
