import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { Readable } from 'node:stream'
import { beforeEach, describe, expect, it } from 'vitest'
import type { ObjectStore } from '../../src/storage/object-store.js'
import { decodable, readAll, readObject } from '../../src/storage/read-all.js'

/** A stream that yields `chunks`, then fails: a client that disconnects mid-upload. */
export function failingStream(chunks: Buffer[], message = 'client went away'): Readable {
  return Readable.from(
    (async function* () {
      for (const chunk of chunks) yield chunk
      throw new Error(message)
    })(),
  )
}

async function getBytes(store: ObjectStore, key: string, range?: { start: number; end: number }) {
  const stream = await store.get(key, range)
  return stream && readAll(stream)
}

const ESCAPING_KEYS = ['../x', '/abs', 'a/../../b']

/** The ObjectStore port's promises (src/storage/object-store.ts), run against every driver. */
export function describeObjectStore(
  name: string,
  create: () => Promise<ObjectStore> | ObjectStore,
) {
  describe(`ObjectStore contract: ${name}`, () => {
    let store: ObjectStore
    beforeEach(async () => {
      store = await create()
    })

    it('answers null for a missing key, from get and head', async () => {
      expect(await store.get('missing/key')).toBeNull()
      expect(await store.head('missing/key')).toBeNull()
    })

    it('answers null for a key that is only a prefix of stored keys', async () => {
      await store.put('dir/child', Buffer.from('x'))
      expect(await store.head('dir')).toBeNull()
      expect(await store.get('dir')).toBeNull()
      expect(await readObject(store, 'dir')).toBeNull()
    })

    it('reads a whole object into memory (read where the store has it, else get), null when missing', async () => {
      const bytes = randomBytes(300_000)
      await store.put('whole/object.bin', bytes)
      expect((await readObject(store, 'whole/object.bin'))?.equals(bytes)).toBe(true)
      expect(await readObject(store, 'whole/missing.bin')).toBeNull()
      if (store.read) expect((await store.read('whole/object.bin'))?.equals(bytes)).toBe(true)
    })

    it('names a local file only for an object that exists, holding its bytes (decodable falls back to the bytes)', async () => {
      const bytes = randomBytes(40_000)
      await store.put('file/object.bin', bytes)
      const source = await decodable(store, 'file/object.bin')
      const read = typeof source === 'string' ? await readFile(source) : source
      expect(read?.equals(bytes)).toBe(true)
      expect(typeof source === 'string').toBe(store.localPath !== undefined)
      expect(await decodable(store, 'file/missing.bin')).toBeNull()
      await store.put('file/dir/child', Buffer.from('x'))
      expect(await decodable(store, 'file/dir')).toBeNull()
    })

    it('round-trips bytes and size from a Buffer', async () => {
      const bytes = randomBytes(70_000)
      expect(await store.put('a/buffer.bin', bytes)).toEqual({
        key: 'a/buffer.bin',
        size: bytes.length,
      })
      expect(await store.head('a/buffer.bin')).toEqual({ key: 'a/buffer.bin', size: bytes.length })
      expect((await getBytes(store, 'a/buffer.bin'))?.equals(bytes)).toBe(true)
    })

    it('round-trips bytes and size from a multi-chunk Readable', async () => {
      const chunks = [randomBytes(1000), randomBytes(65_536), randomBytes(3)]
      const whole = Buffer.concat(chunks)
      expect(await store.put('a/stream.bin', Readable.from(chunks))).toEqual({
        key: 'a/stream.bin',
        size: whole.length,
      })
      expect((await store.head('a/stream.bin'))?.size).toBe(whole.length)
      expect((await getBytes(store, 'a/stream.bin'))?.equals(whole)).toBe(true)
    })

    it('stores an empty object', async () => {
      expect(await store.put('empty', Buffer.alloc(0))).toEqual({ key: 'empty', size: 0 })
      expect((await getBytes(store, 'empty'))?.length).toBe(0)
    })

    it('reads an inclusive byte range exactly', async () => {
      const bytes = randomBytes(10_000)
      await store.put('ranged', bytes)
      for (const [start, end] of [
        [0, 0],
        [0, 99],
        [5000, 5009],
        [9990, 9999],
      ] as const) {
        const got = await getBytes(store, 'ranged', { start, end })
        expect(got?.equals(bytes.subarray(start, end + 1)), `bytes ${start}-${end}`).toBe(true)
      }
      // A range that runs past the end is the object's bytes up to its end (RFC 9110 §14.1.2):
      // the upload's header read asks for a prefix longer than many originals.
      expect((await getBytes(store, 'ranged', { start: 0, end: 262_143 }))?.equals(bytes)).toBe(
        true,
      )
    })

    it('replaces the bytes when a key is overwritten', async () => {
      await store.put('over', Buffer.from('first version, longer'))
      await store.put('over', Buffer.from('second'))
      expect((await getBytes(store, 'over'))?.toString()).toBe('second')
      expect((await store.head('over'))?.size).toBe(6)
    })

    it('deletes, and deleting again (or a missing key) is not an error', async () => {
      await store.put('gone', Buffer.from('x'))
      await store.delete('gone')
      expect(await store.head('gone')).toBeNull()
      await expect(store.delete('gone')).resolves.toBeUndefined()
      await expect(store.delete('never/existed')).resolves.toBeUndefined()
    })

    it('lists the keys under a prefix only, sorted', async () => {
      for (const key of ['img/1/b', 'img/1/a', 'img/1/sub/c', 'img/10/x', 'img/2/y', 'other']) {
        await store.put(key, Buffer.from(key))
      }
      expect(await store.list('img/1/')).toEqual(['img/1/a', 'img/1/b', 'img/1/sub/c'])
      expect(await store.list('img/')).toEqual([
        'img/1/a',
        'img/1/b',
        'img/1/sub/c',
        'img/10/x',
        'img/2/y',
      ])
      expect(await store.list('nothing/here/')).toEqual([])
    })

    it('lists nothing under a prefix that names an object', async () => {
      await store.put('file/a', Buffer.from('x'))
      expect(await store.list('file/a/')).toEqual([])
    })

    it('lists every key for the empty prefix', async () => {
      for (const key of ['b/2', 'a/1', 'c']) await store.put(key, Buffer.from(key))
      expect(await store.list('')).toEqual(['a/1', 'b/2', 'c'])
    })

    it.each(ESCAPING_KEYS)('refuses the key %j, which escapes the root', async (key) => {
      await expect(store.put(key, Buffer.from('x'))).rejects.toThrow()
      await expect(store.get(key)).rejects.toThrow()
      await expect(store.head(key)).rejects.toThrow()
      await expect(store.delete(key)).rejects.toThrow()
      await expect(store.list(`${key}/`)).rejects.toThrow()
    })

    it('leaves no object behind when the source stream fails midway', async () => {
      const put = store.put(
        'uploads/broken',
        failingStream([randomBytes(100_000), randomBytes(100_000)]),
      )
      await expect(put).rejects.toThrow('client went away')
      expect(await store.head('uploads/broken')).toBeNull()
      expect(await store.get('uploads/broken')).toBeNull()
      expect(await store.list('uploads/')).toEqual([])
    })

    it('keeps the previous bytes when an overwrite fails midway', async () => {
      await store.put('k/kept', Buffer.from('original'))
      await expect(store.put('k/kept', failingStream([randomBytes(50_000)]))).rejects.toThrow()
      expect((await getBytes(store, 'k/kept'))?.toString()).toBe('original')
      expect(await store.list('k/')).toEqual(['k/kept'])
    })

    it('scans the objects under a prefix with their size and age, in key order', async () => {
      const before = Date.now()
      await store.put('scan/1/a', Buffer.from('abc'))
      await store.put('scan/1/sub/b', Buffer.alloc(0))
      await store.put('scan/10/c', Buffer.from('c'))
      const after = Date.now()
      const entries = []
      for await (const entry of store.scan('scan/1/')) entries.push(entry)
      expect(entries.map((e) => [e.key, e.size])).toEqual([
        ['scan/1/a', 3],
        ['scan/1/sub/b', 0],
      ])
      for (const entry of entries) {
        // Some stores keep whole seconds (S3's LastModified): a second of slack either side.
        expect(entry.modifiedAt).toBeGreaterThanOrEqual(before - 1000)
        expect(entry.modifiedAt).toBeLessThanOrEqual(after + 1000)
      }
      const all = []
      for await (const entry of store.scan('')) all.push(entry.key)
      expect(all).toEqual(['scan/1/a', 'scan/1/sub/b', 'scan/10/c'])
      const none = []
      for await (const entry of store.scan('nothing/')) none.push(entry)
      expect(none).toEqual([])
    })

    // Optional in the port: only a store that keeps a least-recently-used budget (local disk).
    it('touch, where the store has it: a mark of use, never a write', async (ctx) => {
      const touch = store.touch?.bind(store)
      if (!touch) return ctx.skip()
      const bytes = randomBytes(1000)
      await store.put('touched/a', bytes)
      const before = Date.now()
      await touch('touched/a')
      const entries = []
      for await (const entry of store.scan('touched/')) entries.push(entry)
      expect(entries.map((e) => [e.key, e.size])).toEqual([['touched/a', 1000]])
      // Some stores keep whole seconds: a second of slack (the driver's own test backdates first).
      expect(entries[0]?.modifiedAt).toBeGreaterThanOrEqual(before - 1000)
      expect((await getBytes(store, 'touched/a'))?.equals(bytes)).toBe(true)
      // Deleted (or swept) since it was served: nothing to mark, and nothing is created.
      await expect(touch('touched/missing')).resolves.toBeUndefined()
      expect(await store.head('touched/missing')).toBeNull()
      for (const key of ESCAPING_KEYS) await expect(touch(key), key).rejects.toThrow()
    })

    it('answers check() when reachable', async () => {
      await expect(store.check()).resolves.toBeUndefined()
    })
  })
}
