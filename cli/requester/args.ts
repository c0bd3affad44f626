/**
 * What every requester and node command shares: its usage text from one declaration, argument
 * parsing with node's `parseArgs`, amounts in EMETH, and the exit status: 0 done, 2 the command
 * line was wrong, 1 anything else, each failure printed as one sentence naming what to do.
 */
import { parseArgs } from 'node:util';
import { formatUnits, parseUnits } from 'ethers';
import { EmethError } from '../../lib/errors';

export type Env = Record<string, string | undefined>;

/** Where a command reads and writes: the process's streams in the CLI, buffers in tests. */
export interface Io {
  out(line: string): void;
  err(line: string): void;
  env: Env;
  /** Asks for a line without echoing it (a password); absent where there is no terminal. */
  prompt?: (question: string) => Promise<string>;
}

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  /** The value's name in the usage text, e.g. "file". */
  value?: string;
  help: string;
}

export interface CommandSpec {
  /** "deposit", "node status", … */
  name: string;
  /** The positionals as the usage line shows them, e.g. "<EMETH>" or "[<EMETH>]". */
  args?: string;
  /** What the command does, in a sentence or two. */
  summary: string;
  options: Record<string, OptionSpec>;
  positionals: { min: number; max: number };
}

/** The command line was wrong: exit status 2. */
export class UsageError extends EmethError {
  constructor(message: string) {
    super('USAGE', message);
  }
}

/** Options that would put a secret on the command line, where `ps` shows it to every user. */
const SECRET_OPTIONS: Record<string, string> = {
  key: '--key is refused: a private key on the command line is visible to every user of this machine in ps; use --keystore <file>, --key-file <0600 file> or the EMETH_KEY variable',
  password:
    '--password is refused: a password on the command line is visible to every user of this machine in ps; set EMETH_KEYSTORE_PASSWORD or type it at the prompt',
};

export const HELP_OPTION: Record<string, OptionSpec> = {
  help: { type: 'boolean', short: 'h', help: 'this text' },
};

export function usageOf(spec: CommandSpec): string {
  const options = { ...spec.options, ...HELP_OPTION };
  const flags = Object.entries(options).map(([name, o]) => {
    const long = `--${name}${o.type === 'string' ? ` <${o.value ?? 'value'}>` : ''}`;
    return { flag: o.short ? `-${o.short}, ${long}` : `    ${long}`, help: o.help };
  });
  const width = Math.max(...flags.map((f) => f.flag.length));
  return [
    `usage: emeth ${spec.name} [options]${spec.args ? ` ${spec.args}` : ''}`,
    '',
    ...spec.summary.split('\n').map((l) => `  ${l}`),
    '',
    'options:',
    ...flags.map((f) => `  ${f.flag.padEnd(width)}  ${f.help}`),
  ].join('\n');
}

export interface Parsed {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

/** Parses `argv` for `spec`; `undefined` means --help was asked for. Throws UsageError. */
export function parseCommand(spec: CommandSpec, argv: string[]): Parsed | undefined {
  // Before parseArgs, so that `--key` refuses the same way with or without a value, and says why.
  for (const arg of argv) {
    if (arg === '--') break;
    const m = /^--([^=]+)(=|$)/.exec(arg);
    if (m && SECRET_OPTIONS[m[1]!]) throw new UsageError(SECRET_OPTIONS[m[1]!]!);
  }
  const options = Object.fromEntries(
    Object.entries({ ...spec.options, ...HELP_OPTION }).map(([name, o]) => [
      name,
      o.short ? { type: o.type, short: o.short } : { type: o.type },
    ]),
  );
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(`${parseArgsProblem(err)}; run \`emeth ${spec.name} --help\` for its options`);
  }
  const values = parsed.values as Parsed['values'];
  if (values.help) return undefined;
  const n = parsed.positionals.length;
  if (n < spec.positionals.min || n > spec.positionals.max) {
    const expected =
      spec.positionals.max === 0
        ? 'takes no arguments'
        : spec.positionals.min === spec.positionals.max
          ? `takes ${spec.args}`
          : `takes ${spec.args} or nothing`;
    const extra = n > spec.positionals.max ? ` (got ${parsed.positionals.join(' ')})` : '';
    throw new UsageError(
      `emeth ${spec.name} ${expected}${extra}; run \`emeth ${spec.name} --help\` for its usage`,
    );
  }
  return { values, positionals: parsed.positionals };
}

