/**
 * `viofs`: the command line. One file per command under src/cli/; this file
 * only picks the command and turns expected errors into one clear line.
 */
import { shellCommand } from "../shell/repl.js";
import { doctorCommand } from "./doctor.js";
import { mountCommand } from "./mount.js";
import { serveCommand } from "./serve.js";
import { UsageError } from "../common/usage.js";

interface Command {
  summary: string;
  run(args: string[]): Promise<number>;
}

const commands: Record<string, Command> = {
  serve: serveCommand,
  mount: mountCommand,
  shell: shellCommand,
  doctor: doctorCommand,
};

export const usage = `viofs: VirtIO-FS for Windows guests

Usage: viofs <command> [options]

Commands:
${Object.entries(commands)
  .map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`)
  .join("\n")}
  help       Show this text

Run 'viofs <command> --help' for a command's options.
`;

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    process.stdout.write(usage);
    return 0;
  }
  if (name === "--version" || name === "-V") {
    process.stdout.write("viofs 0.1.0\n");
    return 0;
  }
  const command = commands[name];
  try {
    if (!command) throw new UsageError(`unknown command '${name}'; run 'viofs --help' for the list`);
    return await command.run(rest);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`viofs: ${error.message}\n`);
      return error.exitCode;
    }
    throw error;
  }
}
