#!/usr/bin/env node
// Run a MicroPython script on the WebAssembly port (32-bit, small ints below 2**30) under node.
//
//   node tools/wasm/run.mjs [--heapsize N[k|m]] [--mount HOSTDIR[:MPDIR] ...] [--path MPDIR ...]
//                           [--cwd MPDIR] script.py [args...]
//
// The port has no access to the host file system: it sees an in-memory emscripten FS. So:
//   --mount HOSTDIR[:MPDIR]  copy HOSTDIR recursively (.py, .json, .jsonl files; __pycache__,
//                            node_modules and dot-directories skipped) to MPDIR (default: the
//                            same absolute path as on the host). Repeatable.
//   --path MPDIR             put MPDIR in front of sys.path (in the order given). Repeatable.
//   --cwd MPDIR              os.chdir() there before the script runs.
//   --heapsize N             MicroPython GC heap in bytes (k/m suffixes), default 4m.
// The script itself is copied to the same absolute path it has on the host and runs as
// __main__ with __file__ set; sys.argv is [script, args...] like on CPython (there is no
// /argv.txt). stdin is empty (input() sees EOF).
//
// stdout/stderr of the script go to process.stdout/stderr, flushed line by line.
// Exit status: SystemExit's code (0 for None, 1 plus the message on stderr for a non-int);
// 1 with the traceback on stderr for an uncaught exception; 2 for a usage or runner error.
//
// Never hangs on its own for an exception raised while micropython.heap_lock() is held: the
// wrapper below unlocks the heap before the exception is formatted (the port loops forever if
// it formats one with the heap locked). A script that loops forever still loops forever:
// callers always run this under a timeout.

import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const PORT = path.join(HERE, "node_modules", "@micropython", "micropython-webassembly-pyscript",
  "micropython.mjs");
const COPY_EXT = new Set([".py", ".json", ".jsonl"]);
const SKIP_DIRS = new Set(["__pycache__", "node_modules"]);
const USAGE = "usage: node tools/wasm/run.mjs [--heapsize N] [--mount HOSTDIR[:MPDIR]]... " +
  "[--path MPDIR]... [--cwd MPDIR] script.py [args...]";

class UsageError extends Error {}

function parseSize(text) {
  const m = /^(\d+)([kKmM]?)$/.exec(text || "");
  if (!m) throw new UsageError(`bad --heapsize ${JSON.stringify(text)}`);
  const mult = { "": 1, k: 1024, m: 1024 * 1024 }[m[2].toLowerCase()];
  return parseInt(m[1], 10) * mult;
}

function parseArgs(argv) {
  const opts = { heapsize: 4 * 1024 * 1024, mounts: [], paths: [], cwd: null, script: null, args: [] };
  let i = 0;
  const value = (flag) => {
    if (i + 1 >= argv.length) throw new UsageError(`${flag} needs a value`);
    return argv[++i];
  };
  for (; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--heapsize") opts.heapsize = parseSize(value(a));
    else if (a === "--mount") {
      const v = value(a);
      // Split on the last ':' so MPDIR is optional; host paths with ':' need an explicit MPDIR.
      const at = v.lastIndexOf(":");
      const host = at > 0 ? v.slice(0, at) : v;
      const mp = at > 0 ? v.slice(at + 1) : path.resolve(v);
      opts.mounts.push({ host: path.resolve(host), mp });
    } else if (a === "--path") opts.paths.push(value(a));
    else if (a === "--cwd") opts.cwd = value(a);
    else if (a === "-h" || a === "--help") { process.stdout.write(USAGE + "\n"); process.exit(0); }
    else if (a.startsWith("--")) throw new UsageError(`unknown option ${a}`);
    else { opts.script = path.resolve(a); opts.args = argv.slice(i + 1); break; }
  }
  if (!opts.script) throw new UsageError("no script given");
  for (const p of [...opts.paths, opts.cwd].filter((x) => x !== null)) {
    if (!p.startsWith("/")) throw new UsageError(`MicroPython paths must be absolute: ${p}`);
  }
  return opts;
}

// mkdir -p inside the emscripten FS.
function mkdirs(FS, dir) {
  let cur = "";
  for (const part of dir.split("/").filter(Boolean)) {
    cur += "/" + part;
    try { FS.mkdir(cur); } catch (e) { if (!FS.analyzePath(cur).exists) throw e; }
  }
}

