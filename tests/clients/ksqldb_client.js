// npm ksqldb-client (1.0.5) against a streamdb server, unmodified:
// `node ksqldb_client.js PORT STREAM` (STREAM: a stream name the server does not have yet).
// Prints a JSON report of what the client saw, for tests/test_clients.py.
"use strict";

const KsqldbClient = require("ksqldb-client");

const WAIT_MS = 60000;
const createStream = (name) =>
  `CREATE STREAM ${name} (id INT KEY, page STRING) ` +
  `WITH (kafka_topic='${name}', value_format='JSON', partitions=1);`;

function waitFor(condition, what) {
  const deadline = Date.now() + WAIT_MS;
  return new Promise((resolve, reject) => {
    const check = () => {
      if (condition()) resolve();
      else if (Date.now() > deadline) reject(new Error(`timed out waiting for ${what}`));
      else setTimeout(check, 20);
    };
    check();
  });
}

async function main(port, stream) {
  const client = new KsqldbClient({ host: "http://127.0.0.1", port: Number(port) });
  const report = {};
  await client.connect();
  report.connected = client.connected;
  report.created = await client.executeStatement(createStream(stream));
  report.inserted = [await client.insertInto(stream.toUpperCase(), { ID: 1, PAGE: "a" })];
  report.pulled = await client.query(`SELECT * FROM ${stream};`);

  const pushed = [];
  let queryId;
  const streaming = client.streamQuery(
    `SELECT id, page FROM ${stream} EMIT CHANGES;`,
    (data) => {
      queryId = data.metadata && data.metadata.queryId;
      pushed.push(...(data.rows || []));
    },
    { properties: { "auto.offset.reset": "earliest" } },
  );
  await waitFor(() => pushed.length === 1, "the existing row");
  report.inserted.push(await client.insertInto(stream.toUpperCase(), { ID: 2, PAGE: "b" }));
  await waitFor(() => pushed.length === 2, "the live row");
  report.terminated = await client.terminatePushQuery(queryId);
  report.streamEnded = await streaming;
  report.pushed = pushed;
  report.queryId = queryId;
  await client.disconnect();
  return report;
}

main(process.argv[2], process.argv[3]).then(
  (report) => {
    process.stdout.write(JSON.stringify(report) + "\n");
    process.exit(0);
  },
  (error) => {
    process.stderr.write(`${error.stack || error}\n`);
    process.exit(1);
  },
);
