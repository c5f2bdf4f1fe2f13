// Turns the schema's findings into a ValidationError that names each field, as a dotted path.
import type { z } from 'zod';
import { ValidationError } from '../model/errors.ts';

export function parseOrThrow<S extends z.ZodType>(schema: S, input: unknown): z.infer<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  throw new ValidationError(
    result.error.issues.map((issue) => {
      const keys = issue.code === 'unrecognized_keys' ? issue.keys : [];
      const path = [...issue.path.map(String), ...(keys.length === 1 ? keys : [])];
      // A bad key of a map: say what is wrong with the key, not only that it is one.
      const message = issue.code === 'invalid_key' && issue.issues[0] ? `the key ${issue.issues[0].message}` : issue.message;
      return { field: path.join('.') || '(body)', message };
    }),
  );
}
