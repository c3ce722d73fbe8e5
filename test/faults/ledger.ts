import { createHash } from 'node:crypto'
import { expect } from 'vitest'

/**
 * The ledger check that ends every fault test: every accepted upload ended `ready`, or `failed`
 * with a reason; none is lost; none was processed into two different results (each variant's
 * stored bytes still hash to the ETag its row recorded, and there is exactly one row per
 * preset × format).
 */
export async function checkLedger(
  baseUrl: string,
  key: string,
  accepted: string[],
  variantsPerImage: number,
) {
  const seen = new Map<string, any>()
  let url: string | null = `${baseUrl}/v1/images?limit=100`
  while (url) {
    const page: any = await (
      await fetch(url, { headers: { authorization: `Bearer ${key}` } })
    ).json()
    for (const image of page.items) seen.set(image.id, image)
    url = page.nextCursor ? `${baseUrl}/v1/images?limit=100&cursor=${page.nextCursor}` : null
  }
  expect([...seen.keys()].sort(), 'every accepted upload is in the ledger, nothing else').toEqual(
    [...accepted].sort(),
  )
  for (const image of seen.values()) {
    expect(['ready', 'failed'], `${image.id} settled`).toContain(image.status)
    if (image.status === 'failed') {
      expect(image.failure?.code, `${image.id} failed with a reason`).toMatch(/^[A-Z_]+$/)
      continue
    }
    expect(image.variants).toHaveLength(variantsPerImage)
    for (const variant of image.variants) {
      const res = await fetch(variant.url.replace(/^http:\/\/localhost:\d+/, baseUrl))
      const bytes = Buffer.from(await res.arrayBuffer())
      const etag = `"${createHash('sha256').update(bytes).digest('base64url').slice(0, 32)}"`
      expect(
        res.headers.get('etag'),
        `${image.id} ${variant.name}.${variant.format}: one result`,
      ).toBe(etag)
      expect(bytes.length).toBe(variant.bytes)
    }
  }
  return [...seen.values()]
}
