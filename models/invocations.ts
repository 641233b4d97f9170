import { z } from 'zod';
import {
  CSV_INSTANCE_FIELDS,
  invocationRequestSchema,
  pricePredictionSchema,
  priceInstanceSchema,
  type PriceInstance,
  type PricePrediction,
} from './contract';
import { describeIssues } from '../tasks/shared/describe-issues';

/**
 * The bodies of `POST /invocations` (models/contract.ts): requests in, predictions out, as JSON or
 * CSV. Everything a client can get wrong becomes an InvocationError carrying its HTTP status and a
 * one-line message; nothing else is thrown for any input.
 */

export const JSON_TYPE = 'application/json';
export const CSV_TYPE = 'text/csv';
export type MediaType = typeof JSON_TYPE | typeof CSV_TYPE;
const MEDIA_TYPES: readonly MediaType[] = [JSON_TYPE, CSV_TYPE];

/** A request the server refuses: `status` is the 4xx to answer with, `message` one line saying why. */
export class InvocationError extends Error {
  override readonly name = 'InvocationError';

  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The media type of a `Content-Type` header; 415 for a missing or unsupported one, or a charset other than UTF-8. */
export function requestMediaType(contentType: string | undefined): MediaType {
  const expected = `expected ${MEDIA_TYPES.join(' or ')}`;
  if (contentType === undefined || contentType.trim() === '') throw new InvocationError(415, `no Content-Type; ${expected}`);
  const [type = '', ...parameters] = contentType.split(';').map((part) => part.trim().toLowerCase());
  const mediaType = MEDIA_TYPES.find((supported) => supported === type);
  if (mediaType === undefined) throw new InvocationError(415, `unsupported Content-Type "${oneLine(contentType)}"; ${expected}`);
  const charset = parameters.find((parameter) => parameter.startsWith('charset='))?.slice('charset='.length).replace(/"/g, '');
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') throw new InvocationError(415, `unsupported charset "${charset}"; expected utf-8`);
  return mediaType;
}

/** The type to answer in: what `Accept` asks for first among ours, else the request's own type; 406 if it asks only for others. */
export function responseMediaType(accept: string | undefined, requestType: MediaType): MediaType {
  if (accept === undefined || accept.trim() === '') return requestType;
  const accepted = accept.split(',').map((part) => (part.split(';')[0] ?? '').trim().toLowerCase());
  for (const type of accepted) {
    if (type === '*/*') return requestType;
    const mediaType = MEDIA_TYPES.find((supported) => supported === type);
    if (mediaType !== undefined) return mediaType;
  }
  throw new InvocationError(406, `cannot answer in "${oneLine(accept)}"; expected ${MEDIA_TYPES.join(' or ')}`);
}

/** The instances of a request body; 400 for a body that is not UTF-8, not JSON or CSV, or not the contract's shape. */
export function decodeInstances(body: Buffer, mediaType: MediaType): PriceInstance[] {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    throw new InvocationError(400, 'body is not valid UTF-8');
  }
  return mediaType === JSON_TYPE ? decodeJson(text) : decodeCsv(text);
}

function decodeJson(text: string): PriceInstance[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new InvocationError(400, `malformed JSON: ${oneLine((error as Error).message)}`);
  }
  const invalid = (error: z.ZodError, within: readonly PropertyKey[] = []) =>
    new InvocationError(400, `invalid request: ${describeIssues(error, within)}; expected {"instances": [{${CSV_INSTANCE_FIELDS.join(', ')}}, ...]}`);
  const envelope = requestEnvelopeSchema.safeParse(json);
  if (!envelope.success) throw invalid(envelope.error);
  return envelope.data.instances.map((candidate, index) => {
    const parsed = priceInstanceSchema.safeParse(candidate);
    if (!parsed.success) throw invalid(parsed.error, ['instances', index]);
    return parsed.data;
  });
}

/**
 * The contract's request with its instances left unchecked: they are checked one at a time, up to
 * the first bad one, so that a body of a million bad instances costs one error rather than a million.
 */
