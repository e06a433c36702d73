'use strict';
// The Butler dashboard: the tasks, what is running, the recent runs, and
// buttons for the five Butler operations. It uses only the HTTP API, signed
// in by the session cookie that the sign-in page set (HttpOnly: this
// script never sees it, and keeps no token anywhere). When the session has
// ended (signed out elsewhere, expired, the server restarted), the API
// answers 401 and the page reloads, which shows the sign-in page.

function signedOut(r) {
  if (r.status === 401) {
    location.reload();
    throw new Error('Signed out; opening the sign-in page.');
  }
}

const $ = (id) => document.getElementById(id);
const activities = new Map(); // uuid -> Activity

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('data-') || k.startsWith('aria-')) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(c ?? ''));
  return e;
}

// say shows a message in the status line, as an error (the default) or,
// with ok, as a success: in words first, and in colour too.
function say(text, ok) {
  const st = $('status');
  st.textContent = text;
  st.className = ok ? 'ok' : 'error';
}

async function api(method, path) {
  const r = await fetch(path, { method, headers: { 'Accept': 'application/json' } });
  signedOut(r);
  if (!r.ok) {
    const reason = r.headers.get('X-Butler-Reason') || r.statusText;
    throw new Error(method + ' ' + path + ': ' + r.status + ' ' + reason);
  }
  const text = await r.text();
  return text && (r.headers.get('Content-Type') || '').includes('json') ? JSON.parse(text) : null;
}

// act runs one operation and reports what the server said: the outcome
// and reason headers when there are any, else done.
async function act(method, path, done) {
  try {
    const r = await fetch(path, { method, headers: { 'Accept': 'application/json' } });
    signedOut(r);
    const outcome = r.headers.get('X-Butler-Outcome');
    const reason = r.headers.get('X-Butler-Reason');
    if (!r.ok) throw new Error(method + ' ' + path + ': ' + r.status + ' ' + (reason || r.statusText));
    say(outcome ? done.replace(/\.$/, '') + ': ' + outcome + (reason ? ' (' + reason + ')' : '') + '.' : done, true);
  } catch (e) {
    if (unreachable(e)) setOffline(true);
    else say(e.message);
  }
  refresh();
}

function when(s) {
  if (!s) return '';
  const d = new Date(s);
  return isNaN(d) ? s : d.toLocaleString();
}

// serverZone returns the window's zone, the ButlerTimeZone setting, when
// the page knows it and the browser knows the zone; else ''.
function serverZone() {
  const z = settings.get('ButlerTimeZone')?.value;
  if (!z) return '';
  try {
    new Intl.DateTimeFormat(undefined, { timeZone: z });
    return z;
  } catch {
    return '';
  }
}

// inZone writes a time in the server's zone (see serverZone), else in the
// browser's; time alone, or with the date.
function inZone(s, withDate) {
  const d = new Date(s);
  if (!s || isNaN(d)) return s || '';
  const opts = withDate ? { dateStyle: 'medium', timeStyle: 'short' } : { timeStyle: 'short' };
  const z = serverZone();
  if (z) opts.timeZone = z;
  return new Intl.DateTimeFormat(undefined, opts).format(d);
}

// inWords says how far away a time is: "in 3 h", "in 40 min".
function inWords(s) {
  const ms = new Date(s) - Date.now();
  if (isNaN(ms)) return '';
  const min = Math.max(1, Math.round(ms / 60000));
  return min < 90 ? 'in ' + min + ' min' : 'in ' + Math.round(min / 60) + ' h';
}

// decisionWords says a plan decision in words, with its time and, for a
// finished run, its outcome: a failed run does not read as "done".
const decisionWords = {
  runs: 'runs', scheduled: 'scheduled', queued: 'queued', running: 'running', stopping: 'stopping',
  done: 'done', stopped: 'stopped', not_due: 'not due', disabled: 'disabled',
};

function tonightOf(p) {
  if (!p) return '';
  let words = decisionWords[p.decision] || p.decision.replaceAll('_', ' ');
  if (p.decision === 'done' && p.outcome) words = p.outcome === 'succeeded' ? 'done: succeeded' : 'done: ' + p.outcome.replaceAll('_', ' ');
  if (p.at) words += ' at ' + inZone(p.at, false);
  return words;
}

