/**
 * What the local workflow runner calls for a Task state: the same `run` cores the Lambda handlers call,
 * keyed by task name (the descriptor of each workflow maps state names to these names).
 */
export type TaskHandler = (input: unknown) => Promise<unknown>;

export type TaskRegistry = Readonly<Record<string, TaskHandler>>;
