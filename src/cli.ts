import { createRequire } from 'node:module';
import yargs from 'yargs';
import { ConfigError } from './config/load.js';
import { exportCommand, verifyCommand, verifyPostgresCommand } from './commands/audit.js';
import { checkConfig } from './commands/check-config.js';
import { generateKeys } from './commands/keys.js';
import { demo } from './commands/demo.js';
import { EXIT_FAILURE, EXIT_USAGE, UsageError } from './commands/exit-codes.js';
import { serve } from './commands/serve.js';

type Env = Readonly<Record<string, string | undefined>>;

const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

/** Parses argv, runs one command, and returns its exit code (SPEC section 8). */
export async function main(argv: readonly string[], env: Env): Promise<number> {
  let exitCode = EXIT_USAGE;
  const run = (command: () => Promise<number> | number) => async () => {
    exitCode = await command();
  };
  const cli = yargs([...argv])
    .scriptName('btg-gateway')
    .usage('$0 <command> [options]\n\nBreak The Glass gateway: time-boxed, patient-scoped, audited emergency access.')
    .command(
      'serve',
      'Run the gateway',
      (y) =>
        y
          .option('config', { alias: 'c', type: 'string', demandOption: true, describe: 'YAML config file' })
          .option('log-level', { type: 'string', describe: 'Overrides logging.level' }),
      (args) => run(() => serve({ config: args.config, logLevel: args.logLevel, env }))(),
    )
    .command(
      'check-config',
      'Validate a config file (exit 0 valid, 2 invalid)',
      (y) => y.option('config', { alias: 'c', type: 'string', demandOption: true, describe: 'YAML config file' }),
      (args) => run(() => checkConfig(args.config, env, process.stdout))(),
    )
    .command(
      'demo',
      'Start a sample upstream and the gateway in front of it, and print what to try',
      (y) =>
        y
          .option('port', { type: 'number', default: 8080, describe: 'Gateway main listener port' })
          .option('admin-port', { type: 'number', default: 9090, describe: 'Gateway admin listener port' })
          .option('upstream-port', { type: 'number', default: 8081, describe: 'Sample upstream port' })
          .option('audit-file', { type: 'string', default: './data/demo-audit.jsonl', describe: 'Audit file' })
          .option('log-level', { type: 'string', default: 'warn', describe: 'Log level' }),
      (args) =>
        run(() =>
          demo({
            port: args.port,
            adminPort: args.adminPort,
            upstreamPort: args.upstreamPort,
            auditFile: args.auditFile,
            logLevel: args.logLevel,
            out: process.stdout,
          }),
        )(),
    )
    .command('keys', 'Manage BTG signing keys', (y) =>
      y
        .command(
          'generate',
          'Write a new private signing key (JWK, mode 0600) and print its public half',
          (g) =>
            g
              .option('alg', { choices: ['EdDSA', 'ES256', 'HS256'] as const, default: 'EdDSA' as const, describe: 'Signing algorithm' })
              .option('out', { type: 'string', demandOption: true, describe: 'Where to write the private JWK' })
              .option('force', { type: 'boolean', default: false, describe: 'Replace an existing file' }),
          (args) => run(() => generateKeys(args.alg, args.out, args.force, process.stdout))(),
        )
        .demandCommand(1, 'Name a keys command; see keys --help'),
    )
    .command('audit', 'Verify or export the audit trail', (y) =>
      y
        .command(
          'verify [files..]',
          'Recompute every hash; exit 0 when intact, 1 naming the first bad seq',
          (v) =>
            v
              .positional('files', { type: 'string', array: true, describe: 'Audit files (a current file brings its rotated set)' })
              .option('postgres', { type: 'string', describe: 'Verify a PostgreSQL audit table instead (connection URL)' })
              .option('table', { type: 'string', describe: 'Audit table (with --postgres; default btg_audit)' })
              .option('instance', { type: 'string', describe: 'Only this instance\'s chain (with --postgres)' })
              .check((args) => {
                if ((args.files?.length ?? 0) === 0 && !args.postgres) throw new UsageError('name audit files or --postgres <url>');
                if ((args.files?.length ?? 0) > 0 && args.postgres) throw new UsageError('name audit files or --postgres, not both');
                return true;
              }),
          (args) =>
            run(() =>
              args.postgres
                ? verifyPostgresCommand(args.postgres, { ...(args.table ? { table: args.table } : {}), ...(args.instance ? { instance: args.instance } : {}) }, process.stdout)
                : verifyCommand(args.files!, process.stdout),
            )(),
        )
        .command(
          'export <files..>',
          'Write FHIR R4 AuditEvent resources (NDJSON) to stdout',
          (e) =>
            e
              .positional('files', { type: 'string', array: true, demandOption: true, describe: 'Audit files' })
              .option('format', { type: 'string', default: 'fhir', describe: 'Export format (fhir)' }),
          (args) => run(() => exportCommand(args.files, args.format, process.stdout, process.stderr))(),
        )
        .demandCommand(1, 'Name an audit command; see audit --help'),
    )
    .demandCommand(1, 'Name a command; see --help')
    .strict()
    .version(version)
    .help()
    .alias('h', 'help')
    .wrap(Math.min(110, process.stdout.columns ?? 110))
    .exitProcess(false)
    .fail((message, err) => {
      throw err ?? new UsageError(message);
    });
  try {
    const parsed = await cli.parseAsync();
    if (parsed.help || parsed.version) return 0;
    return exitCode;
  } catch (err) {
    return reportFailure(err);
  }
}

function reportFailure(err: unknown): number {
  // The reader went away (`… | head`): nothing more to say, and not a failure of ours.
  if ((err as NodeJS.ErrnoException).code === 'EPIPE') return 0;
  if (err instanceof ConfigError || err instanceof UsageError) {
    process.stderr.write(`btg-gateway: ${err.message}\n`);
    return EXIT_USAGE;
  }
  process.stderr.write(`btg-gateway: ${(err as Error).stack ?? String(err)}\n`);
  return EXIT_FAILURE;
}
