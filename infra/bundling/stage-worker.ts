/**
 * The merge's staging worker thread as the Lambda function runs it. tasks/merge/stage-worker.js
 * loads the TypeScript core through tsx, which a bundled function does not carry; this entry is
 * bundled by esbuild beside the merge's bundle, at tasks/merge/stage-worker.js, where
 * tasks/merge/stage-pool.ts looks for it. Piscina calls what the module exports.
 */
import { stageObject } from '../../tasks/merge/stage-object';

export = stageObject;