// startTask starts a task (now, with force, even though it is not due)
// and says what the server did, in words.
async function startTask(name, force) {
  try {
    const r = await fetch('/butler/' + encodeURIComponent(name) + (force ? '?force=1' : ''), { method: 'POST', headers: { 'Accept': 'application/json' } });
    signedOut(r);
    const outcome = r.headers.get('X-Butler-Outcome');
    const reason = r.headers.get('X-Butler-Reason') || '';
    const at = r.headers.get('X-Butler-Run-At');
    if (!r.ok) throw new Error('Could not start ' + name + ': ' + (reason || r.status + ' ' + r.statusText) + '.');
    const words = {
      started: 'Started ' + name + '.',
      scheduled: name + ' is scheduled' + (at ? ' for ' + when(at) : '') + (reason ? ' (' + reason + ')' : '') + '.',
      queued: name + ' is queued: it starts when a place is free.',
      skipped: name + ' did not start: ' + reason + '. Use “Run now” to run it anyway.',
      running: name + ' is already running.',
    };
    say(words[outcome] || 'Started ' + name + ': ' + outcome + '.', true);
  } catch (e) {
    if (unreachable(e)) setOffline(true);
    else say(e.message);
  }
  refresh();
}

// stopTask stops a task's run (by task name, or path for an activity) and
// says what the server did, in words.
async function stopTask(name, path) {
  try {
    const r = await fetch(path || '/butler/' + encodeURIComponent(name), { method: 'DELETE', headers: { 'Accept': 'application/json' } });
    signedOut(r);
    if (r.status === 404) {
      say(name + ' was not running.', true);
    } else if (!r.ok) {
      throw new Error('Could not stop ' + name + ': ' + (r.headers.get('X-Butler-Reason') || r.status + ' ' + r.statusText) + '.');
    } else {
      const words = {
        stopped: 'Stopped ' + name + '.',
        stopping: name + ' is stopping: its work has not ended yet.',
        removed: 'Removed ' + name + ' from the queue.',
      };
      say(words[r.headers.get('X-Butler-Outcome')] || 'Asked ' + name + ' to stop.', true);
    }
  } catch (e) {
    if (unreachable(e)) setOffline(true);
    else say(e.message);
  }
  refresh();
}

// The last task list and plan, drawn again when what runs changes, and
// the running tasks with their states as that drawing showed them.
let lastTasks = [];
let lastPlan = null;
let drawnTasks = '';

function runningKey(m) {
  return [...m].map(([k, v]) => k + ':' + v).sort().join(',');
}

// running returns the state of each task with a run now: running or
// stopping.
function running() {
  const m = new Map();
  for (const a of activities.values()) if (a.Context?.taskName) m.set(a.Context.taskName, a.Context.state || 'running');
  return m;
}

// keepFocus runs draw, which replaces the children of container, and puts
// the focus back on the same row's first button if it was in container.
function keepFocus(container, draw) {
  const row = container.contains(document.activeElement) ? document.activeElement.closest('[data-task]')?.dataset.task : null;
  draw();
  if (row) container.querySelector('[data-task="' + CSS.escape(row) + '"] button:not([disabled])')?.focus();
}

