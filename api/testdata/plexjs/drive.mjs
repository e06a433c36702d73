// drive.mjs runs operations of the Plex SDK @lukehagar/plexjs against the
// server at BUTLER_URL with the token BUTLER_TOKEN, for api/plexjs_test.go.
//
// Each line of standard input is one operation, as JSON:
//   {"op": "butler.startTask", "args": {"task": "BackupDatabase"}}
// and each line of standard output its result, as JSON:
//   {"ok": true, "statusCode": 200, "result": {...}}  (the SDK's response, without rawResponse)
//   {"ok": false, "statusCode": 404, "error": "..."}  (the SDK threw)
import { createInterface } from "node:readline";
import { PlexAPI } from "@lukehagar/plexjs";

const url = process.env.BUTLER_URL;
const token = process.env.BUTLER_TOKEN;
if (!url || !token) {
  console.error("drive.mjs: set BUTLER_URL and BUTLER_TOKEN");
  process.exit(2);
}

const sdk = new PlexAPI({
  serverURL: url,
  token,
  clientIdentifier: "butler-plexjs-test",
  product: "Butler tests",
  version: "1",
  timeoutMs: 10000,
});

const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of rl) {
  if (!line.trim()) continue;
  let out;
  try {
    const { op, args } = JSON.parse(line);
    const [group, method] = op.split(".");
    const fn = sdk[group]?.[method];
    if (typeof fn !== "function") throw new Error(`no SDK operation ${op}`);
    const res = args === undefined ? await fn.call(sdk[group]) : await fn.call(sdk[group], args);
    const { rawResponse, ...result } = res;
    out = { ok: true, statusCode: res.statusCode, result };
  } catch (e) {
    out = { ok: false, statusCode: e.statusCode ?? 0, error: `${e.name}: ${e.message}` };
  }
  process.stdout.write(JSON.stringify(out) + "\n");
}
