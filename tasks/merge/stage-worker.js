// A staging worker thread (see stage-pool.ts). Piscina loads it with require(), so tsx is registered
// first for the TypeScript core to load as it does in the CLI.
require('tsx/cjs');
module.exports = require('./stage-object.ts').stageObject;
