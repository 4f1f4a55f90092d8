/* Learner view of LabXBlock. Everything it shows comes from the XBlock's handlers, which act on
 * the requesting learner's own lab; the only things it talks to directly are the orchestrator's
 * heartbeat route (with the lab's heartbeat token), through OpenedxLabHeartbeat, and the lab's
 * terminal WebSocket (with a short-lived token from the XBlock), through LabTerminal. Rendering
 * the unit launches nothing: this script launches (a POST) when it starts.
 *
 * When the unit's lab has graded checks (init.checks), a "Check my work" button shows once the
 * lab is ready: it starts a run (check_start), long-polls it (check_poll) until it finishes and
 * shows the score and each check's result. After its launch, the page asks check_state first,
 * which publishes any run that finished while no page was watching.
 *
 * A paused lab's page says when the lab and its files will be deleted (LabXBlock.deletionNotice,
 * below, in the learner's locale and time zone).
 *
 * When a usage limit applies to the lab (lab.usage), the page says how much lab time is left,
 * counting down while the lab is ready, or that it is used up (LabXBlock.usageNotice, below). A
 * launch refused because it is used up (the handler's 403 with code "usage_limit") shows the
 * reason and is never retried by the page: only the course team can change it.
 * No build step: edit here. */
function LabXBlock(runtime, element, init) {
  'use strict';
  var $root = $(element).find('.openedx-lab');
  var WORDS = {
    queued: 'Waiting for room in the lab cloud: your lab starts as soon as there is space.',
    launching: 'Building your lab…',
    ready: 'Your lab is ready.',
    suspending: 'Pausing your lab (you were away)…',
    suspended: 'Your lab is paused to save resources. It resumes when you work on this page.',
    resuming: 'Resuming your lab…',
    resetting: 'Resetting your lab: building a fresh one…',
    deleting: 'Deleting your lab…',
    deleted: 'Your lab was deleted after a long time unused.',
    failed: 'Your lab could not be started.'
  };
  var CHANGING = { queued: 1, launching: 1, suspending: 1, resuming: 1, resetting: 1, deleting: 1 };
  var LONG_POLL_S = 20; // while the lab changes: the API answers as soon as it does
  var REFRESH_MS = 60000; // while it is steady: a plain read now and then
  var WARN_MS = 3 * 60000; // the suspend warning shows in the last minutes
  var DELETION = init.deletionWords || {}; // words.DELETION, by what deletes the lab
  var USAGE = init.usageWords || {}; // words.USAGE: the learner's lab time

  var lab = null;
  var skewMs = 0; // server clock minus ours
  var lastBeatAt = null; // server time of the last accepted heartbeat
  var heartbeat = null;
  var pollTimer = null;
  var polling = false;
  var connectionFor = null; // the lab's readiness we loaded the connection for
  var failures = 0;
  var starting = !!init.launch; // the launch this script makes on opening is on its way
  // A launch or reset was just accepted: the answer may still show the state before it.
  var awaitingChange = false;
  var usageAt = 0; // server time of the answer that brought lab.usage (it counts down from there)
  var usageDue = null; // the lab.usage whose end this page already polled for
  var usageRefused = false; // the launch was refused: the lab time is used up (no lab shown)

  // The terminal in the browser (init.terminal when the unit has it on): it opens once the lab
  // is ready, with a fresh token from the XBlock for each connection, and reconnects after a
  // drop with backoff.
  var terminal = init.terminal && window.LabTerminal ? init.terminal : null;
  var TERM = (terminal && terminal.words) || {};
  // While the lab is not ready, what the terminal waits for (a key of TERM).
  var TERM_WAITING = {
    suspending: 'suspending', suspended: 'suspended', resuming: 'resuming',
    resetting: 'rebuilding', launching: 'rebuilding', queued: 'rebuilding'
  };
  var TERM_MAX_BACKOFF_MS = 30000;
  var TERM_STEADY_MS = 10000; // a connection open this long starts the backoff afresh
  var term = null; // the LabTerminal on the page, once opened
  var termBusy = false; // a token is on its way, or a socket is opening or open
  var termTimer = null; // the next connection attempt
  var termFailures = 0;
  var termOpenedAt = 0;
  var termEnded = false; // the learner ended the shell: a new one on their click only

  // Graded checks (init.checks when the unit's lab has some): {words, policy, showResults, score}.
  var checks = init.checks || null;
  var CHK = (checks && checks.words) || {};
  var run = null; // the latest run shown (from check_state, check_start or check_poll)
  var kept = checks ? checks.score : null; // the score that counts: {earned, possible} or null
  var checkStarting = false; // a check_start is on its way
  var checkPolling = false;
  var checkTimer = null;
  var checkFailures = 0;
  var runShown = null; // what the run part shows (its region is live: rebuilt only on a change)
  var checkRefusedIn = null; // the lab's state when a check was refused (its message goes with it)

  function handler(name, data, timeoutMs) {
    return $.ajax({
      type: 'POST',
      url: runtime.handlerUrl(element, name),
      data: JSON.stringify(data || {}),
      contentType: 'application/json',
      dataType: 'json',
      timeout: timeoutMs || 30000
    });
  }
  function errorText(xhr) {
    return (xhr && xhr.responseJSON && xhr.responseJSON.error) ||
      'The lab service cannot be reached right now. Retrying…';
  }
  /** A launch refused because the learner's lab time is used up: asking again changes nothing
   * until the course team gives more time (or, for a window of days, old time falls out of it). */
  function isUsageRefusal(xhr) {
    return !!xhr && xhr.status === 403 && !!xhr.responseJSON && xhr.responseJSON.code === 'usage_limit';
  }
  /** A 429's wait (the XBlock's per-learner limit, or the API's), in ms; 0 for other errors. */
  function retryAfterMs(xhr) {
    var seconds = (xhr && xhr.responseJSON && xhr.responseJSON.retryAfter) ||
      Number(xhr && xhr.getResponseHeader && xhr.getResponseHeader('Retry-After'));
    return seconds > 0 ? seconds * 1000 : 0;
  }
  /** For the heartbeat client, after the API refused the token (a key rotation): a fresh one,
   * null when the lab has none to give (gone or failed), a rejection when asking failed. */
  function renewToken() {
    return new Promise(function (resolve, reject) {
      handler('heartbeat_token').done(function (answer) {
        resolve(answer.heartbeat.token);
      }).fail(function (xhr) {
        if (xhr.status === 404 || xhr.status === 409 || isUsageRefusal(xhr)) resolve(null);
        else reject(new Error(errorText(xhr)));
      });
    });
  }
  function serverNow() { return Date.now() + skewMs; }
  function show($el, visible) { $el.prop('hidden', !visible); }
  function message(text) {
    $root.find('.openedx-lab-message').text(text || '');
    show($root.find('.openedx-lab-message'), !!text);
  }

  function accept(answer) {
    if (answer.now) skewMs = answer.now - Date.now();
    if (answer.heartbeat && !heartbeat && window.OpenedxLabHeartbeat) {
      var started = window.OpenedxLabHeartbeat.start({
        url: answer.heartbeat.url,
        token: answer.heartbeat.token,
        renewToken: renewToken,
        onResult: function (result) {
          // Stopped for good (the lab is gone): the next launch answer starts a new client.
          if (!result.ok && !result.retry && heartbeat === started) heartbeat = null;
          if (!result.ok) return;
          lastBeatAt = serverNow();
          // It resumes: show it (not when its time is used up: then it cannot).
          if (lab && lab.state === 'suspended' && !usageBlocks()) pollSoon(0);
          renderClock();
        }
      });
      heartbeat = started;
    }
    if (answer.lab) {
      lab = answer.lab;
      usageAt = serverNow();
      if (lab.state === 'deleted' && heartbeat) { heartbeat.stop(); heartbeat = null; }
    }
    message(answer.message);
    render();
  }

  function render() {
    $root.attr('data-state', lab ? lab.state : starting ? 'loading' : 'unavailable');
    show($root.find('.openedx-lab-status'), !!lab || starting);
    if (!lab) {
      $root.find('.openedx-lab-state').text(starting ? 'Opening your lab…' : '');
      show($root.find('.openedx-lab-launch').text('Try again'), !starting && !usageRefused);
      show($root.find('.openedx-lab-reset, .openedx-lab-connection, .openedx-lab-clock, ' +
        '.openedx-lab-deletion, .openedx-lab-usage'), false);
      renderChecks();
      return;
    }
    // A lab paused with its time used up does not resume "when you work on this page".
    var paused = lab.state === 'suspended' && usageBlocks();
    $root.find('.openedx-lab-state').text(paused ? USAGE.paused : WORDS[lab.state] || lab.state);
    var progress = lab.progress;
    show($root.find('.openedx-lab-progress'), !!progress && CHANGING[lab.state] === 1);
    if (progress) {
      $root.find('.openedx-lab-progress progress').attr({ max: progress.total || 1, value: progress.done });
      $root.find('.openedx-lab-progress-text').text(progress.done + ' of ' + progress.total + ' parts built');
    }
    var error = lab.state === 'failed' && lab.error ? lab.error.message : '';
    $root.find('.openedx-lab-error').text(error);
    show($root.find('.openedx-lab-error'), !!error);
    var launchText = { suspended: 'Resume my lab', failed: 'Try again', deleted: 'Start a new lab' }[lab.state];
    // With the time used up the API refuses every launch: no button to click in vain.
    show($root.find('.openedx-lab-launch').text(launchText || ''), !!launchText && !usageBlocks());
    var resettable = lab.state === 'ready' || lab.state === 'suspended' || lab.state === 'failed';
    show($root.find('.openedx-lab-reset'), resettable);
    if (!resettable) show($root.find('.openedx-lab-confirm'), false);
    if (lab.state !== 'ready') {
      connectionFor = null;
      show($root.find('.openedx-lab-connection'), false);
    } else if (connectionFor === null && !awaitingChange) {
      loadConnection();
    }
    renderTerminal();
    renderClock();
    renderDeletion();
    renderUsage();
    renderChecks();
  }

  // ----- graded checks -----

  function fill(text, values) {
    return String(text || '').replace(/\{(\w+)\}/g, function (all, key) {
      return values[key] !== undefined ? values[key] : all;
    });
  }
  function points(n) { return String(Math.round(Number(n) * 100) / 100); }
  function checkMessage(text) {
    $root.find('.openedx-lab-check-message').text(text || '');
    show($root.find('.openedx-lab-check-message'), !!text);
  }
  function checksReady() {
    return !!lab && lab.state === 'ready' && !awaitingChange;
  }
  function renderChecks() {
    if (!checks) return;
    var $c = $root.find('.openedx-lab-checks');
    show($c, true);
    if (checkRefusedIn !== null && (lab ? lab.state : null) !== checkRefusedIn) {
      checkRefusedIn = null; // the lab moved on: "not ready" no longer holds
      checkMessage('');
    }
    var running = checkStarting || (!!run && run.state === 'running');
    $c.attr('data-run', run ? run.state : null);
    $c.find('.openedx-lab-checks-heading').text(CHK.heading);
    $c.find('.openedx-lab-checks-intro').text(CHK.intro);
    var score = kept
      ? fill(checks.policy === 'latest' ? CHK.score_latest : CHK.score_best,
        { earned: points(kept.earned), possible: points(kept.possible) })
      : '';
    show($c.find('.openedx-lab-score').text(score), !!score);
    show($c.find('.openedx-lab-check-wait').text(CHK.wait_for_lab), !running && !checksReady());
    $c.find('.openedx-lab-check')
      .text(run && run.state !== 'running' ? CHK.again : CHK.button)
      .prop('disabled', running);
    show($c.find('.openedx-lab-check'), running || checksReady());
    var shown = running ? 'running' : run ? run.id + ' ' + run.state : '';
    if (shown !== runShown) renderRun($c, running);
    runShown = shown;
  }
  function renderRun($c, running) {
    var status = '';
    var $results = $c.find('.openedx-lab-check-results').empty();
    if (running) {
      status = CHK.running;
    } else if (run && run.state === 'error') {
      status = run.message || '';
    } else if (run && run.score) {
      var hints = false;
      $.each(run.results || [], function (i, result) {
        var $item = $('<li class="openedx-lab-check-result">')
          .addClass(result.passed ? 'openedx-lab-check-passed' : 'openedx-lab-check-failed')
          .append($('<span class="openedx-lab-check-title">').text(result.title))
          .append($('<span class="openedx-lab-check-outcome">').text(result.passed ? CHK.passed : CHK.failed));
        if (result.timedOut) $item.append($('<p class="openedx-lab-check-note">').text(CHK.timed_out));
        if (result.hint) {
          hints = true;
          $item.append($('<p class="openedx-lab-check-hint">')
            .append($('<span class="openedx-lab-check-hint-label">').text(CHK.hint))
            .append(document.createTextNode(result.hint)));
        }
        $results.append($item);
      });
      // Without per-check results (Studio), not even how many passed: only the score.
      status = run.state === 'passed' ? CHK.all_passed
        : run.total === undefined ? CHK.not_all_passed
          : fill(hints ? CHK.some_passed_hints : CHK.some_passed, { passed: run.passedCount, total: run.total });
      status += ' ' + fill(CHK.run_score, { earned: points(run.score.earned), possible: points(run.score.possible) });
    }
    show($c.find('.openedx-lab-check-status').text(status), !!status);
    show($results, !running && $results.children().length > 0);
  }
  /** Every check handler answers {run, score}: show them, and follow a run that is running. */
  function acceptCheck(answer) {
    if (answer.now) skewMs = answer.now - Date.now();
    kept = answer.score || null;
    run = answer.run || null;
    renderChecks();
    if (run && run.state === 'running') pollCheckSoon(0);
  }
  function loadChecks() {
    handler('check_state').done(function (answer) {
      // A check the learner started meanwhile is newer than what the opening found.
      if (!run && !checkStarting) acceptCheck(answer);
    }).fail(function (xhr) {
      if (xhr.status === 429) window.setTimeout(loadChecks, retryAfterMs(xhr));
    });
  }
  function startCheck() {
    checkStarting = true;
    checkMessage('');
    renderChecks();
    handler('check_start').done(function (answer) {
      checkStarting = false;
      acceptCheck(answer);
    }).fail(function (xhr) {
      checkStarting = false;
      checkMessage((xhr.responseJSON && xhr.responseJSON.error) || CHK.start_failed);
      if (xhr.status === 409) { // the lab is not ready after all: show what it is
        checkRefusedIn = lab ? lab.state : null;
        pollSoon(0);
      }
      renderChecks();
    });
  }
  function pollCheckSoon(delayMs) {
    if (checkPolling) return;
    window.clearTimeout(checkTimer);
    checkTimer = window.setTimeout(pollCheck, delayMs);
  }
  /** Long-polls the running run until it finishes (the handler then publishes its grade). */
  function pollCheck() {
    checkTimer = null;
    if (!run || run.state !== 'running') return;
    checkPolling = true;
    handler('check_poll', { id: run.id, wait: LONG_POLL_S }, (LONG_POLL_S + 30) * 1000).done(function (answer) {
      checkPolling = false;
      checkFailures = 0;
      checkMessage('');
      acceptCheck(answer);
    }).fail(function (xhr) {
      checkPolling = false;
      checkFailures += 1;
      if (xhr.status === 400 || xhr.status === 403 || xhr.status === 404) {
        run = null; // the run is gone (or the lab): the learner checks again
        checkMessage(errorText(xhr));
        renderChecks();
        return;
      }
      checkMessage(xhr.status === 429 ? errorText(xhr) : CHK.retrying);
      pollCheckSoon(Math.max(retryAfterMs(xhr), Math.min(REFRESH_MS, 2000 * Math.pow(2, checkFailures))));
    });
  }

  function terminalReady() {
    return !!terminal && !!lab && lab.state === 'ready' && !awaitingChange;
  }
  function renderTerminal() {
    if (!terminal) return;
    var ready = terminalReady();
    var waiting = lab ? TERM_WAITING[lab.state] : null;
    show($root.find('.openedx-lab-terminal-box'), ready || (term !== null && !!waiting));
    if (ready) {
      if (!termBusy && termTimer === null && !termEnded) connectTerminal();
      return;
    }
    window.clearTimeout(termTimer);
    termTimer = null;
    termFailures = 0;
    termEnded = false;
    if (waiting && !termBusy) terminalStatus(TERM[waiting]);
  }
  function terminalStatus(text, offerReconnect) {
    var $status = $root.find('.openedx-lab-terminal-status');
    $status.find('.openedx-lab-terminal-text').text(text || '');
    show($status.find('.openedx-lab-terminal-reconnect').text(TERM.reconnect), !!offerReconnect);
    show($status, !!text);
  }
  function connectTerminal() {
    termTimer = null;
    if (!terminalReady()) return;
    termBusy = true;
    terminalStatus(TERM.connecting);
    handler('terminal_token').done(function (answer) {
      if (!terminalReady()) {
        termBusy = false;
        renderTerminal();
        return;
      }
      var options = {
        wsUrl: answer.wsUrl,
        token: answer.token,
        onOpen: function () {
          termOpenedAt = Date.now();
          terminalStatus('');
        },
        onClose: terminalClosed
      };
      if (term) {
        term.connect(options);
      } else {
        term = window.LabTerminal.open($root.find('.openedx-lab-terminal')[0], $.extend({
          readOnly: !!terminal.readOnly,
          labels: { fullScreen: TERM.full_screen, exitFullScreen: TERM.exit_full_screen, readOnly: TERM.read_only }
        }, options));
      }
    }).fail(function (xhr) {
      termBusy = false;
      terminalStatus(errorText(xhr));
      if (xhr.status === 409) pollSoon(0); // not ready after all: the page shows what it is
      if (xhr.status !== 403 && xhr.status !== 404) retryTerminal(retryAfterMs(xhr));
    });
  }
  /** The socket closed (not by this page): say why, and connect again unless the shell ended. */
  function terminalClosed(info) {
    termBusy = false;
    if (termOpenedAt && Date.now() - termOpenedAt >= TERM_STEADY_MS) termFailures = 0;
    termOpenedAt = 0;
    if (info.code === 1000) { // the learner typed `exit`
      termEnded = true;
      terminalStatus(TERM.ended, true);
      return;
    }
    if (info.code === 4409) { // the lab left ready: its new state says what the learner waits for
      terminalStatus(TERM[TERM_WAITING[lab && lab.state]] || TERM.left_ready);
      pollSoon(0);
    } else {
      terminalStatus(info.code === 4429 ? TERM.too_many : info.code === 4502 ? TERM.ssh_failed : TERM.dropped);
    }
    retryTerminal(0);
  }
  /** The next attempt after 1 s, 2 s, 4 s, ... at most 30 s (or the 429's wait). */
  function retryTerminal(minMs) {
    window.clearTimeout(termTimer);
    var delay = Math.max(minMs, Math.min(TERM_MAX_BACKOFF_MS, 1000 * Math.pow(2, termFailures)));
    termFailures += 1;
    termTimer = window.setTimeout(connectTerminal, delay);
  }

  /** Time left before a ready lab is paused, ticking every second. */
  function renderClock() {
    var $clock = $root.find('.openedx-lab-clock');
    var text = '';
    var warn = false;
    var suspendAt = suspendTime();
    if (suspendAt !== null) {
      var left = suspendAt - serverNow();
      warn = left <= WARN_MS;
      text = warn
        ? 'Your lab will be paused in ' + clock(left) + ' because this page has seen no activity. ' +
          'Type, click or scroll on this page to keep it running.'
        : 'Your lab keeps running while you work on this page (paused after ' + clock(left) + ' without activity).';
      if (left <= 0) pollSoon(0);
    }
    $clock.text(text).toggleClass('openedx-lab-warning', warn).attr('role', warn ? 'alert' : null);
    show($clock, !!text);
  }
  /** When the lab will be deleted, if it is paused (or near the end of its lifetime). */
  function renderDeletion() {
    var $deletion = $root.find('.openedx-lab-deletion');
    var text = LabXBlock.deletionNotice(lab, serverNow(), DELETION);
    if ($deletion.text() !== text) $deletion.text(text);
    show($deletion, !!text);
  }
  /** The learner's lab time, when a usage limit applies: what is left (counting down while the
   * lab is ready), or that it is used up. */
  function renderUsage() {
    var $usage = $root.find('.openedx-lab-usage');
    var elapsedMs = serverNow() - usageAt;
    var text = lab ? LabXBlock.usageNotice(lab, elapsedMs, USAGE) : '';
    if ($usage.text() !== text) $usage.text(text);
    $usage.toggleClass('openedx-lab-used-up', !!text && LabXBlock.usageExceeded(lab, elapsedMs));
    show($usage, !!text);
    // Used up while ready, and the API pauses the lab for it: follow that (once per answer, so a
    // failing poll keeps its backoff).
    if (usagePauses() && usageDue !== lab.usage) {
      usageDue = lab.usage;
      pollSoon(0);
    }
  }
  /** The lab time is used up and the API refuses launches and resumes for it. */
  function usageBlocks() {
    var breach = lab && lab.usage ? lab.usage.breach : null;
    return (breach === 'block' || breach === 'suspend') &&
      LabXBlock.usageExceeded(lab, serverNow() - usageAt);
  }
  /** The lab is ready, but its time is used up and the API pauses it for that. */
  function usagePauses() {
    return usageBlocks() && lab.usage.breach === 'suspend' && lab.state === 'ready';
  }
  /** The launch handler's 403 `usage_limit`: the lab shown (if any) takes the usage, which says
   * the reason; without one, the reason shows in place of the launch's result. */
  function refuseForUsage(xhr) {
    var answer = xhr.responseJSON;
    if (lab && answer.usage) {
      lab.usage = answer.usage;
      usageAt = serverNow();
      message('');
    } else {
      usageRefused = true;
      message(answer.error);
    }
    render();
  }
  /** When a ready lab is paused (server time), counting heartbeats accepted since it was read. */
  function suspendTime() {
    if (!lab || lab.state !== 'ready' || !lab.suspendAt) return null;
    var suspendAt = Date.parse(lab.suspendAt);
    if (lastBeatAt && lab.lastActivityAt) {
      // suspendAt is lastActivityAt plus the idle window (idleTimeout and the API's slack): a newer heartbeat moves it on.
      suspendAt = Math.max(suspendAt, lastBeatAt + suspendAt - Date.parse(lab.lastActivityAt));
    }
    return suspendAt;
  }
  /** A change is due: the lab is changing, its suspend time has come, or its lab time ran out
   * and the API pauses it for that. */
  function expectingChange() {
    var suspendAt = suspendTime();
    return !!lab && (awaitingChange || CHANGING[lab.state] === 1 || usagePauses() ||
      (suspendAt !== null && suspendAt <= serverNow()));
  }
  function clock(ms) {
    var s = Math.max(0, Math.round(ms / 1000));
    var h = Math.floor(s / 3600);
    var m = Math.floor((s % 3600) / 60);
    var pad = function (n) { return (n < 10 ? '0' : '') + n; };
    return (h ? h + ':' + pad(m) : m) + ':' + pad(s % 60);
  }

  function loadConnection() {
    connectionFor = 'loading';
    handler('connection').done(function (c) {
      connectionFor = 'ready';
      var $c = $root.find('.openedx-lab-connection');
      $c.find('.openedx-lab-host').text(c.host + (c.port && c.port !== 22 ? ':' + c.port : ''));
      $c.find('.openedx-lab-user').text(c.username || '');
      show($c.find('.openedx-lab-key'), c.privateKey);
      if (c.privateKey) {
        $c.find('.openedx-lab-key-link')
          .attr({ href: runtime.handlerUrl(element, 'private_key'), download: c.privateKeyFile });
        $c.find('.openedx-lab-chmod').text('chmod 600 ' + c.privateKeyFile);
      }
      $c.find('.openedx-lab-command').text(c.command || '');
      show($c.find('.openedx-lab-command-line'), !!c.command);
      var $secrets = $c.find('.openedx-lab-secrets').empty();
      $.each(c.secrets || {}, function (name, value) {
        var $value = $('<code>').text('••••••••');
        var $toggle = $('<button type="button">').text('Show').on('click', function () {
          var hidden = $toggle.text() === 'Show';
          $value.text(hidden ? value : '••••••••');
          $toggle.text(hidden ? 'Hide' : 'Show');
        });
        $secrets.append($('<p>').append($('<span>').text(name.replace(/_/g, ' ') + ': '), $value, ' ', $toggle));
      });
      show($c, true);
    }).fail(function () {
      // 409 while the secrets are being stored just after ready: try again shortly.
      window.setTimeout(function () { if (connectionFor === 'loading') loadConnection(); }, 3000);
    });
  }

  function pollSoon(delayMs) {
    if (polling) return;
    window.clearTimeout(pollTimer);
    pollTimer = window.setTimeout(poll, delayMs);
  }
  function poll() {
    if (!lab) return;
    var data = expectingChange()
      ? { wait: LONG_POLL_S, known: { state: lab.state, progress: lab.progress } }
      : { wait: 0 };
    polling = true;
    handler('status', data, (LONG_POLL_S + 30) * 1000).done(function (answer) {
      polling = false;
      failures = 0;
      awaitingChange = false;
      accept(answer);
      pollSoon(expectingChange() ? 0 : REFRESH_MS);
    }).fail(function (xhr) {
      polling = false;
      if (isUsageRefusal(xhr)) { // the lab was gone and a new one is refused: nothing to poll
        lab = null;
        refuseForUsage(xhr);
        return;
      }
      failures += 1;
      message(errorText(xhr));
      pollSoon(Math.max(retryAfterMs(xhr), Math.min(REFRESH_MS, 2000 * Math.pow(2, failures))));
    });
  }

  /** On opening (`opening`) and on the learner's Resume / Try again / Start a new lab. */
  function launch(opening) {
    $root.find('.openedx-lab-launch').prop('disabled', true);
    handler('launch').done(function (answer) {
      // A click changes the lab; opening changes one that was paused, failed or deleted (it is
      // resumed or retried), and the answer may still show the state before.
      awaitingChange = opening !== true ||
        (!!answer.lab && /^(suspended|failed|deleted)$/.test(answer.lab.state));
      starting = false;
      usageRefused = false;
      accept(answer);
      pollSoon(expectingChange() ? 0 : REFRESH_MS);
    }).fail(function (xhr) {
      starting = false;
      if (isUsageRefusal(xhr)) {
        refuseForUsage(xhr);
        return;
      }
      message(errorText(xhr));
      render();
    }).always(function () {
      $root.find('.openedx-lab-launch').prop('disabled', false);
      // After the launch (which stores the learner's lab), never alongside it: both save the
      // learner's state of this unit.
      if (opening === true && checks) loadChecks();
    });
  }

  if (terminal) {
    // The terminal comes first; the SSH details stay, folded, for the learner's own client.
    $root.find('.openedx-lab-ssh').prop('open', false);
    $root.find('.openedx-lab-ssh-summary').text(TERM.ssh_fold);
    $root.find('.openedx-lab-terminal-reconnect').on('click', function () {
      termEnded = false;
      termFailures = 0;
      connectTerminal();
    });
  }
  $root.find('.openedx-lab-launch').on('click', function () { launch(false); });
  $root.find('.openedx-lab-check').on('click', startCheck);
  $root.find('.openedx-lab-reset').on('click', function () {
    show($root.find('.openedx-lab-confirm'), true);
  });
  $root.find('.openedx-lab-confirm-no').on('click', function () {
    show($root.find('.openedx-lab-confirm'), false);
  });
  $root.find('.openedx-lab-confirm-yes').on('click', function () {
    show($root.find('.openedx-lab-confirm'), false);
    handler('reset', { confirm: true }).done(function (answer) {
      connectionFor = null;
      awaitingChange = true;
      accept(answer);
      pollSoon(0);
    }).fail(function (xhr) { message(errorText(xhr)); });
  });

  accept(init);
  window.setInterval(function () {
    renderClock();
    renderDeletion(); // a ready lab's end of lifetime comes within a day
    renderUsage(); // a ready lab's time left counts down
  }, 1000);
  if (starting) launch(true);
}