// renderTasks draws the tasks with only the actions that make sense now:
// Stop while a task runs, "Run now" when the plan says it is not due,
// Start otherwise.
function renderTasks(tasks, plan) {
  lastTasks = tasks;
  lastPlan = plan;
  const decisions = new Map((plan?.Task || []).map((p) => [p.name, p]));
  const now = running();
  drawnTasks = runningKey(now);
  const rows = tasks.map((t) => {
    const p = decisions.get(t.name);
    const tonight = el('td', { 'data-label': 'Tonight', class: 'decision-' + (p?.outcome || p?.decision || '') },
      tonightOf(p), p?.reason ? el('span', { class: 'muted reason' }, p.reason) : '');
    const state = now.get(t.name);
    let action;
    if (state === 'stopping') {
      action = el('button', { type: 'button', className: 'stop', disabled: true, 'aria-label': 'Stopping ' + t.name }, 'Stopping…');
    } else if (state) {
      action = el('button', { type: 'button', className: 'stop', 'aria-label': 'Stop ' + t.name, onclick: () => stopTask(t.name) }, 'Stop');
    } else if (p?.decision === 'not_due') {
      action = el('button', { type: 'button', className: 'start force', 'aria-label': 'Run ' + t.name + ' now, though it is not due', onclick: () => startTask(t.name, true) }, 'Run now');
    } else {
      action = el('button', { type: 'button', className: 'start', 'aria-label': 'Start ' + t.name, onclick: () => startTask(t.name, false) }, 'Start');
    }
    return el('tr', { 'data-task': t.name },
      el('td', {}, el('strong', {}, t.title), el('br'), el('span', { class: 'muted' }, t.name)),
      el('td', { 'data-label': 'Every' }, t.interval === 1 ? 'day' : t.interval + ' days'),
      el('td', {
        'data-label': 'Nightly',
        class: t.enabled ? 'enabled-yes' : 'enabled-no',
        title: t.enabled ? 'Runs in the nightly window and with Start all' : 'Disabled for the schedule: only its Start button runs it',
      }, t.enabled ? 'yes' : 'no'),
      tonight,
      el('td', { class: 'actions' }, action));
  });
  keepFocus($('tasks'), () => $('tasks').replaceChildren(...rows));
  $('window').textContent = plan ? 'window ' + inZone(plan.open, true) + ' – ' + inZone(plan.close, false) +
    (serverZone() ? ' ' + serverZone() : '') + ': ' + (plan.inside ? 'open now, closes ' + inWords(plan.close) : 'opens ' + inWords(plan.open)) : '';
}

// activitiesDrawn names the runs drawn and their states: a progress
// update of the same runs changes their bars and subtitles in place, so
// that nothing a keyboard or a screen reader is on is rebuilt.
let activitiesDrawn = '';

function renderActivities() {
  const list = [...activities.values()];
  const key = list.map((a) => a.uuid + ':' + (a.Context?.state || '')).join(',');
  if (key === activitiesDrawn) {
    for (const a of list) {
      const li = $('activities').querySelector('li[data-uuid="' + CSS.escape(a.uuid) + '"]');
      const bar = li?.querySelector('progress');
      if (bar && a.progress >= 0) bar.value = a.progress;
      else if (bar) bar.removeAttribute('value'); // unknown: indeterminate
      const sub = li?.querySelector('.subtitle');
      if (sub) sub.textContent = a.subtitle || '';
    }
    return;
  }
  activitiesDrawn = key;
  const items = list.map((a) => {
    const task = a.Context?.taskName || a.title;
    const progress = a.progress >= 0 ? el('progress', { max: 100, value: a.progress, 'aria-label': 'Progress of ' + task })
      : el('progress', { max: 100, 'aria-label': 'Progress of ' + task });
    return el('li', { 'data-uuid': a.uuid, 'data-task': a.Context?.taskName || '' },
      el('span', {}, el('strong', {}, a.title), el('br'), el('span', { class: 'muted subtitle' }, a.subtitle)),
      progress,
      a.Context?.state === 'stopping'
        ? el('button', { type: 'button', className: 'stop', disabled: true, 'aria-label': 'Stopping ' + task, title: 'Told to stop; waiting for its work to end' }, 'Stopping…')
        : el('button', { type: 'button', className: 'stop', 'aria-label': 'Stop ' + task, onclick: () => stopTask(task, '/activities/' + a.uuid) }, 'Stop'));
  });
  keepFocus($('activities'), () => $('activities').replaceChildren(...items));
  $('no-activities').hidden = items.length > 0;
  if (runningKey(running()) !== drawnTasks) renderTasks(lastTasks, lastPlan);
}

// triggerWords says what made a run.
const triggerWords = {
  window: 'nightly window', start_all: 'Start all', start_task: 'started by hand', force: 'run now (not due)',
};