/** parseArgs' complaint in a few words, without its long advice (and never an option's value). */
function parseArgsProblem(err: unknown): string {
  const e = err as { code?: string; message?: string };
  const option = /'(-[^' ]+)/.exec(e.message ?? '')?.[1];
  switch (e.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown option ${option ?? ''}`.trim();
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return option ? `option ${option} needs a value` : 'an option is missing its value';
    default:
      return e.message ?? String(err);
  }
}

export function stringOption(p: Parsed, name: string): string | undefined {
  const v = p.values[name];
  return typeof v === 'string' ? v : undefined;
}

/**
 * A positive amount of EMETH ("12.5", "100", "0.001") in the token's base unit (holon), via
 * ethers' parseUnits. Refuses signs, exponents, and more decimals than the token has.
 */
export function parseAmount(text: string, decimals = 18, what = 'the amount'): bigint {
  const t = text.trim();
  const m = /^(\d+)(?:\.(\d+))?$/.exec(t);
  if (!m)
    throw new UsageError(
      `${what} "${text}" is not an amount of EMETH; write it in decimal, like 12.5 or 100`,
    );
  if ((m[2]?.length ?? 0) > decimals)
    throw new UsageError(
      `${what} "${text}" has more than ${decimals} decimals, the token's smallest unit; round it to ${decimals} places`,
    );
  const amount = parseUnits(t, decimals);
  if (amount <= 0n) throw new UsageError(`${what} must be more than 0 EMETH`);
  return amount;
}

/** An amount in the token's base unit as EMETH, without trailing zeros: "12.5", "0", "0.000000001". */
export function formatAmount(holon: bigint, decimals = 18): string {
  const s = formatUnits(holon, decimals);
  return s.includes('.') ? s.replace(/\.?0+$/, '') : s;
}

/** "12.5 EMETH" */
export function emeth(holon: bigint, decimals = 18): string {
  return `${formatAmount(holon, decimals)} EMETH`;
}

export type ResultFormat = 'npy' | 'npz' | 'csv';
export const RESULT_FORMATS: readonly ResultFormat[] = ['npy', 'npz', 'csv'];

/** The format of `emeth result`: --format, else the output file's extension, else none (the stored bytes). */
export function resultFormat(format: string | undefined, outFile: string): ResultFormat | undefined {
  if (format !== undefined) {
    const f = format.toLowerCase();
    if (!(RESULT_FORMATS as readonly string[]).includes(f))
      throw new UsageError(
        `--format ${format} is not one the gateway converts to; use ${RESULT_FORMATS.join(', ')}, or leave it out for the stored bytes`,
      );
    return f as ResultFormat;
  }
  const ext = /\.([^./\\]+)$/.exec(outFile)?.[1]?.toLowerCase();
  return ext && (RESULT_FORMATS as readonly string[]).includes(ext) ? (ext as ResultFormat) : undefined;
}

/** A unix time as ISO-8601 and how far it is from `now` (both seconds). */
export function when(at: number, now: number): string {
  const iso = new Date(at * 1000).toISOString().replace('.000Z', 'Z');
  const d = at - now;
  if (d <= 0) return `${iso} (now)`;
  const mins = Math.ceil(d / 60);
  const h = Math.floor(mins / 60);
  const m = mins % 60;
  return `${iso} (in ${h ? `${h} h` : ''}${h && m ? ' ' : ''}${m || !h ? `${m} min` : ''})`;
}

/**
 * Runs one command: --help prints its usage; a wrong command line exits 2 and any other failure
 * 1, each as one line `emeth <command>: <what was wrong and what to do>`.
 */
export async function runCommand(
  spec: CommandSpec,
  argv: string[],
  io: Io,
  body: (parsed: Parsed) => Promise<number | void>,
  describe: (err: unknown) => string = describeError,
): Promise<number> {
  try {
    const parsed = parseCommand(spec, argv);
    if (!parsed) {
      io.out(usageOf(spec));
      return 0;
    }
    return (await body(parsed)) ?? 0;
  } catch (err) {
    io.err(`emeth ${spec.name}: ${describe(err)}`);
    return err instanceof UsageError ? 2 : 1;
  }
}

/** One line for a failure: our own errors already say what to do; others get their message. */
export function describeError(err: unknown): string {
  if (err instanceof EmethError) return err.message;
  if (err instanceof Error) return err.message.split('\n')[0]!;
  return String(err);
}
