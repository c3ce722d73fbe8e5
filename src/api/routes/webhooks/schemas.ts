import { Type } from '@sinclair/typebox'
import { IMAGE_EVENT_TYPES } from '../../../domain/events.js'

/** The webhook routes' request and response shapes (and their part of /openapi.json). */
export const EventTypeSchema = Type.Union(IMAGE_EVENT_TYPES.map((type) => Type.Literal(type)))

export const WebhookParams = Type.Object({
  id: Type.String({ maxLength: 64, description: 'Webhook endpoint id (wh_…)' }),
})

export const DeliveryParams = Type.Object({
  id: Type.String({ maxLength: 64 }),
  deliveryId: Type.String({ maxLength: 64, description: 'Delivery id (msg_…), the webhook-id' }),
})

export const CreateWebhookBody = Type.Object(
  {
    url: Type.String({
      minLength: 1,
      maxLength: 2048,
      description: 'http(s) URL of a public address, or one PIXELFLOW_OUTBOUND_ALLOW names',
    }),
    events: Type.Optional(
      Type.Array(EventTypeSchema, {
        minItems: 1,
        uniqueItems: true,
        description: 'Event types to send; all of them when left out',
      }),
    ),
    description: Type.Optional(Type.String({ maxLength: 500 })),
  },
  { additionalProperties: false },
)

export const WebhookView = Type.Object({
  id: Type.String(),
  url: Type.String(),
  events: Type.Array(EventTypeSchema),
  description: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String({ format: 'date-time' }),
})

export const CreatedWebhookView = Type.Composite([
  WebhookView,
  Type.Object({
    secret: Type.String({
      description: 'The signing secret (whsec_…), shown only in this answer: store it now',
    }),
  }),
])

export const WebhookList = Type.Object({ items: Type.Array(WebhookView) })

export const DeliveryView = Type.Object({
  id: Type.String({ description: 'The webhook-id header of every attempt' }),
  eventId: Type.String(),
  eventType: Type.String(),
  state: Type.Union([Type.Literal('pending'), Type.Literal('delivered'), Type.Literal('dead')]),
  attempts: Type.Integer({ description: 'Attempts since created or last retried' }),
  lastStatus: Type.Union([Type.Integer(), Type.Null()], {
    description: "The receiver's last HTTP status; null when no answer came",
  }),
  lastError: Type.Union([Type.String(), Type.Null()]),
  nextAttemptAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
})

export const DeliveryList = Type.Object({ items: Type.Array(DeliveryView) })

export const DeliveriesQuery = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 100, default: 50 }),
})
