// Every bench child server tells its parent its port over the IPC channel once it listens.
export function announceReady(server) {
  process.send?.({ ready: true, port: server.address().port });
}

/** The upstream origin a proxy child was given, e.g. http://127.0.0.1:40123. */
export function upstreamFromArgs() {
  const url = process.argv[2];
  if (!url) throw new Error(`usage: node ${process.argv[1]} <upstream-url>`);
  return url;
}
