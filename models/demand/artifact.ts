import { createHash } from 'node:crypto';
import { z } from 'zod';
import { NotFoundError } from '../../tasks/ports/errors';
import type { ObjectStore } from '../../tasks/ports/object-store';
import { describeIssues } from '../../tasks/shared/describe-issues';

/**
 * The demand model as it is stored and served: `models/demand/v=<version>/model.json` in the lake
 * (immutable: the version is derived from the content), `models/demand/current.json` naming the
 * version in use, and `/opt/ml/model/model.json` in the SageMaker container (the artifact alone,
 * as `model.tar.gz` unpacks it).
 */

export const DEMAND_MODEL_FORMAT = 'demand-response/v1';
export const MODEL_FILE_NAME = 'model.json';
const MODELS_PREFIX = 'models/demand/';
export const CURRENT_MODEL_KEY = `${MODELS_PREFIX}current.json`;

const hourSchema = z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}$/);

/** One category's demand curve: units per view = exp(intercept + elasticity · ln(price / base price)). */
const demandCurveSchema = z.object({
  intercept: z.number(),
  elasticity: z.number(),
  /** Posterior standard deviation of the elasticity: how sure the fit is. */
  elasticitySd: z.number().nonnegative(),
  /** Training views and units behind the fit (0 for a category with no data, which keeps the pooled curve). */
  views: z.number().int().nonnegative(),
  units: z.number().int().nonnegative(),
});
export type DemandCurve = z.infer<typeof demandCurveSchema>;

const evaluationSchema = z.object({
  /** Products with views or units in the held-out hours. */
  products: z.number().int().nonnegative(),
  units: z.number().int().nonnegative(),
  /** Root mean squared error of each product's units over the held-out hours. */
  modelRmse: z.number().nonnegative(),
  /** The same for the price-blind baseline: the category's training units per view. */
  baselineRmse: z.number().nonnegative(),
});
export type Evaluation = z.infer<typeof evaluationSchema>;

export const demandModelSchema = z.object({
  format: z.literal(DEMAND_MODEL_FORMAT),
  version: z.string().regex(/^[0-9A-Za-z-]+$/),
  /** Event hours: training is [from, holdoutFrom), evaluation [holdoutFrom, to). */
  trainedOn: z.object({ from: hourSchema, holdoutFrom: hourSchema, to: hourSchema }),
  /** The shop-wide curve: for a category the model has not seen, and the prior of each category's fit. */
  pooled: demandCurveSchema,
  categories: z.record(z.string(), demandCurveSchema),
  evaluation: evaluationSchema,
});
export type DemandModel = z.infer<typeof demandModelSchema>;

/** Thrown for an artifact that does not parse or does not match the schema; the message says where. */
export class InvalidModelArtifactError extends Error {
  override readonly name = 'InvalidModelArtifactError';
}

/** The model with its version: the training window's end and a hash of everything else, so that the same data gives the same version. */
export function versioned(content: Omit<DemandModel, 'version'>): DemandModel {
  const hash = createHash('sha256').update(JSON.stringify(content)).digest('hex').slice(0, 12);
  return { version: `${content.trainedOn.to}-${hash}`, ...content };
}

export function modelKey(version: string): string {
  return `${MODELS_PREFIX}v=${version}/${MODEL_FILE_NAME}`;
}

export function serializeModel(model: DemandModel): string {
  return `${JSON.stringify(model, null, 2)}\n`;
}

export function parseModel(text: string, source: string): DemandModel {
  const parsed = demandModelSchema.safeParse(parseJson(text, source));
  if (!parsed.success) throw new InvalidModelArtifactError(`${source} is not a ${DEMAND_MODEL_FORMAT} model: ${describeIssues(parsed.error)}`);
  return parsed.data;
}

function parseJson(text: string, source: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new InvalidModelArtifactError(`${source} is not JSON: ${(error as Error).message}`, { cause: error });
  }
}

const pointerSchema = z.object({ version: z.string(), key: z.string() });

/**
 * Stores the artifact under its version (never overwritten: the same version is the same bytes),
 * then points `current.json` at it, so a reader finds the old model or the whole new one.
 */
export async function publishModel(store: ObjectStore, model: DemandModel): Promise<string> {
  const key = modelKey(model.version);
  await store.putIfAbsent(key, serializeModel(model));
  await store.put(CURRENT_MODEL_KEY, `${JSON.stringify({ version: model.version, key })}\n`);
  return key;
}

/** The model `current.json` points at; NotFoundError when none was trained. */
export async function readCurrentModel(store: ObjectStore): Promise<DemandModel> {
  let pointerText: string;
  try {
    pointerText = (await store.get(CURRENT_MODEL_KEY)).toString('utf8');
  } catch (error) {
    if (error instanceof NotFoundError) throw new NotFoundError(`no demand model at ${CURRENT_MODEL_KEY} (run "lakehouse train-model" first)`, { cause: error });
    throw error;
  }
  const pointer = pointerSchema.safeParse(parseJson(pointerText, CURRENT_MODEL_KEY));
  if (!pointer.success) throw new InvalidModelArtifactError(`${CURRENT_MODEL_KEY} does not name a model version`);
  return parseModel((await store.get(pointer.data.key)).toString('utf8'), pointer.data.key);
}