function copyTree(FS, hostDir, mpDir) {
  mkdirs(FS, mpDir);
  for (const ent of fs.readdirSync(hostDir, { withFileTypes: true })) {
    const src = path.join(hostDir, ent.name);
    const dst = mpDir.replace(/\/$/, "") + "/" + ent.name;
    if (ent.isDirectory()) {
      if (!SKIP_DIRS.has(ent.name) && !ent.name.startsWith(".")) copyTree(FS, src, dst);
    } else if (COPY_EXT.has(path.extname(ent.name)) && fs.statSync(src).isFile()) {
      FS.writeFile(dst, fs.readFileSync(src));
    }
  }
}

// Collects the port's byte-at-a-time output and writes whole lines (or 64 KiB chunks).
function lineWriter(stream) {
  let buf = Buffer.alloc(65536);
  let n = 0;
  const flush = () => { if (n) { stream.write(Buffer.from(buf.subarray(0, n))); n = 0; } };
  const put = (data) => {
    for (const c of data) {
      buf[n++] = c;
      if (c === 10 || n === buf.length) flush();
    }
  };
  return { put, flush };
}

// Runs in __main__; executes the script in __main__'s globals. JSON string literals are valid
// MicroPython string literals, so values are passed in with JSON.stringify.
function driverSource(opts) {
  const j = JSON.stringify;
  return `
import sys, micropython
sys.argv.clear()
sys.argv.extend(${j([opts.script, ...opts.args])})
for _ml_i, _ml_p in enumerate(${j(opts.paths)}):
    sys.path.insert(_ml_i, _ml_p)
${opts.cwd === null ? "" : `import os\nos.chdir(${j(opts.cwd)})\n`}
def _microloop_run(path):
    with open(path) as f:
        code = compile(f.read(), path, "exec")
    g = globals()
    g["__file__"] = path
    try:
        exec(code, g)
    except SystemExit as e:
        c = e.args[0] if e.args else None
        if c is None:
            return 0
        if isinstance(c, int):
            return c
        print(c, file=sys.stderr)
        return 1
    except BaseException:
        # Formatting an exception with the heap locked hangs the port: unlock it fully first
        # (the lock nests; bytearray() is the probe, small-int counting does not allocate).
        n = 0
        while n < 1000:
            try:
                bytearray(8)
                break
            except MemoryError:
                micropython.heap_unlock()
            n += 1
        raise
    return 0
`;
}

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
    if (!fs.existsSync(opts.script)) throw new UsageError(`no such script: ${opts.script}`);
    for (const m of opts.mounts) {
      if (!fs.existsSync(m.host) || !fs.statSync(m.host).isDirectory()) {
        throw new UsageError(`--mount: not a directory: ${m.host}`);
      }
    }
    if (!fs.existsSync(PORT)) {
      throw new UsageError(`MicroPython wasm port not installed (${PORT}); run \`make venv\``);
    }
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`run.mjs: ${e.message}\n${USAGE}\n`);
    return 2;
  }

  const out = lineWriter(process.stdout);
  const err = lineWriter(process.stderr);
  const { loadMicroPython } = await import(PORT);
  const mp = await loadMicroPython({
    heapsize: opts.heapsize,
    stdin: () => null,
    stdout: out.put,
    stderr: err.put,
    linebuffer: false,
  });
  try {
    for (const m of opts.mounts) copyTree(mp.FS, m.host, m.mp);
    mkdirs(mp.FS, path.dirname(opts.script));
    mp.FS.writeFile(opts.script, fs.readFileSync(opts.script));
    mp.runPython(driverSource(opts));
    mp.runPython(`_microloop_exit = _microloop_run(${JSON.stringify(opts.script)})`);
    const code = mp.globals.get("_microloop_exit");
    return Number.isInteger(code) ? code : 0;
  } catch (e) {
    out.flush();
    err.flush();
    if (e && e.name === "PythonError") {
      process.stderr.write(e.message.endsWith("\n") ? e.message : e.message + "\n");
      return 1;
    }
    // A JS-side failure (FS error, wasm abort): print the message only, not minified source.
    process.stderr.write(`run.mjs: ${e && e.name}: ${e && e.message}\n`);
    return 2;
  } finally {
    out.flush();
    err.flush();
  }
}

main().then(
  (code) => { process.exitCode = code; },
  (e) => { process.stderr.write(`run.mjs: ${e && e.name}: ${e && e.message}\n`); process.exitCode = 2; },
);
