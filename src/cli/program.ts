import { Argument, Command as Program, CommanderError, Option } from 'commander';
import { z } from 'zod';
import type { Command } from './command.js';
import { StreamctlError, UsageError, toStreamctlError } from '../errors.js';
import type { Io } from './io.js';
import { redact } from '../redact.js';

const VERSION = '0.1.0';

interface PropertySchema {
  type?: string | string[];
  description?: string;
  default?: unknown;
  enum?: unknown[];
  short?: string;
  valueName?: string;
  env?: string;
  preset?: unknown;
}

/** `tlsCa` -> `tls-ca`. */
function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

function isBoolean(p: PropertySchema): boolean {
  return p.type === 'boolean';
}

/** Turns one zod property into a commander Option; the schema stays the only place options are described. */
function optionFor(key: string, p: PropertySchema): Option {
  const name = kebab(key);
  const short = p.short ? `${p.short}, ` : '';
  let description = p.description ?? '';
  // The variable is read from io.env by the action (commander would read process.env).
  const envNote = p.env ? ` [env: ${p.env}]` : '';
  if (isBoolean(p)) {
    const negated = p.default === true;
    const opt = new Option(`${short}--${negated ? 'no-' : ''}${name}`, description + envNote);
    return opt;
  }
  const valueName = p.valueName ?? (p.enum ? 'VALUE' : p.type === 'integer' || p.type === 'number' ? 'N' : 'VALUE');
  const flags = p.preset !== undefined ? `${short}--${name} [${valueName}]` : `${short}--${name} <${valueName}>`;
  if (p.default !== undefined) description += ` (default: ${JSON.stringify(p.default)})`;
  const opt = new Option(flags, description + envNote);
  if (p.enum) opt.choices(p.enum.map(String));
  if (p.preset !== undefined) opt.preset(p.preset);
  return opt;
}

function propertiesOf(schema: z.ZodObject): Record<string, PropertySchema> {
  const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as {
    properties?: Record<string, PropertySchema>;
  };
  return json.properties ?? {};
}

/** Validates raw flag values with the command's schema; a failure names the flag and exits 2. */
function parseOptions<S extends z.ZodObject>(command: Command<S>, raw: Record<string, unknown>): z.output<S> {
  const result = command.options.safeParse(raw);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const key = String(issue.path[0] ?? '');
  const flag = key ? `--${kebab(key)}` : 'options';
  const given = key && raw[key] !== undefined ? ` (got ${JSON.stringify(raw[key])})` : '';
  throw new UsageError(
    'BAD_OPTION',
    `invalid value for ${flag}${given}: ${issue.message}`,
    `see \`streamctl ${command.name} --help\``,
  );
}

function reportError(err: StreamctlError, io: Io, json: boolean): void {
  if (json) io.stdout.write(`${JSON.stringify({ error: err.toJSON() }, null, 2)}\n`);
  io.stderr.write(redact(`error: ${err.message}\n${err.hint ? `hint: ${err.hint}\n` : ''}`));
  if (io.env.STREAMCTL_DEBUG && err.cause)
    io.stderr.write(redact(`${String((err.cause as Error).stack ?? err.cause)}\n`));
}

/** Builds the commander program from the commands. */
function buildProgram(commands: readonly Command[], io: Io, onResult: (code: number) => void): Program {
  const program = new Program('streamctl')
    .description('Run, load, break and measure stream pipelines on Redis Streams.')
    .version(VERSION)
    .showSuggestionAfterError(true)
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .exitOverride();
  for (const command of commands) {
    const sub = program.command(command.name).description(command.description).exitOverride();
    sub.configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) });
    const properties = propertiesOf(command.options);
    for (const [key, p] of Object.entries(properties)) sub.addOption(optionFor(key, p));
    const positionals = [command.positional, command.operand].filter((x): x is string => x !== undefined);
    for (const name of positionals) {
      const p = properties[name];
      if (!p) continue;
      const arg = new Argument(`[${name}]`, `${p.description ?? ''} (or --${kebab(name)})`);
      if (p.enum) arg.choices(p.enum.map(String));
      sub.addArgument(arg);
    }
    if (command.examples?.length)
      sub.addHelpText('after', `\nExamples:\n${command.examples.map((e) => `  $ ${e}`).join('\n')}\n`);
    sub.action(async (...args: unknown[]) => {
      // commander passes the positional arguments (those declared) before the options.
      const raw = args[positionals.length] as Record<string, unknown>;
      positionals.forEach((name, i) => {
        if (args[i] !== undefined) raw[name] ??= args[i];
      });
      for (const [key, p] of Object.entries(properties)) {
        if (p.env && raw[key] === undefined && io.env[p.env]) raw[key] = io.env[p.env];
      }
      // `--json`, or `--json -` where the option takes a file: errors then come as JSON too.
      const jsonOnStdout = (v: unknown) => v === true || v === '-';
      let json = jsonOnStdout(raw.json);
      try {
        const opts = parseOptions(command as Command, raw);
        json = jsonOnStdout((opts as { json?: unknown }).json);
        onResult(await command.run(opts, io));
      } catch (err) {
        const e = toStreamctlError(err);
        reportError(e, io, json);
        onResult(e.exitCode);
      }
    });
  }
  return program;
}

/**
 * Runs the CLI with `argv` (without the node and script entries): `commands` is the registry
 * (`src/commands/index.ts`), in the order `--help` lists them.
 * @returns the process exit code; only bin/ turns it into process.exit.
 */
export async function main(argv: string[], io: Io, commands: readonly Command[]): Promise<number> {
  let code = 0;
  const program = buildProgram(commands, io, (c) => {
    code = c;
  });
  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return 0;
      // `streamctl` with no command: commander printed the help; that is a usage error.
      if (err.code === 'commander.help') return 2;
      // commander already printed its message (which names the flag); add where to look.
      if (err.code === 'commander.executeSubCommandAsync' || err.exitCode === 0) return err.exitCode;
      io.stderr.write('hint: see `streamctl --help` or `streamctl <command> --help`\n');
      return 2;
    }
    const e = toStreamctlError(err);
    reportError(e, io, false);
    return e.exitCode;
  }
}
