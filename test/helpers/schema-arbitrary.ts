// fast-check arbitraries generated from a JSON Schema (the one the OpenAPI document publishes, made
// by z.toJSONSchema from the request schema): values valid by the schema's structure, types, enums,
// patterns and bounds, with every free-form string drawn from an adversarial alphabet. Refinements
// the JSON Schema cannot express (a path's rules, base64, storable text) are what the generated
// values probe. `override` lets a test steer a field by its dotted path.
import fc from 'fast-check';

type Schema = Record<string, any>;

export interface SchemaArbitraryOptions {
  /** Free-form strings: no pattern, enum or format constrains them. */
  text: fc.Arbitrary<string>;
  /** Values the schema leaves open ({}). */
  json: fc.Arbitrary<unknown>;
  /** A field's own arbitrary, by dotted path (record entries are `<map>.*`). */
  override?: (path: string, schema: Schema) => fc.Arbitrary<unknown> | undefined;
}

const MAX_ENTRIES = 3;

/** Control characters, unpaired surrogates, noncharacters, URL and header syntax, and long runs. */
export function adversarialText(): fc.Arbitrary<string> {
  const special = fc.constantFrom(
    '', ' ', '\t', '\r\n', '\n', '\u0000', '\u0001', '\u001f', '\u007f', '\u0085', '\ud800', '\udfff', '\ud83d', '\ufffe', '\uffff',
    '\u2028', '\u200b', '\u0301', '\ufeff', 'é', 'ß', '💥', '👩‍👩‍👧', '%', '%zz', '%2e', '%00', '..', '.', '\\', '/', '?', '#', '&', '=', '+', ';',
    ',', '"', "'", '<', '>', '{', '}', '|', '^', '`', '[', ']', '~', '__proto__', 'constructor', 'toString',
  );
  const piece = fc.oneof(
    { weight: 4, arbitrary: special },
    { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 6 }) },
    { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 6 }) },
    { weight: 2, arbitrary: fc.string({ unit: 'binary-ascii', maxLength: 6 }) },
    { weight: 3, arbitrary: fc.stringMatching(/^[a-z0-9-]{1,8}$/) },
    { weight: 1, arbitrary: fc.constantFrom('x'.repeat(300), 'y'.repeat(3000)) },
  );
  const adversarial = fc.array(piece, { maxLength: 5 }).map((parts) => parts.join(''));
  // Mostly plain text, so that a request with many free-form fields still has a fair chance of
  // being acceptable as a whole, and the accepted ones get checked too.
  return fc.oneof({ weight: 3, arbitrary: fc.stringMatching(/^[A-Za-z0-9 ._~-]{0,12}$/) }, { weight: 1, arbitrary: adversarial });
}

function stringOf(schema: Schema, options: SchemaArbitraryOptions): fc.Arbitrary<string> {
  if (schema.format === 'date-time') return fc.date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2099-12-31T00:00:00Z'), noInvalidDate: true }).map((date) => date.toISOString());
  if (schema.format === 'uuid') return fc.uuid();
  if (typeof schema.pattern === 'string') {
    const matching = fc.stringMatching(new RegExp(schema.pattern)).filter((value) =>
      value.length >= (schema.minLength ?? 0) && value.length <= (schema.maxLength ?? Infinity));
    return fc.oneof({ weight: 5, arbitrary: matching }, { weight: 1, arbitrary: options.text });
  }
  return options.text;
}

export function arbitraryOf(schema: Schema, options: SchemaArbitraryOptions, path = ''): fc.Arbitrary<unknown> {
  const overridden = options.override?.(path, schema);
  if (overridden) return overridden;
  const branches = schema.oneOf ?? schema.anyOf;
  if (branches) return fc.oneof(...(branches as Schema[]).map((branch) => arbitraryOf(branch, options, path)));
  if ('const' in schema) return fc.constant(schema.const);
  if (schema.enum) return fc.constantFrom(...(schema.enum as unknown[]));
  if (Array.isArray(schema.type)) return fc.oneof(...(schema.type as string[]).map((type) => arbitraryOf({ ...schema, type }, options, path)));
  switch (schema.type) {
    case 'null': return fc.constant(null);
    case 'boolean': return fc.boolean();
    case 'integer': return fc.integer({ min: schema.minimum ?? -(2 ** 31), max: schema.maximum ?? 2 ** 31 });
    case 'number': return fc.double({ noNaN: true });
    case 'string': return stringOf(schema, options);
    case 'array': return fc.array(arbitraryOf(schema.items ?? {}, options, `${path}.*`), { maxLength: MAX_ENTRIES });
    case 'object': return objectOf(schema, options, path);
    default: return options.json;
  }
}

function objectOf(schema: Schema, options: SchemaArbitraryOptions, path: string): fc.Arbitrary<unknown> {
  const prefix = path === '' ? '' : `${path}.`;
  const properties = Object.entries((schema.properties ?? {}) as Record<string, Schema>);
  const known = fc.record(
    Object.fromEntries(properties.map(([name, property]) => [name, arbitraryOf(property, options, prefix + name)])),
    { requiredKeys: (schema.required ?? []) as string[] },
  );
  if (schema.additionalProperties === false || schema.additionalProperties === undefined) return known;
  const keys = schema.propertyNames ? stringOf(schema.propertyNames, options) : options.text;
  // A record (no properties of its own) gets a few entries; an object with a catch-all, rarely one.
  const extra = fc.dictionary(keys, arbitraryOf(schema.additionalProperties, options, `${prefix}*`), { maxKeys: properties.length ? 1 : MAX_ENTRIES, noNullPrototype: true });
  const extras = properties.length ? fc.oneof({ weight: 4, arbitrary: fc.constant({}) }, { weight: 1, arbitrary: extra }) : extra;
  return fc.tuple(known, extras).map(([fields, more]) => ({ ...more, ...fields }));
}
