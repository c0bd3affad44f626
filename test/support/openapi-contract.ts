/**
 * Tests against the gateway's served OpenAPI 3.1 document, with a real JSON Schema validator (ajv,
 * draft 2020-12 as OpenAPI 3.1 uses) rather than a hand copy of the rules:
 *
 * - `checkResponse`: a real response must be declared for its path, method and status, and its JSON
 *   body must validate against the declared schema; an undocumented method on a known path must be
 *   the documented 405 with `Allow` listing exactly the path's methods; an unknown path a 404 Error.
 * - `requestArbitrary`: fast-check arbitraries of requests derived from an operation's parameters and
 *   request body, kept only when ajv finds them valid against the document, so every generated
 *   request is one the document allows.
 *
 * The document (not the zod source) is what is checked, so a rendering slip in the document fails
 * here just like a route that drifts from it.
 */
import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import fc from 'fast-check';

type Schema = Record<string, unknown>;
interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header' | 'cookie';
  required?: boolean;
  schema: Schema;
}
interface OperationDoc {
  parameters?: Parameter[];
  requestBody?: { required?: boolean; content: Record<string, { schema: Schema }> };
  responses: Record<string, { content?: Record<string, { schema: Schema }>; $ref?: string }>;
  security?: Record<string, string[]>[];
}
export interface OpenApiDoc {
  paths: Record<string, Record<string, OperationDoc>>;
  components: { schemas: Record<string, Schema>; responses?: Record<string, unknown> };
  security?: Record<string, string[]>[];
}

export const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'] as const;

