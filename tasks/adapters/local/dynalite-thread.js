// The dynalite server of a lake's tables (see local-dynamodb.ts), on a worker thread of its own, so
// that it answers requests on one core while the main thread builds them on the other.
const { parentPort, workerData } = require('node:worker_threads');
const dynalite = require('dynalite');

const server = dynalite({ path: workerData.path, createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
server.once('error', (error) => parentPort.postMessage({ kind: 'failed', message: error.message }));
server.listen(0, '127.0.0.1', () => parentPort.postMessage({ kind: 'listening', port: server.address().port }));
// Closing the server closes its LevelDB too; the thread then ends with nothing left to run.
parentPort.once('message', () => {
  server.close((error) => {
    parentPort.postMessage(error ? { kind: 'failed', message: error.message } : { kind: 'closed' });
    parentPort.close();
  });
});
