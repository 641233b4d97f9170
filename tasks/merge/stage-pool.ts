import * as path from 'node:path';
import { Piscina } from 'piscina';
import { stageObject, type StagedRecords, type StageObjectTask } from './stage-object';

/**
 * Stages one raw object: on this thread or on a worker thread, with the same result. A worker thread
 * takes the task's body over when the body is the only view of its memory: the caller must not read it after.
 */
export type ObjectStager = (task: StageObjectTask) => Promise<StagedRecords>;

/** How a merge stages its objects: the stager, how many objects at once, and what to free once staging is done. */
export interface Staging {
  readonly stage: ObjectStager;
  readonly parallelism: number;
  /** Frees what staging held (the worker threads and their heaps) before the merge's DuckDB phase. */
  readonly release?: () => Promise<void>;
}

export const stageOnThisThread: ObjectStager = async (task) => stageObject(task);

export interface StagePool {
  readonly stage: ObjectStager;
  close(): Promise<void>;
}

/**
 * A pool of worker threads for staging, so that parsing and validating raw records uses every core.
 * Idle workers do not keep the process alive; they are kept while the pool lives, so that a worker
 * waiting for its next object is not started again (sharedStaging closes the pool when staging ends).
 */
export function createStagePool(threads: number): StagePool {
  const pool = new Piscina<StageObjectTask, StagedRecords>({
    filename: path.join(__dirname, 'stage-worker.js'),
    minThreads: 0,
    maxThreads: threads,
    idleTimeout: 30_000,
  });
  return {
    // Moved, not copied (raw objects are tens of megabytes), when the body is all of its memory, as a
    // file read gives it: a small Buffer is a view into a pool that other Buffers share.
    stage: (task) => pool.run(task, isWholeBuffer(task.body) ? { transferList: [task.body.buffer as ArrayBuffer] } : {}),
    close: () => pool.destroy(),
  };
}

function isWholeBuffer(view: Uint8Array): boolean {
  return view.buffer instanceof ArrayBuffer && view.byteOffset === 0 && view.byteLength === view.buffer.byteLength;
}

/**
 * Staging for the merges of one process: a pool of `threads` workers shared by the merges running at
 * once and stopped when the last of them has staged its objects, so that the workers' heaps are freed
 * before the DuckDB phase needs the memory.
 */
export function sharedStaging(threads: number): () => Staging {
  let pool: StagePool | undefined;
  let staging = 0;
  return () => {
    const current = (pool ??= createStagePool(threads));
    staging += 1;
    return {
      stage: (task) => current.stage(task),
      // One object queued beyond the workers: a worker that finishes takes it at once, instead of
      // waiting while the merge writes an earlier object's result (results are written in order).
      parallelism: threads + 1,
      release: async () => {
        staging -= 1;
        if (staging > 0 || pool !== current) return;
        pool = undefined;
        await current.close();
      },
    };
  };
}
