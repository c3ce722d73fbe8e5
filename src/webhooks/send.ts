import { Webhook } from 'standardwebhooks'
import { isAppError } from '../errors/index.js'
import { guardedRequest, type OutboundAllowList, readBody } from '../lib/ssrf.js'
import type { AttemptOutcome, ClaimedDelivery } from './delivery-store.js'

/** How much of a failing receiver's answer is kept for `lastError`; the rest is not read. */
const MAX_ANSWER_BYTES = 4096

export interface SendSettings {
  timeoutMs: number
  allow: OutboundAllowList
  now: number
}

/**
 * One attempt: the body signed per Standard Webhooks (`webhook-id` is the delivery's id, the same
 * on every attempt; `webhook-timestamp` is this attempt's time, which receivers check for
 * freshness), POSTed through the outbound guard (the URL is checked again now: DNS may have
 * changed since the endpoint was created). Only a 2xx counts as delivered; redirects are not
 * followed.
 */
export async function sendAttempt(
  delivery: ClaimedDelivery,
  settings: SendSettings,
): Promise<AttemptOutcome> {
  const timestamp = new Date(settings.now)
  const signature = new Webhook(delivery.secret).sign(delivery.id, timestamp, delivery.payload)
  try {
    const response = await guardedRequest(delivery.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'user-agent': 'Pixelflow-Webhooks/1',
        'webhook-id': delivery.id,
        'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)),
        'webhook-signature': signature,
      },
      body: delivery.payload,
      timeoutMs: settings.timeoutMs,
      maxResponseBytes: MAX_ANSWER_BYTES,
      allow: settings.allow,
    })
    if (response.status >= 200 && response.status < 300) {
      response.body.destroy()
      return { kind: 'delivered', status: response.status }
    }
    const answer = await readBody(response.body).then(
      (bytes) => bytes.toString('utf8').slice(0, 200),
      () => '',
    )
    return {
      kind: 'failed',
      status: response.status,
      error: `HTTP ${response.status}${answer ? `: ${answer}` : ''}`,
      permanent: false,
    }
  } catch (error) {
    const code = isAppError(error) ? error.code : 'URL_FETCH_FAILED'
    return {
      kind: 'failed',
      status: null,
      error: `${code}: ${(error as Error).message}`,
      // The endpoint's URL now resolves to a forbidden address: retrying cannot help.
      permanent: code === 'URL_FORBIDDEN',
    }
  }
}
