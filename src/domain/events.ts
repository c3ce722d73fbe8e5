import { type Static, Type } from '@sinclair/typebox'

/**
 * What happened to an image, as the live stream (`GET /v1/events`) and webhooks deliver it. An
 * event is written in the same shard transaction as the change it reports (the event outbox), so
 * a reader that resumes after its last id sees every change exactly once and never one that was
 * rolled back.
 */
export const IMAGE_EVENT_TYPES = ['image.ready', 'image.failed', 'image.deleted'] as const
export type ImageEventType = (typeof IMAGE_EVENT_TYPES)[number]

export const ImageEventDataSchema = Type.Object({
  imageId: Type.String(),
  status: Type.Union([Type.Literal('ready'), Type.Literal('failed'), Type.Literal('deleted')]),
  /** The failure's stable code and detail, for `image.failed`. */
  failure: Type.Optional(Type.Object({ code: Type.String(), detail: Type.String() })),
})
export type ImageEventData = Static<typeof ImageEventDataSchema>

export interface ImageEvent {
  /** Opaque to clients; what `Last-Event-ID` and webhook deliveries carry. */
  id: string
  type: ImageEventType
  ownerId: string
  /** Epoch milliseconds of the change's commit. */
  occurredAt: number
  data: ImageEventData
}
