'use strict';
// The Butler dashboard: the tasks, what is running, the recent runs, and
// buttons for the five Butler operations. It uses only the HTTP API, signed
// in by the session cookie that the sign-in page set (HttpOnly: this
// script never sees it, and keeps no token anywhere). When the session has
// ended (signed out elsewhere, expired, the server restarted), the API
// answers 401 and the page reloads, which shows the sign-in page.

const activities = new Map(); // uuid -> Activity

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

// keepFocus runs draw, which replaces the children of container, and, if
// the focus was in container, puts it back on the same row's control that
// does the same (its name, else its kind: Cancel stays on Cancel, never on
// the row's first button), else on the row's first button.
function keepFocus(container, draw) {
  const had = container.contains(document.activeElement) ? document.activeElement : null;
  const row = had?.closest('[data-task]')?.dataset.task;
  draw();
  if (!row) return;
  const controls = [...(container.querySelector('[data-task="' + CSS.escape(row) + '"]')?.querySelectorAll('button:not([disabled]), a[href]') || [])];
  const label = had.getAttribute('aria-label');
  (controls.find((c) => label && c.getAttribute('aria-label') === label) ||
    controls.find((c) => c.tagName === had.tagName && c.className === had.className) ||
    controls.find((c) => c.tagName === 'BUTTON'))?.focus();
}

// The newest runs of every task (for the task rows' last run), and the
// runs of tonight's window while it is open (for the timeline).
let recentRuns = [];
let tonightRuns = [];

// lastRunOf returns a task's newest run that the page knows: from the
// newest runs, or the run the plan names when that one is newer.
function lastRunOf(name, p) {
  const r = recentRuns.find((x) => x.task === name);
  if (p?.runID && (!r || p.runID > r.id)) {
    return tonightRuns.find((x) => x.id === p.runID) || { id: p.runID, task: name, state: p.decision, outcome: p.outcome };
  }
  return r;
}

// dayWords writes a Butler day (YYYY-MM-DD) as a date: "Tue, 1 Dec".
function dayWords(day) {
  const d = new Date(day + 'T12:00:00Z');
  return isNaN(d) ? day : new Intl.DateTimeFormat(undefined, { weekday: 'short', day: 'numeric', month: 'short', timeZone: 'UTC' }).format(d);
}

// reasonWords says the plan's reason for a task in words: the server's
// reason, with its Butler days written as dates.
function reasonWords(p) {
  return (p?.reason || '').replace(/butler day (\d{4}-\d{2}-\d{2})/g, (_, d) => dayWords(d));
}

// button makes a button of a task row, named for what it does to which
// task.
function button(cls, label, text, onclick) {
  return el('button', { type: 'button', className: cls, 'aria-label': label, disabled: !onclick, onclick }, text);
}

// actionsOf returns the buttons that make sense for a task now: Stop while
// it runs; Cancel and "Run now" while a run waits for its time; Cancel
// while it waits for a place; "Run now" when the plan says it is not due
// (or it already succeeded tonight), which starts it anyway (force=1);
// Start otherwise.
function actionsOf(t, p, state) {
  const n = t.name;
  // Cancel removes the waiting run the row shows, by its number, and never
  // a run of the task that has started since the page last read the plan.
  const cancel = () => button('cancel', 'Cancel the waiting run of ' + n, 'Cancel',
    () => stopTask(n, p?.runID ? '/butler/runs/' + p.runID : undefined));
  const force = () => button('start force', 'Run ' + n + ' now, though it is not due', 'Run now', () => startTask(n, true));
  if (state === 'stopping') return [button('stop', 'Stopping ' + n, 'Stopping…', null)];
  if (state) return [button('stop', 'Stop ' + n, 'Stop', () => stopTask(n))];
  switch (p?.decision) {
    case 'queued': return [cancel()];
    case 'scheduled': {
      const now = button('start force', 'Run ' + n + ' now instead of at its time', 'Run now', () => startTask(n, true));
      return [now, cancel()];
    }
    case 'not_due': return [force()];
    case 'done': if (p.outcome === 'succeeded') return [force()];
  }
  return [button('start', 'Start ' + n, 'Start', () => startTask(n, false))];
}