const requestEnvelopeSchema = invocationRequestSchema.extend({ instances: z.array(z.unknown()).min(1) });

const NUMBER = /^-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** RFC 4180 records without a header, one instance each, fields in CSV_INSTANCE_FIELDS order; a final line break is optional. */
function decodeCsv(text: string): PriceInstance[] {
  const instances: PriceInstance[] = [];
  // Record by record, so that a bad line is refused before the rest is even split.
  for (const fields of csvRecords(text)) instances.push(csvInstance(fields, instances.length + 1));
  if (instances.length === 0) throw new InvocationError(400, `invalid CSV: no instances; expected one line per instance: ${CSV_INSTANCE_FIELDS.join(',')}`);
  return instances;
}

function csvInstance(fields: readonly string[], line: number): PriceInstance {
  if (fields.length !== CSV_INSTANCE_FIELDS.length) {
    throw new InvocationError(400, `invalid CSV: line ${line} has ${fields.length} fields; expected ${CSV_INSTANCE_FIELDS.length}: ${CSV_INSTANCE_FIELDS.join(',')}`);
  }
  const instance = Object.fromEntries(
    CSV_INSTANCE_FIELDS.map((name, column) => {
      const field = fields[column] as string;
      if (priceInstanceSchema.shape[name].type === 'string') return [name, field];
      if (!NUMBER.test(field)) throw new InvocationError(400, `invalid CSV: line ${line}, ${name}: expected a number, got "${oneLine(field).slice(0, 40)}"`);
      return [name, Number(field)];
    }),
  );
  const parsed = priceInstanceSchema.safeParse(instance);
  if (!parsed.success) throw new InvocationError(400, `invalid CSV: line ${line}: ${describeIssues(parsed.error)}`);
  return parsed.data;
}

/** The fields of each record in turn; a record ends at LF or CRLF, and a quoted field may hold either. */
function* csvRecords(text: string): Generator<string[]> {
  let fields: string[] = [];
  let field = '';
  let line = 1;
  let index = 0;
  while (index < text.length) {
    const char = text[index] as string;
    if (char === '"' && field === '') {
      const closing = closingQuote(text, index + 1, line);
      field = text.slice(index + 1, closing).replaceAll('""', '"');
      index = closing + 1;
      const next = text[index];
      if (next !== undefined && next !== ',' && next !== '\n' && next !== '\r') throw new InvocationError(400, `invalid CSV: line ${line}: text after a closing quote`);
      continue;
    }
    if (char === ',') {
      fields.push(field);
      field = '';
    } else if (char === '\n' || (char === '\r' && text[index + 1] === '\n')) {
      if (fields.length === 0 && field === '') throw new InvocationError(400, `invalid CSV: line ${line} is empty`);
      yield [...fields, field];
      fields = [];
      field = '';
      line++;
      if (char === '\r') index++;
    } else {
      field += char;
    }
    index++;
  }
  if (fields.length > 0 || field !== '') yield [...fields, field];
}

function closingQuote(text: string, from: number, line: number): number {
  for (let index = from; index < text.length; index++) {
    if (text[index] !== '"') continue;
    if (text[index + 1] === '"') index++;
    else return index;
  }
  throw new InvocationError(400, `invalid CSV: line ${line}: a quoted field is not closed`);
}

/** The response body; every prediction is checked against the contract first (422 for one the model cannot make finite). */
export function encodePredictions(predictions: readonly PricePrediction[], mediaType: MediaType): string {
  predictions.forEach((prediction, index) => {
    const checked = pricePredictionSchema.safeParse(prediction);
    if (!checked.success) throw new InvocationError(422, `cannot price instance ${index} (product ${prediction.product_id}): ${describeIssues(checked.error)}`);
  });
  if (mediaType === JSON_TYPE) return JSON.stringify({ predictions });
  return predictions.map((p) => `${p.product_id},${p.recommended_price},${p.expected_units_per_day},${p.model_version}\n`).join('');
}

function oneLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, ' ');
}
