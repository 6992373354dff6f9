// npm run bench: the gateway side by side with bare proxies (see bench/README.md).
import { fileURLToPath } from 'node:url';
import { runComparison } from './lib/comparison.js';
import { BenchEnvironment } from './lib/environment.js';
import { parseOptions, USAGE } from './lib/options.js';
import { runProfile } from './lib/profile.js';
import { runSoak } from './lib/soak.js';

const RESULTS_DIR = fileURLToPath(new URL('./results/', import.meta.url));

let options;
try {
  options = parseOptions(process.argv.slice(2));
} catch (err) {
  console.error(`${err.message}\n\n${USAGE}`);
  process.exit(2);
}
if (options.help) {
  console.log(USAGE);
  process.exit(0);
}

const env = await BenchEnvironment.start({ keep: options.keep });
const stopOnSignal = () => env.close().finally(() => process.exit(130));
process.once('SIGINT', stopOnSignal);
process.once('SIGTERM', stopOnSignal);
try {
  if (options.soakSeconds !== undefined) await runSoak(env, options, RESULTS_DIR);
  else if (options.profile) await runProfile(env, options, RESULTS_DIR);
  else await runComparison(env, options, `${RESULTS_DIR}latest.json`);
} finally {
  await env.close();
}
