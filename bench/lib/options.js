// Command-line options of `npm run bench -- [options]`.
import { parseArgs } from 'node:util';

const PROFILE_CASE_NAMES = ['gateway-btg', 'gateway-passthrough', 'gateway-grant'];

export const USAGE = `usage: npm run bench -- [--quick] [--with-scaleout] [--rounds N] [--duration S] [--keep]
       npm run bench -- --profile [--profile-case NAME] [--quick] [--duration S]
       npm run bench -- --soak SECONDS

  (default)        every case, round-robin, 2 rounds of 1 s warm-up + 10 s measured
  --quick          about 30 s in all: 0.5 s warm-up + 1 s measured per run
  --with-scaleout  add gateway-redis-btg (Redis store) and gateway-scaleout-btg (Redis + PostgreSQL audit sink); skipped with a note if unavailable
  --rounds N       repetitions of every case (at least 2)
  --duration S     measured seconds per run
  --profile        run one gateway under node --cpu-prof with the BTG load and summarise the profile
  --profile-case   the load to profile: gateway-btg (default), gateway-passthrough or gateway-grant
  --soak S         drive gateway-btg for S seconds and report RSS at start, middle and end
  --keep           keep the temp dir (configs, audit files, profiles)`;

export function parseOptions(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      'with-scaleout': { type: 'boolean', default: false },
      rounds: { type: 'string' },
      duration: { type: 'string' },
      profile: { type: 'boolean', default: false },
      'profile-case': { type: 'string', default: 'gateway-btg' },
      soak: { type: 'string' },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const oneOf = (name, value, allowed) => {
    if (!allowed.includes(value)) throw new Error(`--${name} must be one of ${allowed.join(', ')}, got ${value}`);
    return value;
  };
  const number = (name, value, min) => {
    const n = Number(value);
    if (!Number.isFinite(n) || n < min) throw new Error(`--${name} must be a number >= ${min}, got ${value}`);
    return n;
  };
  return {
    help: values.help,
    quick: values.quick,
    withScaleout: values['with-scaleout'],
    profile: values.profile,
    profileCase: oneOf('profile-case', values['profile-case'], PROFILE_CASE_NAMES),
    soakSeconds: values.soak === undefined ? undefined : number('soak', values.soak, 10),
    keep: values.keep,
    rounds: values.rounds === undefined ? 2 : number('rounds', values.rounds, 2),
    warmupSeconds: values.quick ? 0.5 : 1,
    durationSeconds: values.duration === undefined ? (values.quick ? 1 : 10) : number('duration', values.duration, 1),
  };
}
