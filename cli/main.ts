import { parseArgs } from 'node:util';
import { loadConfig } from '../lib/config';
import { EmethError } from '../lib/errors';
import { up } from './up';
import { demo } from './demo';

const USAGE = `usage: emeth <command> [options]

commands:
  up                 start the embedded stack (Temporal, anvil + contracts, database, L2 worker, gateway)
                     and keep it running until Ctrl-C
  demo [--keep]      start the stack, run the demo through it, print where to look, then stop
                     (--keep: stay up afterwards)
  help               this text

Configuration comes from EMETH_* environment variables; see the README's table.`;

const out = (line: string) => process.stdout.write(line + '\n');

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'up': {
      parseArgs({ args: rest, options: {}, strict: true });
      return up(loadConfig(), { env: process.env, out });
    }
    case 'demo': {
      const { values } = parseArgs({ args: rest, options: { keep: { type: 'boolean', default: false } }, strict: true });
      return demo(loadConfig(), { keep: values.keep ?? false, env: process.env, out });
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      out(USAGE);
      return 0;
    default:
      process.stderr.write(`emeth: unknown command "${command}"; run \`emeth help\` for the list\n`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    // Our own errors already say what to do: print them as one sentence. Others get the stack.
    if (err instanceof EmethError || (err instanceof TypeError && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS'))) {
      process.stderr.write(`emeth: ${err.message}\n`);
    } else {
      process.stderr.write(`emeth: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    }
    process.exit(1);
  },
);
