// Finds the server's executable before starting it, so "not installed" gets its own
// clear message instead of a spawn error. Node only (no `vscode`), unit-tested.
import * as fs from "fs";
import * as path from "path";

function isExecutableFile(file: string, platform: NodeJS.Platform): boolean {
  try {
    const stat = fs.statSync(file);
    if (!stat.isFile()) {
      return false;
    }
    if (platform === "win32") {
      return true;
    }
    fs.accessSync(file, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Resolves `command` the way a shell would: a path (absolute, or containing a separator)
 * is checked as is, relative to `cwd`; a bare name is looked up on PATH (with PATHEXT on
 * Windows). Returns the full path, or null when nothing runnable is found.
 */
export function findExecutable(
  command: string,
  env: NodeJS.ProcessEnv = process.env,
  platform: NodeJS.Platform = process.platform,
  cwd: string = process.cwd(),
): string | null {
  if (command.trim() === "") {
    return null;
  }
  const expanded = command.startsWith("~/") && env.HOME ? path.join(env.HOME, command.slice(2)) : command;
  const extensions =
    platform === "win32" ? ["", ...(env.PATHEXT ?? ".EXE;.CMD;.BAT;.COM").split(";").filter(Boolean)] : [""];
  const hasSeparator = expanded.includes("/") || (platform === "win32" && expanded.includes("\\"));
  const candidates: string[] = [];
  if (path.isAbsolute(expanded) || hasSeparator) {
    const base = path.resolve(cwd, expanded);
    candidates.push(...extensions.map((ext) => base + ext));
  } else {
    const dirs = (env.PATH ?? env.Path ?? "").split(platform === "win32" ? ";" : ":").filter(Boolean);
    for (const dir of dirs) {
      candidates.push(...extensions.map((ext) => path.join(dir, expanded + ext)));
    }
  }
  return candidates.find((file) => isExecutableFile(file, platform)) ?? null;
}
