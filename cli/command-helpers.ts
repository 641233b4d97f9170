import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { hourStartMs } from '../tasks/shared/hours';

/** `--lake` defaults to ./lake in every command. */
export const DEFAULT_LAKE = 'lake';

export function addLakeOption(command: Command): Command {
  return command.option('--lake <dir>', 'lake directory (the local stand-in for the S3 bucket)', DEFAULT_LAKE);
}

/** Thrown for a failure the user can act on; its message is printed as the command's one line. */
export class CliError extends Error {
  override readonly name = 'CliError';
}

/**
 * Wraps a command action so that any failure prints exactly one line, `lakehouse <command>: <why>`,
 * and sets a non-zero exit code, instead of a stack trace.
 */
export function action<A extends unknown[]>(commandName: string, run: (...args: A) => Promise<void>) {
  return async (...args: A): Promise<void> => {
    try {
      await run(...args);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      process.stderr.write(`lakehouse ${commandName}: ${message.split('\n')[0]}\n`);
      if (process.env.LAKEHOUSE_DEBUG) process.stderr.write(`${(error as Error)?.stack ?? ''}\n`);
      process.exitCode = 1;
    }
  };
}

/** Resolves `--lake` for commands that read an existing lake; a missing directory is an error, not an empty lake. */
export async function existingLake(dir: string): Promise<string> {
  const resolved = path.resolve(dir);
  const stat = await fs.stat(resolved).catch(() => undefined);
  if (!stat?.isDirectory()) {
    throw new CliError(`lake directory ${dir} does not exist (run "lakehouse generate --lake ${dir} ..." or "lakehouse demo" first)`);
  }
  return resolved;
}

/** Checks an hour option early, so that a bad value fails before anything is written. */
export function checkHour(value: string, option: string): string {
  try {
    hourStartMs(value);
  } catch (error) {
    throw new CliError(`${option}: ${(error as Error).message}`);
  }
  return value;
}

export function parsePositiveNumber(value: string, option: string): number {
  const number = Number(value);
  if (!Number.isFinite(number) || number <= 0) throw new CliError(`${option} must be a positive number, got "${value}"`);
  return number;
}

export function parsePositiveInteger(value: string, option: string): number {
  const number = parsePositiveNumber(value, option);
  if (!Number.isInteger(number)) throw new CliError(`${option} must be a whole number, got "${value}"`);
  return number;
}

export function parseFraction(value: string, option: string): number {
  const number = Number(value);
  if (!Number.isFinite(number) || number < 0 || number > 1) throw new CliError(`${option} must be a fraction between 0 and 1, got "${value}"`);
  return number;
}
