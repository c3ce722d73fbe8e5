import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type {
  DeliveryView,
  WebhookEndpoint,
  WebhookEndpoints,
} from '../../../webhooks/endpoints.js'
import { principalOf } from '../../authenticate.js'
import { NoContent, problems } from '../../schemas.js'
import {
  CreatedWebhookView,
  CreateWebhookBody,
  DeliveriesQuery,
  DeliveryList,
  DeliveryParams,
  DeliveryView as DeliveryViewSchema,
  WebhookList,
  WebhookParams,
  WebhookView,
} from './schemas.js'

export interface WebhookRoutesOptions {
  webhooks: WebhookEndpoints
}

const tags = ['webhooks']
const iso = (ms: number) => new Date(ms).toISOString()

const endpointView = (endpoint: WebhookEndpoint) => ({
  ...endpoint,
  createdAt: iso(endpoint.createdAt),
})

const deliveryView = (delivery: DeliveryView) => ({
  ...delivery,
  nextAttemptAt: delivery.nextAttemptAt === null ? null : iso(delivery.nextAttemptAt),
  createdAt: iso(delivery.createdAt),
  updatedAt: iso(delivery.updatedAt),
})

/** /v1/webhooks: an owner's endpoints and their deliveries; another owner's are 404. */
export const webhookRoutes: FastifyPluginAsyncTypebox<WebhookRoutesOptions> = async (
  app,
  { webhooks },
) => {
  const read = { scope: 'images:read', rateClass: 'read' } as const
  const write = { scope: 'images:write', rateClass: 'read' } as const

  app.post(
    '/webhooks',
    {
      schema: {
        summary: 'Register a webhook endpoint (its secret is shown once)',
        tags,
        body: CreateWebhookBody,
        response: { 201: CreatedWebhookView, ...problems(400, 409, 422) },
      },
      config: write,
    },
    async (request, reply) => {
      const created = await webhooks.create(principalOf(request).ownerId, request.body)
      return reply
        .code(201)
        .header('cache-control', 'no-store')
        .header('location', `/v1/webhooks/${created.id}`)
        .send({ ...endpointView(created), secret: created.secret })
    },
  )

  app.get(
    '/webhooks',
    {
      schema: {
        summary: 'List webhook endpoints',
        tags,
        response: { 200: WebhookList, ...problems() },
      },
      config: read,
    },
    async (request) => ({
      items: (await webhooks.list(principalOf(request).ownerId)).map(endpointView),
    }),
  )

  app.get(
    '/webhooks/:id',
    {
      schema: {
        summary: 'Get a webhook endpoint',
        tags,
        params: WebhookParams,
        response: { 200: WebhookView, ...problems(404) },
      },
      config: read,
    },
    async (request) =>
      endpointView(await webhooks.get(principalOf(request).ownerId, request.params.id)),
  )

  app.delete(
    '/webhooks/:id',
    {
      schema: {
        summary: 'Delete a webhook endpoint and its deliveries',
        tags,
        params: WebhookParams,
        response: { 204: NoContent, ...problems(404) },
      },
      config: write,
    },
    async (request, reply) => {
      await webhooks.delete(principalOf(request).ownerId, request.params.id)
      return reply.code(204).send()
    },
  )

  app.get(
    '/webhooks/:id/deliveries',
    {
      schema: {
        summary: "An endpoint's recent deliveries, newest first",
        tags,
        params: WebhookParams,
        querystring: DeliveriesQuery,
        response: { 200: DeliveryList, ...problems(404) },
      },
      config: read,
    },
    async (request) => {
      const { ownerId } = principalOf(request)
      const items = await webhooks.deliveries(ownerId, request.params.id, request.query.limit)
      return { items: items.map(deliveryView) }
    },
  )

  app.post(
    '/webhooks/:id/deliveries/:deliveryId/retry',
    {
      schema: {
        summary: 'Send a dead delivery again (a fresh round of attempts)',
        tags,
        params: DeliveryParams,
        response: { 202: DeliveryViewSchema, ...problems(404, 409) },
      },
      config: write,
    },
    async (request, reply) => {
      const { id, deliveryId } = request.params
      const delivery = await webhooks.redrive(principalOf(request).ownerId, id, deliveryId)
      return reply.code(202).send(deliveryView(delivery))
    },
  )
}
