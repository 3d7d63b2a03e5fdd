// How the hub's HTTP routes check their input, and errors that name the offending fields.
// Shared by every route plugin (each sets them on its scope, so that a host app's own
// Ajv options, such as Fastify's default of dropping unknown fields, do not apply here).
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyInstance, FastifySchemaCompiler, FastifySchemaValidationError } from 'fastify'
import { compileCheck } from '../lib/schema-check.js'

/** The route's schema, checked as it is: nothing coerced, nothing dropped. */
export const checkSchema: FastifySchemaCompiler<object> = ({ schema }) => {
  const check = compileCheck(schema)
  return (value) => {
    const errors = check(value)
    return errors.length === 0 ? { value } : { error: errors as FastifySchemaValidationError[] }
  }
}

export function formatValidationErrors(errors: FastifySchemaValidationError[], dataVar: string): Error {
  const unknown = new Map<string, string[]>()
  const sentences: string[] = []
  for (const error of errors) {
    const where = `${dataVar}${error.instancePath.replaceAll('/', '.')}`
    // Ajv reports each unknown field on its own; they are named together, once per object.
    const field = (error.params as { additionalProperty?: string }).additionalProperty
    if (field === undefined) sentences.push(`${where} ${error.message}`)
    else if (unknown.has(where)) unknown.get(where)!.push(field)
    else unknown.set(where, [field])
  }
  for (const [where, fields] of unknown) sentences.unshift(`${where} has unknown field(s): ${fields.join(', ')}`)
  return new Error(sentences.join('; '))
}

/**
 * A scope of the backend's routes (sends, sessions, topics): TypeBox types, input checked
 * by checkSchema with errors that name the fields, and an API key required first.
 */
export function senderScope(instance: FastifyInstance) {
  const fastify = instance.withTypeProvider<TypeBoxTypeProvider>()
  fastify.setValidatorCompiler(checkSchema)
  fastify.setSchemaErrorFormatter(formatValidationErrors)
  fastify.addHook('onRequest', fastify.verifySender)
  return fastify
}