// took says how long a run took, or has been running.
function took(r) {
  if (!r.startedAt) return '';
  const ms = (r.endedAt ? new Date(r.endedAt) : new Date()) - new Date(r.startedAt);
  if (isNaN(ms) || ms < 0) return '';
  const sec = Math.round(ms / 1000);
  const text = sec < 60 ? sec + ' s' : sec < 3600 ? Math.floor(sec / 60) + ' min ' + (sec % 60) + ' s' : Math.floor(sec / 3600) + ' h ' + Math.floor(sec % 3600 / 60) + ' min';
  return r.endedAt ? text : text + ' so far';
}

// The runs shown: a page of runsPerPage, filtered, newest first. pages
// holds the beforeID of each page before the one shown (for Newer).
const runsPerPage = 20;
let runsBefore = 0;
const pages = [];

function runsQuery() {
  const q = new URLSearchParams({ limit: String(runsPerPage + 1) });
  if ($('filter-task').value) q.set('task', $('filter-task').value);
  if ($('filter-outcome').value) q.set('outcome', $('filter-outcome').value);
  if (runsBefore) q.set('beforeID', String(runsBefore));
  return '/butler/runs?' + q;
}

function renderRuns(all) {
  const runs = all.slice(0, runsPerPage);
  const rows = runs.map((r) => el('tr', { 'data-run': r.id, 'data-task': r.task },
    el('td', { 'data-label': 'Run' }, String(r.id)),
    el('td', { 'data-label': 'Task' }, r.task),
    el('td', { 'data-label': 'Trigger' }, triggerWords[r.trigger] || r.trigger),
    el('td', { 'data-label': 'Outcome', class: 'outcome outcome-' + (r.outcome || r.state) }, (r.outcome || r.state).replaceAll('_', ' ')),
    el('td', { 'data-label': 'Started' }, when(r.startedAt)),
    el('td', { 'data-label': 'Took' }, took(r)),
    el('td', { 'data-label': 'Summary' }, r.summary || r.error || r.reason || ''),
    el('td', { class: 'actions' }, el('button', { type: 'button', 'aria-label': 'Log of run ' + r.id + ' of ' + r.task, onclick: () => showLog(r.id, r.task) }, 'Log'))));
  keepFocus($('runs'), () => $('runs').replaceChildren(...rows));
  $('no-runs').hidden = rows.length > 0;
  if (!offlineSince) {
    $('runs-older').disabled = all.length <= runsPerPage;
    $('runs-newer').disabled = pages.length === 0;
  }
  $('runs-older').onclick = () => {
    pages.push(runsBefore);
    runsBefore = runs[runs.length - 1].id;
    refresh();
  };
  $('runs-page').textContent = 'page ' + (pages.length + 1);
}

// fillTaskFilter offers each task in the task filter, once.
function fillTaskFilter(tasks) {
  const sel = $('filter-task');
  if (sel.options.length > 1) return;
  sel.append(...tasks.map((t) => el('option', { value: t.name }, t.name)));
}

// A filter change shows the newest page of what it selects.
function filterRuns() {
  runsBefore = 0;
  pages.length = 0;
  refresh();
}

// The log shown: its run, and the timer that reads it again while the
// run is running.
let logRun = null;
let logTail = null;

// showLog shows a run's log in the log panel, named for its run, and
// follows it every 2 s while the run runs. follow is set by the tail.
async function showLog(id, task, follow) {
  clearTimeout(logTail);
  logRun = { id, task };
  try {
    const [r, detail] = await Promise.all([fetch('/butler/runs/' + id + '/log'), api('GET', '/butler/runs/' + id)]);
    signedOut(r);
    if (!r.ok) throw new Error('Could not read the log of run ' + id + ': ' + r.status + ' ' + r.statusText + '.');
    if (logRun?.id !== id) return; // another log was opened meanwhile
    const run = detail?.MediaContainer?.Run?.[0];
    const live = run && !run.endedAt;
    $('log-title').textContent = 'Log of run ' + id + ' (' + task + ')' + (live ? ', running: follows live' : run?.outcome ? ', ' + run.outcome.replaceAll('_', ' ') : '');
    const log = $('log');
    const atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
    log.textContent = (await r.text()) || (live ? '(nothing yet)' : '(this run kept no log)');
    if (atEnd) log.scrollTop = log.scrollHeight;
    if (!follow) {
      $('log-panel').hidden = false;
      $('log-panel').scrollIntoView({ block: 'start' });
      $('log-title').focus();
    }
    if (live) logTail = setTimeout(() => showLog(id, task, true), 2000);
  } catch (e) {
    if (unreachable(e)) setOffline(true);
    else say(e.message);
  }
}

