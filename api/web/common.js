'use strict';
// What both script pages of the dashboard share (the dashboard, app.js,
// and a run's page, run.js, each put after this file in one script): the
// API calls, signed in by the session cookie that the sign-in page set
// (HttpOnly: no script sees it, and none keeps a token anywhere), and
// times, durations and outcomes in words. When the session has ended
// (signed out elsewhere, expired, the server restarted), the API answers
// 401 and the page reloads, which shows the sign-in page; signing in there
// comes back to the same page. Each page defines refresh (read what it
// shows again) and setOffline (say whether the server answers).

function signedOut(r) {
  if (r.status === 401) {
    location.reload();
    throw new Error('Signed out; opening the sign-in page.');
  }
}

const $ = (id) => document.getElementById(id);

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

// readError is what the status line says of a read that the server
// answered with an error (a proxy's 502, a 503 while the database is
// away), until a later read succeeds: clearReadError then clears it,
// unless the status line has said something else meanwhile.
let readError = null;

function sayReadError(text) {
  say(text);
  readError = text;
}

function clearReadError() {
  if (readError !== null && $('status').textContent === readError) say('', true);
  readError = null;
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

// unreachable reports whether e is fetch's failure to reach the server at
// all (not an answer with an error status).
function unreachable(e) {
  return e instanceof TypeError;
}


// zoneSetting is the ButlerTimeZone setting, once the page has read it.
let zoneSetting = '';

// readZone reads the ButlerTimeZone setting into zoneSetting.
async function readZone() {
  const prefs = await api('GET', '/:/prefs/get?id=ButlerTimeZone');
  zoneSetting = prefs?.MediaContainer?.Setting?.[0]?.value || '';
}

// when writes a time with its date, to the second, in the server's zone
// (see serverZone), else in the browser's, and names the zone: the page
// may be read far from the server.
function when(s) {
  if (!s) return '';
  const d = new Date(s);
  if (isNaN(d)) return s;
  const opts = { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit', timeZoneName: 'short' };
  const z = serverZone();
  if (z) opts.timeZone = z;
  return new Intl.DateTimeFormat(undefined, opts).format(d);
}

// serverZone returns the window's zone, the ButlerTimeZone setting, when
// the page knows it and the browser knows the zone; else ''.
function serverZone() {
  const z = zoneSetting;
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


// outcomeWords says a run's outcome, or its state while it has none, in
// words; outcomeMark is the sign drawn with it, so that no outcome is told
// by its colour alone.
function outcomeWords(r) {
  return (r.outcome || r.state || '').replaceAll('_', ' ');
}

const outcomeMarks = {
  succeeded: '✓', failed: '✗', timed_out: '✗', interrupted: '✗', stopped: '■', skipped: '–',
  running: '▶', stopping: '■', queued: '…', scheduled: '◆',
};

function outcomeMark(r) {
  return outcomeMarks[r.outcome || r.state] || '•';
}

// runLink is a link to a run's page, named for the run.
function runLink(r, text) {
  return el('a', { href: '/web/runs/' + r.id, 'aria-label': 'Run ' + r.id + ' of ' + r.task + ', ' + outcomeWords(r) }, text);
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

// listenActivities follows the activity events, calling onNotification
// with each NotificationContainer. The page defines refresh() and
// offlineSince (when the server stopped answering, or null): the stream
// breaks first when the server goes away, so an error reads everything
// again at once, which finds out whether the server still answers; and
// the events of a break are missed, so a stream that opens again reads
// everything again too. A browser opens a broken stream again by itself,
// but not one that got an HTTP error (a proxy's 502, say): that one is
// opened again here, after 1 s, then 2, 4… up to 30 s, and at once when
// the server answers again after not answering (see wakeStream).
let stream = null;

function listenActivities(onNotification) {
  let opened = false;
  let wait = 1000;
  stream = { es: null, retry: null, open: null };
  stream.open = () => {
    clearTimeout(stream.retry);
    stream.retry = null;
    const es = new EventSource('/:/eventsource/notifications?filters=activity');
    stream.es = es;
    es.onopen = () => {
      wait = 1000;
      $('live').textContent = 'live';
      if (opened || offlineSince) refresh();
      opened = true;
    };
    es.onerror = () => {
      $('live').textContent = offlineSince ? 'offline' : 'reconnecting…';
      if (es.readyState === EventSource.CLOSED && stream.retry === null) {
        stream.retry = setTimeout(stream.open, wait);
        wait = Math.min(wait * 2, 30000);
      }
      refresh();
    };
    es.addEventListener('activity', (ev) => onNotification(JSON.parse(ev.data).NotificationContainer));
  };
  stream.open();
}

// wakeStream opens the event stream again at once if it is closed and
// waiting to be opened again: the server answers again.
function wakeStream() {
  if (!stream?.es || stream.es.readyState === EventSource.OPEN) return;
  $('live').textContent = 'reconnecting…';
  if (stream.retry !== null) stream.open();
}
