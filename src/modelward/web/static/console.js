// modelward console: small progressive enhancement. Every page works without it.
(function () {
  "use strict";

  // live health: ask the console (which asks the deployment with a short timeout), show the answer as text
  function checkHealth() {
    var box = document.getElementById("health");
    if (!box || !window.fetch) { return; }
    var state = box.querySelector(".health-state");
    var detail = box.querySelector(".health-detail");
    state.textContent = "checking…";
    fetch(box.getAttribute("data-health"), { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (answer) { return answer.json(); })
      .then(function (found) {
        state.textContent = found.state;
        state.className = "health-state badge health-" + found.state;
        detail.textContent = found.detail + (found.url ? " (" + found.url + ")" : "");
      })
      .catch(function () { state.textContent = "could not ask"; });
  }

  // "/" focuses the search box (when not typing somewhere else)
  function searchKey(event) {
    var field = document.getElementById("q");
    var typing = /^(INPUT|SELECT|TEXTAREA)$/.test((event.target && event.target.tagName) || "");
    if (field && event.key === "/" && !typing) { event.preventDefault(); field.focus(); }
  }

  document.addEventListener("DOMContentLoaded", function () {
    checkHealth();
    document.addEventListener("keydown", searchKey);
    var link = document.getElementById("health-link");
    if (link) { link.addEventListener("click", function (event) { event.preventDefault(); checkHealth(); }); }
  });
})();
