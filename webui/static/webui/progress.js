// Keeps an audit page's progress current: polls the audit in the API (with the page's session cookie) and
// reloads the page, which then shows the report, once the audit is done or failed. Without JavaScript the page
// refreshes itself instead (<noscript> meta refresh).
(function () {
  "use strict";
  var card = document.querySelector("[data-audit-status-url]");
  if (!card) {
    return;
  }
  var url = card.getAttribute("data-audit-status-url");
  var bar = card.querySelector("progress");
  var text = card.querySelector("[data-progress-text]");
  var badge = document.querySelector("[data-audit-status]");
  var INTERVAL = 1000;
  var MAX_INTERVAL = 30000;
  var delay = INTERVAL;

  function show(audit) {
    var done = audit.progress.done;
    var total = audit.progress.total;
    if (badge && badge.textContent !== audit.status) {
      badge.textContent = audit.status;
      badge.className = "status status-" + audit.status;
    }
    if (total > 0) {
      bar.max = total;
      bar.value = done;
      bar.textContent = Math.round((100 * done) / total) + "%";
      text.textContent = done + " of " + total + " distributions analysed";
    } else {
      bar.removeAttribute("value");
      text.textContent =
        audit.status === "queued" ? "Queued: waiting for a worker." : "Resolving and installing the requirements…";
    }
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.json();
      })
      .then(function (audit) {
        if (audit.status === "done" || audit.status === "failed") {
          window.location.reload();
          return;
        }
        show(audit);
        delay = INTERVAL;
        window.setTimeout(poll, delay);
      })
      .catch(function () {
        // The server restarting, or the network gone: back off, keep trying.
        delay = Math.min(delay * 2, MAX_INTERVAL);
        window.setTimeout(poll, delay);
      });
  }

  window.setTimeout(poll, delay);
})();
