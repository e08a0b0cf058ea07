'use strict';
// Conformance script for the edgeHub emulator: Microsoft's Node.js device SDK,
// unchanged, as an IoT Edge module (ModuleClient.fromEnvironment over MQTT).
// node_sdk_test.go starts the emulator, runs this script with the IOTEDGE_*
// environment and checks every step through the emulator's service API.
// Each step prints one JSON line on stdout; any failure exits 1.

const { ModuleClient, Message } = require('azure-iot-device');
const { Mqtt } = require('azure-iot-device-mqtt');

const moduleId = process.env.IOTEDGE_MODULEID;

function log(step, data) {
  console.log(JSON.stringify(Object.assign({ step }, data || {})));
}

function fail(err) {
  console.error(JSON.stringify({ step: 'failed', error: String(err && err.stack ? err.stack : err) }));
  process.exit(1);
}

const overall = setTimeout(() => fail(new Error('conformance script timed out')), 120000);

function fromEnvironment() {
  return new Promise((resolve, reject) => {
    ModuleClient.fromEnvironment(Mqtt, (err, client) => (err ? reject(err) : resolve(client)));
  });
}

function updateReported(twin, patch) {
  return new Promise((resolve, reject) => {
    twin.properties.reported.update(patch, (err) => (err ? reject(err) : resolve()));
  });
}

async function main() {
  const client = await fromEnvironment();
  client.on('error', fail);

  // Direct method handler first: the Go side invokes "echo" once the
  // subscription to $iothub/methods/POST/# shows up.
  let methodAnswered;
  const answered = new Promise((resolve) => { methodAnswered = resolve; });
  client.onMethod('echo', (request, response) => {
    log('method-called', { methodName: request.methodName, payload: request.payload });
    response.send(200, { echo: request.payload, module: moduleId }, (err) => {
      if (err) {
        fail(err);
        return;
      }
      methodAnswered();
    });
  });

  await client.open();
  log('open');

  const twin = await client.getTwin();
  const desired = twin.properties.desired;
  log('twin', { desired, reportedVersion: twin.properties.reported.$version });
  if (typeof desired.$version !== 'number' || typeof twin.properties.reported.$version !== 'number') {
    throw new Error('twin without $version: ' + JSON.stringify(twin.properties));
  }

  await updateReported(twin, {
    conformance: {
      status: 'reported',
      sdk: 'azure-iot-device',
      initialProfile: desired.profile === undefined ? null : desired.profile,
      nested: { a: 1, b: 'two' },
    },
  });
  log('reported');

  const delta = await new Promise((resolve) => {
    twin.on('properties.desired', (patch) => {
      if (patch && patch.conformanceDesired !== undefined) {
        resolve(patch);
      }
    });
  });
  log('desired', { delta });
  await updateReported(twin, { desiredAck: { value: delta.conformanceDesired, version: delta.$version } });
  log('desired-acknowledged');

  const msg = new Message(JSON.stringify({ status: 'ready', score: 97 }));
  msg.contentType = 'application/json';
  msg.contentEncoding = 'utf-8';
  msg.messageId = 'conformance-1';
  msg.properties.add('schema', 'readiness/1');
  msg.properties.add('check name', 'disk space');
  await client.sendOutputEvent('readiness', msg);
  log('sent');

  await answered;
  log('method-answered');
  await client.close();
  clearTimeout(overall);
  log('done');
}

main().catch(fail);
