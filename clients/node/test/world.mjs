// The real stack and a gateway for these tests, through test/stack_launcher.py (Python: it
// reuses tests/integration/stack.py). One JSON line describes the world; each command
// written to its stdin is answered by one JSON line.
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { homedir } from "node:os";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { existsSync } from "node:fs";

const here = dirname(fileURLToPath(import.meta.url));

function python() {
  if (process.env.RECGW_PYTHON) return process.env.RECGW_PYTHON;
  const venv = join(homedir(), ".cache", "recgw", "venv", "bin", "python");
  return existsSync(venv) ? venv : "python3";
}

export async function startWorld() {
  const child = spawn(python(), [join(here, "stack_launcher.py")], { stdio: ["pipe", "pipe", "inherit"] });
  const lines = createInterface({ input: child.stdout });
  const waiting = [];
  const queued = [];
  lines.on("line", (line) => {
    const next = waiting.shift();
    if (next) next(line);
    else queued.push(line);
  });
  const exited = new Promise((resolve) => child.on("exit", resolve));
  const nextLine = () =>
    new Promise((resolve, reject) => {
      if (queued.length) return resolve(queued.shift());
      waiting.push(resolve);
      exited.then((code) => reject(new Error(`stack_launcher.py exited (${code}) before answering`)));
    });
  const info = JSON.parse(await nextLine());
  let chain = Promise.resolve();
  const command = (op, args = {}) => {
    const run = chain.then(async () => {
      child.stdin.write(JSON.stringify({ op, ...args }) + "\n");
      const answer = JSON.parse(await nextLine());
      if (answer.error) throw new Error(`${op}: ${answer.error}`);
      return answer.ok;
    });
    chain = run.catch(() => {});
    return run;
  };
  const stop = async () => {
    child.stdin.end();
    await exited;
  };
  return { ...info, command, stop };
}
