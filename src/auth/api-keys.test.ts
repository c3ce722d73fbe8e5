import { createHash } from 'node:crypto'
import type { Kysely } from 'kysely'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { authTablesOf, type ControlDb, openControlDb } from '../start/control-db.js'
import { type ApiKeys, createApiKeys } from './api-keys.js'

const KEY_SHAPE = /^pf_([A-Za-z0-9_-]{12})_([A-Za-z0-9_-]{43})$/
const T = 1_700_000_000_000

describe('API keys', () => {
  let control: Kysely<ControlDb>
  let keys: ApiKeys
  beforeEach(async () => {
    control = await openControlDb(':memory:')
    keys = createApiKeys(authTablesOf(control))
  })
  afterEach(async () => {
    await control.destroy()
  })

  it('never makes a key id that a command line would read as an option', async () => {
    // One base64url id in 64 starts with '-'; 400 keys would show one with near certainty.
    const ids = await Promise.all(
      Array.from({ length: 400 }, async () => (await keys.create('alice')).id),
    )
    expect(ids.filter((id) => id.startsWith('-'))).toEqual([])
    expect(new Set(ids).size).toBe(400)
  })

  it('creates a pf_<id>_<secret> key that verifies to its owner with the default scopes', async () => {
    const { id, key } = await keys.create('alice')
    expect(key).toMatch(KEY_SHAPE)
    expect(KEY_SHAPE.exec(key)![1]).toBe(id)
    expect(await keys.verify(key)).toEqual({
      ownerId: 'alice',
      scopes: ['images:read', 'images:write'],
      via: 'api-key',
      keyId: id,
    })
  })

  it('stores only a SHA-256 of the secret', async () => {
    const { id, key } = await keys.create('alice')
    const secret = KEY_SHAPE.exec(key)![2]!
    const row = await control
      .selectFrom('api_keys')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirstOrThrow()
    expect(row.secret_hash).toBe(createHash('sha256').update(secret).digest('hex'))
    expect(JSON.stringify(row)).not.toContain(secret)
  })

  it('keeps the scopes a key was made with', async () => {
    const { key } = await keys.create('reader', ['images:read'])
    expect((await keys.verify(key))?.scopes).toEqual(['images:read'])
    expect((await keys.list('reader'))[0]?.scopes).toEqual(['images:read'])
  })

  it('refuses an empty or overlong owner and an empty scope list', async () => {
    await expect(keys.create('')).rejects.toThrow(/owner id/)
    await expect(keys.create('x'.repeat(256))).rejects.toThrow(/owner id/)
    await expect(keys.create('alice', [])).rejects.toThrow(/scope/)
    expect(await keys.list()).toEqual([])
  })

  it('refuses a malformed key, an unknown id and a wrong secret', async () => {
    const { key } = await keys.create('alice')
    const other = await keys.create('bob')
    const [, id, secret] = KEY_SHAPE.exec(key)!
    const flipped = `${secret!.slice(0, -1)}${secret!.endsWith('A') ? 'B' : 'A'}`
    expect(await keys.verify(`pf_${id}_${flipped}`)).toBeNull()
    expect(await keys.verify(`pf_${'A'.repeat(12)}_${secret}`)).toBeNull()
    // alice's id with bob's (valid) secret: the secret must belong to the id.
    expect(await keys.verify(`pf_${id}_${KEY_SHAPE.exec(other.key)![2]}`)).toBeNull()
    for (const bad of ['', 'pf_', key.slice(0, -1), `${key}x`, key.replace('pf_', 'pk_')])
      expect(await keys.verify(bad)).toBeNull()
  })

  it('refuses a wrong secret for an id whose right one has just verified (and is reused)', async () => {
    const { key } = await keys.create('alice')
    const other = await keys.create('bob')
    const [, id, secret] = KEY_SHAPE.exec(key)!
    const flipped = `pf_${id}_${secret!.slice(0, -1)}${secret!.endsWith('A') ? 'B' : 'A'}`
    const first = await keys.verify(key)
    expect(first).not.toBeNull()
    expect(await keys.verify(flipped)).toBeNull()
    expect(await keys.verify(`pf_${id}_${KEY_SHAPE.exec(other.key)![2]}`)).toBeNull()
    // The reused principal is one object for every request: frozen, so none can change it.
    const again = await keys.verify(key)
    expect(again).toBe(first)
    expect(Object.isFrozen(again)).toBe(true)
    expect(await keys.verify(flipped)).toBeNull()
  })

  it('revokes a key from the given moment on, once', async () => {
    const { id, key } = await keys.create('alice', undefined, T)
    expect(await keys.revoke(id, T + 1_000)).toBe(true)
    expect(await keys.verify(key, T + 999)).not.toBeNull()
    expect(await keys.verify(key, T + 1_000)).toBeNull()
    expect(await keys.revoke(id, T + 2_000)).toBe(false)
    expect(await keys.revoke('unknown-id')).toBe(false)
    const info = {
      id,
      ownerId: 'alice',
      scopes: ['images:read', 'images:write'],
      createdAt: T,
      revokedAt: T + 1_000,
    }
    expect(await keys.list('alice', T + 999)).toEqual([{ ...info, active: true }])
    expect(await keys.list('alice', T + 1_000)).toEqual([{ ...info, active: false }])
  })

  it('rotates: a new key with the same owner and scopes; the old one works through the grace', async () => {
    const old = await keys.create('alice', ['images:read', 'admin'], T)
    const fresh = (await keys.rotate(old.id, 60_000, T + 10))!
    expect(fresh.id).not.toBe(old.id)
    expect(await keys.verify(fresh.key, T + 10)).toMatchObject({
      ownerId: 'alice',
      scopes: ['images:read', 'admin'],
      keyId: fresh.id,
    })
    expect(await keys.verify(old.key, T + 10 + 59_999)).toMatchObject({ keyId: old.id })
    expect(await keys.verify(old.key, T + 10 + 60_000)).toBeNull()
    expect(await keys.verify(fresh.key, T + 10 + 60_000)).not.toBeNull()
  })

  it('rotates only a live key: not an unknown, revoked or already rotated one', async () => {
    const { id } = await keys.create('alice', undefined, T)
    expect(await keys.rotate('unknown-id', 1_000, T)).toBeNull()
    expect(await keys.rotate(id, 1_000, T)).not.toBeNull()
    // Still in its grace period, but already replaced: a second rotation would fork the key.
    expect(await keys.rotate(id, 1_000, T + 1)).toBeNull()
    const revoked = await keys.create('bob', undefined, T)
    await keys.revoke(revoked.id, T)
    expect(await keys.rotate(revoked.id, 1_000, T)).toBeNull()
    expect((await keys.list('alice')).map((k) => k.revokedAt)).toEqual([T + 1_000, null])
  })

  it('revoke always wins: a key in its rotation grace period stops at once', async () => {
    const old = await keys.create('alice', undefined, T)
    await keys.rotate(old.id, 24 * 3600_000, T)
    expect(await keys.verify(old.key, T + 1_000)).not.toBeNull()
    expect(await keys.revoke(old.id, T + 2_000)).toBe(true)
    expect(await keys.verify(old.key, T + 2_000)).toBeNull()
    expect((await keys.list('alice'))[0]!.revokedAt).toBe(T + 2_000)
    // Already stopped: revoking again changes nothing.
    expect(await keys.revoke(old.id, T + 3_000)).toBe(false)
    expect((await keys.list('alice'))[0]!.revokedAt).toBe(T + 2_000)
  })

  it('refuses a grace period that is not a whole, non-negative number of milliseconds', async () => {
    const { id, key } = await keys.create('alice', undefined, T)
    for (const grace of [Number.NaN, -1, 1.5, Number.POSITIVE_INFINITY])
      await expect(keys.rotate(id, grace, T)).rejects.toThrow(/grace/i)
    // Nothing changed: the key is neither rotated nor made immortal.
    expect(await keys.list('alice')).toHaveLength(1)
    expect((await keys.list('alice'))[0]!.revokedAt).toBeNull()
    expect(await keys.verify(key, T)).not.toBeNull()
  })

  it('lists every key, or one owner’s, oldest first', async () => {
    const b = await keys.create('bob', undefined, T + 2)
    const a1 = await keys.create('alice', undefined, T + 1)
    const a2 = await keys.create('alice', undefined, T + 3)
    expect((await keys.list('alice')).map((k) => k.id)).toEqual([a1.id, a2.id])
    expect((await keys.list()).map((k) => k.id)).toEqual([a1.id, b.id, a2.id])
  })

  it('sees another process’s revoke within the row reuse time, its own at once', async () => {
    let clock = 1
    const otherProcess = createApiKeys(authTablesOf(control))
    const here = createApiKeys(authTablesOf(control), { rowTtlMs: 1000, clock: () => clock })
    const { id, key } = await otherProcess.create('alice')
    expect(await here.verify(key, T)).not.toBeNull() // read and kept for 1 s
    await otherProcess.revoke(id, T)
    clock += 999
    expect(await here.verify(key, T + 1)).not.toBeNull() // still the row read at clock 1
    clock += 2
    expect(await here.verify(key, T + 1)).toBeNull() // read again: revoked

    const second = await here.create('alice')
    expect(await here.verify(second.key, T)).not.toBeNull()
    await here.revoke(second.id, T)
    expect(await here.verify(second.key, T + 1)).toBeNull()
  })

  it('verifies without I/O only what a verify read a moment ago: never a wrong, stopped or expired key', async () => {
    let clock = 1
    const here = createApiKeys(authTablesOf(control), { rowTtlMs: 1000, clock: () => clock })
    const { id, key } = await here.create('alice', ['images:read'])
    const wrong = `${key.slice(0, -1)}${key.endsWith('A') ? 'B' : 'A'}`
    expect(here.verifyHeld(key, T)).toBeUndefined() // its row was never read
    const principal = await here.verify(key, T)
    expect(here.verifyHeld(key, T)).toBe(principal)
    expect(here.verifyHeld(wrong, T)).toBeUndefined()
    expect(here.verifyHeld('pf_short', T)).toBeUndefined()
    clock += 1001
    expect(here.verifyHeld(key, T)).toBeUndefined() // held no longer: verify reads it again
    expect(await here.verify(key, T)).toEqual(principal)
    await here.revoke(id, T + 5)
    expect(here.verifyHeld(key, T + 6)).toBeUndefined()
    expect(await here.verify(key, T + 6)).toBeNull()
  })
})
