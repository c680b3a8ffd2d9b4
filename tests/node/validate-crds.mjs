// Validate Prometheus Operator objects against the operator's CRD schemas, as compiled by
// @kubernetes-models/prometheus-operator (pinned in package-lock.json). Reads a JSON array of objects on
// stdin; prints one line per error ("<kind>/<name>: <path> <message>") and exits 1 if there was any.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const models = join(process.env.NODE_TOOLS_DIR, "node_modules", "@kubernetes-models", "prometheus-operator");
const objects = JSON.parse(readFileSync(0, "utf8"));
let failed = 0;
for (const object of objects) {
  const [group, version] = object.apiVersion.split("/");
  const file = pathToFileURL(join(models, group, version, `${object.kind}.js`)).href;
  let Model;
  try {
    Model = (await import(file))[object.kind];
  } catch (error) {
    console.log(`${object.kind}/${object.metadata?.name}: no schema for ${object.apiVersion} ${object.kind}`);
    failed += 1;
    continue;
  }
  try {
    new Model(object).validate();
  } catch (error) {
    console.log(`${object.kind}/${object.metadata?.name}: ${error.message}`);
    failed += 1;
  }
}
process.exit(failed ? 1 : 0);