// closeLog hides the log panel and gives the focus back to the run's Log
// button.
function closeLog() {
  clearTimeout(logTail);
  const run = logRun;
  logRun = null;
  $('log-panel').hidden = true;
  if (run) document.querySelector('#runs tr[data-run="' + run.id + '"] button')?.focus();
}

// settings are the values last read from the server, by id.
let settings = new Map();

function renderSettings(list) {
  settings = new Map(list.map((st) => [st.id, st]));
  const fields = [];
  for (const st of list) {
    if (st.hidden) continue;
    const id = 'setting-' + st.id;
    let input;
    if (st.type === 'bool') {
      input = el('input', { type: 'checkbox', id, checked: st.value === true, 'data-id': st.id });
    } else if (st.enumValues) {
      input = el('select', { id, 'data-id': st.id },
        ...st.enumValues.split('|').map((pair) => {
          const i = pair.indexOf(':');
          const value = i < 0 ? pair : pair.slice(0, i);
          return el('option', { value, selected: String(st.value) === value }, i < 0 ? pair : pair.slice(i + 1));
        }));
    } else {
      input = el('input', { type: st.type === 'int' ? 'number' : 'text', id, value: String(st.value), 'data-id': st.id });
    }
    fields.push(el('label', { htmlFor: id }, st.label, el('span', { class: 'muted' }, st.id)),
      el('div', {}, input, el('span', { class: 'muted' }, st.summary)));
  }
  $('setting-fields').replaceChildren(...fields);
}

async function loadSettings() {
  try {
    const prefs = await api('GET', '/:/prefs');
    renderSettings(prefs?.MediaContainer?.Setting || []);
  } catch (e) {
    say(e.message);
  }
}

// sayForm shows the outcome of a save next to the Save button, as an
// error or, with ok, a success.
function sayForm(text, ok) {
  const st = $('settings-status');
  st.textContent = text;
  st.className = ok ? 'ok' : 'error';
}

// markFields puts each part of the server's refusal (problems are
// separated by "; ") under the field of the setting it names, and marks
// that field invalid; clearFields removes the marks.
function clearFields() {
  for (const e of $('setting-fields').querySelectorAll('.field-error')) e.remove();
  for (const i of $('setting-fields').querySelectorAll('[aria-invalid]')) {
    i.removeAttribute('aria-invalid');
    i.removeAttribute('aria-describedby');
  }
}

function markFields(msg) {
  const parts = msg.replace(/^nothing was changed: /i, '').split('; ');
  let first = null;
  for (const part of parts) {
    const id = [...settings.keys()].find((k) => new RegExp('\\b' + k + '\\b').test(part));
    const input = id && $('setting-' + id);
    if (!input) continue;
    input.setAttribute('aria-invalid', 'true');
    input.setAttribute('aria-describedby', 'error-' + id);
    input.closest('div').append(el('span', { id: 'error-' + id, class: 'field-error' }, part));
    first ??= input;
  }
  first?.focus();
}

// saveSettings sends the settings that were changed on the page, all in
// one PUT (the server takes all of them or none). A refusal keeps the
// edits on the page, says why next to Save and under each field it names.
async function saveSettings(ev) {
  ev.preventDefault();
  clearFields();
  const q = new URLSearchParams();
  for (const input of $('setting-fields').querySelectorAll('[data-id]')) {
    const st = settings.get(input.dataset.id);
    const value = input.type === 'checkbox' ? String(input.checked) : input.value;
    if (value !== String(st.value)) q.set(st.id, value);
  }
  if ([...q.keys()].length === 0) {
    sayForm('Nothing to save: no setting was changed.', true);
    return;
  }
  try {
    const r = await fetch('/:/prefs?' + q, { method: 'PUT', headers: { 'Accept': 'application/json' } });
    signedOut(r);
    if (!r.ok) {
      const body = await r.json().catch(() => null);
      const msg = body?.errors?.[0]?.message || r.headers.get('X-Butler-Reason') || String(r.status);
      sayForm('Nothing was saved: ' + msg);
      markFields(msg);
      return;
    }
    sayForm('Saved ' + [...q.keys()].join(', ') + '.', true);
  } catch (e) {
    if (unreachable(e)) setOffline(true);
    else sayForm(e.message);
    return;
  }
  await loadSettings();
  refresh();
}

