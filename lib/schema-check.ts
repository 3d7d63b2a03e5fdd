// One JSON Schema checker for what the hub validates itself: the sender and session
// routes' input, and the resolved limits. Ajv, which Fastify and env-schema load anyway;
// TypeBox's own compiler brought 300 more modules into every start, a quarter of a
// second of CPU. TypeBox still writes the schemas (they are plain JSON Schema).
import { Ajv, type ErrorObject } from 'ajv'

const ajv = new Ajv({
  allErrors: true, // every problem of a request in one answer
  strict: false, // descriptions and other annotations are not keywords to refuse
  coerceTypes: false, // a field is the type it says, or a 400
  useDefaults: false,
  removeAdditional: false, // unknown fields are errors, not dropped (additionalProperties: false)
  addUsedSchema: false, // schemas with an $id are compiled more than once (one per route scope)
  validateFormats: false, // no input field has a format; only answers' dates do, which the hub writes
})

/** What one check found wrong: empty when the value is valid. */
export type SchemaErrors = ErrorObject[]

/** Compiles `schema` once; the function answers the errors of a value, none when it is valid. */
export function compileCheck(schema: object): (value: unknown) => SchemaErrors {
  const validate = ajv.compile(schema)
  return (value) => (validate(value) ? [] : validate.errors ?? [])
}