// renderTasks draws the tasks: what the plan does with each tonight and
// why, its last run (a link to the run's page), and only the actions that
// make sense now (see actionsOf). Then it draws the timeline again.
function renderTasks(tasks, plan) {
  lastTasks = tasks;
  lastPlan = plan;
  const decisions = new Map((plan?.Task || []).map((p) => [p.name, p]));
  const now = running();
  drawnTasks = runningKey(now);
  const rows = tasks.map((t) => {
    const p = decisions.get(t.name);
    const tonight = el('td', { 'data-label': 'Tonight', class: 'decision-' + (p?.outcome || p?.decision || '') },
      tonightOf(p), p?.reason ? el('span', { class: 'muted reason' }, reasonWords(p)) : '');
    const last = lastRunOf(t.name, p);
    const lastCell = el('td', { 'data-label': 'Last run', class: last ? 'outcome-' + (last.outcome || last.state) : '' },
      last ? runLink(last, outcomeMark(last) + ' ' + outcomeWords(last) + ' (#' + last.id + ')') : 'none yet',
      last?.startedAt ? el('span', { class: 'muted reason' }, when(last.startedAt)) : '');
    return el('tr', { 'data-task': t.name },
      el('td', {}, el('strong', {}, t.title), el('br'), el('span', { class: 'muted' }, t.name)),
      el('td', { 'data-label': 'Every' }, t.interval === 1 ? 'day' : t.interval + ' days'),
      el('td', {
        'data-label': 'Nightly',
        class: t.enabled ? 'enabled-yes' : 'enabled-no',
        title: t.enabled ? 'Runs in the nightly window and with Start all' : 'Disabled for the schedule: only its Start button runs it',
      }, t.enabled ? 'yes' : 'no'),
      tonight,
      lastCell,
      el('td', { class: 'actions' }, ...actionsOf(t, p, now.get(t.name))));
  });
  keepFocus($('tasks'), () => $('tasks').replaceChildren(...rows));
  $('window').textContent = plan ? 'window ' + inZone(plan.open, true) + ' – ' + inZone(plan.close, false) +
    (serverZone() ? ' ' + serverZone() : '') + ': ' + (plan.inside ? 'open now, closes ' + inWords(plan.close) : 'opens ' + inWords(plan.open)) : '';
  renderTimeline(plan, now);
}

// zoneName names the zone the times are in: the server's, else this
// browser's.
function zoneName() {
  return serverZone() || Intl.DateTimeFormat().resolvedOptions().timeZone + ' (this browser)';
}

// timelineItems lists what tonight's window holds, in time order: each
// run of tonight that started or ended (with its outcome), each run now
// running, each run planned at a time, and each task due at a random time
// not drawn yet (a span: between the window's opening, or now, and its
// close). from and to are the instants of an item's place; at is its time
// in words.
function timelineItems(plan, now) {
  const items = [];
  const open = new Date(plan.open), close = new Date(plan.close), t = new Date();
  const onTimeline = new Set();
  for (const r of tonightRuns) {
    if (!r.startedAt && !r.endedAt) continue; // waiting: the plan says when
    const from = new Date(r.startedAt || r.endedAt);
    const live = !r.endedAt;
    items.push({ task: r.task, run: r, from, to: live ? t : new Date(r.endedAt), kind: live ? 'running' : 'run',
      words: outcomeMark(r) + ' ' + outcomeWords(r), at: inZone(from, false) + (live ? ' to now' : ' – ' + inZone(r.endedAt, false)) });
    onTimeline.add(r.id);
  }
  for (const p of plan.Task || []) {
    const state = now.get(p.name) || p.decision;
    const run = { id: p.runID, task: p.name, state, outcome: p.outcome };
    // What runs or waits now is on tonight's timeline while the window
    // is open; a run made outside the window is not tonight's.
    if ((state === 'running' || state === 'stopping') && !onTimeline.has(p.runID)) {
      if (plan.inside) items.push({ task: p.name, run: p.runID ? run : null, from: open, to: t, kind: 'running', words: outcomeMark(run) + ' ' + state, at: 'to now' });
    } else if (p.decision === 'queued') {
      if (plan.inside) items.push({ task: p.name, run: p.runID ? run : null, from: t, to: t, kind: 'planned', words: '… queued: waiting for a free place', at: 'now' });
    } else if ((p.decision === 'scheduled' || p.decision === 'runs') && p.at && new Date(p.at) >= open && new Date(p.at) <= close) {
      const at = new Date(p.at);
      const random = lastTasks.find((x) => x.name === p.name)?.scheduleRandomized;
      items.push({ task: p.name, run: p.runID ? run : null, from: at, to: at, kind: 'planned',
        words: '◆ ' + (p.decision === 'scheduled' ? 'scheduled' : 'planned') + (random ? ' at its random time' : ''), at: inZone(at, false) });
    } else if (p.decision === 'runs' && p.random) {
      const from = plan.inside && t > open ? t : open;
      items.push({ task: p.name, run: null, from, to: close, kind: 'span',
        words: '↔ at a random time', at: 'between ' + inZone(from, false) + ' and ' + inZone(close, false) });
    }
  }
  return items.sort((a, b) => a.from - b.from);
}

