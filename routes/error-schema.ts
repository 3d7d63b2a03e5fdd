// The one body every error of the hub has, whatever the route: Fastify serializes an
// error through the route's response schema for its status, and the OpenAPI document
// lists it once, as components/schemas/ErrorBody, that every error response refers to.
import { Type } from 'typebox'

export const ErrorBody = Type.Object({
  statusCode: Type.Integer({ description: 'the HTTP status, repeated' }),
  // Optional as in Fastify's own error serializer: a property a schema requires and an
  // error lacks fails the serialization, and the answer turns into a 500.
  code: Type.Optional(Type.String({ description: 'what went wrong, for programs: PUSHER_ERR_* (or FST_ERR_* for malformed requests). Every error of the hub has one; an error a custom authenticator throws may not' })),
  error: Type.String({ description: 'the status\'s name, e.g. "Bad Request"' }),
  message: Type.String({ description: 'what went wrong and what to do, for people' }),
}, { $id: 'ErrorBody', title: 'ErrorBody' })

/** Response schemas for the error statuses a route can answer, each described, all the ErrorBody. */
export function errorResponses(described: Record<number, string>): Record<number, { $ref: string; description: string }> {
  const responses: Record<number, { $ref: string; description: string }> = {}
  for (const [status, description] of Object.entries(described)) responses[Number(status)] = { $ref: 'ErrorBody#', description }
  return responses
}
