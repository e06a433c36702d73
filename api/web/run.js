// A run's page, /web/runs/{id} (or /web/runs/{id}/): the run's task, what
// made it, its times, outcome and reason, its steps (queued, started,
// ended), and its log, which is read again every second while the run has
// not ended, and at once when the event stream says the run changed
// (stopping, ended). Once it has ended, the run and the time zone are read
// again every 15 s. A Stop button while the run runs (Cancel while it
// waits), which acts on this run only.

const runID = Number(/^\/web\/runs\/([1-9][0-9]*)\/?$/.exec(location.pathname)?.[1]) || null;
let shown = null; // the run as last read
let tail = null; // the timer of the next read
let logFinal = false; // the log was read after the run was known to have ended

// offlineSince is when the server stopped answering, or null while it
// answers; while it does not, the page says so, greys out and tries again
// every 5 s.
let offlineSince = null;

function setOffline(off) {
  if (off === (offlineSince !== null)) return;
  offlineSince = off ? new Date() : null;
  document.body.classList.toggle('offline', off);
  $('run-stop').disabled = off || shown?.state === 'stopping';
  if (off) {
    $('live').textContent = 'offline';
    say('Butler is not answering since ' + offlineSince.toLocaleTimeString() + ': what is shown may be out of date. Trying again every 5 seconds…');
  } else {
    say('Butler is answering again.', true);
    wakeStream();
  }
}

// noRun is the error of a run the server does not have: there is nothing
// to read again.
class NoRun extends Error {}

// readRun reads the run; a run the server does not have is said in words.
async function readRun() {
  const r = await fetch('/butler/runs/' + runID, { headers: { 'Accept': 'application/json' } });
  signedOut(r);
  if (r.status === 404) {
    throw new NoRun('There is no run ' + runID + ' on this server: its number is wrong, or it is older than the history keeps (the ButlerRunRetentionDays setting). The dashboard lists the runs there are.');
  }
  if (!r.ok) throw new Error('Could not read run ' + runID + ': ' + r.status + ' ' + (r.headers.get('X-Butler-Reason') || r.statusText) + '.');
  const body = await r.json();
  return body?.MediaContainer?.Run?.[0];
}

async function readLog() {
  const r = await fetch('/butler/runs/' + runID + '/log');
  signedOut(r);
  if (!r.ok) throw new Error('Could not read the log of run ' + runID + ': ' + r.status + ' ' + r.statusText + '.');
  return r.text();
}

// fact is one line of the run's facts: a term and what it says, left out
// when there is nothing to say.
function fact(term, value, cls) {
  if (!value) return [];
  return [el('dt', {}, term), el('dd', cls ? { class: cls } : {}, value)];
}

function renderRun(r) {
  shown = r;
  const outcome = outcomeMark(r) + ' ' + outcomeWords(r);
  document.title = 'Run ' + r.id + ' of ' + r.task + ', ' + outcomeWords(r) + ' · Butler';
  $('run-title').textContent = 'Run ' + r.id + ': ' + r.task + ', ' + outcome;
  $('run-title').className = 'outcome-' + (r.outcome || r.state);
  const at = (s) => s ? inZone(s, true) + (serverZone() ? ' ' + serverZone() : '') : '';
  $('run-facts').replaceChildren(
    ...fact('Task', r.task),
    ...fact('Trigger', triggerWords[r.trigger] || r.trigger),
    ...fact(r.endedAt ? 'Outcome' : 'State', outcome, 'outcome-' + (r.outcome || r.state)),
    ...fact('Reason', r.reason),
    ...fact('Summary', r.summary),
    ...fact('Error', r.error),
    ...fact('Progress', !r.endedAt && r.startedAt ? (r.progress >= 0 ? r.progress + ' %' : 'running') + (r.step ? ': ' + r.step : '') : ''),
    ...fact('Queued', at(r.createdAt)),
    ...fact('Scheduled for', r.scheduledAt && r.scheduledAt !== r.createdAt ? at(r.scheduledAt) : ''),
    ...fact('Started', at(r.startedAt) || (r.endedAt ? 'never: it did not start' : 'not yet')),
    ...fact('Ended', at(r.endedAt) || (r.startedAt ? 'not yet' : '')),
    ...fact('Took', took(r)),
    ...fact('Window', r.window ? 'the nightly window of ' + r.window : ''),
    ...fact('Server', r.node));
  const steps = [el('li', {}, 'Queued ' + inZone(r.createdAt, false))];
  if (r.scheduledAt && r.scheduledAt !== r.createdAt) steps.push(el('li', {}, 'Scheduled for ' + inZone(r.scheduledAt, false)));
  if (r.startedAt) steps.push(el('li', {}, 'Started ' + inZone(r.startedAt, false)));
  if (r.state === 'stopping') steps.push(el('li', { class: 'outcome-stopping' }, '■ Stopping: its work has not ended yet'));
  if (r.endedAt) steps.push(el('li', { class: 'outcome-' + r.outcome }, 'Ended ' + inZone(r.endedAt, false) + ': ' + outcome));
  else if (r.startedAt) steps.push(el('li', {}, '▶ Running (' + took(r) + ')'));
  else steps.push(el('li', {}, '… Waiting to start'));
  $('run-steps').replaceChildren(...steps);
  const stop = $('run-stop');
  stop.hidden = !!r.endedAt;
  stop.disabled = r.state === 'stopping' || offlineSince !== null;
  stop.textContent = r.state === 'stopping' ? 'Stopping…' : r.startedAt ? 'Stop' : 'Cancel';
  stop.setAttribute('aria-label', (r.state === 'stopping' ? 'Stopping ' : r.startedAt ? 'Stop ' : 'Cancel ') + r.task + ', run ' + r.id);
}

