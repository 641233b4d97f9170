import { InvalidInputError } from '../../tasks/ports/errors';
import { run as planHours } from '../../tasks/plan-hours/run';
import { BackfillIncompleteError, run as summarizeBackfill } from '../../tasks/summarize-backfill/run';

describe('plan-hours', () => {
  it('lists the hours from inclusive to exclusive, with the default concurrency', () => {
    expect(planHours({ from: '2021-07-12T22', to: '2021-07-13T01' })).toEqual({
      hours: ['2021-07-12T22', '2021-07-12T23', '2021-07-13T00'],
      concurrency: 4,
    });
  });

  it('plans nothing for an empty range', () => {
    expect(planHours({ from: '2021-07-12T05', to: '2021-07-12T05', concurrency: 1 })).toEqual({ hours: [], concurrency: 1 });
  });

  it.each([
    [{ from: '2021-07-12T05', to: '2021-07-12T03' }, /after/],
    [{ from: '2021-07-12 05', to: '2021-07-12T06' }, /YYYY-MM-DDTHH/],
    [{ from: '2021-02-30T05', to: '2021-03-01T06' }, /no such date/],
    [{ to: '2021-07-12T06' }, /from/],
    [{ from: '2021-07-12T05', to: '2021-07-12T06', concurrency: 0 }, /concurrency/],
    [{ from: '2021-07-12T05', to: '2021-07-12T06', concurrency: 41 }, /concurrency/],
    [{ from: '2021-07-12T05', to: '2021-07-12T06', concurrency: 2.5 }, /concurrency/],
    [null, /expected/],
  ])('rejects %j with InvalidInputError', (input, message) => {
    expect(() => planHours(input)).toThrow(InvalidInputError);
    expect(() => planHours(input)).toThrow(message);
  });
});

describe('summarize-backfill', () => {
  const succeeded = () => ({});

  it('counts the hours when all succeeded', () => {
    expect(summarizeBackfill({ from: 'a', to: 'b', results: [succeeded(), succeeded()] })).toEqual({
      from: 'a',
      to: 'b',
      hours: 2,
      succeeded: 2,
      failed: 0,
    });
  });

  it('counts a success recorded with its hour and status, as a backfill started before results were emptied records it', () => {
    const recorded = { hour: 'h1', status: 'SUCCEEDED', executionArn: 'arn:x:h1' };
    expect(summarizeBackfill({ from: 'a', to: 'b', results: [recorded, succeeded()] })).toMatchObject({ hours: 2, succeeded: 2, failed: 0 });
  });

  it('throws BackfillIncompleteError listing each failed hour with its child execution error', () => {
    const childCause = JSON.stringify({ Name: 'hourly-h2-0badc0de', Status: 'FAILED', Error: 'InvalidInputError', Cause: 'bad raw hour' });
    const results = [succeeded(), { hour: 'h2', status: 'FAILED', error: { Error: 'States.TaskFailed', Cause: childCause } }];
    let caught: unknown;
    try {
      summarizeBackfill({ from: 'a', to: 'b', results });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(BackfillIncompleteError);
    expect((caught as Error).name).toBe('BackfillIncompleteError');
    expect((caught as Error).message).toBe('backfill a..b incomplete: 1 of 2 hours failed: h2 InvalidInputError: bad raw hour [execution hourly-h2-0badc0de]');
    expect((caught as BackfillIncompleteError).failedHours).toEqual([
      { hour: 'h2', error: 'InvalidInputError', cause: 'bad raw hour', execution: 'hourly-h2-0badc0de' },
    ]);
  });

  it('keeps an error whose cause is not a child description as it is', () => {
    const results = [{ hour: 'h1', status: 'FAILED', error: { Error: 'States.Timeout', Cause: 'too slow' } }];
    expect(() => summarizeBackfill({ from: 'a', to: 'b', results })).toThrow('h1 States.Timeout: too slow');
  });

  it('rejects a malformed input with InvalidInputError', () => {
    expect(() => summarizeBackfill({ from: 'a', to: 'b', results: [{ status: 'SUCCEEDED' }] })).toThrow(InvalidInputError);
  });
});
