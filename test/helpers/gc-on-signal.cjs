// Preloaded into a server under test (node --expose-gc --require …): SIGUSR2 runs a full
// collection, so a memory reading afterwards is the live set, not whatever V8 had not yet collected.
process.on('SIGUSR2', () => {
  if (typeof global.gc === 'function') global.gc();
});