/**
 * The sentence saying when `lab` (the XBlock's view of it) will be deleted, '' for none: a paused
 * lab's `deleteAt` ("...unless you come back"), or a ready lab's end of lifetime once it is less
 * than a day away. `nowMs` is the server's time; `words` is words.DELETION. The date is the day
 * and month in the learner's locale and time zone, with the time when it is less than two days
 * away; `format` ({locale, timeZone}) is for tests, the page leaves both to the browser.
 */
LabXBlock.deletionNotice = function (lab, nowMs, words, format) {
  'use strict';
  var HOUR_MS = 3600000;
  var at = lab && lab.deleteAt ? Date.parse(lab.deleteAt) : NaN;
  if (isNaN(at)) return '';
  var sentence = lab.state === 'suspended' ? words.suspended
    : lab.state === 'ready' && at - nowMs <= 24 * HOUR_MS ? words.end_of_lifetime
      : '';
  if (!sentence) return '';
  var options = { day: 'numeric', month: 'long' };
  if (at - nowMs <= 48 * HOUR_MS) {
    options.hour = 'numeric';
    options.minute = '2-digit';
  }
  if (format && format.timeZone) options.timeZone = format.timeZone;
  return sentence.replace('{date}', new Date(at).toLocaleString(format && format.locale, options));
};

