import WebSocket from 'ws';

/** Opens a WebSocket, sends one message, and returns the first reply (then closes). */
export async function exchangeOnce(url: string, headers: Record<string, string>, message: string): Promise<string> {
  const ws = new WebSocket(url, { headers });
  try {
    return await new Promise<string>((resolve, reject) => {
      ws.on('open', () => ws.send(message));
      ws.on('message', (data) => resolve(String(data)));
      ws.on('error', reject);
    });
  } finally {
    ws.close();
  }
}
