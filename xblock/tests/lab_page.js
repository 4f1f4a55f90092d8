/* Runs the learner page's script (lab.js, path in argv[2]) in Node, without a browser: a fake
 * jQuery that only records what the script shows, a virtual clock, and handler answers given by
 * the test (answers the real handlers gave). Reads the scenario from stdin:
 *
 *   {init, now, answers: {handler: [{status, body}, ...]}, steps: [{click: selector, advance: ms}]}
 *
 * and writes {calls: [handler, ...], snapshots: [...]}: one snapshot after the opening (100 ms:
 * each answer arrives 10 ms after its call), one after each step; for each element the script
 * wrote to, {text, hidden, classes}. A handler with no answer left never answers (its call
 * still counts). Only what lab.js uses is faked. */
'use strict';
const fs = require('fs');

const scenario = JSON.parse(fs.readFileSync(0, 'utf8'));
const script = fs.readFileSync(process.argv[2], 'utf8');

// ----- virtual clock: Date.now, setTimeout and setInterval run on it -----
let now = scenario.now || Date.parse('2026-03-01T09:00:00Z');
let timers = [];
let nextId = 1;
Date.now = () => now;
function schedule(fn, ms, every) {
  const id = nextId++;
  timers.push({ id, at: now + Math.max(0, ms || 0), fn, every });
  return id;
}
const clearTimer = (id) => { timers = timers.filter((t) => t.id !== id); };
/** Fires every timer due within `ms`, in order, moving the clock to each. */
function advance(ms) {
  const end = now + ms;
  for (;;) {
    const due = timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at || a.id - b.id)[0];
    if (!due) break;
    now = due.at;
    if (due.every) due.at = now + due.every; else clearTimer(due.id);
    due.fn();
  }
  now = end;
}

// ----- fake DOM and jQuery: elements by selector, recording text, hidden and classes -----
const elements = {};
function element(selector) {
  if (!elements[selector]) {
    elements[selector] = { text: '', hidden: null, classes: {}, props: {}, handlers: {}, children: 0 };
  }
  return elements[selector];
}
function wrap(list) {
  const $ = {
    find: (selector) => wrap(selector.split(',').map((s) => element(s.trim()))),
    text(value) {
      if (value === undefined) return list[0] ? list[0].text : '';
      list.forEach((e) => { e.text = String(value); });
      return $;
    },
    prop(name, value) {
      list.forEach((e) => { if (name === 'hidden') e.hidden = !!value; else e.props[name] = value; });
      return $;
    },
    attr() { return $; },
    toggleClass(name, on) { list.forEach((e) => { e.classes[name] = !!on; }); return $; },
    addClass(name) { list.forEach((e) => { e.classes[name] = true; }); return $; },
    on(event, fn) { list.forEach((e) => { e.handlers[event] = fn; }); return $; },
    empty() { list.forEach((e) => { e.children = 0; }); return $; },
    append() { list.forEach((e) => { e.children += 1; }); return $; },
    children: () => ({ length: list[0] ? list[0].children : 0 }),
  };
  return $;
}
const calls = [];
function ajax(options) {
  const name = options.url.replace(/^handler\//, '');
  calls.push(name);
  const queue = scenario.answers[name] || [];
  const answer = queue.length ? queue.shift() : null;
  const callbacks = { done: [], fail: [], always: [] };
  const deferred = {};
  ['done', 'fail', 'always'].forEach((kind) => {
    deferred[kind] = (fn) => { callbacks[kind].push(fn); return deferred; };
  });
  if (answer) {
    schedule(() => { // answered later, as a browser does, after the callbacks are attached
      const ok = answer.status >= 200 && answer.status < 300;
      const xhr = { status: answer.status, responseJSON: answer.body, getResponseHeader: () => null };
      (ok ? callbacks.done : callbacks.fail).forEach((fn) => fn(ok ? answer.body : xhr));
      callbacks.always.forEach((fn) => fn());
    }, 10);
  }
  return deferred;
}
const jq = () => wrap([element('<new>')]);
jq.ajax = ajax;
jq.each = (items, fn) => Object.keys(items || {}).forEach((key) => fn(key, items[key]));
jq.extend = Object.assign;

global.$ = (what) => (typeof what === 'string' ? jq(what) : wrap([element('<root>')]));
Object.assign(global.$, jq);
global.window = { setTimeout: schedule, clearTimeout: clearTimer, setInterval: (fn, ms) => schedule(fn, ms, ms) };
global.document = { createTextNode: (text) => ({ text }) };

// ----- run the page -----
// eslint-disable-next-line no-new-func
const LabXBlock = new Function(script + '\nreturn LabXBlock;')();
const runtime = { handlerUrl: (el, name) => 'handler/' + name };
function snapshot() {
  const shown = {};
  Object.keys(elements).filter((s) => s.startsWith('.')).forEach((s) => {
    const e = elements[s];
    const classes = Object.keys(e.classes).filter((c) => e.classes[c]);
    shown[s] = { text: e.text, hidden: e.hidden, classes };
  });
  return shown;
}
LabXBlock(runtime, {}, scenario.init);
advance(100);
const snapshots = [snapshot()];
for (const step of scenario.steps || []) {
  if (step.click) element(step.click).handlers.click();
  advance(step.advance || 0);
  snapshots.push(snapshot());
}
process.stdout.write(JSON.stringify({ calls, snapshots }));