/**
 * A length of lab time as words.USAGE says it, "4 h 12 min", rounded down to the minute (never
 * more than is left): the same as words.lab_time on the server.
 */
LabXBlock.labTime = function (seconds, words) {
  'use strict';
  var minutes = Math.floor(Math.max(0, seconds) / 60);
  if (minutes === 0 && seconds > 0) return words.under_a_minute;
  var hours = Math.floor(minutes / 60);
  var parts = hours ? [words.hours.replace('{n}', hours)] : [];
  if (minutes % 60 || !hours) parts.push(words.minutes.replace('{n}', minutes % 60));
  return parts.join(' ');
};

/** Seconds of lab time left `elapsedMs` after the answer that brought `lab.usage`: the API's
 * `remainingSeconds` counts down in real time while the lab is ready, and only then. */
LabXBlock.usageLeft = function (lab, elapsedMs) {
  'use strict';
  var usage = lab.usage;
  var spent = lab.state === 'ready' ? Math.max(0, elapsedMs) / 1000 : 0;
  return Math.max(0, usage.remainingSeconds - spent);
};

/** Whether the lab time is used up (the API said so, or the countdown since has run out). */
LabXBlock.usageExceeded = function (lab, elapsedMs) {
  'use strict';
  return !!(lab && lab.usage) && (lab.usage.exceeded === true || LabXBlock.usageLeft(lab, elapsedMs) <= 0);
};

