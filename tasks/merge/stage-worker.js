// A staging worker thread (see stage-pool.ts). Piscina loads it with require(), so tsx is registered
// first for the TypeScript core to load as it does in the CLI.
require('tsx/cjs');
const { move, transferableSymbol, valueSymbol } = require('piscina');
const { stageObject } = require('./stage-object.ts');

// The staged CSV moves back to the merge's thread instead of being copied: each chunk is the only view
// of its memory (see StagedRecords.csv).
module.exports = (task) => {
  const staged = stageObject(task);
  return move({
    get [transferableSymbol]() {
      return staged.csv.map((chunk) => chunk.buffer);
    },
    get [valueSymbol]() {
      return staged;
    },
  });
};
