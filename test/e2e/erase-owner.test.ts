import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Harness, startHarness } from '../fixtures/harness.js'
import { makeJpeg } from '../fixtures/images.js'

/** The admin route erases one owner through the same use case as `pixelflow owners erase`. */
describe('DELETE /v1/admin/owners/:ownerId', () => {
  let h: Harness
  let admin: string
  beforeAll(async () => {
    h = await startHarness()
    admin = (await h.pf.deps.apiKeys.create('ops', ['admin'])).key
  })
  afterAll(() => h.close())

  it("erases every image, object and key of the owner, and nothing of anyone else's", async () => {
    const jpeg = await makeJpeg(640, 480)
    const aliceIds: string[] = []
    for (let i = 0; i < 2; i++) {
      const res = await h.upload(jpeg, 'image/jpeg', { 'idempotency-key': `a${i}` })
      aliceIds.push(res.json().id)
    }
    const bobId = (await h.upload(jpeg, 'image/jpeg', {}, h.bob)).json().id
    for (const id of aliceIds) expect((await h.waitSettled(id)).status).toBe('ready')

    const res = await h.pf.app.inject({
      method: 'DELETE',
      url: '/v1/admin/owners/alice',
      headers: { authorization: `Bearer ${admin}` },
    })
    expect(res.statusCode).toBe(200)
    expect(res.json()).toMatchObject({ ownerId: 'alice', images: 2, apiKeys: 1 })

    const objects = await h.pf.deps.store.list('images/')
    for (const id of aliceIds) expect(objects.filter((key) => key.includes(id))).toEqual([])
    expect(objects.some((key) => key.includes(bobId))).toBe(true)
    // Her key is gone with her data; Bob is still served.
    expect((await h.getImage(aliceIds[0]!)).status).toBe(401)
    expect((await h.getImage(bobId, h.bob)).status).toBe(200)
  })
})