/**
 * The sentence about the learner's lab time, '' when no usage limit applies (`lab.usage` absent):
 * the time left, "4 h 12 min of lab time left, out of 20 h for this course."; once it is used up,
 * with breach "warn" a notice that the lab keeps working, else that the time is used up (as the
 * refused launch says it). `elapsedMs`: since the answer that brought `lab.usage`; `words` is
 * words.USAGE.
 */
LabXBlock.usageNotice = function (lab, elapsedMs, words) {
  'use strict';
  var usage = lab && lab.usage;
  if (!usage) return '';
  var days = /^([1-9][0-9]{0,4})d$/.exec(usage.window || '');
  var phrase = function (kind) { // " for this course", " per 30 days", " in the last day"...
    if (usage.window === 'course') return words[kind + '_course'];
    if (!days) return '';
    return days[1] === '1' ? words[kind + '_day'] : words[kind + '_days'].replace('{days}', days[1]);
  };
  var left = LabXBlock.usageLeft(lab, elapsedMs);
  var sentence = !LabXBlock.usageExceeded(lab, elapsedMs) ? words.left
    : usage.breach === 'warn' ? words.used_up_warn : words.used_up;
  var values = {
    left: LabXBlock.labTime(left, words),
    limit: LabXBlock.labTime(usage.limitSeconds, words),
    per: phrase('per'),
    window: phrase('window')
  };
  return sentence.replace(/\{(\w+)\}/g, function (all, key) {
    return values[key] !== undefined ? values[key] : all;
  });
};