const pointer = (...segments: string[]) =>
  '#/' + segments.map((s) => encodeURIComponent(s.replace(/~/g, '~0').replace(/\//g, '~1'))).join('/');

export class OpenApiContract {
  private readonly ajv: Ajv2020;
  private readonly validators = new Map<string, ValidateFunction>();

  constructor(readonly doc: OpenApiDoc) {
    this.ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats(this.ajv);
    this.ajv.addFormat('binary', true);
    this.ajv.addSchema(doc as object, 'openapi.json');
  }

  /** The ajv validator of the schema at a JSON pointer into the document. */
  validator(ref: string): ValidateFunction {
    let v = this.validators.get(ref);
    if (!v) {
      v = this.ajv.getSchema(`openapi.json${ref}`);
      if (!v) throw new Error(`OpenAPI: no schema at ${ref}`);
      this.validators.set(ref, v);
    }
    return v;
  }

  errors(ref: string, value: unknown): string[] {
    const v = this.validator(ref);
    return v(value) ? [] : (v.errors ?? []).map((e) => `${e.instancePath || '$'} ${e.message}`);
  }

  /** The path template that matches a concrete path (literal segments win over parameters). */
  matchPath(path: string): string | undefined {
    return Object.keys(this.doc.paths)
      .filter((t) =>
        new RegExp('^' + t.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+') + '$').test(
          path,
        ),
      )
      .sort((a, b) => (a.match(/\{/g)?.length ?? 0) - (b.match(/\{/g)?.length ?? 0))[0];
  }

  methodsOf(template: string): string[] {
    return Object.keys(this.doc.paths[template] ?? {})
      .filter((m) => (HTTP_METHODS as readonly string[]).includes(m))
      .map((m) => m.toUpperCase());
  }

  /** Throws with every mismatch between a real response and the document. */
  checkResponse(r: {
    method: string;
    path: string;
    status: number;
    contentType: string | null;
    allow?: string | null;
    body: unknown;
  }): void {
    const pathOnly = r.path.split('?')[0]!;
    const template = this.matchPath(pathOnly);
    const fail = (why: string) => {
      throw new Error(
        `OpenAPI: ${r.method} ${r.path} → ${r.status}: ${why}\nbody: ${JSON.stringify(r.body).slice(0, 2000)}`,
      );
    };
    const errorBody = pointer('components', 'schemas', 'Error');
    if (!template) {
      if (r.status !== 404) fail('no path in the document matches, and the answer is not a 404');
      const errs = this.errors(errorBody, r.body);
      if (errs.length) fail(errs.join('; '));
      return;
    }
    const method = r.method.toLowerCase();
    const op = this.doc.paths[template]![method];
    if (!op) {
      if (r.status !== 405) fail(`${r.method} is not documented on ${template}, so it must answer 405`);
      const allow = (r.allow ?? '').split(',').map((m) => m.trim());
      if ([...allow].sort().join() !== this.methodsOf(template).sort().join())
        fail(`Allow "${r.allow}" is not exactly ${this.methodsOf(template).join(', ')}`);
      if (r.method !== 'HEAD') {
        const errs = this.errors(
          pointer('components', 'responses', 'MethodNotAllowed', 'content', 'application/json', 'schema'),
          r.body,
        );
        if (errs.length) fail(errs.join('; '));
      }
      return;
    }
    const response = op.responses[String(r.status)];
    if (!response) fail(`status ${r.status} is not documented for ${r.method} ${template}`);
    if (r.method === 'HEAD') return;
    if (!response!.content) {
      if (r.body !== undefined && r.body !== '' && !(Buffer.isBuffer(r.body) && r.body.length === 0))
        fail('the document declares no body');
      return;
    }
    const ct = (r.contentType ?? '').split(';')[0]!.trim();
    if (!response!.content[ct]) fail(`content type "${ct}" is not documented`);
    if (ct !== 'application/json') return;
    const errs = this.errors(
      pointer('paths', template, method, 'responses', String(r.status), 'content', ct, 'schema'),
      r.body,
    );
    if (errs.length) fail(`the body does not match its schema:\n  ${errs.join('\n  ')}`);
  }

  // -------------------------------------------------------------------------------------------
  // Requests

  private resolve(schema: Schema): Schema {
    let s = schema;
    while (typeof s.$ref === 'string') {
      const name = s.$ref.replace('#/components/schemas/', '');
      const target = this.doc.components.schemas[name];
      if (!target) throw new Error(`OpenAPI: unresolved $ref ${s.$ref}`);
      const rest = { ...s };
      delete rest.$ref;
      s = { ...target, ...rest };
    }
    return s;
  }

  /**
   * Values of a schema. Keywords that only constrain (allOf of required-sets, if/then) are left to
   * the ajv filter of `requestArbitrary`; a keyword this does not know fails loudly, so the
   * document cannot grow past what is generated.
   */
  arbitrary(schema: Schema, pools: Pools = {}, name?: string): fc.Arbitrary<unknown> {
    const s = this.resolve(schema);
    const base = this.plainArbitrary(s, pools);
    const pool = name ? pools[name] : undefined;
    // Mostly the real values: a request needs several of them at once to get past "unknown blob".
    return pool?.length
      ? fc.oneof({ arbitrary: base, weight: 1 }, { arbitrary: fc.constantFrom(...pool), weight: 3 })
      : base;
  }

  private plainArbitrary(s: Schema, pools: Pools): fc.Arbitrary<unknown> {
    const known = new Set([
      'type',
      'properties',
      'required',
      'additionalProperties',
      'items',
      'enum',
      'const',
      'pattern',
      'minimum',
      'maximum',
      'minLength',
      'maxLength',
      'format',
      'oneOf',
      'anyOf',
      'allOf',
      'description',
      'default',
      'minItems',
      'maxItems',
      'propertyNames',
    ]);
    for (const k of Object.keys(s))
      if (!known.has(k)) throw new Error(`generator: keyword "${k}" unsupported`);
    const branches = (s.oneOf ?? s.anyOf) as Schema[] | undefined;
    if (branches) {
      const rest = { ...s };
      for (const k of ['oneOf', 'anyOf', 'allOf']) delete rest[k];
      return fc.oneof(...branches.map((b) => this.arbitrary({ ...rest, ...b }, pools)));
    }
    if ('const' in s) return fc.constant(s.const);
    if (Array.isArray(s.enum)) return fc.constantFrom(...(s.enum as unknown[]));
    if (Array.isArray(s.type))
      return fc.oneof(...(s.type as string[]).map((t) => this.plainArbitrary({ ...s, type: t }, pools)));
    switch (s.type) {
      case 'string': {
        const min = (s.minLength as number | undefined) ?? 0;
        const max = (s.maxLength as number | undefined) ?? Number.POSITIVE_INFINITY;
        const text =
          typeof s.pattern === 'string'
            ? fc.stringMatching(new RegExp(s.pattern))
            : s.format === 'date-time'
              ? fc.date({ noInvalidDate: true }).map((d) => d.toISOString())
              : fc.string({ minLength: min, maxLength: Math.min(max, min + 64) });
        // Pattern and format generators ignore lengths: keep what also fits them.
        return text.filter((v) => v.length >= min && v.length <= max);
      }
      case 'integer':
        return fc.integer({
          min: Math.max((s.minimum as number | undefined) ?? -(2 ** 31), Number.MIN_SAFE_INTEGER),
          max: Math.min((s.maximum as number | undefined) ?? 2 ** 31, Number.MAX_SAFE_INTEGER),
        });
      case 'number':
        return fc.double({
          min: (s.minimum as number | undefined) ?? -1e9,
          max: (s.maximum as number | undefined) ?? 1e9,
          noNaN: true,
          noDefaultInfinity: true,
        });
      case 'boolean':
        return fc.boolean();
      case 'array':
        return fc.array(this.arbitrary((s.items as Schema) ?? {}, pools), {
          minLength: (s.minItems as number | undefined) ?? 0,
          maxLength: Math.max(3, (s.minItems as number | undefined) ?? 0),
        });
      case 'object': {
        const props = (s.properties ?? {}) as Record<string, Schema>;
        const extra = s.additionalProperties;
        if (Object.keys(props).length === 0 && extra && typeof extra === 'object') {
          // A map (a zod record): a few keys of the key schema, each with a value of the value schema.
          const key = s.propertyNames
            ? this.arbitrary(s.propertyNames as Schema, pools)
            : fc.string({ minLength: 1, maxLength: 8 });
          return fc.dictionary(key as fc.Arbitrary<string>, this.arbitrary(extra as Schema, pools), {
            maxKeys: 2,
          });
        }
        const arbs = Object.fromEntries(
          Object.entries(props).map(([k, v]) => [k, this.arbitrary(v, pools, k)]),
        );
        return fc.record(arbs, { requiredKeys: (s.required ?? []) as never[] });
      }
      default:
        throw new Error(`generator: schema without a type it knows: ${JSON.stringify(s).slice(0, 200)}`);
    }
  }

  /** Requests the document allows for one operation (ajv-checked part by part). */
  requestArbitrary(template: string, method: string, pools: Pools = {}): fc.Arbitrary<GeneratedRequest> {
    const op = this.doc.paths[template]![method]!;
    const params = op.parameters ?? [];
    const paramRef = (i: number) => pointer('paths', template, method, 'parameters', String(i), 'schema');
    const paramArbs = params.map((p, i) =>
      this.arbitrary(p.schema, pools, p.name)
        .filter((v) => this.validator(paramRef(i))(v))
        .map((v) => [p, v] as const),
    );
    const withOptional = paramArbs.map((a, i) =>
      params[i]!.required
        ? a.map((x) => x as readonly [Parameter, unknown] | undefined)
        : fc.option(a, { nil: undefined }),
    );
    const content = op.requestBody?.content ?? {};
    const types = Object.keys(content);
    const bodyArb: fc.Arbitrary<{ contentType: string; body: Buffer } | undefined> =
      types.length === 0
        ? fc.constant(undefined)
        : fc.constantFrom(...types).chain((ct) => {
            const schema = content[ct]!.schema;
            const one =
              ct === 'application/json'
                ? this.arbitrary(schema, pools)
                    .filter((v) =>
                      this.validator(
                        pointer('paths', template, method, 'requestBody', 'content', ct, 'schema'),
                      )(v),
                    )
                    .map((v) => ({ contentType: ct, body: Buffer.from(JSON.stringify(v)) }))
                : fc
                    .uint8Array({
                      minLength: (this.resolve(schema).minLength as number) ?? 0,
                      maxLength: 256,
                    })
                    .map((b) => ({ contentType: ct, body: Buffer.from(b) }));
            return op.requestBody?.required ? one : fc.option(one, { nil: undefined });
          });
    return fc.record({ params: fc.tuple(...withOptional), body: bodyArb }).map(({ params: ps, body }) => {
      let path = template;
      const query = new URLSearchParams();
      for (const p of ps) {
        if (!p) continue;
        const [param, value] = p;
        if (param.in === 'path') path = path.replace(`{${param.name}}`, encodeURIComponent(String(value)));
        else if (param.in === 'query') query.set(param.name, String(value));
      }
      const qs = query.toString();
      return {
        method: method.toUpperCase(),
        path: qs ? `${path}?${qs}` : path,
        ...(body ?? {}),
      };
    });
  }

  /** Whether the operation needs a wallet signature or accepts none. */
  securityOf(template: string, method: string): 'none' | 'signed' {
    const security = this.doc.paths[template]![method]!.security ?? this.doc.security ?? [];
    return security.length === 0 ? 'none' : 'signed';
  }
}

/** Values to mix into generated ones, by parameter or property name (real blob ids, Job ids, …). */
export type Pools = Record<string, readonly unknown[]>;

export interface GeneratedRequest {
  method: string;
  /** With its query string. */
  path: string;
  contentType?: string;
  body?: Buffer;
}
