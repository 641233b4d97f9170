import { createAwsPorts, type AwsPorts } from './aws-ports';

/**
 * A Lambda handler whose task handler is built from the function's environment on the first
 * invocation and kept for the life of the execution environment. Built then rather than at import,
 * so that a missing variable fails the invocation with its name (the state's error), not the init.
 */
export function lambdaEntry<E, R>(build: (ports: AwsPorts) => (event: E) => Promise<R>, env: NodeJS.ProcessEnv = process.env): (event: E) => Promise<R> {
  let handler: ((event: E) => Promise<R>) | undefined;
  return (event) => (handler ??= build(createAwsPorts(env)))(event);
}