// offlineSince is when the server stopped answering, or null while it
// answers. While it does not, the page says so, greys out what it shows,
// disables every control, and tries again every 5 s; the first answer
// brings everything back.
let offlineSince = null;

function setOffline(off) {
  if (off === (offlineSince !== null)) return;
  offlineSince = off ? new Date() : null;
  document.body.classList.toggle('offline', off);
  for (const c of document.querySelectorAll('button, input, select')) {
    if (off && !c.disabled) {
      c.disabled = true;
      c.dataset.offline = '1';
    } else if (!off && c.dataset.offline) {
      c.disabled = false;
      delete c.dataset.offline;
    }
  }
  if (off) {
    $('live').textContent = 'offline';
    say('Butler is not answering since ' + offlineSince.toLocaleTimeString() + ': what is shown may be out of date. Trying again every 5 seconds…');
  } else {
    say('Butler is answering again.', true);
  }
}

// unreachable reports whether e is fetch's failure to reach the server at
// all (not an answer with an error status).
function unreachable(e) {
  return e instanceof TypeError;
}

let refreshing = null;
// refresh reads everything again; calls while one is running share it.
function refresh() {
  refreshing ??= (async () => {
    try {
      const [tasks, plan, acts, runs] = await Promise.all([
        api('GET', '/butler'), api('GET', '/butler/plan'), api('GET', '/activities'), api('GET', runsQuery())]);
      setOffline(false);
      renderTasks(tasks?.ButlerTasks?.ButlerTask || [], plan?.MediaContainer);
      fillTaskFilter(tasks?.ButlerTasks?.ButlerTask || []);
      activities.clear();
      for (const a of acts?.MediaContainer?.Activity || []) activities.set(a.uuid, a);
      renderActivities();
      renderRuns(runs?.MediaContainer?.Run || []);
    } catch (e) {
      if (unreachable(e)) setOffline(true);
      else say(e.message);
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

// poll refreshes every 15 s, or every 5 s while the server is not
// answering.
function poll() {
  refresh().finally(() => setTimeout(poll, offlineSince ? 5000 : 15000));
}

function listen() {
  const es = new EventSource('/:/eventsource/notifications?filters=activity');
  es.onopen = () => {
    $('live').textContent = 'live';
    if (offlineSince) refresh();
  };
  // The stream breaks first when the server goes away: read everything
  // again at once, which finds out whether the server still answers.
  es.onerror = () => {
    $('live').textContent = offlineSince ? 'offline' : 'reconnecting…';
    refresh();
  };
  es.addEventListener('activity', (ev) => {
    const n = JSON.parse(ev.data).NotificationContainer;
    let ended = false;
    for (const a of n.ActivityNotification || []) {
      if (a.event === 'ended') {
        activities.delete(a.uuid);
        ended = true;
      } else {
        activities.set(a.uuid, a.Activity);
      }
    }
    renderActivities();
    if (ended) refresh();
  });
}

$('settings').addEventListener('submit', saveSettings);
$('log-close').onclick = closeLog;
$('filter-task').addEventListener('change', filterRuns);
$('filter-outcome').addEventListener('change', filterRuns);
$('run-filters').addEventListener('submit', (ev) => ev.preventDefault());
$('runs-newer').onclick = () => {
  runsBefore = pages.pop() || 0;
  refresh();
};
$('start-all').onclick = () => act('POST', '/butler', 'Started every task that is due.');
$('stop-all').onclick = () => act('DELETE', '/butler', 'Asked every task to stop.');
fetch('/identity', { headers: { 'Accept': 'application/json' } })
  .then((r) => r.json())
  .then((id) => { $('server').textContent = (id.MediaContainer.friendlyName || '') + ' ' + id.MediaContainer.version; })
  .catch(() => {});
// The settings first: the window is shown in their zone.
loadSettings().finally(() => {
  poll();
  listen();
});