// place puts an element on a track of the timeline: from from to to, as a
// share of the window from open to close.
function place(e, from, to, open, close) {
  const span = close - open;
  const x = (v) => Math.min(100, Math.max(0, (v - open) / span * 100));
  e.style.left = x(from) + '%';
  if (to > from) e.style.width = Math.max(x(to) - x(from), 0.5) + '%';
}

// renderTimeline draws tonight's window as a timeline in the server's
// zone, named: its hours, each task's lane with its runs and plans, and
// now; and, for every reader, the same as a list in time order, each run
// a link to its page. The drawing is one image for assistive technology,
// named for the list that says what it shows.
function renderTimeline(plan, now) {
  if (!plan) return;
  const open = new Date(plan.open), close = new Date(plan.close), t = new Date();
  $('timeline-state').textContent = inZone(plan.open, true) + ' – ' + inZone(plan.close, false) + ', ' + zoneName() + ': ' +
    (plan.inside ? 'window open, closes ' + inWords(plan.close) : 'opens ' + inWords(plan.open));
  const items = timelineItems(plan, now);
  // The hours, at most six labels.
  const hours = (close - open) / 3600000;
  const step = Math.max(1, Math.ceil(hours / 5));
  const axis = [];
  for (let h = 0; h <= hours; h += step) {
    const at = new Date(open.getTime() + h * 3600000);
    const tick = el('span', { class: 'tick' }, inZone(at, false));
    place(tick, at, at, open, close);
    axis.push(tick);
  }
  const lanes = [];
  for (const task of [...new Set(items.map((i) => i.task))]) {
    const track = el('div', { class: 'track' });
    for (const i of items.filter((x) => x.task === task)) {
      const mark = el('span', { class: 'mark ' + i.kind + (i.run ? ' outcome-' + (i.run.outcome || i.run.state) : ''), title: i.at + ': ' + i.words }, i.words.split(' ')[0]);
      place(mark, i.from, i.to, open, close);
      track.append(mark);
    }
    if (plan.inside) {
      const line = el('span', { class: 'now' });
      place(line, t, t, open, close);
      track.append(line);
    }
    lanes.push(el('div', { class: 'lane', 'data-task': task }, el('span', { class: 'lane-name' }, task), track));
  }
  $('timeline').replaceChildren(el('div', { class: 'axis' }, ...axis), ...lanes);
  $('timeline').hidden = lanes.length === 0;
  $('timeline').setAttribute('aria-label', 'Timeline of tonight\'s window, ' + inZone(plan.open, false) + ' to ' + inZone(plan.close, false) +
    ' ' + zoneName() + (plan.inside ? ', now at ' + inZone(t, false) : '') + '; the list below says what it shows.');
  const list = items.map((i) => el('li', { 'data-task': i.task, 'data-run': i.run?.id || '', class: i.run ? 'outcome-' + (i.run.outcome || i.run.state) : '' },
    el('span', { class: 'when' }, i.at), ' ', el('strong', {}, i.task), ': ', i.words,
    ...(i.run?.id ? [' ', runLink(i.run, '(run ' + i.run.id + ')')] : [])));
  $('timeline-list').replaceChildren(...list);
  $('no-timeline').hidden = list.length > 0;
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
    el('td', { 'data-label': 'Run' }, runLink(r, String(r.id))),
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

// fieldValue is what a setting's field holds, as text; shownValue is a
// setting's value as its field shows it. A field whose value is not the
// one the page last put in it (data-shown) holds an edit not saved yet.
function fieldValue(input) {
  return input.type === 'checkbox' ? String(input.checked) : input.value;
}

function shownValue(st) {
  return st.type === 'bool' ? String(st.value === true) : String(st.value);
}

function renderSettings(list) {
  settings = new Map(list.map((st) => [st.id, st]));
  zoneSetting = settings.get('ButlerTimeZone')?.value || '';
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
    input.dataset.shown = shownValue(st);
    // A setting the server's config file fixes cannot be changed here.
    if (st.fixed) input.disabled = true;
    fields.push(el('label', { htmlFor: id }, st.label, el('span', { class: 'muted' }, st.id)),
      el('div', {}, input, el('span', { class: 'muted' },
        st.fixed ? 'Fixed by the server\'s config file (settings: ' + st.id + '): change it there. ' + st.summary : st.summary)));
  }
  $('setting-fields').replaceChildren(...fields);
}

