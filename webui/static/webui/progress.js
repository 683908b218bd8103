// Keeps an audit page's progress current: polls the audit in the API (with the page's session cookie), shows each
// distribution's state and the findings of those that are not safe as they land, and the time elapsed; reloads the
// page, which then shows the report, once the audit is done or failed. Without JavaScript the page refreshes itself
// instead (<noscript> meta refresh). Every string from the API is set as text, never as HTML.
(function () {
  "use strict";
  var card = document.querySelector("[data-audit-status-url]");
  if (!card) {
    return;
  }
  var url = card.getAttribute("data-audit-status-url");
  var bar = card.querySelector("progress");
  var text = card.querySelector("[data-progress-text]");
  var list = card.querySelector("[data-distributions]");
  var clock = card.querySelector("[data-elapsed]");
  var badge = document.querySelector("[data-audit-status]");
  var FIRST = 250; // a quick first look: a small audit may be done already
  var INTERVAL = 1000;
  var MAX_INTERVAL = 30000;
  var delay = FIRST;
  var elapsed = null; // [seconds the server counted, when we heard it]
  var ORDER = { unsafe: 0, error: 1, caution: 2, probing: 3, queued: 4, safe: 5 };

  function element(tag, className, content) {
    var node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (content) {
      node.textContent = content;
    }
    return node;
  }

  function rank(d) {
    return ORDER[d.state === "done" ? d.verdict : d.state];
  }

  function describe(d) {
    if (d.state === "probing") {
      return d.modules !== null ? "probing " + d.modules + (d.modules === 1 ? " module" : " modules") : "probing";
    }
    if (d.state !== "done") {
      return "queued";
    }
    var parts = [d.verdict];
    if (d.cached) {
      parts.push("reused from an earlier probe");
    }
    if (d.modules !== null) {
      parts.push(d.modules + (d.modules === 1 ? " module" : " modules"));
    }
    return parts.join(" · ");
  }

  function showDistributions(distributions) {
    if (!list) {
      return;
    }
    var sorted = distributions.slice().sort(function (a, b) {
      return rank(a) - rank(b) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
    });
    var items = sorted.map(function (d) {
      var state = d.state === "done" ? d.verdict : d.state;
      var item = element("li", "dist-state dist-state-" + state);
      item.setAttribute("data-state", state);
      item.appendChild(element("span", "name", d.name + " " + d.version));
      item.appendChild(document.createTextNode(" "));
      item.appendChild(element("span", "state", describe(d)));
      if (d.findings.length) {
        var findings = element("ul", "dist-findings");
        d.findings.forEach(function (finding) {
          findings.appendChild(element("li", "", finding));
        });
        item.appendChild(findings);
      }
      return item;
    });
    list.replaceChildren.apply(list, items);
    list.hidden = items.length === 0;
  }

  function tick() {
    if (clock && elapsed) {
      var seconds = Math.round(elapsed[0] + (Date.now() - elapsed[1]) / 1000);
      clock.textContent = seconds + " s elapsed";
    }
  }

  function show(audit) {
    var done = audit.progress.done;
    var total = audit.progress.total;
    if (badge && badge.textContent !== audit.status) {
      badge.textContent = audit.status;
      badge.className = "status status-" + audit.status;
    }
    if (total > 0) {
      var reused = audit.distributions.filter(function (d) {
        return d.cached;
      }).length;
      bar.max = total;
      bar.value = done;
      bar.textContent = Math.round((100 * done) / total) + "%";
      text.textContent =
        done + " of " + total + " distributions analysed" + (reused ? " (" + reused + " reused from earlier probes)" : "");
    } else {
      bar.removeAttribute("value");
      text.textContent =
        audit.status === "queued" ? "Queued: waiting for a worker." : "Resolving and installing the requirements…";
    }
    showDistributions(audit.distributions);
    elapsed = [audit.elapsed_seconds, Date.now()];
    tick();
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
        delay = Math.min(Math.max(delay * 2, FIRST), INTERVAL);
        window.setTimeout(poll, delay);
      })
      .catch(function () {
        // The server restarting, or the network gone: back off, keep trying.
        delay = Math.min(delay * 2, MAX_INTERVAL);
        window.setTimeout(poll, delay);
      });
  }

  window.setInterval(tick, 1000);
  window.setTimeout(poll, delay);
})();
