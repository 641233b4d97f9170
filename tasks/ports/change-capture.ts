/**
 * Where a writer of a streamed table records each change before making it. On AWS nothing does:
 * DynamoDB Streams captures the table's changes itself. The embedded default's server has no
 * streams, so its writer records them, write-ahead: a change recorded and then not made (a crash)
 * is made and recorded again by the retry, which the stream's consumers must and do tolerate as they
 * tolerate Streams' at-least-once delivery; a change is never made unrecorded.
 */
export interface ItemChange<T extends object = Record<string, unknown>> {
  /** As DynamoDB Streams names them; a writer that never deletes makes no REMOVE. */
  readonly eventName: 'INSERT' | 'MODIFY';
  /** The item's key attributes. */
  readonly keys: Readonly<Record<string, unknown>>;
  readonly newImage: T;
  /** The item the change replaces (MODIFY only). */
  readonly oldImage?: T;
}

export interface ChangeCapture {
  /**
   * Runs `write` (read the items, record the changes, make them) while no other writer of the table
   * runs its own, so that the records of a key come in the order its writes were made, as DynamoDB
   * Streams orders them, although the writes themselves are not conditional.
   */
  exclusively<T>(write: () => Promise<T>): Promise<T>;
  /** Records `changes` durably, in order, before the caller writes them. */
  record(changes: readonly ItemChange<object>[]): Promise<void>;
}