// updateSettings takes the settings as the server has them now: the
// values the page compares with, the zone of its times, and the value of
// each field that holds no edit and is not the one being edited (editing,
// the focused element; a later read updates that one). When the settings
// offered are not the ones drawn, the form is drawn again.
function updateSettings(list, editing) {
  const inputs = [...$('setting-fields').querySelectorAll('[data-id]')];
  const offered = list.filter((st) => !st.hidden).map((st) => st.id).join(',');
  if (inputs.length === 0 || inputs.map((i) => i.dataset.id).join(',') !== offered) {
    renderSettings(list);
    return;
  }
  settings = new Map(list.map((st) => [st.id, st]));
  zoneSetting = settings.get('ButlerTimeZone')?.value || '';
  for (const input of inputs) {
    const st = settings.get(input.dataset.id);
    const value = shownValue(st);
    if (value === input.dataset.shown || fieldValue(input) !== input.dataset.shown || input === editing) continue;
    if (input.type === 'checkbox') input.checked = st.value === true;
    else input.value = value;
    input.dataset.shown = value;
  }
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

// saveSettings reads the settings again and sends those whose field
// differs from what the server has now, all in one PUT (the server takes
// all of them or none). A refusal keeps the edits on the page, says why
// next to Save and under each field it names.
async function saveSettings(ev) {
  ev.preventDefault();
  clearFields();
  try {
    const prefs = await api('GET', '/:/prefs');
    updateSettings(prefs?.MediaContainer?.Setting || [], null);
    const q = new URLSearchParams();
    for (const input of $('setting-fields').querySelectorAll('[data-id]')) {
      const st = settings.get(input.dataset.id);
      const value = fieldValue(input);
      if (value !== shownValue(st)) q.set(st.id, value);
    }
    if ([...q.keys()].length === 0) {
      sayForm('Nothing to save: the server has these values already.', true);
      return;
    }
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
    wakeStream();
  }
}

let refreshing = null;
// refresh reads everything again, the settings too (changed elsewhere,
// they change the form's untouched fields and the zone of the times);
// calls while one is running share it. An HTTP error is said until a
// later refresh succeeds.
function refresh() {
  refreshing ??= (async () => {
    try {
      const [tasks, plan, acts, runs, recent, prefs] = await Promise.all([
        api('GET', '/butler'), api('GET', '/butler/plan'), api('GET', '/activities'), api('GET', runsQuery()),
        api('GET', '/butler/runs?limit=200'), api('GET', '/:/prefs')]);
      const p = plan?.MediaContainer;
      const tonight = p?.inside ? await api('GET', '/butler/runs?limit=1000&since=' + encodeURIComponent(p.open)) : null;
      setOffline(false);
      clearReadError();
      updateSettings(prefs?.MediaContainer?.Setting || [], document.activeElement);
      recentRuns = recent?.MediaContainer?.Run || [];
      tonightRuns = tonight?.MediaContainer?.Run || [];
      renderTasks(tasks?.ButlerTasks?.ButlerTask || [], p);
      fillTaskFilter(tasks?.ButlerTasks?.ButlerTask || []);
      activities.clear();
      for (const a of acts?.MediaContainer?.Activity || []) activities.set(a.uuid, a);
      renderActivities();
      renderRuns(runs?.MediaContainer?.Run || []);
    } catch (e) {
      if (unreachable(e)) {
        setOffline(true);
      } else {
        // An answer: the server (or a proxy before it) answers.
        setOffline(false);
        sayReadError(e.message);
      }
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

// poll refreshes every 15 s, or every 5 s while the server is not
// answering or answers with an error.
function poll() {
  refresh().finally(() => setTimeout(poll, offlineSince || readError !== null ? 5000 : 15000));
}

function listen() {
  listenActivities((n) => {
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
// Each refresh reads the settings before it draws the rest, which is
// shown in their zone.
poll();
listen();
