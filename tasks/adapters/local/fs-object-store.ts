import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { InvalidInputError, NotFoundError, TransientStorageError } from '../../ports/errors';
import { checkObjectKey, type ObjectInfo, type ObjectStore } from '../../ports/object-store';

/** Temporary files live here, outside every listed prefix, on the same filesystem as their targets. */
const TEMP_DIR = '.tmp';

/**
 * The object store of the embedded default: a directory whose relative paths are the S3 keys.
 * Writes go to a temporary file that is fsynced, then renamed (put) or hard-linked (putIfAbsent, which
 * fails if the target exists: an exclusive create that a rename cannot give on every filesystem).
 */
export class FsObjectStore implements ObjectStore {
  constructor(readonly root: string) {}

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    const slash = prefix.lastIndexOf('/');
    const baseDir = slash < 0 ? '' : prefix.slice(0, slash);
    const keys: string[] = [];
    await this.collectKeys(baseDir, prefix, keys);
    keys.sort();
    for (const key of keys) {
      try {
        const stat = await fs.stat(this.pathOf(key));
        yield { key, size: stat.size, lastModified: stat.mtime };
      } catch (error) {
        if (!isMissing(error)) throw translate(error, key);
      }
    }
  }

  async get(key: string): Promise<Buffer> {
    try {
      return await fs.readFile(this.pathOf(key));
    } catch (error) {
      throw translate(error, key);
    }
  }

  async put(key: string, body: Buffer | string): Promise<void> {
    const target = this.pathOf(key);
    const temp = await this.writeTemp(body);
    try {
      await intoDirOf(target, () => fs.rename(temp, target));
    } catch (error) {
      await fs.rm(temp, { force: true });
      throw translate(error, key);
    }
  }

  async putFile(key: string, localPath: string): Promise<void> {
    const target = this.pathOf(key);
    try {
      const handle = await fs.open(localPath, 'r+');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
      await intoDirOf(target, () => fs.rename(localPath, target));
    } catch (error) {
      throw translate(error, key);
    }
  }

  get scratchDir(): string {
    return path.join(this.root, TEMP_DIR);
  }

  async putIfAbsent(key: string, body: Buffer | string): Promise<boolean> {
    const target = this.pathOf(key);
    const temp = await this.writeTemp(body);
    try {
      await intoDirOf(target, () => fs.link(temp, target));
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw translate(error, key);
    } finally {
      await fs.rm(temp, { force: true });
    }
  }

  async delete(key: string): Promise<void> {
    await fs.rm(this.pathOf(key), { force: true });
    await this.removeEmptyDirsAbove(key);
  }

  async exists(key: string): Promise<boolean> {
    try {
      await fs.access(this.pathOf(key));
      return true;
    } catch {
      return false;
    }
  }

  locate(key: string): string {
    return this.pathOf(key);
  }

  private pathOf(key: string): string {
    checkObjectKey(key);
    return path.join(this.root, key);
  }

  /**
   * S3 has no directories, so nothing else would remove them: without this, every version the vacuum
   * deletes would leave its empty directory behind for every later listing to walk.
   */
  private async removeEmptyDirsAbove(key: string): Promise<void> {
    for (let dir = path.posix.dirname(key); dir !== '.'; dir = path.posix.dirname(dir)) {
      try {
        await fs.rmdir(path.join(this.root, dir));
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        // Already gone (a concurrent delete): its parent may be empty now too.
        if (code === 'ENOENT') continue;
        if (code === 'ENOTEMPTY' || code === 'EEXIST') return;
        throw translate(error, key);
      }
    }
  }

  private async writeTemp(body: Buffer | string): Promise<string> {
    const dir = path.join(this.root, TEMP_DIR);
    await fs.mkdir(dir, { recursive: true });
    const temp = path.join(dir, randomUUID());
    const handle = await fs.open(temp, 'wx');
    try {
      await handle.writeFile(body);
      await handle.sync();
    } finally {
      await handle.close();
    }
    return temp;
  }

  private async collectKeys(dirKey: string, prefix: string, into: string[]): Promise<void> {
    let entries;
    try {
      entries = await fs.readdir(dirKey === '' ? this.root : path.join(this.root, dirKey), { withFileTypes: true });
    } catch (error) {
      if (isMissing(error) || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return;
      throw translate(error, dirKey);
    }
    for (const entry of entries) {
      if (dirKey === '' && entry.name === TEMP_DIR) continue;
      const key = dirKey === '' ? entry.name : `${dirKey}/${entry.name}`;
      if (entry.isDirectory()) {
        if (prefix.startsWith(`${key}/`) || `${key}/`.startsWith(prefix)) await this.collectKeys(key, prefix, into);
      } else if (entry.isFile() && key.startsWith(prefix)) {
        into.push(key);
      }
    }
  }
}

function isMissing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException).code === 'ENOENT';
}

function translate(error: unknown, key: string): Error {
  if (isMissing(error)) return new NotFoundError(`no object "${key}"`, { cause: error });
  if (error instanceof InvalidInputError) return error;
  return new TransientStorageError(`storage failed on "${key}": ${(error as Error).message}`, { cause: error });
}

const PLACE_ATTEMPTS = 10;

/**
 * Creates the directory of `target`, then runs `place` (a rename or link to `target`) and makes it
 * durable. A delete may remove the directory between the two when it empties it; then it is created
 * again and `place` retried.
 */
async function intoDirOf(target: string, place: () => Promise<void>): Promise<void> {
  const dir = path.dirname(target);
  for (let attempt = 1; ; attempt++) {
    try {
      await fs.mkdir(dir, { recursive: true });
      await place();
      break;
    } catch (error) {
      if (!isMissing(error) || attempt === PLACE_ATTEMPTS) throw error;
    }
  }
  await syncDir(dir);
}

async function syncDir(dir: string): Promise<void> {
  // Makes the new directory entry durable; without it a crash can forget a rename that already returned.
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
