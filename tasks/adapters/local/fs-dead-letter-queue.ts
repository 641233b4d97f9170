import type { DeadLetter, DeadLetterQueue } from '../../ports/dead-letter-queue';
import type { ObjectStore } from '../../ports/object-store';

/**
 * The embedded default's dead letters: one JSON file per record under `prefix`, named by the record's
 * sequence number and created exclusively, so that a record sent twice (a crash after sending, before
 * the stream moved past it) keeps its first letter.
 */
export class FsDeadLetterQueue implements DeadLetterQueue {
  constructor(
    private readonly store: ObjectStore,
    readonly prefix: string,
  ) {}

  async send(letter: DeadLetter): Promise<void> {
    const name = letter.record.dynamodb?.SequenceNumber ?? letter.record.eventID ?? letter.failedAt;
    await this.store.putIfAbsent(`${this.prefix}${name}.json`, `${JSON.stringify(letter, null, 2)}\n`);
  }

  /** Every letter, oldest record first. */
  async list(): Promise<DeadLetter[]> {
    const letters: DeadLetter[] = [];
    for await (const object of this.store.list(this.prefix)) {
      if (object.key.endsWith('.json')) letters.push(JSON.parse((await this.store.get(object.key)).toString('utf8')) as DeadLetter);
    }
    return letters;
  }
}
