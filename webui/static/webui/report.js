// The report's small conveniences; the page works without them: a Copy button beside the fix line, and a filter
// box over each module table (numpy alone has 133 modules).
(function () {
  "use strict";

  document.querySelectorAll("[data-copy]").forEach(function (button) {
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source || !navigator.clipboard) {
      return; // the line is still there to select (a click selects all of it: style.css)
    }
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(source.textContent.trim()).then(
        function () {
          button.textContent = "Copied";
        },
        function () {
          button.textContent = "Select and copy";
        }
      );
    });
  });

  document.querySelectorAll("[data-modules]").forEach(function (block) {
    var filter = block.querySelector("[data-module-filter]");
    var query = block.querySelector("[data-module-query]");
    var count = block.querySelector("[data-module-count]");
    var rows = Array.prototype.slice.call(block.querySelectorAll("tr[data-module]"));
    if (!filter || !query || rows.length === 0) {
      return;
    }
    filter.hidden = false;
    query.addEventListener("input", function () {
      var wanted = query.value.trim().toLowerCase();
      var shown = 0;
      rows.forEach(function (row) {
        var match = row.getAttribute("data-module").toLowerCase().indexOf(wanted) !== -1;
        row.hidden = !match;
        shown += match ? 1 : 0;
      });
      count.textContent = wanted ? shown + " of " + rows.length + " shown" : "";
    });
  });
})();
