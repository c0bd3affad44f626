/**
 * Checks real gateway responses against the OpenAPI document: the operation and status must be
 * declared, and a JSON body must satisfy its schema. It follows the JSON Schema subset the
 * document uses (type incl. type arrays for nullable, properties, required, additionalProperties:
 * false, items, enum, pattern, minimum/maximum, minLength/maxLength, format date-time, $ref, allOf)
 * and fails loudly on any other keyword, so the document cannot drift outside what is checked.
 */
type Schema = Record<string, unknown>;
type Doc = {
  paths: Record<string, Record<string, unknown>>;
  components: { schemas: Record<string, Schema> };
};

const KNOWN = new Set([
  'type',
  'properties',
  'required',
  'additionalProperties',
  'items',
  'enum',
  'pattern',
  'minimum',
  'maximum',
  'minLength',
  'maxLength',
  'format',
  '$ref',
  'allOf',
  'description',
  'default',
  'contentEncoding',
]);

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

export function validateSchema(doc: Doc, schema: Schema, value: unknown, at = '$'): string[] {
  const errors: string[] = [];
  for (const k of Object.keys(schema))
    if (!KNOWN.has(k)) errors.push(`${at}: schema keyword "${k}" is not supported by the checker`);
  if (typeof schema.$ref === 'string') {
    const name = schema.$ref.replace('#/components/schemas/', '');
    const target = doc.components.schemas[name];
    if (!target) return [`${at}: unresolved $ref ${schema.$ref}`];
    return [...errors, ...validateSchema(doc, target, value, at)];
  }
  if (Array.isArray(schema.allOf))
    for (const s of schema.allOf as Schema[]) errors.push(...validateSchema(doc, s, value, at));
  if (schema.type !== undefined) {
    const types = (Array.isArray(schema.type) ? schema.type : [schema.type]) as string[];
    const actual = typeOf(value);
    if (!types.includes(actual) && !(actual === 'integer' && types.includes('number'))) {
      return [...errors, `${at}: expected ${types.join('|')}, got ${actual}`];
    }
  }
  if (Array.isArray(schema.enum) && !schema.enum.includes(value))
    errors.push(`${at}: ${JSON.stringify(value)} not in enum ${JSON.stringify(schema.enum)}`);
  if (typeof value === 'string') {
    if (typeof schema.pattern === 'string' && !new RegExp(schema.pattern).test(value))
      errors.push(`${at}: "${value}" does not match ${schema.pattern}`);
    if (typeof schema.minLength === 'number' && value.length < schema.minLength)
      errors.push(`${at}: shorter than ${schema.minLength}`);
    if (typeof schema.maxLength === 'number' && value.length > schema.maxLength)
      errors.push(`${at}: longer than ${schema.maxLength}`);
    if (
      schema.format === 'date-time' &&
      (!/^\d{4}-\d{2}-\d{2}T/.test(value) || Number.isNaN(Date.parse(value)))
    )
      errors.push(`${at}: "${value}" is not a date-time`);
  }
  if (typeof value === 'number') {
    if (typeof schema.minimum === 'number' && value < schema.minimum)
      errors.push(`${at}: ${value} < minimum ${schema.minimum}`);
    if (typeof schema.maximum === 'number' && value > schema.maximum)
      errors.push(`${at}: ${value} > maximum ${schema.maximum}`);
  }
  if (Array.isArray(value) && schema.items)
    value.forEach((v, i) => errors.push(...validateSchema(doc, schema.items as Schema, v, `${at}[${i}]`)));
  if (typeOf(value) === 'object') {
    const obj = value as Record<string, unknown>;
    const props = (schema.properties ?? {}) as Record<string, Schema>;
    for (const r of (schema.required ?? []) as string[])
      if (!(r in obj)) errors.push(`${at}: missing required "${r}"`);
    for (const [k, v] of Object.entries(obj)) {
      if (props[k]) errors.push(...validateSchema(doc, props[k], v, `${at}.${k}`));
      else if (schema.additionalProperties === false)
        errors.push(`${at}: property "${k}" is not in the schema`);
    }
  }
  return errors;
}

/** The path template of the document that matches a concrete path (fewest parameters wins). */
export function matchPath(doc: Doc, path: string): string | undefined {
  const candidates = Object.keys(doc.paths).filter((template) => {
    const re = new RegExp(
      '^' + template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+') + '$',
    );
    return re.test(path);
  });
  return candidates.sort((a, b) => (a.match(/\{/g)?.length ?? 0) - (b.match(/\{/g)?.length ?? 0))[0];
}

export interface CheckedResponse {
  method: string;
  path: string;
  status: number;
  contentType: string | null;
  body: unknown;
}

/** Throws with every mismatch between a response and the document. */
export function checkResponse(doc: Doc, r: CheckedResponse): void {
  const pathOnly = r.path.split('?')[0]!;
  const template = matchPath(doc, pathOnly);
  if (!template) {
    // Unknown routes answer 404 in the documented error shape.
    const errors =
      r.status === 404 ? validateSchema(doc, { $ref: '#/components/schemas/Error' }, r.body) : ['not a 404'];
    if (errors.length)
      throw new Error(
        `OpenAPI: no path in the document matches ${pathOnly} (${r.status}: ${errors.join('; ')})`,
      );
    return;
  }
  const op = doc.paths[template]![r.method.toLowerCase()] as
    { responses?: Record<string, Schema> } | undefined;
  // Unknown methods on known paths answer 404 from the router; the document lists no operation for them.
  if (!op) {
    if (r.status === 404) return;
    throw new Error(`OpenAPI: ${r.method} ${template} is not documented (got ${r.status})`);
  }
  const response = op.responses?.[String(r.status)] as
    { content?: Record<string, { schema: Schema }> } | undefined;
  if (!response) throw new Error(`OpenAPI: ${r.method} ${template} does not document status ${r.status}`);
  if (r.method === 'HEAD') return;
  const ct = (r.contentType ?? '').split(';')[0]!.trim();
  if (!response.content) {
    if (r.body !== undefined && r.body !== '')
      throw new Error(`OpenAPI: ${r.method} ${template} ${r.status} documents no body`);
    return;
  }
  const media = response.content[ct];
  if (!media)
    throw new Error(`OpenAPI: ${r.method} ${template} ${r.status} does not document content type "${ct}"`);
  if (ct !== 'application/json') return;
  const errors = validateSchema(doc, media.schema, r.body);
  if (errors.length)
    throw new Error(
      `OpenAPI: ${r.method} ${r.path} ${r.status} does not match its schema:\n  ${errors.join('\n  ')}\nbody: ${JSON.stringify(r.body).slice(0, 2000)}`,
    );
}