function renderLog(text, r) {
  const log = $('run-log');
  const atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
  log.textContent = text || (r.endedAt ? '(this run kept no log)' : '(nothing yet)');
  if (atEnd) log.scrollTop = log.scrollHeight;
  $('log-state').textContent = r.endedAt ? '(as the run left it)' : '(follows the run live)';
}

// refresh reads the run, its log and the time zone again: a second later
// while the run has not ended (and once more after, for the log's last
// lines), else 15 s later without the log. An HTTP error is said and
// read again 5 s later, as is a server that does not answer; the error
// goes once a read succeeds. A call while one is running makes one more
// read after it.
let refreshing = null;
let again = false;

function refresh() {
  if (refreshing) {
    again = true;
    return refreshing;
  }
  clearTimeout(tail);
  refreshing = (async () => {
    const ended = !!shown?.endedAt;
    const withLog = !logFinal;
    try {
      const [r, text] = await Promise.all([readRun(), withLog ? readLog() : null, readZone()]);
      setOffline(false);
      clearReadError();
      renderRun(r);
      if (withLog) renderLog(text, r);
      if (ended && withLog) logFinal = true;
      tail = setTimeout(refresh, r.endedAt && logFinal ? 15000 : 1000);
    } catch (e) {
      if (unreachable(e)) {
        setOffline(true);
        tail = setTimeout(refresh, 5000);
      } else {
        // An answer, if not the run: the server (or a proxy before it)
        // answers.
        setOffline(false);
        if (e instanceof NoRun) {
          sayReadError(e.message);
        } else {
          sayReadError(e.message + ' Trying again in 5 seconds…');
          tail = setTimeout(refresh, 5000);
        }
      }
    }
  })().finally(() => {
    refreshing = null;
    if (again) {
      again = false;
      refresh();
    }
  });
  return refreshing;
}

// stopRun stops the run shown, and no other. It reads the run first: one
// that has ended meanwhile, or that has started while the page showed it
// waiting (or the reverse), is left alone, and the page says so. Else a
// run that has started is stopped by its activity (DELETE
// /activities/{uuid}), and one that waits is removed by its number
// (DELETE /butler/runs/{id}, which removes it only while it waits); when
// the server finds the run changed by then (404, 409), the page reads it
// again and says what happened.
async function stopRun() {
  const name = 'run ' + shown.id + ' of ' + shown.task;
  const Name = 'Run ' + shown.id + ' of ' + shown.task;
  const changed = (now) => now.endedAt ? Name + ' had already ended (' + outcomeWords(now) + '): nothing was stopped.'
    : now.startedAt ? Name + ' had already started: nothing was removed. Stop stops it.'
      : Name + ' is waiting to start again: nothing was stopped. Cancel removes it.';
  try {
    const r = await readRun();
    if (r.endedAt || !!r.startedAt !== !!shown.startedAt) {
      say(changed(r), true);
    } else {
      const path = r.startedAt ? '/activities/' + encodeURIComponent(r.uuid) : '/butler/runs/' + r.id;
      const resp = await fetch(path, { method: 'DELETE', headers: { 'Accept': 'application/json' } });
      signedOut(resp);
      if (resp.status === 404 || resp.status === 409) {
        say(changed(await readRun()), true);
      } else if (!resp.ok) {
        throw new Error('Could not stop ' + name + ': ' + (resp.headers.get('X-Butler-Reason') || resp.status + ' ' + resp.statusText) + '.');
      } else {
        const words = {
          stopped: 'Stopped ' + name + '.',
          stopping: Name + ' is stopping: its work has not ended yet.',
          removed: 'Removed ' + name + ': it will not run.',
        };
        say(words[resp.headers.get('X-Butler-Outcome')] || 'Asked ' + name + ' to stop.', true);
      }
    }
  } catch (e) {
    if (unreachable(e)) setOffline(true);
    else say(e.message);
  }
  refresh();
}

$('run-stop').onclick = stopRun;
if (runID === null) {
  say('This address names no run: a run\'s page is /web/runs/ and the run\'s number, as in the dashboard\'s list of runs.');
} else {
  // The zone first: the times are shown in it.
  readZone().catch(() => {}).finally(() => {
    refresh();
    listenActivities((n) => {
      if ((n.ActivityNotification || []).some((a) => a.Activity?.Context?.runID === runID)) refresh();
    });
  });
}
